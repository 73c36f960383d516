/* rng.h - counter-based random streams (Philox4x32-10).
 *
 * Every stream is derived from (seed, purpose, id): the key is a hash of the three, the
 * counter starts at zero. Two streams with different (purpose, id) are independent for all
 * practical purposes, and a stream's whole state is a plain struct that can be saved to
 * RNG_STATE_BYTES bytes and restored to continue bit-identically.
 *
 * Purposes used in the project are listed here so that two modules never share a stream.
 */
#ifndef TRICE_UTIL_RNG_H
#define TRICE_UTIL_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/err.h"

enum rng_purpose {
    RNG_PURPOSE_TEST = 0,
    RNG_PURPOSE_INIT_WEIGHTS = 1,   /* id: 0 */
    RNG_PURPOSE_SCHEDULE = 2,       /* id: 0 (minibatch order; independent of W) */
    RNG_PURPOSE_PROPOSAL = 3,       /* id: example id (sampling one example's rationales) */
    RNG_PURPOSE_RESAMPLE = 4,       /* id: 0 (systematic resampling offsets) */
    RNG_PURPOSE_SPLIT = 5,          /* id: 0 (train/held-out split) */
    RNG_PURPOSE_SHARD = 6,          /* id: example id */
    RNG_PURPOSE_GENERATOR = 7,      /* id: example index (built-in task generators) */
    RNG_PURPOSE_EVAL = 8,           /* id: example id (maj@k sampling) */
    RNG_PURPOSE_MEMORY_INIT = 9,    /* id: example id */
    RNG_PURPOSE_POSITION = 10,      /* id: example id (position jitter of supervised terms), skipped to the step */
};

typedef struct rng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];   /* last block of output */
    uint32_t idx;      /* next unused word of buf (4 = empty) */
} rng;

#define RNG_STATE_BYTES 44

void rng_init(rng *r, uint64_t seed, uint64_t purpose, uint64_t id);
uint32_t rng_u32(rng *r);
uint64_t rng_u64(rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng *r);
/* Uniform in [0, 1) as float with 24 random bits. */
float rng_uniformf(rng *r);
/* Uniform integer in [0, n), unbiased (rejection). n > 0. */
uint64_t rng_below(rng *r, uint64_t n);
/* Standard normal (Box-Muller, uses two uniforms per call). */
double rng_normal(rng *r);
/* Fisher-Yates shuffle of n int64 values. */
void rng_shuffle_i64(rng *r, int64_t *a, size_t n);

/* Skip ahead by n 128-bit blocks (stream splitting inside one (seed, purpose, id)). */
void rng_skip_blocks(rng *r, uint64_t n);

/* Portable little-endian state (RNG_STATE_BYTES bytes). */
void rng_save(const rng *r, uint8_t out[RNG_STATE_BYTES]);
int rng_restore(rng *r, const uint8_t in[RNG_STATE_BYTES], tr_error *err);

/* 64-bit mixing hash (splitmix64 finaliser); exposed for stable derived ids. */
uint64_t rng_mix64(uint64_t x);

#endif
