/* streams.c - the block layouts of streams.h. */
#include "common/engine/streams.h"

void stream_proposal(rng *r, uint64_t seed, int64_t id, int64_t step, int k) {
    rng_init(r, seed, RNG_PURPOSE_PROPOSAL, (uint64_t)id);
    rng_skip_blocks(r, ((uint64_t)step << 24) + ((uint64_t)k << 16));
}

void stream_memory_init(rng *r, uint64_t seed, int64_t id) {
    rng_init(r, seed, RNG_PURPOSE_MEMORY_INIT, (uint64_t)id);
}

void stream_star(rng *r, uint64_t seed, int64_t id, int iter, int pass) {
    rng_init(r, seed, RNG_PURPOSE_MEMORY_INIT, (uint64_t)id);
    rng_skip_blocks(r, ((uint64_t)iter << 24) + ((uint64_t)pass << 20));
}

void stream_eval(rng *r, uint64_t seed, int64_t id, int sample) {
    rng_init(r, seed, RNG_PURPOSE_EVAL, (uint64_t)id);
    rng_skip_blocks(r, (uint64_t)sample << 20);
}

void stream_position(rng *r, uint64_t seed, int64_t id, int64_t step) {
    rng_init(r, seed, RNG_PURPOSE_POSITION, (uint64_t)id);
    rng_skip_blocks(r, (uint64_t)step);
}

void stream_resample(rng *r, uint64_t seed, int64_t step) {
    rng_init(r, seed, RNG_PURPOSE_RESAMPLE, (uint64_t)step);
}

void stream_schedule(rng *r, uint64_t seed, int64_t epoch) {
    rng_init(r, seed, RNG_PURPOSE_SCHEDULE, (uint64_t)epoch);
}

int64_t stream_probe_step(int64_t step, int k) {
    return INT64_C(1000000000) + step * 1024 + k;
}
