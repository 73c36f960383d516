/* streams.h - every random stream of a TRICE run, named in one place.
 *
 * A stream is (seed, purpose, id) of common/util/rng.h, skipped to a block that encodes the
 * rest of its coordinates. The layouts below are the ones runs and checkpoints were made
 * with: changing one changes every sample drawn from it, so the same seed would no longer
 * give the same run (and a resume would no longer continue bit for bit).
 *
 *   purpose       id           skipped to block                        used by
 *   PROPOSAL      example id   step * 2^24 + particle * 2^16           engine_side_propose
 *   MEMORY_INIT   example id   0                                       engine_side_memory_init
 *   MEMORY_INIT   example id   iteration * 2^24 + pass * 2^20          STaR collection
 *   EVAL          example id   sample * 2^20 (0 = greedy, k = k-th)    engine_side_eval (maj@k)
 *   POSITION      example id   step                                    engine_side_gradient (jitter)
 *   RESAMPLE      step         0                                       the step's resampling offset
 *   SCHEDULE      epoch        0                                       schedule.c (STaR: seed + iteration)
 * and, below the engine: INIT_WEIGHTS (gpt.c), SHARD (shard.c), GENERATOR and SPLIT (common/data).
 *
 * The variance probe draws proposals at stream_probe_step(step, k): steps no training run
 * reaches, so the probe never reuses a training step's proposals.
 */
#ifndef TRICE_ENGINE_STREAMS_H
#define TRICE_ENGINE_STREAMS_H

#include <stdint.h>

#include "common/util/rng.h"

/* Particle k's proposal for example id at step (independent of worker and batch). */
void stream_proposal(rng *r, uint64_t seed, int64_t id, int64_t step, int k);
/* Memory initialisation draws for example id (every try continues the same stream). */
void stream_memory_init(rng *r, uint64_t seed, int64_t id);
/* STaR's collection for example id in outer iteration iter: pass 0 plain, 1 hinted. */
void stream_star(rng *r, uint64_t seed, int64_t id, int iter, int pass);
/* Held-out generation for example id: sample 0 greedy, 1..k the maj@k samples. */
void stream_eval(rng *r, uint64_t seed, int64_t id, int sample);
/* Position jitter of example id's gradient term at step. */
void stream_position(rng *r, uint64_t seed, int64_t id, int64_t step);
/* The systematic-resampling offset of step. */
void stream_resample(rng *r, uint64_t seed, int64_t step);
/* The shuffle of the training ids in epoch. */
void stream_schedule(rng *r, uint64_t seed, int64_t epoch);
/* The proposal step the variance probe's draw k at step uses. */
int64_t stream_probe_step(int64_t step, int k);

#endif
