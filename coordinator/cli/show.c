/* show.c - how the trice CLI shows experiments to people and to scripts; see show.h. */
#include "coordinator/cli/show.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void show_time(double t, char *out, size_t cap) {
    if (t <= 0) { snprintf(out, cap, "-"); return; }
    time_t s = (time_t)t;
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void fmt_num(double v, int prec, char *out, size_t cap) {
    if (isfinite(v)) snprintf(out, cap, "%.*f", prec, v);
    else snprintf(out, cap, "-");
}

static void fmt_dur(double s, char *out, size_t cap) {
    if (!isfinite(s) || s < 0) snprintf(out, cap, "-");
    else if (s < 90) snprintf(out, cap, "%.0fs", s);
    else if (s < 5400) snprintf(out, cap, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(out, cap, "%.0fh%02.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
}

/* "running  trice (stage 2/2)  step 57/300 [#####.............]  19%  0.8 s/step  eta 3m20s
 *  held-out 0.412 @ step 50  accept 0.31  beta 0.50  loss 0.5213" */
void show_progress_line(const Trice__Rpc__Experiment *e, char *out, size_t cap) {
    const Trice__Rpc__Progress *p = e->progress;
    if (!p) {
        if (e->queue_position) snprintf(out, cap, "%s  %s  (#%d in the queue)", e->id, e->state, e->queue_position);
        else snprintf(out, cap, "%s  %s", e->id, e->state);
        return;
    }
    char stage[80] = "", bar[24], acc[64] = "", pa[16], beta[16], loss[16], eta[24] = "", rate[32] = "";
    if (p->stage[0] && p->stage_count > 1) snprintf(stage, sizeof stage, "  %s (stage %d/%d)", p->stage, p->stage_index, p->stage_count);
    else if (p->stage[0]) snprintf(stage, sizeof stage, "  %s", p->stage);
    double frac = p->total_steps > 0 ? (double)p->step / (double)p->total_steps : 0;
    if (frac > 1) frac = 1;
    int filled = (int)(frac * 20 + 0.5);
    for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    if (isfinite(p->eval_acc) && p->eval_step > 0) snprintf(acc, sizeof acc, "  held-out %.3f @ step %lld", p->eval_acc, (long long)p->eval_step);
    else snprintf(acc, sizeof acc, "  held-out -");
    fmt_num(p->proposal_acc, 2, pa, sizeof pa);
    fmt_num(p->beta, 2, beta, sizeof beta);
    fmt_num(p->loss, 4, loss, sizeof loss);
    if (strcmp(e->state, "running") == 0) {
        char d[16];
        fmt_dur(p->eta_seconds, d, sizeof d);
        snprintf(eta, sizeof eta, "  eta %s", d);
        if (isfinite(p->step_seconds) && p->step_seconds > 0)
            snprintf(rate, sizeof rate, p->step_seconds < 1 ? "  %.1f steps/s" : "  %.1f s/step",
                     p->step_seconds < 1 ? 1 / p->step_seconds : p->step_seconds);
    }
    snprintf(out, cap, "%s  %s%s  step %lld/%lld [%s] %3.0f%%%s%s%s  accept %s  beta %s  loss %s", e->id, e->state, stage,
             (long long)p->step, (long long)p->total_steps, bar, 100 * frac, rate, eta, acc, pa, beta, loss);
}

/* The final result for people: "held-out accuracy 0.375 -> 0.680 on 200 examples; 300 steps,
 * 1234567 tokens sampled; 3m12s; folder runs/x". Falls back to the raw JSON. */
void show_result(const Trice__Rpc__Experiment *e, char *out, size_t cap) {
    json_t *r = e->result_json[0] ? json_loads(e->result_json, 0, NULL) : NULL;
    if (!r || !json_object_get(r, "acc_after")) { snprintf(out, cap, "%s", e->result_json); json_decref(r); return; }
    double before = json_number_value(json_object_get(r, "acc_before"));
    double after = json_number_value(json_object_get(r, "acc_after"));
    json_int_t n = json_integer_value(json_object_get(r, "n_eval"));
    json_int_t steps = json_integer_value(json_object_get(r, "steps"));
    json_int_t tokens = json_integer_value(json_object_get(r, "tokens_sampled"));
    char b[16], a[16], took[16] = "-";
    fmt_num(json_is_number(json_object_get(r, "acc_before")) ? before : NAN, 3, b, sizeof b);
    fmt_num(json_is_number(json_object_get(r, "acc_after")) ? after : NAN, 3, a, sizeof a);
    if (e->started_at > 0 && e->finished_at >= e->started_at) fmt_dur(e->finished_at - e->started_at, took, sizeof took);
    snprintf(out, cap, "held-out accuracy %s -> %s on %lld examples; %lld steps, %lld tokens sampled; took %s; folder %s", b, a,
             (long long)n, (long long)steps, (long long)tokens, took, e->out_dir);
    json_decref(r);
}

/* --- JSON output (--json) ------------------------------------------------------------ */

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *progress_json(const Trice__Rpc__Progress *p) {
    json_t *j = json_object();
    json_object_set_new(j, "step", json_integer(p->step));
    json_object_set_new(j, "total_steps", json_integer(p->total_steps));
    json_object_set_new(j, "proposal_acc", jnum(p->proposal_acc));
    json_object_set_new(j, "memory_acc", jnum(p->memory_acc));
    json_object_set_new(j, "beta", jnum(p->beta));
    json_object_set_new(j, "loss", jnum(p->loss));
    json_object_set_new(j, "eval_acc", jnum(p->eval_acc));
    json_object_set_new(j, "tokens", json_integer(p->tokens));
    json_object_set_new(j, "step_seconds", jnum(p->step_seconds));
    json_object_set_new(j, "eta_seconds", jnum(p->eta_seconds));
    json_object_set_new(j, "updated_at", jnum(p->updated_at));
    json_object_set_new(j, "stage", json_string(p->stage));
    json_object_set_new(j, "stage_index", json_integer(p->stage_index));
    json_object_set_new(j, "stage_count", json_integer(p->stage_count));
    json_object_set_new(j, "eval_step", json_integer(p->eval_step));
    return j;
}

json_t *show_experiment_json(const Trice__Rpc__Experiment *e) {
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(e->id));
    json_object_set_new(j, "name", json_string(e->name));
    json_object_set_new(j, "state", json_string(e->state));
    json_object_set_new(j, "created_at", jnum(e->created_at));
    json_object_set_new(j, "started_at", e->started_at > 0 ? json_real(e->started_at) : json_null());
    json_object_set_new(j, "finished_at", e->finished_at > 0 ? json_real(e->finished_at) : json_null());
    json_object_set_new(j, "out_dir", json_string(e->out_dir));
    json_object_set_new(j, "queue_position", e->queue_position ? json_integer(e->queue_position) : json_null());
    json_object_set_new(j, "resume", json_boolean(e->resume));
    json_object_set_new(j, "cancel_requested", json_boolean(e->cancel_requested));
    json_object_set_new(j, "progress", e->progress ? progress_json(e->progress) : json_null());
    json_t *res = e->result_json[0] ? json_loads(e->result_json, 0, NULL) : NULL;
    json_object_set_new(j, "result", res ? res : json_null());
    json_object_set_new(j, "error", e->error[0] ? json_string(e->error) : json_null());
    return j;
}

/* Print j on one line (JSON Lines for watch) and free it. */
void show_print_json(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

