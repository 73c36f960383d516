#include "common/util/rng.h"

#include <math.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

uint64_t rng_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void philox_block(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static void ctr_add(uint32_t ctr[4], uint64_t n) {
    uint64_t lo = ((uint64_t)ctr[1] << 32 | ctr[0]);
    uint64_t nlo = lo + n;
    uint64_t carry = nlo < lo;
    ctr[0] = (uint32_t)nlo; ctr[1] = (uint32_t)(nlo >> 32);
    if (carry) {
        uint64_t hi = ((uint64_t)ctr[3] << 32 | ctr[2]) + 1;
        ctr[2] = (uint32_t)hi; ctr[3] = (uint32_t)(hi >> 32);
    }
}

void rng_init(rng *r, uint64_t seed, uint64_t purpose, uint64_t id) {
    uint64_t k = rng_mix64(rng_mix64(rng_mix64(seed) ^ purpose) ^ rng_mix64(id + 0x632BE59BD9B4E019ull));
    memset(r, 0, sizeof *r);
    r->key[0] = (uint32_t)k;
    r->key[1] = (uint32_t)(k >> 32);
    /* the upper counter words carry a second hash so that keys colliding in 64 bits still differ */
    uint64_t h = rng_mix64(k ^ id ^ (purpose << 48));
    r->ctr[2] = (uint32_t)h;
    r->ctr[3] = (uint32_t)(h >> 32);
    r->idx = 4;
}

uint32_t rng_u32(rng *r) {
    if (r->idx >= 4) {
        philox_block(r->key, r->ctr, r->buf);
        ctr_add(r->ctr, 1);
        r->idx = 0;
    }
    return r->buf[r->idx++];
}

uint64_t rng_u64(rng *r) {
    uint64_t hi = rng_u32(r);
    return hi << 32 | rng_u32(r);
}

double rng_uniform(rng *r) { return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

float rng_uniformf(rng *r) { return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

uint64_t rng_below(rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_u64(r); while (x >= limit);
    return x % n;
}

double rng_normal(rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void rng_shuffle_i64(rng *r, int64_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        int64_t t = a[i - 1]; a[i - 1] = a[j]; a[j] = t;
    }
}

void rng_skip_blocks(rng *r, uint64_t n) {
    ctr_add(r->ctr, n);
    r->idx = 4;
}

static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

void rng_save(const rng *r, uint8_t out[RNG_STATE_BYTES]) {
    const uint32_t *w[] = {&r->key[0], &r->key[1], &r->ctr[0], &r->ctr[1], &r->ctr[2], &r->ctr[3],
                           &r->buf[0], &r->buf[1], &r->buf[2], &r->buf[3], &r->idx};
    for (int i = 0; i < 11; i++) put32(out + 4 * i, *w[i]);
}

int rng_restore(rng *r, const uint8_t in[RNG_STATE_BYTES], tr_error *err) {
    rng t;
    uint32_t *w[] = {&t.key[0], &t.key[1], &t.ctr[0], &t.ctr[1], &t.ctr[2], &t.ctr[3],
                     &t.buf[0], &t.buf[1], &t.buf[2], &t.buf[3], &t.idx};
    for (int i = 0; i < 11; i++) *w[i] = get32(in + 4 * i);
    if (t.idx > 4) return TR_FAIL(err, TR_EFORMAT, "saved RNG state has buffer index %u (allowed 0..4): state is corrupt", t.idx);
    *r = t;
    return 0;
}
