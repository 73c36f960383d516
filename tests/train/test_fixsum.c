/* 128-bit fixed-point sums (fixsum.h): exact round trip, order-free sums, the range limits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/train/fixsum.h"
#include "common/util/rng.h"

/* n floats of random sign with magnitudes spread over 2^lo .. 2^hi */
static void spread(float *x, size_t n, int lo, int hi, uint64_t seed) {
    rng r;
    rng_init(&r, seed, 0, 0);
    for (size_t i = 0; i < n; i++) {
        double m = 1.0 + rng_uniform(&r);
        int e = lo + (int)rng_below(&r, (uint64_t)(hi - lo));
        x[i] = (float)ldexp(rng_below(&r, 2) ? -m : m, e);
    }
}

Test(fixsum, a_float_in_range_round_trips_bit_for_bit) {
    enum { N = 4096 };
    static float x[N], y[N];
    static fixsum acc[N];
    spread(x, N, -57, 31, 1);
    x[0] = 0.0f; x[1] = -0.0f; x[2] = 0x1p-57f; x[3] = -0x1.fffffep30f; x[4] = 1.0f;
    memset(acc, 0, sizeof acc);
    tr_error err = {0};
    cr_assert_eq(fixsum_add_floats(acc, x, N, &err), 0, "%s", err.msg);
    fixsum_to_floats(acc, y, N);
    for (size_t i = 2; i < N; i++) cr_assert_eq(x[i], y[i], "entry %zu: %a came back as %a", i, (double)x[i], (double)y[i]);
    cr_assert_eq(y[0], 0.0f);
    cr_assert_eq(y[1], 0.0f);
}

Test(fixsum, values_below_the_exact_range_round_to_multiples_of_2_to_the_minus_80) {
    float x[4] = {0x1p-82f, 0x1.8p-81f, -0x1.8p-81f, 0x1p-126f};
    fixsum acc[4] = {{0, 0}};
    cr_assert_eq(fixsum_add_floats(acc, x, 4, NULL), 0);
    cr_assert_eq(fixsum_to_double(acc[0]), 0.0, "a quarter unit rounds to 0");
    cr_assert_eq(fixsum_to_double(acc[1]), 0x1p-80, "0.75 units round to 1");
    cr_assert_eq(fixsum_to_double(acc[2]), -0x1p-80);
    cr_assert_eq(fixsum_to_double(acc[3]), 0.0);
}

/* The point of the module: the sum of many parts has the same bits whatever the order and
 * however the parts are split into partial sums, and it is the exact sum rounded once. */
Test(fixsum, sums_do_not_depend_on_order_or_split) {
    enum { P = 24, N = 512 };
    static float parts[P][N];
    for (int p = 0; p < P; p++) spread(parts[p], N, -30, 4, 100 + (uint64_t)p);   /* 58 bits: a long double sum is exact */
    static fixsum fwd[N], rev[N], s1[N], s2[N], s3[N];
    memset(fwd, 0, sizeof fwd); memset(rev, 0, sizeof rev);
    memset(s1, 0, sizeof s1); memset(s2, 0, sizeof s2); memset(s3, 0, sizeof s3);
    for (int p = 0; p < P; p++) {
        cr_assert_eq(fixsum_add_floats(fwd, parts[p], N, NULL), 0);
        cr_assert_eq(fixsum_add_floats(rev, parts[P - 1 - p], N, NULL), 0);
        fixsum *s = p % 3 == 0 ? s1 : p % 3 == 1 ? s2 : s3;   /* three "workers" */
        cr_assert_eq(fixsum_add_floats(s, parts[p], N, NULL), 0);
    }
    fixsum_add(s3, s1, N);   /* partial sums added in another order */
    fixsum_add(s3, s2, N);
    float a[N], b[N], c[N];
    fixsum_to_floats(fwd, a, N);
    fixsum_to_floats(rev, b, N);
    fixsum_to_floats(s3, c, N);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "reversed order: different bits");
    cr_assert_eq(memcmp(a, c, sizeof a), 0, "split over three partial sums: different bits");
    /* and float sums would differ: the test's parts are not trivially exact */
    int float_differs = 0;
    for (int i = 0; i < N; i++) {
        float f = 0, r = 0;
        long double exact = 0;
        for (int p = 0; p < P; p++) { f += parts[p][i]; r += parts[P - 1 - p][i]; exact += parts[p][i]; }
        float_differs += f != r;
        cr_assert_eq(a[i], (float)(double)exact, "entry %d: %a, exact sum %La", i, (double)a[i], exact);
    }
    cr_assert_gt(float_differs, 0, "float sums in two orders agreed everywhere: weak test data");
}

Test(fixsum, cancellation_is_exact) {
    float x[3] = {0x1.234566p20f, 3.0e-10f, -7.5f}, y[3] = {-0x1.234566p20f, -3.0e-10f, 7.5f}, out[3];
    fixsum acc[3] = {{0, 0}};
    cr_assert_eq(fixsum_add_floats(acc, x, 3, NULL), 0);
    cr_assert_eq(fixsum_add_floats(acc, y, 3, NULL), 0);
    fixsum_to_floats(acc, out, 3);
    for (int i = 0; i < 3; i++) cr_assert_eq(out[i], 0.0f, "entry %d: %a", i, (double)out[i]);
}

Test(fixsum, a_non_finite_or_huge_entry_is_refused_and_nothing_is_added) {
    float x[5] = {1.0f, 2.0f, 3.0f, NAN, 4.0f};
    fixsum acc[5] = {{0, 0}};
    tr_error err = {0};
    cr_assert_neq(fixsum_add_floats(acc, x, 5, &err), 0);
    cr_assert(strstr(err.msg, "entry 3") && strstr(err.msg, "not finite"), "%s", err.msg);
    for (int i = 0; i < 5; i++) cr_assert_eq(fixsum_to_double(acc[i]), 0.0, "entry %d was added", i);
    x[3] = INFINITY;
    cr_assert_neq(fixsum_add_floats(acc, x, 5, &err), 0);
    cr_assert(strstr(err.msg, "entry 3"), "%s", err.msg);
    x[3] = 0x1p31f;
    cr_assert_neq(fixsum_add_floats(acc, x, 5, &err), 0);
    cr_assert(strstr(err.msg, "entry 3") && strstr(err.msg, "range"), "%s", err.msg);
    x[3] = -0x1.fffffep30f;   /* the largest magnitude allowed */
    cr_assert_eq(fixsum_add_floats(acc, x, 5, &err), 0, "%s", err.msg);
}

Test(fixsum, the_largest_parts_do_not_overflow) {
    /* FIXSUM_MAX_PARTS parts of the largest allowed magnitude: the doubled sum still fits */
    float big = 0x1.fffffep30f, out;
    fixsum one = {0, 0}, acc = {0, 0};
    cr_assert_eq(fixsum_add_floats(&one, &big, 1, NULL), 0);
    for (int p = 0; p < FIXSUM_MAX_PARTS; p++) fixsum_add(&acc, &one, 1);
    fixsum_to_floats(&acc, &out, 1);
    cr_assert_eq((double)out, (double)big * FIXSUM_MAX_PARTS, "%a", (double)out);
    cr_assert_gt(fixsum_to_double(acc), 0.0, "wrapped around to negative");
}

/* fixsum_to_double converts the 128-bit value itself (no library call): it must give the same
 * bits as the compiler's correctly rounded conversion, on values of every magnitude, on exact
 * ties (half-way between two doubles) and on the extremes. */
Test(fixsum, to_double_matches_the_compilers_128_bit_conversion) {
    __extension__ typedef __int128 i128;
    __extension__ typedef unsigned __int128 u128;
    rng r;
    rng_init(&r, 7, 0, 0);
    int checked = 0;
    for (int i = 0; i < 200000; i++) {
        u128 m = ((u128)rng_u64(&r) << 64) | rng_u64(&r);
        int bits = (int)rng_below(&r, 128);
        m >>= bits;                                   /* every magnitude */
        if (i % 4 == 1) m = (m >> 60) << 60;          /* low bits zero */
        if (i % 4 == 2) {                             /* an exact tie at 53 bits, or just off it */
            int top = 54 + (int)rng_below(&r, 73);    /* bit length 54..126 */
            m = ((u128)1 << (top - 1)) | ((m & (((u128)1 << 52) - 1)) << (top - 53)) | ((u128)1 << (top - 54));
            if (rng_below(&r, 2)) m += 1;
        }
        i128 x = (i128)(rng_below(&r, 2) ? (u128)0 - m : m);   /* two's complement: any bit pattern */
        fixsum v = {.lo = (uint64_t)x, .hi = (uint64_t)((u128)x >> 64)};
        double want = ldexp((double)x, -FIXSUM_FRAC_BITS), got = fixsum_to_double(v);
        cr_assert(memcmp(&want, &got, sizeof want) == 0, "value %d: %a, want %a", i, got, want);
        checked++;
    }
    i128 ext[] = {0, 1, -1, ((i128)1 << 63) - 1, -((i128)1 << 63), (i128)1 << 63, -(((i128)1 << 63) + 1),
                  (i128)((~(u128)0) >> 1), -(i128)((~(u128)0) >> 1) - 1};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        fixsum v = {.lo = (uint64_t)ext[i], .hi = (uint64_t)((u128)ext[i] >> 64)};
        double want = ldexp((double)ext[i], -FIXSUM_FRAC_BITS), got = fixsum_to_double(v);
        cr_assert(memcmp(&want, &got, sizeof want) == 0, "extreme %zu: %a, want %a", i, got, want);
    }
    cr_assert_eq(checked, 200000);
}

/* The AVX2 path (used where the CPU has it) against the portable one, bit for bit: every
 * exponent in range (subnormals and the rounding band below 2^-57 included), both signs,
 * zeros, accumulators that already hold values of either sign (carries and borrows across the
 * 64-bit halves), and lengths that leave a tail of 1-3 for the scalar loop. */
Test(fixsum, the_vector_path_gives_the_portable_bits) {
    enum { N = 20003 };
    static float x[N];
    static fixsum a[N], b[N];
    rng r;
    rng_init(&r, 7, 0, 0);
    for (size_t i = 0; i < N; i++) {
        uint32_t e = (uint32_t)rng_below(&r, 127 + 31);   /* 0 (zero, subnormal) .. 2^30 */
        uint32_t m = (uint32_t)rng_below(&r, 1u << 23);
        if (i % 17 == 0) m = 0;                            /* exact powers of two and zeros */
        if (i % 19 == 0) m = (1u << 23) - 1;               /* all mantissa bits */
        uint32_t bits = (uint32_t)rng_below(&r, 2) << 31 | e << 23 | m;
        memcpy(&x[i], &bits, sizeof bits);
        uint64_t hi = rng_below(&r, 4) == 0 ? ~(uint64_t)0 : rng_below(&r, 1u << 20);   /* some negative */
        a[i].lo = b[i].lo = rng_below(&r, 2) ? ~(uint64_t)0 - rng_below(&r, 1u << 30) : rng_below(&r, 1u << 30);
        a[i].hi = b[i].hi = hi;
    }
    for (int pass = 0; pass < 3; pass++) {   /* repeated adds of the same vector: more carries */
        for (size_t n = N; n > N - 4; n--) {  /* tails of 3, 2, 1 and 0 */
            cr_assert_eq(fixsum_add_floats(a, x, n, NULL), 0);
            cr_assert_eq(fixsum_add_floats_portable(b, x, n, NULL), 0);
        }
    }
    for (size_t i = 0; i < N; i++)
        cr_assert(a[i].lo == b[i].lo && a[i].hi == b[i].hi, "entry %zu (%a): %016llx%016llx, portable %016llx%016llx", i,
                  (double)x[i], (unsigned long long)a[i].hi, (unsigned long long)a[i].lo, (unsigned long long)b[i].hi,
                  (unsigned long long)b[i].lo);
}

/* A refused entry in a later block, after a long run of good ones, is named and nothing is added. */
Test(fixsum, a_bad_entry_deep_in_the_vector_is_named_and_nothing_is_added) {
    enum { N = 1000 };
    static float x[N];
    static fixsum acc[N];
    for (size_t i = 0; i < N; i++) x[i] = 0.5f;
    x[777] = 0x1p31f;
    tr_error err = {0};
    cr_assert_eq(fixsum_add_floats(acc, x, N, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "entry 777"), "%s", err.msg);
    for (size_t i = 0; i < N; i++) cr_assert(acc[i].lo == 0 && acc[i].hi == 0, "entry %zu changed", i);
}

/* The vector conversion against the portable one, bit for bit: random 128-bit values of every
 * bit length and both signs, halfway cases of a double and of a float (a 54th or 25th
 * significant bit set and nothing below it, or one more bit far below it), a float's tie that
 * only the sticky bit decides, the extremes of the range, zero, and a tail for the scalar loop. */
Test(fixsum, the_vector_conversion_gives_the_portable_bits) {
    enum { N = 30001 };
    static fixsum a[N];
    static float x[N], y[N];
    rng r;
    rng_init(&r, 11, 0, 0);
    for (size_t i = 0; i < N; i++) {
        int len = (int)rng_below(&r, 128);   /* bit length of the magnitude's pattern */
        __extension__ unsigned __int128 v = ((unsigned __int128)rng_u64(&r) << 64) | rng_u64(&r);
        v = len ? v >> (128 - len) : 0;
        int keep = i % 3 ? 53 : 24;   /* halfway cases of a double, or of a float */
        if (i % 5 == 0 && len > keep + 8) {   /* keep bits, a one, zeros, maybe a far sticky bit */
            v >>= len - keep;
            v = (v << 1 | 1) << (len - keep - 1);
            if (i % 10 == 0) v |= 1;
        }
        if (i % 7 == 0 && len > 72) {   /* a float's tie that only the far bits decide: 24 bits, 1, */
            v >>= len - 24;              /* zeros to a double's halfway bit, 1, zeros, maybe a 1 at */
            v = (v << 1 | 1) << 29 | 1;  /* bit 0, which only the sticky bit carries into the double */
            v = (v << (len - 55)) | (i % 14 == 0);
        }
        if (rng_below(&r, 2)) v = (unsigned __int128)0 - v;
        a[i].lo = (uint64_t)v;
        a[i].hi = (uint64_t)(v >> 64);
    }
    a[0].lo = 0; a[0].hi = 0x8000000000000000ull;                          /* -2^127 */
    a[1].lo = ~(uint64_t)0; a[1].hi = 0x7fffffffffffffffull;               /* 2^127 - 1 */
    a[2].lo = 0; a[2].hi = 0;
    a[3].lo = ~(uint64_t)0; a[3].hi = ~(uint64_t)0;                        /* -1 */
    a[4].lo = 0x8000000000000000ull; a[4].hi = 0;                           /* 2^63 */
    a[5].lo = 0; a[5].hi = 1;                                               /* 2^64 */
    fixsum_to_floats(a, x, N);
    fixsum_to_floats_portable(a, y, N);
    for (size_t i = 0; i < N; i++)
        cr_assert(memcmp(&x[i], &y[i], sizeof x[i]) == 0, "entry %zu (%016llx%016llx): %a, portable %a", i,
                  (unsigned long long)a[i].hi, (unsigned long long)a[i].lo, (double)x[i], (double)y[i]);
}
