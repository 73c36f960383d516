/* bf16.h: the rounding, the packing, and the row-by-row product against a double-precision
 * reference on the rounded inputs, at shapes with tails (odd K, OC not a multiple of 32, row
 * counts that use every tile size); the AVX-512 BF16 path against the portable loop bit for bit
 * (where the CPU has the instruction); and every row's bits independent of the batch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/bf16.h"
#include "common/util/rng.h"

static float *randv(rng *r, size_t n, double sd)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)(sd * rng_normal(r));
    return p;
}

Test(model_bf16, rounding_is_to_nearest_even_and_exact_on_bf16_values)
{
    /* 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties go to the even (1) */
    cr_assert_eq(bf16_to_float(bf16_from_float(1.0f + 0x1p-8f)), 1.0f);
    /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6) */
    cr_assert_eq(bf16_to_float(bf16_from_float(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
    /* just above halfway rounds up */
    cr_assert_eq(bf16_to_float(bf16_from_float(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
    cr_assert_eq(bf16_to_float(bf16_from_float(-2.5f)), -2.5f);
    cr_assert(isinf(bf16_to_float(bf16_from_float(INFINITY))));
    cr_assert(isnan(bf16_to_float(bf16_from_float(NAN))), "NaN must stay NaN, not become infinity");
    cr_assert_eq(bf16_to_float(bf16_from_float(3.4e38f)), INFINITY, "values past bf16's largest round to infinity");
    rng r;
    rng_init(&r, 5, RNG_PURPOSE_TEST, 0);
    for (int i = 0; i < 10000; i++) {
        float x = (float)rng_normal(&r) * 10.0f, y = bf16_to_float(bf16_from_float(x));
        cr_assert(fabsf(y - x) <= fabsf(x) * 0x1p-8f, "%.9g rounded to %.9g: off by more than half a bf16 ulp", x, y);
        cr_assert_eq(bf16_to_float(bf16_from_float(y)), y, "a bf16 value must round to itself");
    }
}

/* out = rows @ w^T + bias in double, on the bf16-rounded inputs */
static void reference(double *out, const float *x, const float *w, const float *bias, int N, int K, int OC)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += (double)bf16_to_float(bf16_from_float(x[(size_t)n * K + k])) *
                     bf16_to_float(bf16_from_float(w[(size_t)o * K + k]));
            out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0.0);
        }
}

static void check_shape(int N, int K, int OC, int with_bias)
{
    rng r;
    rng_init(&r, (uint64_t)(N * 1000 + K * 10 + OC), RNG_PURPOSE_TEST, 0);
    float *x = randv(&r, (size_t)N * K, 1.0), *w = randv(&r, (size_t)OC * K, 0.1), *b = randv(&r, (size_t)OC, 0.5);
    const float *bias = with_bias ? b : NULL;
    const int K2 = (K + 1) / 2;
    uint16_t *wp = malloc(bf16_packed_count(OC, K) * sizeof *wp);
    uint32_t *rows = malloc((size_t)N * K2 * sizeof *rows);
    float *out = malloc((size_t)N * OC * sizeof *out), *port = malloc((size_t)N * OC * sizeof *port);
    float *one = malloc((size_t)OC * sizeof *one);
    double *ref = malloc((size_t)N * OC * sizeof *ref);
    cr_assert_eq(bf16_pack(wp, w, OC, K), 0);
    for (int n = 0; n < N; n++) bf16_pack_row(rows + (size_t)n * K2, x + (size_t)n * K, K);
    bf16_matmul_rows(out, rows, wp, bias, N, K, OC);
    bf16_matmul_rows_portable(port, rows, wp, bias, N, K, OC);
    reference(ref, x, w, bias, N, K, OC);
    for (size_t i = 0; i < (size_t)N * OC; i++) {
        /* fp32 sums of K exact products: a few ulps of the sum of magnitudes */
        double mag = 0.0;
        size_t n = i / (size_t)OC, o = i % (size_t)OC;
        for (int k = 0; k < K; k++) mag += fabs((double)x[n * K + k] * w[o * K + k]);
        cr_assert(fabs(out[i] - ref[i]) <= 1e-6 * (mag + 1.0), "N %d K %d OC %d: out[%zu] %.9g, reference %.9g", N,
                  K, OC, i, (double)out[i], ref[i]);
        cr_assert(fabs(port[i] - ref[i]) <= 1e-6 * (mag + 1.0), "portable: out[%zu] %.9g, reference %.9g", i,
                  (double)port[i], ref[i]);
    }
    if (bf16_have_dot())
        cr_assert(memcmp(out, port, (size_t)N * OC * sizeof *out) == 0,
                  "N %d K %d OC %d: the AVX-512 BF16 path and the portable loop differ in their bits", N, K, OC);
    /* each row alone gives the batch's bits */
    for (int n = 0; n < N; n++) {
        bf16_matmul_rows(one, rows + (size_t)n * K2, wp, bias, 1, K, OC);
        cr_assert(memcmp(one, out + (size_t)n * OC, (size_t)OC * sizeof *one) == 0,
                  "N %d K %d OC %d: row %d computed alone differs from the same row in the batch", N, K, OC, n);
    }
    free(x); free(w); free(b); free(wp); free(rows); free(out); free(port); free(one); free(ref);
}

Test(model_bf16, product_matches_reference_with_tails)
{
    check_shape(1, 64, 32, 1);
    check_shape(13, 37, 45, 1);     /* rows: one tile of 8, one of 4, one alone; odd K; a partial panel */
    check_shape(3, 130, 7, 0);      /* fewer outputs than one half-panel, no bias */
    check_shape(20, 128, 384, 1);   /* the tiny model's LM head shape */
    check_shape(9, 512, 17, 1);     /* 4C inputs, a 17-wide tail */
}

Test(model_bf16, packing_places_pairs_and_zero_pads)
{
    enum { OC = 33, K = 3 };
    float w[OC * K];
    for (int i = 0; i < OC * K; i++) w[i] = (float)(i + 1);   /* small integers are exact in bf16 */
    uint16_t *wp = malloc(bf16_packed_count(OC, K) * sizeof *wp);
    cr_assert_eq(bf16_packed_count(OC, K), (size_t)2 * 32 * 2 * 2, "two panels of 32 rows, two pairs each");
    cr_assert_eq(bf16_pack(wp, w, OC, K), 0);
    /* panel 0, pair 0 of row 5: w[5][0], w[5][1]; pair 1: w[5][2], then the padding zero */
    cr_assert_eq(bf16_to_float(wp[(0 * 32 + 5) * 2 + 0]), w[5 * K + 0]);
    cr_assert_eq(bf16_to_float(wp[(0 * 32 + 5) * 2 + 1]), w[5 * K + 1]);
    cr_assert_eq(bf16_to_float(wp[(1 * 32 + 5) * 2 + 0]), w[5 * K + 2]);
    cr_assert_eq(wp[(1 * 32 + 5) * 2 + 1], 0);
    /* panel 1 holds row 32 in lane 0, and zeros for the rows past OC */
    const uint16_t *p1 = wp + 2 * 32 * 2;
    cr_assert_eq(bf16_to_float(p1[0]), w[32 * K + 0]);
    for (int j = 1; j < 32; j++) cr_assert_eq(p1[j * 2], 0, "row %d of panel 1 lies past OC and must be zero", 32 + j);
    free(wp);
}

/* The training products (bf16_matmul_forward / _backward) against double references on the
 * rounded operands: forward with bias, the input gradient written and accumulated, the weight
 * gradient accumulated onto what was there. */
static double rd(float x) { return bf16_to_float(bf16_from_float(x)); }

static void check_training_shape(int N, int C, int OC)
{
    rng r;
    rng_init(&r, (uint64_t)(N * 7 + C * 3 + OC), RNG_PURPOSE_TEST, 1);
    float *inp = randv(&r, (size_t)N * C, 1.0), *w = randv(&r, (size_t)OC * C, 0.2), *bias = randv(&r, (size_t)OC, 0.5);
    float *dout = randv(&r, (size_t)N * OC, 1.0), *out = malloc((size_t)N * OC * sizeof(float));
    float *dinp = randv(&r, (size_t)N * C, 1.0), *dinp0 = malloc((size_t)N * C * sizeof(float));
    float *dw = randv(&r, (size_t)OC * C, 1.0), *dw0 = malloc((size_t)OC * C * sizeof(float));
    memcpy(dinp0, dinp, (size_t)N * C * sizeof(float));
    memcpy(dw0, dw, (size_t)OC * C * sizeof(float));
    cr_assert_eq(bf16_matmul_forward(out, inp, w, bias, N, C, OC), 0);
    cr_assert_eq(bf16_matmul_backward(dinp, dw, dout, inp, w, N, C, OC, 1), 0);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias[o], m = 1.0;
            for (int c = 0; c < C; c++) { s += rd(inp[(size_t)n * C + c]) * rd(w[(size_t)o * C + c]); m += fabs(inp[(size_t)n * C + c] * w[(size_t)o * C + c]); }
            cr_assert(fabs(out[(size_t)n * OC + o] - s) <= 1e-6 * m, "forward N %d C %d OC %d [%d,%d]: %.9g vs %.9g", N, C, OC, n, o,
                      (double)out[(size_t)n * OC + o], s);
        }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = dinp0[(size_t)n * C + c], m = 1.0 + fabs(s);
            for (int o = 0; o < OC; o++) { s += rd(dout[(size_t)n * OC + o]) * rd(w[(size_t)o * C + c]); m += fabs(dout[(size_t)n * OC + o] * w[(size_t)o * C + c]); }
            cr_assert(fabs(dinp[(size_t)n * C + c] - s) <= 1e-6 * m, "dinp (accumulated) N %d C %d OC %d [%d,%d]: %.9g vs %.9g", N, C,
                      OC, n, c, (double)dinp[(size_t)n * C + c], s);
        }
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++) {
            double s = dw0[(size_t)o * C + c], m = 1.0 + fabs(s);
            for (int n = 0; n < N; n++) { s += rd(dout[(size_t)n * OC + o]) * rd(inp[(size_t)n * C + c]); m += fabs(dout[(size_t)n * OC + o] * inp[(size_t)n * C + c]); }
            cr_assert(fabs(dw[(size_t)o * C + c] - s) <= 1e-6 * m, "dw (accumulated) N %d C %d OC %d [%d,%d]: %.9g vs %.9g", N, C, OC,
                      o, c, (double)dw[(size_t)o * C + c], s);
        }
    /* written, not accumulated: the old contents do not matter */
    cr_assert_eq(bf16_matmul_backward(dinp, NULL, dout, inp, w, N, C, OC, 0), 0);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = 0.0, m = 1.0;
            for (int o = 0; o < OC; o++) { s += rd(dout[(size_t)n * OC + o]) * rd(w[(size_t)o * C + c]); m += fabs(dout[(size_t)n * OC + o] * w[(size_t)o * C + c]); }
            cr_assert(fabs(dinp[(size_t)n * C + c] - s) <= 1e-6 * m, "dinp (written) [%d,%d]: %.9g vs %.9g", n, c,
                      (double)dinp[(size_t)n * C + c], s);
        }
    free(inp); free(w); free(bias); free(dout); free(out); free(dinp); free(dinp0); free(dw); free(dw0);
}

Test(model_bf16, training_products_match_reference_with_tails)
{
    for (int portable = 0; portable < 2; portable++) {   /* the instruction's path (where it exists), then the loop */
        bf16_force_portable(portable);
        check_training_shape(13, 37, 45);    /* odd everything: N and C odd (padded pairs), OC past a panel */
        check_training_shape(64, 32, 96);    /* full panels and tiles */
        check_training_shape(5, 24, 3);      /* fewer outputs than a half-panel */
    }
    bf16_force_portable(0);
}

/* The portable loop gives the instruction's bits in all three training products, accumulation
 * included, so that a CPU without AVX-512 BF16 trains the same run. */
Test(model_bf16, portable_training_products_give_the_instruction_bits)
{
    if (!bf16_have_dot()) cr_skip_test("this CPU has no AVX-512 BF16: no instruction to compare the portable loop with");
    enum { N = 21, C = 45, OC = 70 };
    rng r;
    rng_init(&r, 23, RNG_PURPOSE_TEST, 3);
    float *inp = randv(&r, (size_t)N * C, 1.0), *w = randv(&r, (size_t)OC * C, 0.2), *bias = randv(&r, (size_t)OC, 0.5);
    float *dout = randv(&r, (size_t)N * OC, 1.0), *dw0 = randv(&r, (size_t)OC * C, 1.0);
    float *out[2], *dinp[2], *dw[2];
    for (int p = 0; p < 2; p++) {
        out[p] = malloc((size_t)N * OC * sizeof(float));
        dinp[p] = malloc((size_t)N * C * sizeof(float));
        dw[p] = malloc((size_t)OC * C * sizeof(float));
        memcpy(dw[p], dw0, (size_t)OC * C * sizeof(float));
        bf16_force_portable(p);
        cr_assert_eq(bf16_matmul_forward(out[p], inp, w, bias, N, C, OC), 0);
        cr_assert_eq(bf16_matmul_backward(dinp[p], dw[p], dout, inp, w, N, C, OC, 0), 0);
    }
    bf16_force_portable(0);
    cr_assert(memcmp(out[0], out[1], (size_t)N * OC * sizeof(float)) == 0, "forward: the loop's bits differ from the instruction's");
    cr_assert(memcmp(dinp[0], dinp[1], (size_t)N * C * sizeof(float)) == 0, "input gradient: the bits differ");
    cr_assert(memcmp(dw[0], dw[1], (size_t)OC * C * sizeof(float)) == 0, "weight gradient (accumulated): the bits differ");
    for (int p = 0; p < 2; p++) { free(out[p]); free(dinp[p]); free(dw[p]); }
    free(inp); free(w); free(bias); free(dout); free(dw0);
}

/* bf16_convert (vectorised where the CPU allows) gives bf16_from_float's bits on every input
 * class: random bit patterns (so NaNs, infinities and subnormals too) and lengths with tails. */
Test(model_bf16, vector_conversion_matches_scalar_rounding)
{
    enum { N = 20011 };
    float *x = malloc(N * sizeof *x);
    uint16_t *h = malloc(N * sizeof *h);
    rng r;
    rng_init(&r, 17, RNG_PURPOSE_TEST, 2);
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)rng_below(&r, (uint64_t)1 << 32);
        memcpy(&x[i], &u, sizeof u);
    }
    x[0] = 1e-40f;        /* subnormal: a signed zero */
    x[1] = -1e-40f;
    x[2] = NAN;
    x[3] = -INFINITY;
    cr_assert_eq(bf16_from_float(1e-40f), 0x0000);
    cr_assert_eq(bf16_from_float(-1e-40f), 0x8000);
    for (int n = 0; n < 70; n++) {   /* every tail length of the 32-wide loop, twice */
        bf16_convert(h, x, (size_t)n);
        for (int i = 0; i < n; i++)
            cr_assert_eq(h[i], bf16_from_float(x[i]), "n %d, element %d (bits %08x): %04x, scalar %04x", n, i,
                         *(uint32_t *)(void *)&x[i], h[i], bf16_from_float(x[i]));
    }
    bf16_convert(h, x, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(h[i], bf16_from_float(x[i]), "element %d (bits %08x): %04x, scalar %04x", i,
                     *(uint32_t *)(void *)&x[i], h[i], bf16_from_float(x[i]));
    free(x);
    free(h);
}
