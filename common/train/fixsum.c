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

/* The first entry that fixsum.h's range refuses (|x| >= 2^31, inf or nan), or n. Blocks of
 * 256 are checked with a max over their exponent fields first (a loop the compiler vectorises);
 * only a block that fails is scanned entry by entry. */
static size_t first_out_of_range(const float *x, size_t n) {
    const uint32_t limit = (127u + 31u) << 23;
    for (size_t i0 = 0; i0 < n; i0 += 256) {
        size_t i1 = n - i0 < 256 ? n : i0 + 256;
        uint32_t mx = 0;
        for (size_t i = i0; i < i1; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            b &= 0x7f800000u;
            mx = b > mx ? b : mx;
        }
        if (mx < limit) continue;
        for (size_t i = i0; i < i1; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            if ((b & 0x7f800000u) >= limit) return i;
        }
    }
    return n;
}

static void add_scalar(fixsum *acc, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b);
        if (b << 1) store(&acc[i], load(&acc[i]) + to_fixed(b));   /* +-0 adds nothing */
    }
}

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#define FIXSUM_HAVE_AVX2 1

/* to_fixed and the 128-bit add for four floats at a time in 64-bit lanes (AVX2): the same bits
 * as add_scalar (tests/train/test_fixsum.c compares them). Per lane, with sh = e - 70 as in
 * to_fixed: AVX2's variable shifts give 0 for counts of 64 or more (a negative count, seen as
 * unsigned, too), so the 24-bit mantissa's two 64-bit halves need no branch; the carries come
 * from unsigned compares (signed compares with the top bit flipped). The accumulator holds
 * {lo, hi} pairs, so four of them unpack to lanes in the order 0, 2, 1, 3, and the floats are
 * shuffled to match. Returns how many entries it added (a multiple of 4). Measured with
 * tests/bench/bench_fixsum. */
__attribute__((target("avx2"))) static size_t add_avx2(fixsum *acc, const float *x, size_t n) {
    const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
    const __m256i top = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    const __m256i c64 = _mm256_set1_epi64x(64), c70 = _mm256_set1_epi64x(70);
    const __m256i emask = _mm256_set1_epi64x(0xff), mmask = _mm256_set1_epi64x(0x7fffff);
    const __m256i hidden = _mm256_set1_epi64x(0x800000);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i b4 = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        __m256i b = _mm256_cvtepu32_epi64(_mm_shuffle_epi32(b4, _MM_SHUFFLE(3, 1, 2, 0)));   /* 0 2 1 3 */
        __m256i e = _mm256_and_si256(_mm256_srli_epi64(b, 23), emask);
        __m256i m = _mm256_and_si256(b, mmask);
        __m256i sub = _mm256_cmpeq_epi64(e, zero);   /* zero or subnormal: e = 1, no hidden bit */
        e = _mm256_blendv_epi8(e, one, sub);
        m = _mm256_or_si256(m, _mm256_andnot_si256(sub, hidden));
        __m256i sh = _mm256_sub_epi64(e, c70);
        /* sh >= 0: m << sh across the two halves */
        __m256i lo_p = _mm256_sllv_epi64(m, sh);
        __m256i hi_p = _mm256_or_si256(_mm256_sllv_epi64(m, _mm256_sub_epi64(sh, c64)),
                                       _mm256_srlv_epi64(m, _mm256_sub_epi64(c64, sh)));
        /* sh < 0: m >> -sh rounded to nearest, halves up (0 from 26 on, as in to_fixed) */
        __m256i k = _mm256_sub_epi64(zero, sh);
        __m256i lo_n = _mm256_srlv_epi64(_mm256_add_epi64(m, _mm256_sllv_epi64(one, _mm256_sub_epi64(k, one))), k);
        __m256i below = _mm256_cmpgt_epi64(zero, sh);
        __m256i lo = _mm256_blendv_epi8(lo_p, lo_n, below);
        __m256i hi = _mm256_andnot_si256(below, hi_p);
        /* the sign: two's complement of the 128-bit value where the float is negative */
        __m256i neg = _mm256_sub_epi64(zero, _mm256_srli_epi64(b, 31));
        lo = _mm256_sub_epi64(_mm256_xor_si256(lo, neg), neg);
        hi = _mm256_sub_epi64(_mm256_xor_si256(hi, neg), _mm256_and_si256(neg, _mm256_cmpeq_epi64(lo, zero)));
        /* acc += value */
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)(acc + i));       /* lo0 hi0 lo1 hi1 */
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(acc + i + 2));   /* lo2 hi2 lo3 hi3 */
        __m256i al = _mm256_unpacklo_epi64(a0, a1), ah = _mm256_unpackhi_epi64(a0, a1);   /* 0 2 1 3 */
        __m256i nl = _mm256_add_epi64(al, lo);
        __m256i carry = _mm256_cmpgt_epi64(_mm256_xor_si256(al, top), _mm256_xor_si256(nl, top));
        __m256i nh = _mm256_sub_epi64(_mm256_add_epi64(ah, hi), carry);
        _mm256_storeu_si256((__m256i *)(void *)(acc + i), _mm256_unpacklo_epi64(nl, nh));
        _mm256_storeu_si256((__m256i *)(void *)(acc + i + 2), _mm256_unpackhi_epi64(nl, nh));
    }
    return i;
}
#endif

/* Check first, so that a refused vector adds nothing. */
static int check_range(const float *x, size_t n, tr_error *err) {
    size_t bad = first_out_of_range(x, n);
    if (bad == n) return 0;
    return TR_FAIL(err, TR_EINVAL, "entry %zu is %g: %s", bad, (double)x[bad],
                   isfinite(x[bad]) ? "beyond the exact-sum range of +-2^31 (diverging?)" : "not finite (diverging?)");
}

int fixsum_add_floats(fixsum *acc, const float *x, size_t n, tr_error *err) {
    TR_TRY(check_range(x, n, err));
    size_t done = 0;
#ifdef FIXSUM_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) done = add_avx2(acc, x, n);
#endif
    add_scalar(acc + done, x + done, n - done);
    return 0;
}

int fixsum_add_floats_portable(fixsum *acc, const float *x, size_t n, tr_error *err) {
    TR_TRY(check_range(x, n, err));
    add_scalar(acc, x, n);
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

static void to_floats_scalar(const fixsum *acc, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)fixsum_to_double(acc[i]);
}

#ifdef FIXSUM_HAVE_AVX2
/* A correctly rounded uint64 -> double in each lane (AVX2 has no such instruction): both 32-bit
 * halves become doubles exactly (the 2^52 trick), the high one is scaled exactly by 2^32, and
 * the one addition rounds once. */
__attribute__((target("avx2"))) static inline __m256d u64_to_pd(__m256i v) {
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);   /* the bits of 2^52 */
    const __m256d two52 = _mm256_set1_pd(0x1p52), two32 = _mm256_set1_pd(0x1p32);
    __m256d dlo = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi64x(0xffffffffll)), magic)), two52);
    __m256d dhi = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(v, 32), magic)), two52);
    return _mm256_add_pd(_mm256_mul_pd(dhi, two32), dlo);
}

/* fixsum_to_floats for four values at a time: the same bits as to_floats_scalar (the tests
 * compare them). As in i128_to_double: |x|, its top 64 bits with the rest folded into the
 * lowest bit, converted, scaled back, the sign put on. The shift comes from the exponent of the
 * high half converted to double, which may round up one past its bit length: the top then keeps
 * 63 bits instead of 64, still far more than rounding to 53 needs, so the result is the same. */
__attribute__((target("avx2"))) static size_t to_floats_avx2(const fixsum *acc, float *out, size_t n) {
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi64x(1), c64 = _mm256_set1_epi64x(64);
    const __m256i sign = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)(acc + i));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(acc + i + 2));
        __m256i lo = _mm256_unpacklo_epi64(a0, a1), hi = _mm256_unpackhi_epi64(a0, a1);   /* lanes 0 2 1 3 */
        __m256i neg = _mm256_cmpgt_epi64(zero, hi);
        lo = _mm256_sub_epi64(_mm256_xor_si256(lo, neg), neg);
        hi = _mm256_sub_epi64(_mm256_xor_si256(hi, neg), _mm256_and_si256(neg, _mm256_cmpeq_epi64(lo, zero)));
        /* sh: 0 where the high half is 0, else its bit length (or one more) */
        __m256i eb = _mm256_srli_epi64(_mm256_castpd_si256(u64_to_pd(hi)), 52);
        __m256i sh = _mm256_andnot_si256(_mm256_cmpeq_epi64(hi, zero), _mm256_sub_epi64(eb, _mm256_set1_epi64x(1022)));
        __m256i shm = _mm256_sub_epi64(sh, c64);
        __m256i top = _mm256_or_si256(_mm256_or_si256(_mm256_srlv_epi64(lo, sh), _mm256_sllv_epi64(hi, _mm256_sub_epi64(c64, sh))),
                                      _mm256_srlv_epi64(hi, shm));
        __m256i gone = _mm256_or_si256(_mm256_and_si256(lo, _mm256_sub_epi64(_mm256_sllv_epi64(one, sh), one)),
                                       _mm256_and_si256(_mm256_and_si256(hi, _mm256_sub_epi64(_mm256_sllv_epi64(one, shm), one)),
                                                        _mm256_cmpgt_epi64(sh, c64)));
        top = _mm256_or_si256(top, _mm256_andnot_si256(_mm256_cmpeq_epi64(gone, zero), one));   /* sticky */
        __m256i scale = _mm256_slli_epi64(_mm256_add_epi64(sh, _mm256_set1_epi64x(1023 - FIXSUM_FRAC_BITS)), 52);
        __m256d d = _mm256_mul_pd(u64_to_pd(top), _mm256_castsi256_pd(scale));   /* exact: a power of two, no underflow */
        d = _mm256_castsi256_pd(_mm256_or_si256(_mm256_castpd_si256(d), _mm256_and_si256(neg, sign)));
        __m128 f = _mm256_cvtpd_ps(d);
        _mm_storeu_ps(out + i, _mm_shuffle_ps(f, f, _MM_SHUFFLE(3, 1, 2, 0)));   /* back to 0 1 2 3 */
    }
    return i;
}
#endif

void fixsum_to_floats(const fixsum *acc, float *out, size_t n) {
    size_t done = 0;
#ifdef FIXSUM_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) done = to_floats_avx2(acc, out, n);
#endif
    to_floats_scalar(acc + done, out + done, n - done);
}

void fixsum_to_floats_portable(const fixsum *acc, float *out, size_t n) { to_floats_scalar(acc, out, n); }
