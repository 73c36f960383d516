/* backend.h - the compute kernels behind the model, as one table of function pointers.
 *
 * gpt.c and sample.c call only these; the CPU implementation (backend_cpu.c) uses CBLAS
 * (OpenBLAS) for every matrix multiply, the CUDA one (backend_cuda.cu) cuBLAS and its own
 * kernels. Every pointer a kernel takes is the backend's memory: host memory for the CPU,
 * device memory for CUDA (the table's alloc/free/copy entries move data in and out; `host`
 * says whether the host may read the backend's memory directly). Kernels never allocate,
 * except that the CUDA backend keeps one grown workspace for attention's backward.
 * Kernel calls are ordered (one stream); to_host waits for everything before it.
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
    int host;  /* 1: the backend's memory is host memory (pointers may be read directly) */

    /* Memory. alloc returns zeroed memory of the backend, or NULL; free(NULL) is a no-op.
     * to_device/to_host copy bytes between host memory and the backend's; copy within it. */
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    int (*to_device)(void *dst, const void *src, size_t bytes);
    int (*to_host)(void *dst, const void *src, size_t bytes);
    int (*copy)(void *dst, const void *src, size_t bytes);
    int (*zero)(void *p, size_t bytes);

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

    /* Embeddings of N rows: out (N,C) written; row r is wte[tok[r]] (Vp,C), or the soft-prompt
     * vector prompt[-1 - tok[r]] (P,C) when tok[r] < 0, plus wpe[pos[r]] (maxT,C) unless wpe is
     * NULL (ALiBi). */
    void (*embed_forward)(float *out, const int *tok, const int *pos, const float *wte,
                          const float *wpe, const float *prompt, int N, int C);
    /* Scatter-add of row gradients by key: for k in 0..nkeys-1, for r in order[starts[k]] ..
     * order[starts[k+1]-1] (ascending rows), dtable[keys[k]] (C) += dx[r] (C). The caller groups
     * rows by key on the host, so every key's sum has one fixed order (no atomics). */
    void (*embed_backward)(float *dtable, const float *dx, const int *order, const int *starts,
                           const int *keys, int nkeys, int C);

    /* Cross-entropy over N logits rows (N,Vp) with V real entries: lse (N) written with each
     * row's log-sum-exp; lp (N) written with log p(targets[r]) when targets is not NULL. */
    void (*crossentropy_forward)(float *lse, double *lp, const float *logits, const int *targets,
                                 int N, int V, int Vp);
    /* logits (N,Vp) overwritten with d loss / d logits = weights[r] * (softmax - onehot(target)),
     * zero on the padded entries and on rows of weight 0. */
    void (*crossentropy_backward)(float *logits, const float *lse, const int *targets,
                                  const float *weights, int N, int V, int Vp);

    /* KV-cache attention for sampling: n sequences of Tc new positions each. Sequence i sits in
     * cache slot slots[i] at positions start[i] .. start[i]+Tc-1. qkv (n*Tc, 3C) holds the new
     * rows; their k and v are stored into kcache, vcache (max_seqs regions of max_len * C
     * floats each: one layer's slice; how a region is laid out is the backend's choice), then
     * out (n*Tc, C) written: each row attends to its sequence's cached positions
     * 0..its own. Each row's result depends on its own sequence only. scratch: NH * max_len floats. */
    void (*kv_attention)(float *out, float *scratch, float *kcache, float *vcache, const float *qkv, const int *slots,
                         const int *start, int n, int Tc, int C, int NH, int max_len, int alibi);
    /* out (n,C) written: out[i] = x[idx[i]] (rows of x (.,C)). */
    void (*gather_rows)(float *out, const float *x, const int *idx, int n, int C);

    /* AdamW over n parameters (see optim.h for the formula; bc1, bc2 are the bias corrections). */
    void (*adamw)(float *params, float *m, float *v, const float *grads, size_t n, float lr,
                  float beta1, float beta2, float bc1, float bc2, float eps, float weight_decay);

    /* The optimiser's inputs where the gradient stays on the backend. Exact sums use
     * common/train/fixsum.h's format (16 bytes per entry: the low then the high 64 bits of a
     * two's-complement multiple of 2^-80), so that the host and a device agree on every bit.
     * fix_add: acc (n) += x (n) exactly; nonzero when an entry is not finite or |x| >= 2^31 (the
     * CPU then adds nothing, a device may have added the other entries: discard the sum).
     * fix_to_floats: out (n) = acc rounded to double, then to float.
     * sumsq: the sum of x[i]^2 in double, in index order on the CPU (as optim_clip_grad_norm), in a
     * fixed tree on a device. scale: x (n) *= s. */
    int (*fix_add)(void *acc, const float *x, size_t n);
    void (*fix_to_floats)(float *out, const void *acc, size_t n);
    double (*sumsq)(const float *x, size_t n);
    void (*scale)(float *x, size_t n, float s);

    /* Token draws for n logits rows (n, Vp) of the backend's memory, as gpt_sample_token without
     * top-k/top-p: temperature 0 takes the first argmax and reports its untempered
     * log-probability; else the first token whose cumulative tempered mass (in token order)
     * passes u[r] times the total. u (n), tok (n) and logp (n) are host arrays. Nonzero on a
     * failure. NULL on the CPU, whose sampler draws from the rows in place. */
    int (*sample_rows)(int *tok, double *logp, const float *logits, const double *u, int n, int V, int Vp,
                       float temperature);
} gpt_backend;

/* The CBLAS backend. Threads: OpenBLAS's own (OPENBLAS_NUM_THREADS / openblas_set_num_threads). */
const gpt_backend *gpt_backend_cpu(void);

/* Threads the CPU backend's BLAS may use (0 = leave as configured). */
void gpt_backend_cpu_set_threads(int n);

/* The CUDA backend on device `device` (cudaSetDevice; one device per process), or NULL with a
 * reason in why (built without CUDA, no device, the device number out of range). */
const gpt_backend *gpt_backend_cuda(int device, char *why, size_t why_len);

/* Number of CUDA devices this process sees (0 when built without CUDA or none), and the name
 * of the current one ("" when none). */
int gpt_backend_cuda_count(void);
const char *gpt_backend_cuda_device_name(void);

/* The current device's fp32 peak (FMA lanes x 2 x clock x SMs), FLOP/s; 0 when unknown. */
double gpt_backend_cuda_peak_flops(void);

/* Wait for the device to finish its queued work (timing); 0, or nonzero after a CUDA error. */
int gpt_backend_cuda_sync(void);

#endif
