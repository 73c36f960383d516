/* trainer_stage.c - the training loop's evaluation, checkpoints and the two ends of a stage:
 * its start (fresh: memory, evaluation before; or resumed from a checkpoint) and its finish
 * (evaluation after, the final model). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/engine/run.h"
#include "common/util/log.h"
#include "common/util/path.h"

/* Held-out evaluation; writes per-example lines to out_dir/<name> when name is given. */
int run_eval(run *r, const char *name, double *acc, double *maj, double *secs, tr_error *err) {
    double t0 = run_now_s();
    char path[PATH_BUF];
    if (name) TR_TRY(path_fmt(path, sizeof path, err, "%s/%s", r->out_dir, name));
    int n = 0, c = 0, mc = 0;
    TR_TRY(r->f->ops->eval(r->f, r->spec->maj_k, &n, &c, &mc, name ? path : NULL, err));
    r->x.n_eval = n;
    *acc = n ? (double)c / n : NAN;
    *maj = (n && r->spec->maj_k) ? (double)mc / n : NAN;
    if (secs) *secs = run_now_s() - t0;
    return 0;
}

/* The sides write the parameters and their optimiser shards; rank 0 (this loop) only the
 * memory and the manifest (ckptdir.h), so the bytes it moves for a checkpoint do not grow
 * with the model. */
int run_checkpoint(run *r, int64_t steps_done, tr_error *err) {
    r->x.step = steps_done;
    /* whatever ran before (a final evaluation) is not the checkpoint's traffic */
    fleet_counts c;
    TR_TRY(r->f->ops->take_counts(r->f, &c, err));
    char dir[PATH_BUF];
    TR_TRY(ckptdir_begin(r->out_dir, steps_done, dir, sizeof dir, err));
    ckpt_file *files = NULL;
    int nf = 0;
    TR_TRY(r->f->ops->ckpt_save(r->f, dir, &files, &nf, err));
    uint8_t *mem = NULL;
    size_t mlen = 0;
    int rc = r->f->ops->memory_gather(r->f, &mem, &mlen, err);
    if (!rc) rc = ckptdir_commit(r->out_dir, dir, &r->x, r->n_tunable, r->f->nsides, files, nf, mem, mlen,
                                 r->spec->keep_checkpoints, err);
    free(mem);
    free(files);
    if (rc) return rc;
    snprintf(r->last_ckpt, sizeof r->last_ckpt, "%s", dir);
    /* a checkpoint's traffic is the checkpoint's, not the next step's: logged here and kept
     * out of the per-step counters */
    TR_TRY(r->f->ops->take_counts(r->f, &c, err));
    LOG_I("checkpoint: %s (%lld steps done, %lld bytes through the coordinator)", dir, (long long)steps_done,
          (long long)c.bytes_moved);
    if (r->hooks && r->hooks->checkpointed) r->hooks->checkpointed(r->hooks->ctx, dir, steps_done);
    return 0;
}

/* ckptdir_resume's hand-over to the sides: they read the manifest's files themselves; a
 * checkpoint from before manifests was read here and is pushed to them. */
static int load_into_fleet(void *ctx, const char *dir, const ckptdir_manifest *m, tr_error *err) {
    run *r = ctx;
    if (m) return r->f->ops->ckpt_load(r->f, dir, m->files, m->n_files, err);
    return r->f->ops->set_state(r->f, r->tunable, &r->opt, r->n_tunable, err);
}

int run_resume(run *r, tr_error *err) {
    uint8_t *mem = NULL;
    size_t mlen = 0;
    char dir[PATH_BUF];
    TR_TRY(ckptdir_resume(r->out_dir, r->n_tunable, &r->master, &r->opt, &r->x, &mem, &mlen, load_into_fleet, r, dir,
                          sizeof dir, err));
    /* the memory after the state: a checkpoint the sides refused was never scattered */
    int rc = r->f->ops->memory_scatter(r->f, mem, mlen, err);
    free(mem);
    if (rc) return rc;
    char mpath[PATH_BUF];
    TR_TRY(path_fmt(mpath, sizeof mpath, err, "%s/metrics.jsonl", r->out_dir));
    int kept = 0;
    TR_TRY(metrics_truncate_to_step(mpath, r->x.step - 1, &kept, err));
    LOG_I("resumed from %s at step %lld (%d metric lines kept)", dir, (long long)r->x.step, kept);
    return 0;
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

/* A fresh stage: fill the memory, refuse an empty one, evaluate before training. */
int run_start(run *r, const char *mpath, tr_error *err) {
    const experiment_spec *spec = r->spec;
    int nv = 0;
    double t0 = run_now_s();
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
              (long long)r->task.n_train, run_now_s() - t0);
    }
    TR_TRY(refuse_empty_memory(r, nv, err));
    TR_TRY(run_eval(r, "eval-before.jsonl", &r->x.acc_before, &r->x.maj_before, NULL, err));
    LOG_I("held-out accuracy before training: %.4f on %d examples", r->x.acc_before, r->x.n_eval);
    /* evaluation tokens are not training samples: keep them out of step 0's count */
    TR_TRY(r->f->ops->take_counts(r->f, &c, err));
    (void)remove(mpath); /* a fresh run starts a fresh log */
    return 0;
}

/* The end of a stage that ran out: evaluate after, checkpoint, and the final model at the top
 * of the folder (for `trice eval` and for the next stage). */
int run_finish(run *r, int64_t step, trainer_result *res, tr_error *err) {
    TR_TRY(run_eval(r, "eval-after.jsonl", &res->acc_after, &res->maj_after, NULL, err));
    res->n_eval = r->x.n_eval;
    TR_TRY(run_checkpoint(r, step, err));
    /* the final model from the checkpoint just written (the sides wrote it: this process's
     * copy is the initial one), read from the run folder rather than pulled over MPI */
    char mp[PATH_BUF];
    TR_TRY(path_fmt(mp, sizeof mp, err, "%s/model.bin", r->last_ckpt));
    TR_TRY(gpt_ckpt_load(&r->master, mp, err));
    TR_TRY(path_fmt(mp, sizeof mp, err, "%s/model.bin", r->out_dir));
    TR_TRY(gpt_ckpt_save(&r->master, mp, err));
    if (r->spec->tunable == TUNABLE_PROMPT) {
        TR_TRY(path_fmt(mp, sizeof mp, err, "%s/prompt.bin", r->last_ckpt));
        TR_TRY(ckptdir_prompt_load(mp, &r->master, err));
        TR_TRY(path_fmt(mp, sizeof mp, err, "%s/prompt.bin", r->out_dir));
        TR_TRY(ckptdir_prompt_save(mp, &r->master, err));
    }
    LOG_I("held-out accuracy: before %.4f, after %.4f (%d examples, %lld steps, %lld tokens sampled)",
          res->acc_before, res->acc_after, res->n_eval, (long long)step, (long long)r->x.tokens_sampled);
    return 0;
}
