/* counts.h - what an example side counts per step (a leaf: msg.h encodes it, engine.h fills it). */
#ifndef TRICE_ENGINE_COUNTS_H
#define TRICE_ENGINE_COUNTS_H

#include <stdint.h>

/* Per-step counters of one example side since it was last asked (summed over the sides by
 * the fleet; wall times: the slowest side's). The fleet's own traffic is in fleet_counts. */
typedef struct engine_counts {
    int64_t tokens_sampled;   /* generated tokens, proposals and evaluation alike */
    int64_t tokens_trained;   /* positions through forward+backward */
    /* One 64-bit hash per sampled sequence (proposals, memory initialisation, evaluation) of its
     * tokens and the bits of its log-probability, summed mod 2^64: the order does not matter,
     * so it is the same for any number of workers exactly when the samples are, to the last
     * bit of their log-probabilities (metrics.jsonl's sample_digest, compared per step by the
     * distributed test). */
    uint64_t sample_digest;
    double sample_s, check_s, grad_s, eval_s;  /* wall time per phase */
    /* The data plane (worker to worker, not through the coordinator): bytes this side sent and
     * received (the rationale exchange, and the gradient all-reduce counted as a ring's
     * 2 (W-1)/W of the sum's bytes each way), the seconds the all-reduce took once every side
     * had arrived (peer_s) and the seconds spent waiting for the slowest side before it (wait_s). */
    int64_t peer_bytes;
    double peer_s, wait_s;
    double update_s;   /* the optimiser step on the side (engine_side_update) */
} engine_counts;

#endif
