/* trainer_report.c - the training loop's progress lines: per step (accuracies, beta, loss,
 * held-out accuracy, sampling rate, ETA) and every 25 steps where the time goes; the
 * zero-accept warning; the progress hook. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/engine/run.h"
#include "common/util/log.h"

static void fmt_eta(double s, char *out, size_t cap) {
    if (!isfinite(s) || s < 0) { snprintf(out, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, cap, "%lds", t);
}

static void report(const run *r, const metrics_row *row, double t_start, int64_t steps_this_run, double tok_this_run,
                   double last_eval) {
    double el = run_now_s() - t_start;
    double per_step = steps_this_run ? el / (double)steps_this_run : NAN;
    double eta = per_step * (double)(r->total_steps - row->step - 1);
    if (r->spec->max_sampled_tokens > 0 && tok_this_run > 0) {  /* the token budget may end it first */
        double left = (double)(r->spec->max_sampled_tokens - r->x.tokens_sampled);
        double eta_budget = left > 0 ? left / (tok_this_run / el) : 0;
        if (eta_budget < eta) eta = eta_budget;
    }
    char etas[32], ev[32] = "", rate[48] = "";
    fmt_eta(eta, etas, sizeof etas);
    if (!isnan(last_eval)) snprintf(ev, sizeof ev, " | held-out %.3f", last_eval);
    /* a supervised stage samples nothing: no rate to show */
    if (tok_this_run > 0 && el > 0) snprintf(rate, sizeof rate, " | %.0f sampled tok/s", tok_this_run / el);
    LOG_I("step %lld/%lld | prop acc %.3f | mem acc %.3f | beta %.3f | loss %.4f%s%s | ETA %s",
          (long long)row->step + 1, (long long)r->total_steps, row->proposal_acc, row->memory_acc, row->beta_mean,
          row->loss, ev, rate, etas);
    if (r->hooks && r->hooks->progress) r->hooks->progress(r->hooks->ctx, row, r->total_steps, eta);
}

static void phases_add(metrics_phases *sum, const metrics_phases *p) {
    sum->sample += p->sample; sum->check += p->check; sum->resample += p->resample; sum->gradient += p->gradient;
    sum->reduce += p->reduce; sum->wait += p->wait; sum->update += p->update; sum->broadcast += p->broadcast; sum->eval += p->eval;
    sum->comm += p->comm; sum->total += p->total;
}

/* Where the time goes, every 25 steps: the per-step means of the phases (workers' phases are
 * the slowest worker's; reduce is the workers' all-reduce after waiting for the slowest). */
static void phases_log(const metrics_phases *s, int n, const metrics_row *last) {
    LOG_I("phases, s/step over the last %d: sample %.3f, check %.4f, beta/resample %.4f, gradient %.3f, wait %.3f, "
          "reduce %.3f, update %.4f, broadcast %.4f, eval %.3f, step %.3f; the last step moved %lld bytes through "
          "rank 0 and %lld per worker among the workers",
          n, s->sample / n, s->check / n, s->resample / n, s->gradient / n, s->wait / n, s->reduce / n, s->update / n,
          s->broadcast / n, s->eval / n, s->total / n, (long long)last->bytes_moved, (long long)last->bytes_worker);
}

/* Warn when no proposal has been accepted for a while: the memory is then frozen and only
 * the examples valid at the start drive the gradient. */
enum { ZERO_ACCEPT_WARN = 20 };
static void zero_accept_watch(const run *r, const metrics_row *row, int64_t step, int64_t *zeros) {
    if (!r->method->proposes) return;
    *zeros = row->proposal_acc > 0 ? 0 : *zeros + 1;
    if (*zeros == ZERO_ACCEPT_WARN || (*zeros > ZERO_ACCEPT_WARN && *zeros % (10 * ZERO_ACCEPT_WARN) == 0))
        LOG_W("no proposal accepted in the last %lld steps (up to step %lld): the model's own rationales never reach "
              "the right answer, so the memory does not improve (a longer warm-up, \"warmup_sft_steps\", or a "
              "stronger starting model helps)", (long long)*zeros, (long long)step);
}

void run_progress_step(run_progress *p, const run *r, const metrics_row *row, int64_t step) {
    p->steps_run++;
    p->tok_run += (double)row->tokens_sampled;
    zero_accept_watch(r, row, step, &p->zero_run);
}

void run_progress_report(run_progress *p, const run *r, const metrics_row *row, int last) {
    report(r, row, p->t_start, p->steps_run, p->tok_run, p->last_eval);
    phases_add(&p->ph_sum, &row->phases);
    if (++p->ph_n == 25 || last) {
        phases_log(&p->ph_sum, p->ph_n, row);
        memset(&p->ph_sum, 0, sizeof p->ph_sum);
        p->ph_n = 0;
    }
}
