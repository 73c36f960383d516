/* trainer.h - the training loop of one experiment, written once against the fleet.
 *
 * The coordinator side of ALGORITHM.md §4-6 (beta, term weights, systematic resampling), the
 * baselines (§6), evaluation, metrics.jsonl, progress lines, and checkpoints with exact resume.
 * The sides (the workers) hold the live parameters and a replica of the optimiser state and
 * apply each update themselves (fleet.h, step) and write them to checkpoints themselves
 * (fleet.h, ckpt_save; the loop writes the memory and the manifest), so nothing per step or
 * per checkpoint grows with the model here.
 *
 * Experiment folder (out_dir):
 *   experiment.json           the spec as submitted (all stages; what --resume DIR restarts)
 *   spec.json                 the canonical spec of this stage
 *   metrics.jsonl             one line per step (common/train/metrics.h)
 *   checkpoints/step-NNNNNNNN/{model.bin, [prompt.bin], optim-*-of-*.bin, memory.bin, manifest.json}
 *   checkpoints/latest        the name of the newest complete checkpoint, written last (ckptdir.h)
 *   eval-before.jsonl, eval-after.jsonl   per-example held-out results
 *   result.json               accuracies before and after, steps, tokens
 *   warmup/                   the supervised warm-up stage (same layout), when asked for
 */
#ifndef TRICE_ENGINE_TRAINER_H
#define TRICE_ENGINE_TRAINER_H

#include <stdint.h>

#include "common/engine/fleet.h"
#include "common/train/metrics.h"

typedef struct trainer_hooks {
    void *ctx;
    /* Polled between phases: non-zero asks the loop to checkpoint and return TR_ECANCELED. */
    int (*should_stop)(void *ctx);
    /* After every step (and evaluation). */
    void (*progress)(void *ctx, const metrics_row *row, int64_t total_steps, double eta_s);
    /* After every checkpoint. */
    void (*checkpointed)(void *ctx, const char *dir, int64_t step);
    /* Before each stage of experiment_run: index 1..count, name "warm-up" or the method's,
     * step_offset the steps of the stages before it (for a global step axis). */
    void (*stage)(void *ctx, int index, int count, const char *name, int64_t step_offset);
} trainer_hooks;

typedef struct trainer_result {
    double acc_before, acc_after;   /* held-out greedy accuracy */
    double maj_before, maj_after;   /* maj@k (when maj_k > 0) */
    int n_eval;
    int64_t steps_done;
    int64_t tokens_sampled;
    int stopped;                    /* stopped early by should_stop */
} trainer_result;

/* Builds the fleet for a stage's spec (local: fleet_local; MPI: starts the workers on it). */
typedef int (*fleet_factory)(void *ctx, const experiment_spec *spec, fleet **out, tr_error *err);

/* Run one stage with an existing fleet. resume: continue from out_dir/checkpoints/latest. */
int trainer_run(const experiment_spec *spec, const char *out_dir, fleet *f, int resume,
                const trainer_hooks *hooks, trainer_result *res, tr_error *err);

/* The whole experiment: the optional supervised warm-up (warmup_sft_steps on
 * program-written rationales at warmup_difficulty, into out_dir/warmup), then the method,
 * starting from the warm-up's model. resume: skip finished stages, continue the running one. */
int experiment_run(const experiment_spec *spec, const char *out_dir, fleet_factory make, void *make_ctx,
                   int resume, const trainer_hooks *hooks, trainer_result *res, tr_error *err);

#endif
