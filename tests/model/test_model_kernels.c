/* CPU backend kernels against plain double-precision references, at sizes the model tests do
 * not reach: attention over several causal row blocks (T = 150 crosses the 64-row blocks and
 * ends in a partial one; head size 12 is not a multiple of the 8-float vectors), the one-row
 * matmul path that decode uses, and GELU with the fast tanh. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/backend.h"
#include "common/util/rng.h"

static float *randv(rng *r, size_t n, double sd)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)(sd * rng_normal(r));
    return p;
}

static void assert_close(const float *a, const double *b, size_t n, double tol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(a[i] - b[i]) <= tol * (1.0 + fabs(b[i])), "%s[%zu]: %.8g vs reference %.8g", what, i,
                  (double)a[i], b[i]);
}

Test(model_kernels, blocked_attention_matches_reference_forward_and_backward)
{
    enum { B = 2, T = 150, NH = 3, HS = 12, C = NH * HS, C3 = 3 * C };
    rng r;
    rng_init(&r, 11, RNG_PURPOSE_TEST, 0);
    const gpt_backend *be = gpt_backend_cpu();
    float *qkv = randv(&r, (size_t)B * T * C3, 1.0), *dout = randv(&r, (size_t)B * T * C, 1.0);
    float *out = malloc(sizeof(float) * B * T * C), *att = malloc(sizeof(float) * B * NH * T * T);
    float *dqkv = malloc(sizeof(float) * B * T * C3), *scratch = malloc(sizeof(float) * T * T);
    double *rout = calloc((size_t)B * T * C, sizeof(double)), *rd = calloc((size_t)B * T * C3, sizeof(double));
    double *p = malloc(sizeof(double) * T), *dp = malloc(sizeof(double) * T);
    be->attention_forward(out, att, qkv, B, T, C, NH, 0);
    be->attention_backward(dqkv, scratch, dout, qkv, att, B, T, C, NH);
    double scale = 1.0 / sqrt((double)HS);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * C3 + h * HS;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j <= t; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * C3 + C + h * HS;
                    double s = 0.0;
                    for (int d = 0; d < HS; d++) s += (double)q[d] * k[d];
                    p[j] = s * scale;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j <= t; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
                const float *arow = att + (((size_t)b * NH + h) * T + t) * T;
                for (int j = 0; j < T; j++) {
                    double want = j <= t ? p[j] / sum : 0.0;
                    cr_assert(fabs(arow[j] - want) <= 1e-5, "att[%d,%d,%d,%d] %g vs %g", b, h, t, j,
                              (double)arow[j], want);
                }
                /* forward output, and the backward of this row's softmax */
                const float *g = dout + ((size_t)b * T + t) * C + h * HS;
                double dot = 0.0;
                for (int j = 0; j <= t; j++) {
                    p[j] /= sum;
                    const float *v = qkv + ((size_t)b * T + j) * C3 + 2 * C + h * HS;
                    double dpj = 0.0;
                    for (int d = 0; d < HS; d++) {
                        rout[((size_t)b * T + t) * C + h * HS + d] += p[j] * v[d];
                        rd[((size_t)b * T + j) * C3 + 2 * C + h * HS + d] += p[j] * g[d];
                        dpj += (double)g[d] * v[d];
                    }
                    dp[j] = dpj;
                    dot += p[j] * dpj;
                }
                for (int j = 0; j <= t; j++) {
                    double ds = p[j] * (dp[j] - dot) * scale;
                    const float *k = qkv + ((size_t)b * T + j) * C3 + C + h * HS;
                    for (int d = 0; d < HS; d++) {
                        rd[((size_t)b * T + t) * C3 + h * HS + d] += ds * k[d];
                        rd[((size_t)b * T + j) * C3 + C + h * HS + d] += ds * q[d];
                    }
                }
            }
    assert_close(out, rout, (size_t)B * T * C, 1e-5, "out");
    assert_close(dqkv, rd, (size_t)B * T * C3, 1e-4, "dqkv");
    free(qkv); free(dout); free(out); free(att); free(dqkv); free(scratch); free(rout); free(rd); free(p); free(dp);
}

Test(model_kernels, one_row_matmul_equals_reference)
{
    enum { C = 37, OC = 23 };
    rng r;
    rng_init(&r, 12, RNG_PURPOSE_TEST, 0);
    float *x = randv(&r, C, 1.0), *w = randv(&r, (size_t)OC * C, 1.0), *bias = randv(&r, OC, 1.0);
    float out[OC], outnb[OC];
    double want[OC];
    gpt_backend_cpu()->matmul_forward(out, x, w, bias, 1, C, OC);
    gpt_backend_cpu()->matmul_forward(outnb, x, w, NULL, 1, C, OC);
    for (int o = 0; o < OC; o++) {
        double s = 0.0;
        for (int i = 0; i < C; i++) s += (double)x[i] * w[(size_t)o * C + i];
        want[o] = s;
        cr_assert(fabs(outnb[o] - s) <= 1e-5 * (1.0 + fabs(s)), "no bias: out[%d] %g vs %g", o, (double)outnb[o], s);
        want[o] += bias[o];
    }
    assert_close(out, want, OC, 1e-5, "out");
    free(x); free(w); free(bias);
}

/* Batched decode's product: each row is the reference product, and the same bits whether the
 * row is computed alone, first, last, or beside any number of other rows (odd and even N, C
 * with a tail past the 8-float vectors, OC with a tail past the 4-row blocks). */
Test(model_kernels, row_matmul_rows_do_not_depend_on_the_batch)
{
    enum { C = 45, OC = 23, N = 7 };
    rng r;
    rng_init(&r, 13, RNG_PURPOSE_TEST, 0);
    const gpt_backend *be = gpt_backend_cpu();
    float *x = randv(&r, (size_t)N * C, 1.0), *w = randv(&r, (size_t)OC * C, 1.0), *bias = randv(&r, OC, 1.0);
    float all[N * OC], one[OC], pair[2 * OC], viaone[OC];
    double want[N * OC];
    be->matmul_rows_forward(all, x, w, bias, N, C, OC);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias[o];
            for (int i = 0; i < C; i++) s += (double)x[(size_t)n * C + i] * w[(size_t)o * C + i];
            want[(size_t)n * OC + o] = s;
        }
    assert_close(all, want, (size_t)N * OC, 1e-5, "rows");
    for (int n = 0; n < N; n++) {
        be->matmul_rows_forward(one, x + (size_t)n * C, w, bias, 1, C, OC);
        cr_assert_eq(memcmp(one, all + (size_t)n * OC, sizeof one), 0, "row %d alone differs from row %d of %d", n, n, N);
        be->matmul_forward(viaone, x + (size_t)n * C, w, bias, 1, C, OC);   /* the one-row path of matmul_forward */
        cr_assert_eq(memcmp(viaone, one, sizeof one), 0, "row %d: matmul_forward's one-row path differs", n);
        if (n + 1 < N) {   /* in a pair (rows left over after the three-input blocks) */
            be->matmul_rows_forward(pair, x + (size_t)n * C, w, bias, 2, C, OC);
            cr_assert_eq(memcmp(pair, all + (size_t)n * OC, 2 * sizeof one), 0, "rows %d, %d as a pair differ", n, n + 1);
        }
    }
    free(x); free(w); free(bias);
}

Test(model_kernels, gelu_matches_tanh_formula_and_its_derivative)
{
    enum { N = 2001 };
    float x[N], y[N], dy[N], ones[N];
    for (int i = 0; i < N; i++) { x[i] = -12.0f + 24.0f * (float)i / (N - 1); ones[i] = 1.0f; }
    const gpt_backend *be = gpt_backend_cpu();
    be->gelu_forward(y, x, N);
    be->gelu_backward(dy, x, ones, N);
    const double k = sqrt(2.0 / M_PI);
    for (int i = 0; i < N; i++) {
        double u = k * (x[i] + 0.044715 * x[i] * x[i] * x[i]), th = tanh(u);
        double want = 0.5 * x[i] * (1.0 + th);
        double dwant = 0.5 * (1.0 + th) + 0.5 * x[i] * (1.0 - th * th) * k * (1.0 + 3 * 0.044715 * x[i] * x[i]);
        cr_assert(fabs(y[i] - want) <= 1e-6 * (1.0 + fabs(want)), "gelu(%g) = %.9g, want %.9g", (double)x[i], (double)y[i], want);
        cr_assert(fabs(dy[i] - dwant) <= 1e-5, "gelu'(%g) = %.9g, want %.9g", (double)x[i], (double)dy[i], dwant);
    }
}

/* KV-cache attention (sampling) against a double reference, at the shapes whose code paths the
 * model tests' tiny config never reaches: head sizes 32 and 64 (the 32-float output blocks), 24
 * and 40 (a 16-float block or a scalar tail after them), 150 positions (64-key strips, 16-key
 * strips, and near the end of a cache whose length is not a multiple of 16, the scalar keys),
 * 128 channels (the all-heads value pass) and 96 (its 16-float remainder), ALiBi on and off. Two sequences in swapped slots are prefilled 7 positions at once, then
 * decoded one position per call; every output row is checked. */
static void check_kv_attention(int C, int NH, int alibi)
{
    enum { T = 150, P = 7, S = 2 };
    const int hs = C / NH, C3 = 3 * C;
    rng r;
    rng_init(&r, 14, RNG_PURPOSE_TEST, (uint64_t)(C * 8 + alibi));
    const gpt_backend *be = gpt_backend_cpu();
    float *qkv = randv(&r, (size_t)S * T * C3, 1.0);   /* (S, T, 3C): every position of each sequence */
    float *kc = calloc((size_t)S * T * C, sizeof(float)), *vc = calloc((size_t)S * T * C, sizeof(float));
    float *in = malloc(sizeof(float) * S * P * C3), *out = malloc(sizeof(float) * S * P * C);
    float *scores = malloc(sizeof(float) * NH * T);
    double *p = malloc(sizeof(double) * T);
    const int slots[S] = {1, 0};
    for (int t0 = 0; t0 < T;) {
        const int Tc = t0 == 0 ? P : 1, start[S] = {t0, t0};
        for (int i = 0; i < S; i++)
            memcpy(in + (size_t)i * Tc * C3, qkv + ((size_t)i * T + t0) * C3, sizeof(float) * Tc * C3);
        be->kv_attention(out, scores, kc, vc, in, slots, start, S, Tc, C, NH, T, alibi);
        for (int i = 0; i < S; i++)
            for (int t = t0; t < t0 + Tc; t++)
                for (int h = 0; h < NH; h++) {
                    const float *q = qkv + ((size_t)i * T + t) * C3 + h * hs;
                    double mx = -INFINITY, sum = 0.0;
                    for (int j = 0; j <= t; j++) {
                        const float *k = qkv + ((size_t)i * T + j) * C3 + C + h * hs;
                        double s = 0.0;
                        for (int d = 0; d < hs; d++) s += (double)q[d] * k[d];
                        p[j] = s / sqrt((double)hs) - (alibi ? gpt_alibi_slope(h, NH) * (double)(t - j) : 0.0);
                        if (p[j] > mx) mx = p[j];
                    }
                    for (int j = 0; j <= t; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
                    for (int d = 0; d < hs; d++) {
                        double want = 0.0;
                        for (int j = 0; j <= t; j++) want += p[j] / sum * qkv[((size_t)i * T + j) * C3 + 2 * C + h * hs + d];
                        const float got = out[((size_t)i * Tc + t - t0) * C + h * hs + d];
                        cr_assert(fabs(got - want) <= 2e-5 * (1.0 + fabs(want)),
                                  "C %d NH %d alibi %d: sequence %d position %d head %d channel %d: %.8g vs reference %.8g",
                                  C, NH, alibi, i, t, h, d, (double)got, want);
                    }
                }
        t0 += Tc;
    }
    free(qkv); free(kc); free(vc); free(in); free(out); free(scores); free(p);
}

Test(model_kernels, kv_attention_matches_reference_at_model_head_sizes)
{
    check_kv_attention(128, 4, 0);   /* the tiny model's heads: 32 channels, all heads at once */
    check_kv_attention(96, 3, 0);    /* head size 32, 96 channels: 16-float blocks per head */
    check_kv_attention(128, 2, 1);   /* 64: the small model's and GPT-2's */
    check_kv_attention(48, 2, 1);    /* 24 */
    check_kv_attention(80, 2, 0);    /* 40 */
}
