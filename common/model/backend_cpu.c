/* backend_cpu.c - CPU kernels: CBLAS for matrix multiplies, vectorised loops for the rest.
 * Formulas follow llm.c's reference CPU code so that results match PyTorch's GPT-2.
 *
 * Speed notes (measured with tests/bench/bench_model): the element-wise kernels are compiled
 * with an AVX2 clone (GPT_SIMD_CLONES) and use fastmath.h's exp/tanh; reductions keep 8 partial
 * sums so they vectorise without -ffast-math; attention works on causal row blocks so that the
 * masked upper triangle is (mostly) never computed. Everything here is single-threaded and its
 * results do not depend on the BLAS thread count except through OpenBLAS itself. */
#include "common/model/backend.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/fastmath.h"
#include "common/model/kv_cpu.h"
#include "common/train/fixsum.h"

#define LN_EPS 1e-5f
#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
/* attention row block: 64 rows keep each GEMM large enough for OpenBLAS while skipping
 * 3/8 of the T x T work at T = 256 */
#define ATT_BLOCK 64

/* v8f, ld8, hsum8, FM_DOT4: fastmath.h */

/* out (N,OC) written = inp (N,C) @ w^T + bias, each row by the same operations whatever N is
 * (see backend.h): rows never share an accumulator. Four weight rows stay in L1 while the
 * inputs stream past them, three inputs at a time (twelve accumulators), the last one or two alone. Also the
 * one-row product (single-sequence decode): sgemm would pack the whole weight matrix first,
 * and OpenBLAS's sgemv spreads even small products over its threads, which loses badly when
 * the other core is busy. */
GPT_SIMD_CLONES
static void cpu_matmul_rows_forward(float *out, const float *inp, const float *w, const float *bias,
                                    int N, int C, int OC)
{
    const int OC4 = OC & ~3;
    for (int o = 0; o < OC4; o += 4) {
        const float *w0 = w + (size_t)o * C, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
        const float b0 = bias ? bias[o] : 0.0f, b1 = bias ? bias[o + 1] : 0.0f;
        const float b2 = bias ? bias[o + 2] : 0.0f, b3 = bias ? bias[o + 3] : 0.0f;
        int n = 0;
        for (; n + 3 <= N; n += 3) {
            const float *x = inp + (size_t)n * C, *y = x + C, *z = y + C;
            float s[4], t[4], u[4];
            FM_DOT4X3(x, y, z, w0, w1, w2, w3, C, s, t, u);
            float *ox = out + (size_t)n * OC + o, *oy = ox + OC, *oz = oy + OC;
            ox[0] = s[0] + b0; ox[1] = s[1] + b1; ox[2] = s[2] + b2; ox[3] = s[3] + b3;
            oy[0] = t[0] + b0; oy[1] = t[1] + b1; oy[2] = t[2] + b2; oy[3] = t[3] + b3;
            oz[0] = u[0] + b0; oz[1] = u[1] + b1; oz[2] = u[2] + b2; oz[3] = u[3] + b3;
        }
        for (; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            float s0, s1, s2, s3;
            FM_DOT4(x, w0, w1, w2, w3, C, s0, s1, s2, s3);
            float *ox = out + (size_t)n * OC + o;
            ox[0] = s0 + b0; ox[1] = s1 + b1; ox[2] = s2 + b2; ox[3] = s3 + b3;
        }
    }
    for (int o = OC4; o < OC; o++) {
        const float *wr = w + (size_t)o * C;
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            float acc = 0.0f;
            for (int i = 0; i < C; i++) acc += x[i] * wr[i];
            out[(size_t)n * OC + o] = acc + (bias ? bias[o] : 0.0f);
        }
    }
}

static void cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                               int N, int C, int OC)
{
    if (N == 1) {
        cpu_matmul_rows_forward(out, inp, w, bias, 1, C, OC);
        return;
    }
    float beta = 0.0f;
    if (bias) {
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C, beta, out, OC);
}

GPT_SIMD_CLONES
static void col_sums(float *dbias, const float *dout, int N, int OC)
{
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * OC;
        for (int o = 0; o < OC; o++) dbias[o] += d[o];
    }
}

static void cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                                const float *inp, const float *w, int N, int C, int OC, int accumulate)
{
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C,
                    accumulate ? 1.0f : 0.0f, dinp, C);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C,
                    1.0f, dw, C);
    if (dbias) col_sums(dbias, dout, N, OC);
}

/* Sum and maximum with 8 independent lanes: the compiler turns the lane loop into one vector
 * operation, which it may not do for a single accumulator without -ffast-math. */
static inline float vsum(const float *x, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    float s = 0.0f;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

static inline float vdot(const float *x, const float *y, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k] * y[i + k];
    float s = 0.0f;
    for (; i < n; i++) s += x[i] * y[i];
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

static inline float vmax(const float *x, int n)
{
    float acc[8];
    for (int k = 0; k < 8; k++) acc[k] = x[0];
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
    float m = x[0];
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int k = 0; k < 8; k++) m = acc[k] > m ? acc[k] : m;
    return m;
}

GPT_SIMD_CLONES
static void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                  const float *weight, const float *bias, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m = vsum(x, C) / (float)C;
        float acc[8] = {0};
        int i = 0;
        for (; i + 8 <= C; i += 8)
            for (int k = 0; k < 8; k++) { float d = x[i + k] - m; acc[k] += d * d; }
        float v = 0.0f;
        for (; i < C; i++) { float d = x[i] - m; v += d * d; }
        for (int k = 0; k < 8; k++) v += acc[k];
        v /= (float)C;
        float s = 1.0f / sqrtf(v + LN_EPS);
        float *o = out + (size_t)n * C;
        for (i = 0; i < C; i++) o[i] = (s * (x[i] - m)) * weight[i] + bias[i];
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

GPT_SIMD_CLONES
static void cpu_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *weight, const float *mean,
                                   const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * C;
        const float *x = inp + (size_t)n * C;
        float *di = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        float a1[8] = {0}, a2[8] = {0};
        int i = 0;
        for (; i + 8 <= C; i += 8)
            for (int k = 0; k < 8; k++) {
                float norm = (x[i + k] - m) * s;
                float dnorm = weight[i + k] * d[i + k];
                a1[k] += dnorm;
                a2[k] += dnorm * norm;
            }
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        for (int k = 0; k < 8; k++) { dnorm_mean += a1[k]; dnorm_norm_mean += a2[k]; }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        if (dbias) for (i = 0; i < C; i++) dbias[i] += d[i];
        if (dweight) for (i = 0; i < C; i++) dweight[i] += (x[i] - m) * s * d[i];
        for (i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * d[i];
            di[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

/* Rows t0..t1-1 of one head's score block (ld T, columns 0..t1-1 filled): causal softmax in
 * place; columns past t (up to T) become zero, as backward and the att layout expect. */
GPT_SIMD_CLONES
static void softmax_rows(float *a, int t0, int t1, int T)
{
    for (int t = t0; t < t1; t++) {
        float *row = a + (size_t)(t - t0) * T;
        int n = t + 1;
        float mx = vmax(row, n);
        for (int j = 0; j < n; j++) row[j] = fm_expf(row[j] - mx);
        float inv = 1.0f / vsum(row, n);
        for (int j = 0; j < n; j++) row[j] *= inv;
        memset(row + n, 0, (size_t)(T - n) * sizeof(float));
    }
}

/* Softmax backward on rows t0..t1-1: ds = a * (ds - <a, ds>) * scale over the causal part, zero
 * after it up to t1 (the GEMMs that follow read columns 0..t1-1). */
GPT_SIMD_CLONES
static void softmax_backward_rows(float *ds, const float *a, int t0, int t1, int T, float scale)
{
    for (int t = t0; t < t1; t++) {
        const float *ar = a + (size_t)(t - t0) * T;
        float *sr = ds + (size_t)(t - t0) * T;
        int n = t + 1;
        float dot = vdot(ar, sr, n);
        for (int j = 0; j < n; j++) sr[j] = ar[j] * (sr[j] - dot) * scale;
        for (int j = n; j < t1; j++) sr[j] = 0.0f;
    }
}

/* ALiBi: add -slope * (t - j) to rows t0..t1-1 of a score block (ld T), causal part only. */
static void alibi_rows(float *a, int t0, int t1, int T, float slope)
{
    for (int t = t0; t < t1; t++) {
        float *row = a + (size_t)(t - t0) * T;
        for (int j = 0; j <= t; j++) row[j] -= slope * (float)(t - j);
    }
}

static void cpu_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
                                  int alibi)
{
    int hs = C / NH;
    int C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
            const float *k = q + C;
            const float *v = q + 2 * C;
            float *a = att + ((size_t)b * NH + h) * T * T;
            float *o = out + (size_t)b * T * C + (size_t)h * hs;
            /* row block t0..t1-1 sees keys 0..t1-1 only */
            for (int t0 = 0; t0 < T; t0 += ATT_BLOCK) {
                int t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T, m = t1 - t0;
                float *ab = a + (size_t)t0 * T;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, t1, hs, scale,
                            q + (size_t)t0 * C3, C3, k, C3, 0.0f, ab, T);
                if (alibi) alibi_rows(ab, t0, t1, T, gpt_alibi_slope(h, NH));
                softmax_rows(ab, t0, t1, T);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hs, t1, 1.0f, ab, T, v, C3,
                            0.0f, o + (size_t)t0 * C, C);
            }
        }
    }
}

static void cpu_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                                   const float *att, int B, int T, int C, int NH)
{
    int hs = C / NH;
    int C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    int nblk = (T + ATT_BLOCK - 1) / ATT_BLOCK;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
            const float *k = q + C;
            const float *v = q + 2 * C;
            float *dq = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
            float *dk = dq + C;
            float *dv = dq + 2 * C;
            const float *a = att + ((size_t)b * NH + h) * T * T;
            const float *d = dout + (size_t)b * T * C + (size_t)h * hs;
            /* Last block first: its t1 = T covers every key row, so it writes dk and dv whole
             * (beta 0) and the earlier blocks accumulate into their prefixes (beta 1). */
            for (int bi = nblk - 1; bi >= 0; bi--) {
                int t0 = bi * ATT_BLOCK, t1 = t0 + ATT_BLOCK < T ? t0 + ATT_BLOCK : T, m = t1 - t0;
                float beta = bi == nblk - 1 ? 0.0f : 1.0f;
                const float *ab = a + (size_t)t0 * T;
                const float *db = d + (size_t)t0 * C;
                /* datt = dout @ v^T ; dv += att^T @ dout */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, t1, hs, 1.0f, db, C, v, C3,
                            0.0f, scratch, T);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t1, hs, m, 1.0f, ab, T, db, C,
                            beta, dv, C3);
                softmax_backward_rows(scratch, ab, t0, t1, T, scale);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hs, t1, 1.0f, scratch, T, k, C3,
                            0.0f, dq + (size_t)t0 * C3, C3);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t1, hs, m, 1.0f, scratch, T,
                            q + (size_t)t0 * C3, C3, beta, dk, C3);
            }
        }
    }
}

GPT_SIMD_CLONES
static void cpu_gelu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float cube = 0.044715f * x * x * x;
        out[i] = 0.5f * x * (1.0f + fm_tanhf(GELU_SCALE * (x + cube)));
    }
}

GPT_SIMD_CLONES
static void cpu_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float cube = 0.044715f * x * x * x;
        float th = fm_tanhf(GELU_SCALE * (x + cube));
        float sech2 = 1.0f - th * th;
        float g = 0.5f * (1.0f + th) + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = g * dout[i];
    }
}

GPT_SIMD_CLONES
static void cpu_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* ---- memory: plain host memory ---- */

static void *cpu_alloc(size_t bytes) { return calloc(1, bytes ? bytes : 1); }
static void cpu_free(void *p) { free(p); }
static int cpu_memcpy(void *dst, const void *src, size_t bytes)
{
    if (bytes && dst != src) memmove(dst, src, bytes);
    return 0;
}
static int cpu_zero(void *p, size_t bytes)
{
    memset(p, 0, bytes);
    return 0;
}

static void cpu_embed_forward(float *out, const int *tok, const int *pos, const float *wte,
                              const float *wpe, const float *prompt, int N, int C)
{
    for (int r = 0; r < N; r++) {
        float *x = out + (size_t)r * C;
        const float *e = tok[r] < 0 ? prompt + (size_t)(-1 - tok[r]) * C : wte + (size_t)tok[r] * C;
        if (!wpe) { memcpy(x, e, (size_t)C * sizeof(float)); continue; }
        const float *pe = wpe + (size_t)pos[r] * C;
        for (int i = 0; i < C; i++) x[i] = e[i] + pe[i];
    }
}

static void cpu_embed_backward(float *dtable, const float *dx, const int *order, const int *starts,
                               const int *keys, int nkeys, int C)
{
    for (int k = 0; k < nkeys; k++) {
        float *d = dtable + (size_t)keys[k] * C;
        for (int j = starts[k]; j < starts[k + 1]; j++) {
            const float *x = dx + (size_t)order[j] * C;
            for (int i = 0; i < C; i++) d[i] += x[i];
        }
    }
}

/* log-sum-exp in double over the real vocabulary (the padded entries are never predicted) */
static void cpu_crossentropy_forward(float *lse, double *lp, const float *logits, const int *targets,
                                     int N, int V, int Vp)
{
    for (int i = 0; i < N; i++) {
        const float *row = logits + (size_t)i * Vp;
        float mx = row[0];
        for (int v = 1; v < V; v++) if (row[v] > mx) mx = row[v];
        double s = 0.0;
        for (int v = 0; v < V; v++) s += exp((double)(row[v] - mx));
        lse[i] = mx + (float)log(s);
        if (targets) lp[i] = (double)row[targets[i]] - (double)mx - log(s);
    }
}

static void cpu_crossentropy_backward(float *logits, const float *lse, const int *targets,
                                      const float *weights, int N, int V, int Vp)
{
    for (int i = 0; i < N; i++) {
        float *row = logits + (size_t)i * Vp;
        float w = weights[i];
        if (w == 0.0f) { memset(row, 0, (size_t)Vp * sizeof(float)); continue; }
        float l = lse[i];
        for (int v = 0; v < V; v++) row[v] = w * expf(row[v] - l);
        for (int v = V; v < Vp; v++) row[v] = 0.0f;
        row[targets[i]] -= w;
    }
}

/* KV-cache attention (sampling): kv_cpu.c */

static void cpu_gather_rows(float *out, const float *x, const int *idx, int n, int C)
{
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * C, x + (size_t)idx[i] * C, (size_t)C * sizeof(float));
}

/* One range's update; its own function so that it gets the AVX2 clone (fastmath.h). */
GPT_SIMD_CLONES
static void cpu_adamw(float *restrict p, float *restrict mm, float *restrict vv, const float *restrict gr,
                      size_t n, float lr, float b1, float b2, float bc1, float bc2, float eps, float wd)
{
    for (size_t i = 0; i < n; i++) {
        float g = gr[i];
        float m = b1 * mm[i] + (1.0f - b1) * g;
        float v = b2 * vv[i] + (1.0f - b2) * g * g;
        mm[i] = m;
        vv[i] = v;
        float mhat = m / bc1, vhat = v / bc2;
        p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
    }
}

/* the exact sums are fixsum.c's own functions: the host's format by definition */
static int cpu_fix_add(void *acc, const float *x, size_t n) { return fixsum_add_floats(acc, x, n, NULL); }
static void cpu_fix_to_floats(float *out, const void *acc, size_t n) { fixsum_to_floats(acc, out, n); }

static double cpu_sumsq(const float *x, size_t n)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    return ss;
}

static void cpu_scale(float *x, size_t n, float s)
{
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

static const gpt_backend cpu_backend = {
    .name = "cpu-cblas",
    .host = 1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_memcpy,
    .to_host = cpu_memcpy,
    .copy = cpu_memcpy,
    .zero = cpu_zero,
    .matmul_forward = cpu_matmul_forward,
    .matmul_rows_forward = cpu_matmul_rows_forward,
    .matmul_backward = cpu_matmul_backward,
    .layernorm_forward = cpu_layernorm_forward,
    .layernorm_backward = cpu_layernorm_backward,
    .attention_forward = cpu_attention_forward,
    .attention_backward = cpu_attention_backward,
    .gelu_forward = cpu_gelu_forward,
    .gelu_backward = cpu_gelu_backward,
    .residual_forward = cpu_residual_forward,
    .embed_forward = cpu_embed_forward,
    .embed_backward = cpu_embed_backward,
    .crossentropy_forward = cpu_crossentropy_forward,
    .crossentropy_backward = cpu_crossentropy_backward,
    .kv_attention = kv_cpu_attention,
    .gather_rows = cpu_gather_rows,
    .adamw = cpu_adamw,
    .fix_add = cpu_fix_add,
    .fix_to_floats = cpu_fix_to_floats,
    .sumsq = cpu_sumsq,
    .scale = cpu_scale,
};

const gpt_backend *gpt_backend_cpu(void) { return &cpu_backend; }

void gpt_backend_cpu_set_threads(int n)
{
    if (n > 0) openblas_set_num_threads(n);
}
