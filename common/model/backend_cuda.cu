/* backend_cuda.cu - the model's kernels on an NVIDIA GPU: cuBLAS for the matrix products, the
 * rest as plain CUDA kernels (see backend.h for what each entry computes).
 *
 * Determinism: one stream (the legacy default stream, so cudaMemcpy orders itself after the
 * kernels before it), cuBLAS without atomics (its default), and no atomics in our own kernels:
 * every reduction has a fixed tree (warp shuffles, then a fixed pass over the warps), and
 * scatter-adds (the embeddings' backward) are grouped by key on the host first. The same GPU
 * type, driver and inputs give the same bits. Results differ from the CPU backend by rounding
 * only (other summation orders, the GPU's expf/tanhf): tests/gpu states the tolerances.
 *
 * matmul_rows_forward does not use cuBLAS, whose kernel choice (and so its summation order)
 * may change with the number of rows: one warp computes each output from a fixed split of the
 * dot product over its lanes, whatever the other rows are (batched sampling needs this).
 *
 * Errors: the kernels' entries return nothing (the table is the CPU's), so the first CUDA
 * error is kept, printed once with its file and line, and returned by the next copy to or from
 * the device, which every forward and sampling step does. */
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern "C" {
#include "common/model/backend.h"
}

#define LN_EPS 1e-5f
#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
#define MAX_SHARED_SCORES 12288        /* attention rows kept in shared memory: 48 KB */

static cublasHandle_t g_blas;
static int g_device = -1;
static char g_name[256];
static cudaError_t g_err = cudaSuccess;  /* the first error, sticky */
static float *g_ws;                      /* attention backward's workspace (B, NH, T, T) */
static size_t g_ws_cap;

static void note_error(cudaError_t e, const char *what, const char *file, int line)
{
    if (e == cudaSuccess) return;
    if (g_err == cudaSuccess) {
        g_err = e;
        fprintf(stderr, "%s:%d: CUDA error in %s: %s (%s); the model's results are invalid from here on\n",
                file, line, what, cudaGetErrorString(e), cudaGetErrorName(e));
    }
}
#define CK(call) note_error((call), #call, __FILE__, __LINE__)
#define CK_LAUNCH(what) note_error(cudaGetLastError(), what, __FILE__, __LINE__)
#define CK_BLAS(call)                                                                         \
    do {                                                                                      \
        cublasStatus_t st_ = (call);                                                          \
        if (st_ != CUBLAS_STATUS_SUCCESS && g_err == cudaSuccess) {                           \
            g_err = cudaErrorUnknown;                                                         \
            fprintf(stderr, "%s:%d: cuBLAS error %d in %s\n", __FILE__, __LINE__, (int)st_, #call); \
        }                                                                                     \
    } while (0)

static inline unsigned blocks_for(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

/* ---- reductions with a fixed order ---- */

struct op_sum {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct op_max {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

/* Across a warp by a butterfly: every lane gets the result, in the same order on every lane. */
template <typename T, typename Op> __device__ __forceinline__ T warp_reduce(T v, Op op)
{
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Across the block (blockDim.x a multiple of 32, at most 1024): the warps' results in warp
 * order; every thread gets it. shared: 32 entries. */
template <typename T, typename Op> __device__ T block_reduce(T v, T *shared, Op op)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_reduce(v, op);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    T s = shared[0];
    for (int w = 1; w < nw; w++) s = op(s, shared[w]);
    return s;
}

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, op_sum()); }
__device__ __forceinline__ float block_sum(float v, float *shared) { return block_reduce(v, shared, op_sum()); }
__device__ __forceinline__ double block_sum_d(double v, double *shared) { return block_reduce(v, shared, op_sum()); }
__device__ __forceinline__ float block_max(float v, float *shared) { return block_reduce(v, shared, op_max()); }

__device__ __forceinline__ float alibi_slope(int h, int NH)
{
    int n = 1;
    while (n * 2 <= NH) n *= 2;
    float e = h < n ? -8.0f * (h + 1) / n : -4.0f * (2 * (h - n) + 1) / n;
    return exp2f(e);
}

/* ---- memory ---- */

static void *cu_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0) bytes = 1;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        (void)cudaGetLastError();  /* an out-of-memory is the caller's to report, not sticky */
        return NULL;
    }
    if (cudaMemset(p, 0, bytes) != cudaSuccess) {
        cudaFree(p);
        return NULL;
    }
    return p;
}
static void cu_free(void *p)
{
    if (p) CK(cudaFree(p));
}
static int cu_to_device(void *dst, const void *src, size_t bytes)
{
    if (bytes) CK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return g_err != cudaSuccess;
}
static int cu_to_host(void *dst, const void *src, size_t bytes)
{
    if (bytes) CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return g_err != cudaSuccess;
}
static int cu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes && dst != src) CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
    return g_err != cudaSuccess;
}
static int cu_zero(void *p, size_t bytes)
{
    if (bytes) CK(cudaMemset(p, 0, bytes));
    return g_err != cudaSuccess;
}

/* ---- matrix products ---- */

__global__ void bias_rows_kernel(float *out, const float *bias, int N, int OC)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)N * OC) out[i] = bias[i % OC];
}

/* Row-major out (N,OC) = inp (N,C) @ w^T: in cuBLAS's column-major terms out^T (OC,N) =
 * w^T... i.e. gemm(T, N) of w (C x OC, ld C) and inp (C x N, ld C). */
static void cu_matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC)
{
    float one = 1.0f, beta = 0.0f;
    if (bias) {
        bias_rows_kernel<<<blocks_for((size_t)N * OC, 256), 256>>>(out, bias, N, OC);
        CK_LAUNCH("bias_rows_kernel");
        beta = 1.0f;
    }
    CK_BLAS(cublasSgemm(g_blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &one, w, C, inp, C, &beta, out, OC));
}

/* One warp per (output column, group of ROWS rows): each lane sums the inputs i = lane, lane+32,
 * ... of each row, then the warp adds its lanes by a fixed butterfly. A row's arithmetic is the
 * same whichever rows share its group. */
#define RM_ROWS 4
#define RM_WARPS 8
__global__ void matmul_rows_kernel(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                                   int OC)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int o = blockIdx.x * RM_WARPS + warp;
    int n0 = blockIdx.y * RM_ROWS;
    if (o >= OC) return;
    const float *wr = w + (size_t)o * C;
    float acc[RM_ROWS] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = lane; i < C; i += 32) {
        float wv = wr[i];
#pragma unroll
        for (int r = 0; r < RM_ROWS; r++)
            if (n0 + r < N) acc[r] += inp[(size_t)(n0 + r) * C + i] * wv;
    }
#pragma unroll
    for (int r = 0; r < RM_ROWS; r++) {
        float s = warp_sum(acc[r]);
        if (lane == 0 && n0 + r < N) out[(size_t)(n0 + r) * OC + o] = s + (bias ? bias[o] : 0.0f);
    }
}

static void cu_matmul_rows_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                                   int OC)
{
    dim3 grid((unsigned)((OC + RM_WARPS - 1) / RM_WARPS), (unsigned)((N + RM_ROWS - 1) / RM_ROWS));
    matmul_rows_kernel<<<grid, 32 * RM_WARPS>>>(out, inp, w, bias, N, C, OC);
    CK_LAUNCH("matmul_rows_kernel");
}

/* Column sums with a fixed order: block (32, 8) per 32 columns; thread (x, y) sums rows y, y+8,
 * ...; then row 0 of the block adds the 8 partial sums in order. dst[c] += the sum. */
__global__ void col_sums_kernel(float *dst, const float *src, int N, int OC)
{
    __shared__ float part[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < OC)
        for (int n = threadIdx.y; n < N; n += 8) s += src[(size_t)n * OC + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < OC) {
        float t = 0.0f;
        for (int y = 0; y < 8; y++) t += part[y][threadIdx.x];
        dst[c] += t;
    }
}

static void cu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                               const float *w, int N, int C, int OC, int accumulate)
{
    float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    if (dinp)  /* dinp^T (C,N) = w^T-as-stored (C x OC, ld C) . dout^T (OC x N, ld OC) */
        CK_BLAS(cublasSgemm(g_blas, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, w, C, dout, OC, &beta, dinp, C));
    if (dw)    /* dw^T (C,OC) += inp^T (C x N, ld C) . dout (N x OC) */
        CK_BLAS(cublasSgemm(g_blas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp, C, dout, OC, &one, dw, C));
    if (dbias) {
        col_sums_kernel<<<(unsigned)((OC + 31) / 32), dim3(32, 8)>>>(dbias, dout, N, OC);
        CK_LAUNCH("col_sums_kernel");
    }
}

/* ---- LayerNorm: one warp per row ---- */

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                         const float *weight, const float *bias, int N, int C)
{
    int lane = threadIdx.x & 31;
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    const float *x = inp + (size_t)n * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i];
    float m = warp_sum(s) / C;
    float v = 0.0f;
    for (int i = lane; i < C; i += 32) { float d = x[i] - m; v += d * d; }
    float rs = rsqrtf(warp_sum(v) / C + LN_EPS);
    float *o = out + (size_t)n * C;
    for (int i = lane; i < C; i += 32) o[i] = (x[i] - m) * rs * weight[i] + bias[i];
    if (lane == 0) {
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = rs;
    }
}

static void cu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                 const float *bias, int N, int C)
{
    layernorm_forward_kernel<<<blocks_for((size_t)N, 8), 256>>>(out, mean, rstd, inp, weight, bias, N, C);
    CK_LAUNCH("layernorm_forward_kernel");
}

__global__ void layernorm_backward_dinp_kernel(float *dinp, const float *dout, const float *inp, const float *weight,
                                               const float *mean, const float *rstd, int N, int C)
{
    int lane = threadIdx.x & 31;
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
    float m = mean[n], rs = rstd[n];
    float a = 0.0f, b = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float norm = (x[i] - m) * rs, dn = weight[i] * d[i];
        a += dn;
        b += dn * norm;
    }
    a = warp_sum(a) / C;
    b = warp_sum(b) / C;
    float *di = dinp + (size_t)n * C;
    for (int i = lane; i < C; i += 32) {
        float norm = (x[i] - m) * rs, dn = weight[i] * d[i];
        di[i] += (dn - a - norm * b) * rs;
    }
}

/* dweight += sum_n dout * norm, dbias += sum_n dout; fixed order as col_sums_kernel */
__global__ void layernorm_backward_params_kernel(float *dweight, float *dbias, const float *dout, const float *inp,
                                                 const float *mean, const float *rstd, int N, int C)
{
    __shared__ float pw[8][33], pb[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float sw = 0.0f, sb = 0.0f;
    if (c < C)
        for (int n = threadIdx.y; n < N; n += 8) {
            float d = dout[(size_t)n * C + c];
            sw += d * (inp[(size_t)n * C + c] - mean[n]) * rstd[n];
            sb += d;
        }
    pw[threadIdx.y][threadIdx.x] = sw;
    pb[threadIdx.y][threadIdx.x] = sb;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tw = 0.0f, tb = 0.0f;
        for (int y = 0; y < 8; y++) { tw += pw[y][threadIdx.x]; tb += pb[y][threadIdx.x]; }
        if (dweight) dweight[c] += tw;
        if (dbias) dbias[c] += tb;
    }
}

static void cu_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                  const float *weight, const float *mean, const float *rstd, int N, int C)
{
    layernorm_backward_dinp_kernel<<<blocks_for((size_t)N, 8), 256>>>(dinp, dout, inp, weight, mean, rstd, N, C);
    CK_LAUNCH("layernorm_backward_dinp_kernel");
    if (dweight || dbias) {
        layernorm_backward_params_kernel<<<(unsigned)((C + 31) / 32), dim3(32, 8)>>>(dweight, dbias, dout, inp, mean,
                                                                                    rstd, N, C);
        CK_LAUNCH("layernorm_backward_params_kernel");
    }
}

/* ---- attention: one block per (query row, sequence x head) ---- */

#define ATT_THREADS 128

/* Softmax of scores[0..np) in shared memory, in place (block-wide). red: 32 floats. */
__device__ void softmax_shared(float *scores, int np, float *red)
{
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < np; j += blockDim.x) mx = fmaxf(mx, scores[j]);
    mx = block_max(mx, red);
    float s = 0.0f;
    for (int j = threadIdx.x; j < np; j += blockDim.x) {
        float e = expf(scores[j] - mx);
        scores[j] = e;
        s += e;
    }
    s = block_sum(s, red);
    float inv = 1.0f / s;
    __syncthreads();
    for (int j = threadIdx.x; j < np; j += blockDim.x) scores[j] *= inv;
    __syncthreads();
}

__global__ void attention_forward_kernel(float *out, float *att, const float *qkv, int T, int C, int NH, int alibi)
{
    extern __shared__ float scores[];  /* (T) */
    __shared__ float red[32];
    int t = blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int hs = C / NH, C3 = 3 * C;
    float scale = rsqrtf((float)hs), slope = alibi ? alibi_slope(h, NH) : 0.0f;
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float *q = base + (size_t)t * C3;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) {
        const float *k = base + (size_t)j * C3 + C;
        float dot = 0.0f;
        for (int d = 0; d < hs; d++) dot += q[d] * k[d];
        scores[j] = dot * scale - slope * (float)(t - j);
    }
    __syncthreads();
    softmax_shared(scores, t + 1, red);
    float *arow = att + ((size_t)bh * T + t) * T;
    for (int j = threadIdx.x; j < T; j += blockDim.x) arow[j] = j <= t ? scores[j] : 0.0f;
    float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
    for (int d = threadIdx.x; d < hs; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j <= t; j++) acc += scores[j] * base[(size_t)j * C3 + 2 * C + d];
        o[d] = acc;
    }
}

static int check_shared_len(int T, const char *what)
{
    if (T <= MAX_SHARED_SCORES) return 0;
    if (g_err == cudaSuccess) {
        g_err = cudaErrorInvalidValue;
        fprintf(stderr, "backend_cuda: %s: context %d is longer than the %d positions its kernel keeps in "
                        "shared memory\n", what, T, MAX_SHARED_SCORES);
    }
    return -1;
}

static void cu_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int alibi)
{
    if (check_shared_len(T, "attention_forward")) return;
    dim3 grid((unsigned)T, (unsigned)(B * NH));
    attention_forward_kernel<<<grid, ATT_THREADS, (size_t)T * sizeof(float)>>>(out, att, qkv, T, C, NH, alibi);
    CK_LAUNCH("attention_forward_kernel");
}

/* Backward, pass 1 (per query row t): datt_j = dout_t . v_j; dpre_j = att_j (datt_j - sum_k
 * att_k datt_k), kept in the workspace; dq_t = scale sum_j dpre_j k_j. */
__global__ void attention_backward_q_kernel(float *dqkv, float *dpre, const float *dout, const float *qkv,
                                            const float *att, int T, int C, int NH)
{
    extern __shared__ float sc[];  /* (T) */
    __shared__ float red[32];
    int t = blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int hs = C / NH, C3 = 3 * C;
    float scale = rsqrtf((float)hs);
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float *dq_out = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
    const float *arow = att + ((size_t)bh * T + t) * T;
    float part = 0.0f;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) {
        const float *v = base + (size_t)j * C3 + 2 * C;
        float dot = 0.0f;
        for (int d = 0; d < hs; d++) dot += dq_out[d] * v[d];
        sc[j] = dot;
        part += arow[j] * dot;
    }
    float s = block_sum(part, red);
    float *prow = dpre + ((size_t)bh * T + t) * T;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) {
        float p = arow[j] * (sc[j] - s);
        sc[j] = p;
        prow[j] = p;
    }
    __syncthreads();
    float *dq = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
    for (int d = threadIdx.x; d < hs; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j <= t; j++) acc += sc[j] * base[(size_t)j * C3 + C + d];
        dq[d] = acc * scale;
    }
}

/* Backward, pass 2 (per key row j): dk_j = scale sum_{t>=j} dpre_tj q_t; dv_j = sum_{t>=j} att_tj dout_t. */
__global__ void attention_backward_kv_kernel(float *dqkv, const float *dpre, const float *dout, const float *qkv,
                                             const float *att, int T, int C, int NH)
{
    int j = blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int hs = C / NH, C3 = 3 * C;
    float scale = rsqrtf((float)hs);
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hs;
    const float *dbase = dout + (size_t)b * T * C + (size_t)h * hs;
    const float *P = dpre + (size_t)bh * T * T, *A = att + (size_t)bh * T * T;
    float *dk = dqkv + ((size_t)b * T + j) * C3 + C + (size_t)h * hs;
    float *dv = dk + C;
    for (int d = threadIdx.x; d < hs; d += blockDim.x) {
        float ak = 0.0f, av = 0.0f;
        for (int t = j; t < T; t++) {
            ak += P[(size_t)t * T + j] * base[(size_t)t * C3 + d];
            av += A[(size_t)t * T + j] * dbase[(size_t)t * C + d];
        }
        dk[d] = ak * scale;
        dv[d] = av;
    }
}

static void cu_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *att,
                                  int B, int T, int C, int NH)
{
    (void)scratch;  /* the CPU's (T, T) scratch; this backend needs (B, NH, T, T) */
    if (check_shared_len(T, "attention_backward")) return;
    size_t need = (size_t)B * NH * T * T;
    if (need > g_ws_cap) {
        if (g_ws) CK(cudaFree(g_ws));
        g_ws = NULL;
        g_ws_cap = 0;
        CK(cudaMalloc((void **)&g_ws, need * sizeof(float)));
        if (g_err != cudaSuccess) return;
        g_ws_cap = need;
    }
    dim3 grid((unsigned)T, (unsigned)(B * NH));
    attention_backward_q_kernel<<<grid, ATT_THREADS, (size_t)T * sizeof(float)>>>(dqkv, g_ws, dout, qkv, att, T, C, NH);
    CK_LAUNCH("attention_backward_q_kernel");
    int hs = C / NH, threads = hs < 32 ? 32 : (hs + 31) / 32 * 32;
    if (threads > 1024) threads = 1024;
    attention_backward_kv_kernel<<<grid, threads>>>(dqkv, g_ws, dout, qkv, att, T, C, NH);
    CK_LAUNCH("attention_backward_kv_kernel");
}

/* ---- element-wise ---- */

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = inp[i], cube = 0.044715f * x * x * x;
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
}
__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = inp[i], cube = 0.044715f * x * x * x;
    float th = tanhf(GELU_SCALE * (x + cube)), sech2 = 1.0f - th * th;
    float g = 0.5f * (1.0f + th) + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = g * dout[i];
}
__global__ void residual_kernel(float *out, const float *a, const float *b, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}

static void cu_gelu_forward(float *out, const float *inp, size_t n)
{
    gelu_forward_kernel<<<blocks_for(n, 256), 256>>>(out, inp, n);
    CK_LAUNCH("gelu_forward_kernel");
}
static void cu_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
    gelu_backward_kernel<<<blocks_for(n, 256), 256>>>(dinp, inp, dout, n);
    CK_LAUNCH("gelu_backward_kernel");
}
static void cu_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    residual_kernel<<<blocks_for(n, 256), 256>>>(out, a, b, n);
    CK_LAUNCH("residual_kernel");
}

/* ---- embeddings ---- */

__global__ void embed_forward_kernel(float *out, const int *tok, const int *pos, const float *wte, const float *wpe,
                                     const float *prompt, int C)
{
    int r = blockIdx.x;
    int tk = tok[r];
    const float *e = tk < 0 ? prompt + (size_t)(-1 - tk) * C : wte + (size_t)tk * C;
    const float *pe = wpe ? wpe + (size_t)pos[r] * C : NULL;
    float *x = out + (size_t)r * C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) x[i] = pe ? e[i] + pe[i] : e[i];
}

static void cu_embed_forward(float *out, const int *tok, const int *pos, const float *wte, const float *wpe,
                             const float *prompt, int N, int C)
{
    if (N <= 0) return;
    embed_forward_kernel<<<(unsigned)N, 128>>>(out, tok, pos, wte, wpe, prompt, C);
    CK_LAUNCH("embed_forward_kernel");
}

/* one block per key: its rows in ascending order, as the CPU adds them */
__global__ void embed_backward_kernel(float *dtable, const float *dx, const int *order, const int *starts,
                                      const int *keys, int C)
{
    int k = blockIdx.x;
    float *d = dtable + (size_t)keys[k] * C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float acc = d[i];
        for (int j = starts[k]; j < starts[k + 1]; j++) acc += dx[(size_t)order[j] * C + i];
        d[i] = acc;
    }
}

static void cu_embed_backward(float *dtable, const float *dx, const int *order, const int *starts, const int *keys,
                              int nkeys, int C)
{
    if (nkeys <= 0) return;
    embed_backward_kernel<<<(unsigned)nkeys, 128>>>(dtable, dx, order, starts, keys, C);
    CK_LAUNCH("embed_backward_kernel");
}

/* ---- cross-entropy: one block per row ---- */

__global__ void crossentropy_forward_kernel(float *lse, double *lp, const float *logits, const int *targets, int V,
                                            int Vp)
{
    __shared__ float red[32];
    __shared__ double redd[32];
    int r = blockIdx.x;
    const float *row = logits + (size_t)r * Vp;
    float mx = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, row[v]);
    mx = block_max(mx, red);
    double s = 0.0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) s += exp((double)(row[v] - mx));
    s = block_sum_d(s, redd);
    if (threadIdx.x == 0) {
        lse[r] = mx + (float)log(s);
        if (targets) lp[r] = (double)row[targets[r]] - (double)mx - log(s);
    }
}

static void cu_crossentropy_forward(float *lse, double *lp, const float *logits, const int *targets, int N, int V,
                                    int Vp)
{
    if (N <= 0) return;
    crossentropy_forward_kernel<<<(unsigned)N, 256>>>(lse, lp, logits, targets, V, Vp);
    CK_LAUNCH("crossentropy_forward_kernel");
}

__global__ void crossentropy_backward_kernel(float *logits, const float *lse, const int *targets, const float *weights,
                                             int V, int Vp)
{
    int r = blockIdx.x;
    float *row = logits + (size_t)r * Vp;
    float w = weights[r], l = lse[r];
    int tgt = targets[r];
    for (int v = threadIdx.x; v < Vp; v += blockDim.x) {
        float g = 0.0f;
        if (w != 0.0f && v < V) {
            g = w * expf(row[v] - l);
            if (v == tgt) g -= w;
        }
        row[v] = g;
    }
}

static void cu_crossentropy_backward(float *logits, const float *lse, const int *targets, const float *weights, int N,
                                     int V, int Vp)
{
    if (N <= 0) return;
    crossentropy_backward_kernel<<<(unsigned)N, 128>>>(logits, lse, targets, weights, V, Vp);
    CK_LAUNCH("crossentropy_backward_kernel");
}

/* ---- KV-cache attention ---- */

__global__ void kv_store_kernel(float *kcache, float *vcache, const float *qkv, const int *slots, const int *start,
                                int Tc, int C, int max_len)
{
    int r = blockIdx.x, i = r / Tc, t = r % Tc;
    size_t at = ((size_t)slots[i] * max_len + (size_t)(start[i] + t)) * C;
    const float *q = qkv + (size_t)r * 3 * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        kcache[at + c] = q[C + c];
        vcache[at + c] = q[2 * C + c];
    }
}

__global__ void kv_attend_kernel(float *out, const float *kcache, const float *vcache, const float *qkv,
                                 const int *slots, const int *start, int Tc, int C, int NH, int max_len, int alibi)
{
    extern __shared__ float scores[];  /* (np) */
    __shared__ float red[32];
    int r = blockIdx.x, h = blockIdx.y, i = r / Tc, t = r % Tc;
    int hs = C / NH, np = start[i] + t + 1;
    float scale = rsqrtf((float)hs), slope = alibi ? alibi_slope(h, NH) : 0.0f;
    const float *q = qkv + (size_t)r * 3 * C + (size_t)h * hs;
    const float *kc = kcache + (size_t)slots[i] * max_len * C + (size_t)h * hs;
    const float *vc = vcache + (size_t)slots[i] * max_len * C + (size_t)h * hs;
    for (int j = threadIdx.x; j < np; j += blockDim.x) {
        const float *k = kc + (size_t)j * C;
        float dot = 0.0f;
        for (int d = 0; d < hs; d++) dot += q[d] * k[d];
        scores[j] = dot * scale - slope * (float)(np - 1 - j);
    }
    __syncthreads();
    softmax_shared(scores, np, red);
    float *o = out + (size_t)r * C + (size_t)h * hs;
    for (int d = threadIdx.x; d < hs; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < np; j++) acc += scores[j] * vc[(size_t)j * C + d];
        o[d] = acc;
    }
}

static void cu_kv_attention(float *out, float *scratch, float *kcache, float *vcache, const float *qkv,
                            const int *slots, const int *start, int n, int Tc, int C, int NH, int max_len, int alibi)
{
    (void)scratch;
    if (n <= 0 || Tc <= 0 || check_shared_len(max_len, "kv_attention")) return;
    kv_store_kernel<<<(unsigned)(n * Tc), 128>>>(kcache, vcache, qkv, slots, start, Tc, C, max_len);
    CK_LAUNCH("kv_store_kernel");
    dim3 grid((unsigned)(n * Tc), (unsigned)NH);
    kv_attend_kernel<<<grid, ATT_THREADS, (size_t)max_len * sizeof(float)>>>(out, kcache, vcache, qkv, slots, start,
                                                                            Tc, C, NH, max_len, alibi);
    CK_LAUNCH("kv_attend_kernel");
}

__global__ void gather_rows_kernel(float *out, const float *x, const int *idx, int C)
{
    int i = blockIdx.x;
    const float *src = x + (size_t)idx[i] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) out[(size_t)i * C + c] = src[c];
}

static void cu_gather_rows(float *out, const float *x, const int *idx, int n, int C)
{
    if (n <= 0) return;
    gather_rows_kernel<<<(unsigned)n, 128>>>(out, x, idx, C);
    CK_LAUNCH("gather_rows_kernel");
}

/* ---- AdamW ---- */

__global__ void adamw_kernel(float *p, float *mm, float *vv, const float *gr, size_t n, float lr, float b1, float b2,
                             float bc1, float bc2, float eps, float wd)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = gr[i];
    float m = b1 * mm[i] + (1.0f - b1) * g;
    float v = b2 * vv[i] + (1.0f - b2) * g * g;
    mm[i] = m;
    vv[i] = v;
    float mhat = m / bc1, vhat = v / bc2;
    p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
}

static void cu_adamw(float *p, float *m, float *v, const float *g, size_t n, float lr, float b1, float b2, float bc1,
                     float bc2, float eps, float wd)
{
    if (n == 0) return;
    adamw_kernel<<<blocks_for(n, 256), 256>>>(p, m, v, g, n, lr, b1, b2, bc1, bc2, eps, wd);
    CK_LAUNCH("adamw_kernel");
}

/* ---- exact sums and the optimiser's inputs ---- */

__device__ int g_fix_bad;  /* set when fix_add met a non-finite entry or |x| >= 2^31 */

/* common/train/fixsum.c's to_fixed, the same integer arithmetic: the float's bits as a
 * multiple of 2^-80, rounded to nearest (halves away from zero) below 2^-57. */
__device__ __forceinline__ unsigned __int128 to_fixed(uint32_t b)
{
    uint32_t e = (b >> 23) & 0xffu, m = b & 0x7fffffu;
    if (e == 0) {
        if (!m) return 0;
        e = 1;
    } else {
        m |= 0x800000u;
    }
    int sh = (int)e - 150 + 80;
    unsigned __int128 v;
    if (sh >= 0) v = (unsigned __int128)m << sh;
    else if (sh > -26) v = (m + (1u << (-sh - 1))) >> -sh;
    else v = 0;
    return (b >> 31) ? (unsigned __int128)0 - v : v;
}

__global__ void fix_add_kernel(unsigned long long *acc, const float *x, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint32_t b = __float_as_uint(x[i]);
    if (((b >> 23) & 0xffu) >= 127u + 31u) { g_fix_bad = 1; return; }
    if (!(b << 1)) return;  /* +-0 adds nothing */
    unsigned __int128 v = ((unsigned __int128)acc[2 * i + 1] << 64) | acc[2 * i];
    v += to_fixed(b);
    acc[2 * i] = (unsigned long long)v;
    acc[2 * i + 1] = (unsigned long long)(v >> 64);
}

static int cu_fix_add(void *acc, const float *x, size_t n)
{
    if (n == 0) return 0;
    int zero = 0, bad = 0;
    CK(cudaMemcpyToSymbol(g_fix_bad, &zero, sizeof zero));
    fix_add_kernel<<<blocks_for(n, 256), 256>>>((unsigned long long *)acc, x, n);
    CK_LAUNCH("fix_add_kernel");
    CK(cudaMemcpyFromSymbol(&bad, g_fix_bad, sizeof bad));
    return bad || g_err != cudaSuccess;
}

__global__ void fix_to_floats_kernel(float *out, const unsigned long long *acc, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    __int128 v = (__int128)(((unsigned __int128)acc[2 * i + 1] << 64) | acc[2 * i]);
    out[i] = (float)ldexp((double)v, -80);
}

static void cu_fix_to_floats(float *out, const void *acc, size_t n)
{
    if (n == 0) return;
    fix_to_floats_kernel<<<blocks_for(n, 256), 256>>>(out, (const unsigned long long *)acc, n);
    CK_LAUNCH("fix_to_floats_kernel");
}

/* sum of squares in double: SUMSQ_BLOCKS blocks of strided partial sums, then one block adds
 * the partials in order (a fixed tree for a given n) */
#define SUMSQ_BLOCKS 1024
__global__ void sumsq_partial_kernel(double *part, const float *x, size_t n)
{
    __shared__ double red[32];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        s += (double)x[i] * x[i];
    s = block_sum_d(s, red);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}
__global__ void sumsq_final_kernel(double *out, const double *part, int np)
{
    __shared__ double red[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < np; i += blockDim.x) s += part[i];
    s = block_sum_d(s, red);
    if (threadIdx.x == 0) *out = s;
}

static double *g_sumsq;  /* (SUMSQ_BLOCKS + 1) doubles */

static double cu_sumsq(const float *x, size_t n)
{
    if (!g_sumsq) CK(cudaMalloc((void **)&g_sumsq, (SUMSQ_BLOCKS + 1) * sizeof(double)));
    if (g_err != cudaSuccess) return NAN;
    sumsq_partial_kernel<<<SUMSQ_BLOCKS, 256>>>(g_sumsq + 1, x, n);
    CK_LAUNCH("sumsq_partial_kernel");
    sumsq_final_kernel<<<1, 1024>>>(g_sumsq, g_sumsq + 1, SUMSQ_BLOCKS);
    CK_LAUNCH("sumsq_final_kernel");
    double r = NAN;
    CK(cudaMemcpy(&r, g_sumsq, sizeof r, cudaMemcpyDeviceToHost));
    return g_err != cudaSuccess ? NAN : r;
}

__global__ void scale_kernel(float *x, size_t n, float s)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= s;
}

static void cu_scale(float *x, size_t n, float s)
{
    if (n == 0) return;
    scale_kernel<<<blocks_for(n, 256), 256>>>(x, n, s);
    CK_LAUNCH("scale_kernel");
}

/* ---- token draws ---- */

struct op_min_int {
    __device__ __forceinline__ int operator()(int a, int b) const { return a < b ? a : b; }
};

/* One block per row: the first argmax (as the CPU's loop finds it); then, greedy, the
 * untempered log-probability, or, sampled, thread 0 walks the tempered mass in token order as
 * gpt_sample_token does (so the pick depends on the same cumulative sums). */
__global__ void sample_rows_kernel(int *tok, double *logp, const float *logits, const double *u, int V, int Vp,
                                   float temperature)
{
    __shared__ float redf[32];
    __shared__ int redi[32];
    __shared__ double redd[32];
    int r = blockIdx.x;
    const float *row = logits + (size_t)r * Vp;
    float mx = -INFINITY;
    int arg = V;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        if (row[v] > mx) { mx = row[v]; arg = v; }   /* this thread's first maximum */
    float gmx = block_max(mx, redf);
    arg = block_reduce(mx == gmx ? arg : V, redi, op_min_int());
    mx = gmx;
    if (temperature <= 0.0f) {
        double s = 0.0;
        for (int v = threadIdx.x; v < V; v += blockDim.x) s += exp((double)row[v] - mx);
        s = block_sum_d(s, redd);
        if (threadIdx.x == 0) {
            tok[r] = arg;
            logp[r] = (double)row[arg] - mx - log(s);
        }
        return;
    }
    if (threadIdx.x != 0) return;
    double invT = 1.0 / temperature, total = 0.0;
    for (int v = 0; v < V; v++) total += exp(((double)row[v] - mx) * invT);
    double target = u[r] * total, cum = 0.0;
    int pick = V - 1;
    for (int v = 0; v < V; v++) {
        cum += exp(((double)row[v] - mx) * invT);
        if (cum > target) { pick = v; break; }
    }
    double w = exp(((double)row[pick] - mx) * invT);
    while (w == 0.0 && pick > 0) { pick--; w = exp(((double)row[pick] - mx) * invT); }  /* never a zero-mass token */
    tok[r] = pick;
    logp[r] = log(w / total);
}

static void *g_draw;     /* (cap) doubles u, then (cap) doubles logp, then (cap) ints tok */
static int g_draw_cap;

static int cu_sample_rows(int *tok, double *logp, const float *logits, const double *u, int n, int V, int Vp,
                          float temperature)
{
    if (n <= 0) return 0;
    if (n > g_draw_cap) {
        if (g_draw) CK(cudaFree(g_draw));
        g_draw = NULL;
        g_draw_cap = 0;
        CK(cudaMalloc(&g_draw, (size_t)n * (2 * sizeof(double) + sizeof(int))));
        if (g_err != cudaSuccess) return 1;
        g_draw_cap = n;
    }
    double *du = (double *)g_draw, *dlp = du + g_draw_cap;
    int *dtok = (int *)(dlp + g_draw_cap);
    if (temperature > 0.0f) CK(cudaMemcpy(du, u, (size_t)n * sizeof(double), cudaMemcpyHostToDevice));
    sample_rows_kernel<<<(unsigned)n, 128>>>(dtok, dlp, logits, du, V, Vp, temperature);
    CK_LAUNCH("sample_rows_kernel");
    CK(cudaMemcpy(tok, dtok, (size_t)n * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(logp, dlp, (size_t)n * sizeof(double), cudaMemcpyDeviceToHost));
    return g_err != cudaSuccess;
}

/* ---- the table ---- */

static gpt_backend g_table;

static void fill_table(void)
{
    g_table.name = "cuda";
    g_table.host = 0;
    g_table.alloc = cu_alloc;
    g_table.free = cu_free;
    g_table.to_device = cu_to_device;
    g_table.to_host = cu_to_host;
    g_table.copy = cu_copy;
    g_table.zero = cu_zero;
    g_table.matmul_forward = cu_matmul_forward;
    g_table.matmul_rows_forward = cu_matmul_rows_forward;
    g_table.matmul_backward = cu_matmul_backward;
    g_table.layernorm_forward = cu_layernorm_forward;
    g_table.layernorm_backward = cu_layernorm_backward;
    g_table.attention_forward = cu_attention_forward;
    g_table.attention_backward = cu_attention_backward;
    g_table.gelu_forward = cu_gelu_forward;
    g_table.gelu_backward = cu_gelu_backward;
    g_table.residual_forward = cu_residual_forward;
    g_table.embed_forward = cu_embed_forward;
    g_table.embed_backward = cu_embed_backward;
    g_table.crossentropy_forward = cu_crossentropy_forward;
    g_table.crossentropy_backward = cu_crossentropy_backward;
    g_table.kv_attention = cu_kv_attention;
    g_table.gather_rows = cu_gather_rows;
    g_table.adamw = cu_adamw;
    g_table.fix_add = cu_fix_add;
    g_table.fix_to_floats = cu_fix_to_floats;
    g_table.sumsq = cu_sumsq;
    g_table.scale = cu_scale;
    g_table.sample_rows = cu_sample_rows;
}

extern "C" int gpt_backend_cuda_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" const char *gpt_backend_cuda_device_name(void) { return g_name; }

/* FP32 lanes per SM by compute capability (the CUDA C programming guide's throughput table) */
static int fp32_lanes(int major, int minor)
{
    if (major == 8 && minor == 0) return 64;   /* A100 */
    if (major >= 8) return 128;                /* GA10x, Ada, Hopper, Blackwell */
    return 64;
}

extern "C" double gpt_backend_cuda_peak_flops(void)
{
    if (g_device < 0) return 0.0;
    int sms = 0, khz = 0, major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, g_device) != cudaSuccess ||
        cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, g_device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, g_device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, g_device) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0.0;
    }
    return 2.0 * fp32_lanes(major, minor) * (double)sms * (double)khz * 1e3;
}

extern "C" int gpt_backend_cuda_sync(void)
{
    CK(cudaDeviceSynchronize());
    return g_err != cudaSuccess;
}

extern "C" const gpt_backend *gpt_backend_cuda(int device, char *why, size_t why_len)
{
    if (g_device >= 0) {
        if (device == g_device) return &g_table;
        snprintf(why, why_len, "CUDA device %d asked for, but this process already uses device %d (one device "
                               "per process)", device, g_device);
        return NULL;
    }
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(why, why_len, "no CUDA device is visible (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found 0");
        (void)cudaGetLastError();
        return NULL;
    }
    if (device < 0 || device >= n) {
        snprintf(why, why_len, "CUDA device %d does not exist: %d device%s visible (0..%d)", device, n,
                 n == 1 ? " is" : "s are", n - 1);
        return NULL;
    }
    if ((e = cudaSetDevice(device)) != cudaSuccess) {
        snprintf(why, why_len, "cudaSetDevice(%d): %s", device, cudaGetErrorString(e));
        return NULL;
    }
    if (cublasCreate(&g_blas) != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cublasCreate failed on device %d", device);
        return NULL;
    }
    /* plain fp32 products: no TF32 (parity with the CPU), no atomics (determinism) */
    cublasSetMathMode(g_blas, CUBLAS_PEDANTIC_MATH);
    cublasSetAtomicsMode(g_blas, CUBLAS_ATOMICS_NOT_ALLOWED);
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
        snprintf(g_name, sizeof g_name, "%s", prop.name);
    g_device = device;
    fill_table();
    return &g_table;
}
