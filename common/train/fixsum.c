/* fixsum.c - 128-bit fixed-point sums (fixsum.h). */
#include "common/train/fixsum.h"

#include <math.h>
#include <string.h>

/* GCC and Clang's 128-bit integers; __extension__ keeps -Wpedantic quiet about them. */
__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

static inline u128 load(const fixsum *v) { return ((u128)v->hi << 64) | v->lo; }
static inline void store(fixsum *v, u128 x) {
    v->lo = (uint64_t)x;
    v->hi = (uint64_t)(x >> 64);
}

/* The float's bits as a multiple of 2^-80, rounded to nearest (halves away from zero) below
 * 2^-57. Precondition: finite, |x| < 2^31. */
static inline u128 to_fixed(uint32_t b) {
    uint32_t e = (b >> 23) & 0xffu, m = b & 0x7fffffu;
    if (e == 0) {            /* zero or subnormal: m * 2^-149 */
        if (!m) return 0;
        e = 1;
    } else {
        m |= 0x800000u;      /* value = m * 2^(e - 150) */
    }
    int sh = (int)e - 150 + FIXSUM_FRAC_BITS;
    u128 v;
    if (sh >= 0) v = (u128)m << sh;                       /* sh <= 87: below 2^111 */
    else if (sh > -26) v = (m + (1u << (-sh - 1))) >> -sh; /* m < 2^24: no overflow */
    else v = 0;                                           /* below 2^-81: rounds to 0 */
    u128 neg = (u128)0 - (u128)(b >> 31);   /* all ones for a negative float: no branch on the sign */
    return (v ^ neg) - neg;
}

int fixsum_add_floats(fixsum *acc, const float *x, size_t n, tr_error *err) {
    /* check first, so that a refused vector adds nothing */
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b);
        if (((b >> 23) & 0xffu) >= 127u + 31u)   /* |x| >= 2^31, inf or nan */
            return TR_FAIL(err, TR_EINVAL, "entry %zu is %g: %s", i, (double)x[i],
                           isfinite(x[i]) ? "beyond the exact-sum range of +-2^31 (diverging?)" : "not finite (diverging?)");
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b);
        if (b << 1) store(&acc[i], load(&acc[i]) + to_fixed(b));   /* +-0 adds nothing */
    }
    return 0;
}

void fixsum_add(fixsum *acc, const fixsum *x, size_t n) {
    for (size_t i = 0; i < n; i++) store(&acc[i], load(&acc[i]) + load(&x[i]));
}

/* 2^e for a normal exponent (|e| < 1023), from its bits: no library call */
static inline double pow2(int e) {
    uint64_t b = (uint64_t)(1023 + e) << 52;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* (double)x, rounded to nearest even, without the library's 128-bit conversion (a function
 * call per value: 12.8 ms per update of the 0.9M-parameter model, most of the update;
 * tests/bench/bench_fixsum). The top 64 bits of |x| keep every bit that rounding to 53 needs:
 * the rest is folded into the lowest bit (sticky), which lies below the half-way bit, so ties
 * and "more than half" come out as they would from all 128 bits. Rounding is symmetric, so the
 * sign goes on after. tests/train/test_fixsum.c checks it against the compiler's conversion. */
static inline double i128_to_double(i128 x) {
    uint64_t lo = (uint64_t)x;
    if ((i128)(int64_t)lo == x) return (double)(int64_t)lo;   /* fits: the hardware converts it */
    u128 m = x < 0 ? (u128)0 - (u128)x : (u128)x;
    uint64_t mh = (uint64_t)(m >> 64);
    double d;
    if (mh == 0) {
        d = (double)(uint64_t)m;   /* 2^63 <= |x| < 2^64 */
    } else {
        int sh = 64 - __builtin_clzll(mh);   /* 1..64 */
        uint64_t top = (uint64_t)(m >> sh) | (uint64_t)((m & (((u128)1 << sh) - 1)) != 0);
        d = (double)top * pow2(sh);   /* exact */
    }
    return x < 0 ? -d : d;
}

double fixsum_to_double(fixsum v) {
    return i128_to_double((i128)load(&v)) * pow2(-FIXSUM_FRAC_BITS);   /* exact: the result is 0 or >= 2^-80 */
}

void fixsum_to_floats(const fixsum *acc, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)fixsum_to_double(acc[i]);
}
