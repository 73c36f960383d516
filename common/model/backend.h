/* backend.h - the compute kernels behind the model, as one table of function pointers.
 *
 * gpt.c and sample.c call only these; the CPU implementation (backend_cpu.c) uses CBLAS
 * (OpenBLAS) for every matrix multiply. A CUDA backend will fill the same table later, so the
 * kernels take plain float pointers and sizes and never allocate.
 *
 * Conventions (as in llm.c): a linear layer's weight w is (OC, C) row-major and computes
 * out = inp @ w^T + bias. N is the number of rows (positions) a kernel works on.
 * "Accumulates" means += into the output; "writes" means the output is overwritten.
 */
#ifndef TRICE_MODEL_BACKEND_H
#define TRICE_MODEL_BACKEND_H

#include <math.h>
#include <stddef.h>

/* ALiBi's slope of head h of NH (Press et al. 2022): the geometric series 2^(-8(h+1)/n) for
 * the largest power of two n <= NH, then every other slope of the series for 2n. */
static inline float gpt_alibi_slope(int h, int NH)
{
    int n = 1;
    while (n * 2 <= NH) n *= 2;
    double e = h < n ? -8.0 * (h + 1) / n : -4.0 * (2 * (h - n) + 1) / n;
    return (float)exp2(e);
}

typedef struct gpt_backend {
    const char *name;

    /* out (N,OC) written = inp (N,C) @ w^T (OC,C) + bias (OC) (bias may be NULL). */
    void (*matmul_forward)(float *out, const float *inp, const float *w, const float *bias,
                           int N, int C, int OC);
    /* The same product with every row computed alone: a row's result is bit-identical whatever
     * N is and whatever the other rows hold (matmul_forward's BLAS may block rows together).
     * Batched decoding uses it, so that a sequence's tokens do not depend on which sequences
     * share its batch, and proposals are the same for any number of workers. */
    void (*matmul_rows_forward)(float *out, const float *inp, const float *w, const float *bias,
                                int N, int C, int OC);
    /* dinp (N,C) written (or accumulated when accumulate != 0) = dout (N,OC) @ w (OC,C);
     * dw (OC,C) accumulated += dout^T @ inp; dbias (OC) accumulated += column sums of dout.
     * dinp, dw and dbias may each be NULL to skip that work (frozen weights skip dw, dbias). */
    void (*matmul_backward)(float *dinp, float *dw, float *dbias, const float *dout,
                            const float *inp, const float *w, int N, int C, int OC, int accumulate);

    /* LayerNorm, eps 1e-5: out (N,C) written; mean, rstd (N) written for backward. */
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C);
    /* dinp (N,C) accumulated; dweight, dbias (C) accumulated unless NULL. */
    void (*layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C);

    /* Causal multi-head attention over B sequences of length T.
     * qkv (B,T,3C) holds q,k,v per position; out (B,T,C) written; att (B,NH,T,T) written with
     * the softmax probabilities (row t has entries 0..t; the rest are zero). alibi != 0 adds
     * ALiBi's bias -gpt_alibi_slope(h, NH) * (t - j) to head h's score of query t on key j
     * (after the 1/sqrt(hs) scaling). The bias is a constant, so backward is the same. */
    void (*attention_forward)(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
                              int alibi);
    /* dqkv (B,T,3C) written from dout (B,T,C); scratch holds T*T floats. */
    void (*attention_backward)(float *dqkv, float *scratch, const float *dout, const float *qkv,
                               const float *att, int B, int T, int C, int NH);

    /* GELU, tanh form: out (n) written. Backward: dinp (n) written = dout * gelu'(inp). */
    void (*gelu_forward)(float *out, const float *inp, size_t n);
    void (*gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n);

    /* out (n) written = a + b (out may alias a). */
    void (*residual_forward)(float *out, const float *a, const float *b, size_t n);
} gpt_backend;

/* The CBLAS backend. Threads: OpenBLAS's own (OPENBLAS_NUM_THREADS / openblas_set_num_threads). */
const gpt_backend *gpt_backend_cpu(void);

/* Threads the CPU backend's BLAS may use (0 = leave as configured). */
void gpt_backend_cpu_set_threads(int n);

#endif
