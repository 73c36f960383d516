/* trainer.c - the training loop: schedule, estimator, update, evaluation, metrics, progress. */
#include "common/engine/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/engine/run.h"
#include "common/util/afile.h"
#include "common/util/log.h"
#include "common/util/path.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_free(run *r) {
    gpt_free(&r->master);
    free(r->grads);
    star_free(r);
    optim_free(&r->opt);
    task_free(&r->task);
    schedule_free(&r->sch);
    metrics_close(&r->log);
    free(r->a); free(r->mask); free(r->correct); free(r->beta); free(r->terms); free(r->counts); free(r->coefs); free(r->ids);
}

static int stop_requested(const run *r) { return r->hooks && r->hooks->should_stop && r->hooks->should_stop(r->hooks->ctx); }

static int run_init(run *r, const experiment_spec *spec, const char *out_dir, fleet *f, const trainer_hooks *hooks, tr_error *err) {
    memset(r, 0, sizeof *r);
    r->spec = spec;
    r->out_dir = out_dir;
    r->f = f;
    r->hooks = hooks;
    r->M = spec->batch_size;
    r->K = spec->method == METHOD_RS ? spec->particles : 1;
    r->method = method_strategy_of(spec->method);
    r->total_steps = r->method->total_steps(spec);
    int P = spec->tunable == TUNABLE_PROMPT ? spec->prompt_len : 0;
    TR_TRY(engine_model_from_spec(spec, &r->master, err));   /* the same model as every side's (engine_side_init) */
    r->tunable = P ? r->master.prompt : r->master.params;
    r->n_tunable = P ? (size_t)P * (size_t)r->master.config.channels : r->master.num_params;
    r->grads = tr_calloc(r->n_tunable, sizeof(float), err);
    if (!r->grads) return TR_ENOMEM;
    TR_TRY(optim_init(&r->opt, r->n_tunable, err));
    if (P) {
        r->groups[0] = (optim_group){0, r->n_tunable, 0};  /* soft prompt: plain Adam */
        r->ngroups = 1;
    } else {
        r->ngroups = gpt_param_groups(&r->master, r->groups);
    }
    r->hp = (optim_hparams){(float)spec->optim.beta1, (float)spec->optim.beta2, (float)spec->optim.eps,
                            (float)spec->optim.weight_decay};
    r->sched = (optim_schedule){spec->optim.schedule == SCHEDULE_COSINE ? OPTIM_SCHED_COSINE : OPTIM_SCHED_CONSTANT,
                                (float)spec->optim.lr, spec->optim.warmup_steps, spec->steps, (float)spec->optim.min_lr_ratio};
    if (spec->method == METHOD_STAR) TR_TRY(star_init(r, err));
    TR_TRY(engine_task_load(spec, &r->task, err));
    TR_TRY(engine_require_fit(spec, &r->task, 1, err));
    TR_TRY(schedule_init(&r->sch, r->task.train_ids, r->task.n_train, spec->seed, err));
    size_t M = (size_t)r->M, MK = M * (size_t)r->K;
    r->a = tr_calloc(M, 1, err);
    r->mask = tr_calloc(M, 1, err);
    r->correct = tr_calloc(MK, 1, err);
    r->beta = tr_calloc(M, sizeof(double), err);
    r->terms = tr_calloc(2 * MK, sizeof(est_term), err);
    r->counts = tr_calloc(2 * MK, sizeof(int), err);
    r->coefs = tr_calloc(2 * MK, sizeof(est_coef), err);
    r->ids = tr_calloc(M, sizeof(int64_t), err);
    if (!r->a || !r->mask || !r->correct || !r->beta || !r->terms || !r->counts || !r->coefs || !r->ids) return TR_ENOMEM;
    return 0;
}

/* Held-out evaluation; writes per-example lines to out_dir/<name> when name is given. */
static int run_eval(run *r, const char *name, double *acc, double *maj, double *secs, tr_error *err) {
    double t0 = now_s();
    char path[PATH_BUF];
    if (name) TR_TRY(path_fmt(path, sizeof path, err, "%s/%s", r->out_dir, name));
    int n = 0, c = 0, mc = 0;
    TR_TRY(r->f->ops->eval(r->f, r->spec->maj_k, &n, &c, &mc, name ? path : NULL, err));
    r->x.n_eval = n;
    *acc = n ? (double)c / n : NAN;
    *maj = (n && r->spec->maj_k) ? (double)mc / n : NAN;
    if (secs) *secs = now_s() - t0;
    return 0;
}

static int run_checkpoint(run *r, int64_t steps_done, tr_error *err) {
    r->x.step = steps_done;
    uint8_t *mem = NULL;
    size_t mlen = 0;
    TR_TRY(r->f->ops->memory_gather(r->f, &mem, &mlen, err));
    char dir[PATH_BUF];
    int rc = ckptdir_write(r->out_dir, &r->master, &r->opt, &r->x, mem, mlen, r->spec->keep_checkpoints, dir, sizeof dir, err);
    free(mem);
    if (rc) return rc;
    LOG_I("checkpoint: %s (%lld steps done)", dir, (long long)steps_done);
    if (r->hooks && r->hooks->checkpointed) r->hooks->checkpointed(r->hooks->ctx, dir, steps_done);
    return 0;
}

static int run_resume(run *r, tr_error *err) {
    uint8_t *mem = NULL;
    size_t mlen = 0;
    char dir[PATH_BUF];
    TR_TRY(ckptdir_read(r->out_dir, &r->master, &r->opt, &r->x, &mem, &mlen, dir, sizeof dir, err));
    int rc = r->f->ops->memory_scatter(r->f, mem, mlen, err);
    free(mem);
    if (rc) return rc;
    /* the sides were built from the spec: give them the checkpoint's parameters */
    TR_TRY(r->f->ops->set_params(r->f, r->tunable, r->n_tunable, err));
    char mpath[PATH_BUF];
    TR_TRY(path_fmt(mpath, sizeof mpath, err, "%s/metrics.jsonl", r->out_dir));
    int kept = 0;
    TR_TRY(metrics_truncate_to_step(mpath, r->x.step - 1, &kept, err));
    LOG_I("resumed from %s at step %lld (%d metric lines kept)", dir, (long long)r->x.step, kept);
    return 0;
}

static void fmt_eta(double s, char *out, size_t cap) {
    if (!isfinite(s) || s < 0) { snprintf(out, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, cap, "%lds", t);
}

/* One optimiser step: propose, select, gradient, update, broadcast. */
static int run_step(run *r, int64_t step, int64_t lr_step, metrics_row *row, tr_error *err) {
    const experiment_spec *s = r->spec;
    double t0 = now_s();
    TR_TRY(r->f->ops->propose(r->f, step, r->ids, r->M, r->a, r->mask, s->method == METHOD_RS ? r->correct : NULL, err));
    double t1 = now_s();
    est_stats st;
    int n = r->method->coefs(r, step, &st, err);
    if (n < 0) return err ? err->code : TR_EINTERNAL;
    double t2 = now_s();
    double loss = 0, norm = 0;
    float lr = optim_lr(&r->sched, lr_step);
    double t3 = t2, t4 = t2;
    if (n > 0) {
        TR_TRY(r->f->ops->gradient(r->f, r->coefs, n, r->grads, r->n_tunable, &loss, err));
        t3 = now_s();
        norm = optim_clip_grad_norm(r->grads, r->n_tunable, s->optim.grad_clip);
        TR_TRY(optim_adamw_step(&r->opt, r->tunable, r->grads, r->groups, r->ngroups, lr, &r->hp, err));
        t4 = now_s();
        TR_TRY(r->f->ops->set_params(r->f, r->tunable, r->n_tunable, err));
    } /* S = 0: no correct rationale in the minibatch, so no gradient and no update */
    double t5 = now_s();
    fleet_counts c;
    TR_TRY(r->f->ops->take_counts(r->f, &c, err));
    r->x.tokens_sampled += c.sides.tokens_sampled;
    memset(row, 0, sizeof *row);
    row->step = step;
    row->proposal_acc = st.proposal_acc;
    row->memory_acc = st.memory_acc;
    row->beta_mean = st.beta_mean;
    row->nonzero_terms = st.nonzero_terms;
    row->L = s->subsample;
    row->loss = loss;
    row->grad_norm = norm;
    row->tokens_sampled = c.sides.tokens_sampled;
    row->bytes_moved = c.bytes_moved;
    row->phases.sample = c.sides.sample_s;
    row->phases.check = c.sides.check_s;
    row->phases.gradient = c.sides.grad_s;
    row->phases.resample = t2 - t1;
    row->phases.reduce = c.reduce_s;
    row->phases.broadcast = c.bcast_s;
    row->phases.comm = c.comm_s + c.reduce_s + c.bcast_s;
    row->phases.update = t4 - t3;
    row->phases.total = t5 - t0;
    row->lr = n > 0 ? lr : 0;
    row->time = wall_s();
    return 0;
}

static void report(run *r, metrics_row *row, double t_start, int64_t steps_this_run, double tok_this_run, double last_eval) {
    double el = now_s() - t_start;
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
    sum->reduce += p->reduce; sum->update += p->update; sum->broadcast += p->broadcast; sum->eval += p->eval;
    sum->comm += p->comm; sum->total += p->total;
}

/* Where the time goes, every 25 steps: the per-step means of the phases (workers' phases are
 * the slowest worker's; reduce includes waiting for it). */
static void phases_log(const metrics_phases *s, int n, int64_t bytes) {
    LOG_I("phases, s/step over the last %d: sample %.3f, check %.4f, beta/resample %.4f, gradient %.3f, reduce %.3f, "
          "update %.4f, broadcast %.4f, eval %.3f, step %.3f; %lld bytes moved in the last step",
          n, s->sample / n, s->check / n, s->resample / n, s->gradient / n, s->reduce / n, s->update / n,
          s->broadcast / n, s->eval / n, s->total / n, (long long)bytes);
}

/* TRICE learns only from examples whose memory holds a rationale with the right answer:
 * with none, every step has zero weight and the run would "succeed" without learning. */
static int refuse_empty_memory(const run *r, int nv, tr_error *err) {
    const experiment_spec *spec = r->spec;
    const int64_t n_train = r->task.n_train;
    if (nv > 0 || !r->method->needs_memory) return 0;
    if (spec->method == METHOD_SFT)
        return TR_FAIL(err, TR_EINVAL, "none of the %lld training examples has a rationale that reaches its answer, so "
                       "supervised training has nothing to learn from (use a built-in task, or data with rationales)",
                       (long long)n_train);
    return TR_FAIL(err, TR_EINVAL, "memory initialisation (memory_init '%s') found no rationale that reaches the right "
                   "answer for any of the %lld training examples, so %s would take zero-weight steps and learn nothing. "
                   "Change: add a supervised warm-up (\"warmup_sft_steps\": 300 or more, built-in tasks), start from a "
                   "trained model (\"model.init\"), or use \"memory_init\": \"sample\" with more \"init_tries\"; "
                   "deploy/specs/ has specs that learn",
                   spec_meminit_name(spec->memory_init), (long long)n_train, spec_method_name(spec->method));
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

/* A fresh stage: fill the memory, refuse an empty one, evaluate before training. */
static int run_start(run *r, const char *mpath, tr_error *err) {
    const experiment_spec *spec = r->spec;
    int nv = 0;
    double t0 = now_s();
    TR_TRY(r->f->ops->memory_init(r->f, &nv, err));
    fleet_counts c;
    TR_TRY(r->f->ops->take_counts(r->f, &c, err));
    r->x.tokens_sampled += c.sides.tokens_sampled;
    if (r->method->needs_memory) {
        char shots[48] = "";
        if (spec->method != METHOD_SFT && spec->memory_init == MEMINIT_SAMPLE && spec->init_shots > 0)
            snprintf(shots, sizeof shots, ", %d-shot prompts", spec->init_shots);
        LOG_I("memory initialised (%s%s): %d of %lld training examples valid (%.1fs)",
              spec->method == METHOD_SFT ? "given" : spec_meminit_name(spec->memory_init), shots, nv,
              (long long)r->task.n_train, now_s() - t0);
    }
    TR_TRY(refuse_empty_memory(r, nv, err));
    TR_TRY(run_eval(r, "eval-before.jsonl", &r->x.acc_before, &r->x.maj_before, NULL, err));
    LOG_I("held-out accuracy before training: %.4f on %d examples", r->x.acc_before, r->x.n_eval);
    /* evaluation tokens are not training samples: keep them out of step 0's count */
    TR_TRY(r->f->ops->take_counts(r->f, &c, err));
    (void)remove(mpath); /* a fresh run starts a fresh log */
    return 0;
}

/* What the loop tracks across steps for the progress lines. */
typedef struct progress {
    double t_start, tok_run, last_eval;
    int64_t steps_run, zero_run;
    metrics_phases ph_sum;
    int ph_n;
} progress;

/* After step (steps done: step): periodic evaluation and variance probe, the metrics line,
 * progress, and the periodic checkpoint. */
static int run_after_step(run *r, metrics_row *row, int64_t step, int budget_hit, progress *p, tr_error *err) {
    const experiment_spec *spec = r->spec;
    const int last = step == r->total_steps;
    p->steps_run++;
    p->tok_run += (double)row->tokens_sampled;
    zero_accept_watch(r, row, step, &p->zero_run);
    if (spec->eval_every > 0 && step % spec->eval_every == 0 && !last && !budget_hit) {
        double acc, maj, secs;
        TR_TRY(run_eval(r, NULL, &acc, &maj, &secs, err));
        fleet_counts ec;  /* evaluation samples do not count against the training budget */
        TR_TRY(r->f->ops->take_counts(r->f, &ec, err));
        row->has_eval = 1;
        row->eval_acc = acc;
        if (spec->maj_k) { row->has_maj = 1; row->maj_acc = maj; row->maj_k = spec->maj_k; }
        row->phases.eval = secs;
        p->last_eval = acc;
        if (spec->variance_probe > 1 && (spec->method == METHOD_TRICE || spec->method == METHOD_TRICE_NOCV)) {
            TR_TRY(run_probe(r, step, &row->var_cv, &row->var_nocv, err));
            row->has_var = 1;
            LOG_I("gradient variance over %d draws: control variate %.4g, basic %.4g (ratio %.3f)", spec->variance_probe,
                  row->var_cv, row->var_nocv, row->var_nocv > 0 ? row->var_cv / row->var_nocv : NAN);
        }
    }
    TR_TRY(metrics_append(&r->log, row, err));
    report(r, row, p->t_start, p->steps_run, p->tok_run, p->last_eval);
    phases_add(&p->ph_sum, &row->phases);
    if (++p->ph_n == 25 || last) {
        phases_log(&p->ph_sum, p->ph_n, row->bytes_moved);
        memset(&p->ph_sum, 0, sizeof p->ph_sum);
        p->ph_n = 0;
    }
    if (spec->checkpoint_every > 0 && step % spec->checkpoint_every == 0 && !last) TR_TRY(run_checkpoint(r, step, err));
    return 0;
}

/* The end of a stage that ran out: evaluate after, checkpoint, and the final model at the top
 * of the folder (for `trice eval` and for the next stage). */
static int run_finish(run *r, int64_t step, trainer_result *res, tr_error *err) {
    TR_TRY(run_eval(r, "eval-after.jsonl", &res->acc_after, &res->maj_after, NULL, err));
    res->n_eval = r->x.n_eval;
    TR_TRY(run_checkpoint(r, step, err));
    char mp[PATH_BUF];
    TR_TRY(path_fmt(mp, sizeof mp, err, "%s/model.bin", r->out_dir));
    TR_TRY(gpt_ckpt_save(&r->master, mp, err));
    if (r->spec->tunable == TUNABLE_PROMPT) {
        TR_TRY(path_fmt(mp, sizeof mp, err, "%s/prompt.bin", r->out_dir));
        TR_TRY(ckptdir_prompt_save(mp, &r->master, err));
    }
    LOG_I("held-out accuracy: before %.4f, after %.4f (%d examples, %lld steps, %lld tokens sampled)",
          res->acc_before, res->acc_after, res->n_eval, (long long)step, (long long)r->x.tokens_sampled);
    return 0;
}

int trainer_run(const experiment_spec *spec, const char *out_dir, fleet *f, int resume,
                const trainer_hooks *hooks, trainer_result *res, tr_error *err) {
    memset(res, 0, sizeof *res);
    run r;
    int rc = run_init(&r, spec, out_dir, f, hooks, err);
    if (rc) goto done;
    char mpath[PATH_BUF];
    if ((rc = path_fmt(mpath, sizeof mpath, err, "%s/metrics.jsonl", out_dir))) goto done;
    r.x.acc_before = r.x.maj_before = NAN;
    if ((rc = resume ? run_resume(&r, err) : run_start(&r, mpath, err))) goto done;
    if ((rc = metrics_open(&r.log, mpath, err))) goto done;
    res->acc_before = r.x.acc_before;
    res->maj_before = r.x.maj_before;

    progress p = {.t_start = now_s(), .last_eval = NAN};
    int64_t step = r.x.step;
    while (step < r.total_steps) {
        if (stop_requested(&r)) { res->stopped = 1; break; }
        int64_t lr_step;
        metrics_row row;
        if ((rc = r.method->batch(&r, step, &lr_step, err))) goto done;
        if ((rc = run_step(&r, step, lr_step, &row, err))) goto done;
        step++;
        int budget_hit = spec->max_sampled_tokens > 0 && r.x.tokens_sampled >= spec->max_sampled_tokens;
        if ((rc = run_after_step(&r, &row, step, budget_hit, &p, err))) goto done;
        if (budget_hit) {
            LOG_I("sampled-token budget reached (%lld >= %lld): stopping after %lld steps",
                  (long long)r.x.tokens_sampled, (long long)spec->max_sampled_tokens, (long long)step);
            break;
        }
    }
    res->steps_done = step;
    res->tokens_sampled = r.x.tokens_sampled;
    if (res->stopped) {
        LOG_I("stop requested: checkpointing after %lld steps", (long long)step);
        if ((rc = run_checkpoint(&r, step, err))) goto done;
        rc = TR_FAIL(err, TR_ECANCELED, "stopped after %lld of %lld steps, checkpoint in %s", (long long)step,
                     (long long)r.total_steps, out_dir);
        goto done;
    }
    rc = run_finish(&r, step, res, err);
done:
    run_free(&r);
    return rc;
}
