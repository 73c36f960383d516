/* trainer.c - the training loop: one step (propose, coefficients, gradient, update), the work
 * after it (periodic evaluation, metrics, progress, checkpoint), and trainer_run. Evaluation,
 * checkpoints and the ends of a stage are in trainer_stage.c, progress lines in trainer_report.c. */
#include "common/engine/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/engine/run.h"
#include "common/util/afile.h"
#include "common/util/log.h"
#include "common/util/path.h"

double run_now_s(void) {
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
    TR_TRY(engine_model_from_spec(spec, 1, &r->master, err));   /* the same model as every side's (engine_side_init) */
    r->tunable = P ? r->master.prompt : r->master.params;
    r->n_tunable = P ? (size_t)P * (size_t)r->master.config.channels : r->master.num_params;
    r->grads = tr_calloc(r->n_tunable, sizeof(float), err);
    if (!r->grads) return TR_ENOMEM;
    TR_TRY(optim_init(&r->opt, r->n_tunable, err));   /* the sides' state lands here to checkpoint; they update it */
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

/* One optimiser step: propose, select, then the update, which the sides compute and apply
 * among themselves (fleet.h, step): the loop sees the loss and the norm, not the parameters. */
static int run_step(run *r, int64_t step, int64_t lr_step, metrics_row *row, tr_error *err) {
    const experiment_spec *s = r->spec;
    double t0 = run_now_s();
    TR_TRY(r->f->ops->propose(r->f, step, r->ids, r->M, r->a, r->mask, s->method == METHOD_RS ? r->correct : NULL, err));
    double t1 = run_now_s();
    est_stats st;
    int n = r->method->coefs(r, step, &st, err);
    if (n < 0) return err ? err->code : TR_EINTERNAL;
    double t2 = run_now_s();
    double loss = 0, norm = 0;
    float lr = optim_lr(&r->sched, lr_step);
    if (n > 0) TR_TRY(r->f->ops->step(r->f, r->coefs, n, lr, &loss, &norm, err));
    /* S = 0: no correct rationale in the minibatch, so no gradient and no update */
    double t5 = run_now_s();
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
    row->tokens_trained = c.sides.tokens_trained;
    row->bytes_moved = c.bytes_moved;
    row->bytes_worker = c.sides.peer_bytes;
    row->sample_digest = c.sides.sample_digest;
    row->phases.sample = c.sides.sample_s;
    row->phases.check = c.sides.check_s;
    row->phases.gradient = c.sides.grad_s;
    row->phases.resample = t2 - t1;
    /* the workers' all-reduce, net of its wait for the slowest side (the data plane), and
     * anything that went through rank 0 */
    row->phases.reduce = c.sides.peer_s;
    row->phases.wait = c.sides.wait_s;
    row->phases.broadcast = c.bcast_s;
    row->phases.comm = c.comm_s + c.reduce_s + c.bcast_s + c.sides.peer_s;
    row->phases.update = c.sides.update_s;
    row->phases.total = t5 - t0;
    row->lr = n > 0 ? lr : 0;
    row->time = wall_s();
    return 0;
}

/* After step (steps done: step): periodic evaluation and variance probe, the metrics line,
 * progress, and the periodic checkpoint. */
static int run_after_step(run *r, metrics_row *row, int64_t step, int budget_hit, run_progress *p, tr_error *err) {
    const experiment_spec *spec = r->spec;
    const int last = step == r->total_steps;
    run_progress_step(p, r, row, step);
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
    run_progress_report(p, r, row, last);
    if (spec->checkpoint_every > 0 && step % spec->checkpoint_every == 0 && !last) TR_TRY(run_checkpoint(r, step, err));
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

    run_progress p = {.t_start = run_now_s(), .last_eval = NAN};
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
