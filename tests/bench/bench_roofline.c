/* bench_roofline - the ceilings of one core that bound the model benchmark's figures
 * (docs/performance.md); prints one JSON object on stdout.
 * Usage: bench_roofline [passes]   (default 9: bandwidths, peaks and the per-row kernel are
 *   medians over passes; sgemm is the best of 5 batches, as in bench_model)
 * Run it as tests/bench/run_model_bench.sh runs bench_model: OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE unset, nothing else busy. One thread throughout (BLAS included).
 *
 * Figures, and what each one bounds:
 *   read_gbs.dram    AVX2 sum over 256 MiB (8x the L3): the rate at which one core streams
 *                    data that is not in any cache. Bounds batch-1 decoding of a model whose
 *                    fp32 weights do not fit the L3 (small: 43 MB): tokens/s <= this / bytes
 *                    read per token. Measured with 1 stream and with 4 side by side (as the
 *                    batch-1 kernel reads 4 weight rows); the bounds use the better one.
 *   read_gbs.l3, .l2 the same over 4 MiB and 256 KiB, read again and again: the ceiling when
 *                    the weights stay in the L3 (tiny: 3.3 MB) or an operand stays in the L2.
 *   fma_gflops       a register-only loop of independent 8-wide fp32 FMAs: the core's fp32
 *                    arithmetic peak, which no fp32 GEMM (ours, OpenBLAS's, PyTorch's) passes.
 *   bf16_dot_gflops  the same with AVX-512 BF16 vdpbf16ps (32 multiply-adds per instruction),
 *                    when cpuid says the core and the OS support it; else null.
 *   sgemm            cblas_sgemm (OpenBLAS, 1 thread) at the model's shapes, best of 5 batches
 *                    (sgemm_rate.h): the training GEMMs at 4 x 256 = 1024 positions (forward NT,
 *                    input gradient NN, weight gradient TN, as backend_cpu.c calls them) and the
 *                    batch-64 decode products. The FLOP-weighted rate of the training shapes
 *                    bounds training: tokens/s <= rate / FLOPs per token (bench_model's count).
 *   rows             backend_cpu.c's per-row product (matmul_rows_forward, the W-independent
 *                    decode kernel) over one decode step's weight matrices in model order:
 *                    at batch 1 as GB/s of weights (compare read_gbs) and at batch 64 as
 *                    GFLOP/s (compare sgemm at the same shapes).
 *   bf16_train       bf16.h's training products (gpt.bf16) at the same training shapes, packing
 *                    included, when the CPU has AVX-512 BF16 (else null): what train_bf16 runs.
 *   bounds           the arithmetic of docs/performance.md from the figures above; attention,
 *                    layer norms, GELU and sampling are left out, so each is an upper bound. */
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/backend.h"
#include "common/model/bf16.h"
#include "common/model/gpt.h"
#include "sgemm_rate.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- streaming read ---- */

/* The sum of every lane of eight accumulators (the sums' result, kept so the loads count). */
__attribute__((target("avx2"))) static float hsum8_avx2(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4,
                                                        __m256 a5, __m256 a6, __m256 a7)
{
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0] + o[1] + o[2] + o[3] + o[4] + o[5] + o[6] + o[7];
}

/* Sum of n floats (n a multiple of 64) with 8 independent 8-wide accumulators, so that the adds
 * never limit the rate: what it measures is how fast the loads arrive. */
__attribute__((target("avx2"))) static float sum_avx2(const float *x, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(x + i + 24));
        a4 = _mm256_add_ps(a4, _mm256_load_ps(x + i + 32));
        a5 = _mm256_add_ps(a5, _mm256_load_ps(x + i + 40));
        a6 = _mm256_add_ps(a6, _mm256_load_ps(x + i + 48));
        a7 = _mm256_add_ps(a7, _mm256_load_ps(x + i + 56));
    }
    return hsum8_avx2(a0, a1, a2, a3, a4, a5, a6, a7);
}

static volatile float sink;

/* The same sum over 4 equal parts of x read side by side (n a multiple of 256): 4 streams at
 * once, as the batch-1 kernel reads 4 weight rows at once; more streams in flight can draw more
 * from memory than one. */
__attribute__((target("avx2"))) static float sum4_avx2(const float *x, size_t n)
{
    const size_t q = n / 4;
    const float *y = x + q, *z = y + q, *w = z + q;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < q; i += 16) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(y + i));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(y + i + 8));
        a4 = _mm256_add_ps(a4, _mm256_load_ps(z + i));
        a5 = _mm256_add_ps(a5, _mm256_load_ps(z + i + 8));
        a6 = _mm256_add_ps(a6, _mm256_load_ps(w + i));
        a7 = _mm256_add_ps(a7, _mm256_load_ps(w + i + 8));
    }
    return hsum8_avx2(a0, a1, a2, a3, a4, a5, a6, a7);
}

/* GB/s of reading `bytes` (repeated so that one pass reads at least 256 MiB), median of passes;
 * streams: 1 or 4 (sum_avx2 or sum4_avx2). */
static double read_gbs(size_t bytes, int streams, int passes)
{
    size_t n = bytes / sizeof(float);
    float *x = aligned_alloc(64, n * sizeof(float));
    if (!x) return 0.0;
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 255) * 0.001f;   /* touches every page */
    size_t reps = ((size_t)256 << 20) / bytes;
    if (reps < 1) reps = 1;
    float (*sum)(const float *, size_t) = streams == 4 ? sum4_avx2 : sum_avx2;
    sink = sum(x, n);   /* warm-up: brings a cache-sized buffer into its cache */
    double *r = malloc(sizeof(double) * (size_t)passes);
    for (int p = 0; p < passes; p++) {
        double t0 = bench_now();
        float s = 0.0f;
        for (size_t k = 0; k < reps; k++) {
            __asm__ volatile("" : : "r"(x) : "memory");   /* the compiler may not merge the repeated sums */
            s += sum(x, n);
        }
        r[p] = (double)bytes * (double)reps / (bench_now() - t0) / 1e9;
        sink = s;
    }
    double m = median(r, passes);
    free(r);
    free(x);
    return m;
}

/* ---- arithmetic peaks ---- */

/* 12 independent FMA chains (Zen 3: 2 FMA pipes x 4 cycles latency needs >= 8 in flight). */
__attribute__((target("avx2,fma"))) static float fma_loop(long iters)
{
    __m256 a[12];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
    }
    __m256 s = a[0];
    for (int k = 1; k < 12; k++) s = _mm256_add_ps(s, a[k]);
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0];
}

static double fma_gflops(int passes)
{
    const long iters = 20000000;   /* 240M FMAs, 3.84 GFLOP: tens of ms */
    double *r = malloc(sizeof(double) * (size_t)passes);
    sink = fma_loop(iters / 10);
    for (int p = 0; p < passes; p++) {
        double t0 = bench_now();
        sink = fma_loop(iters);
        r[p] = 12.0 * 8 * 2 * (double)iters / (bench_now() - t0) / 1e9;
    }
    double m = median(r, passes);
    free(r);
    return m;
}

/* AVX-512 BF16 on this core and enabled by the OS: cpuid.(7,0).ebx bit 16 (AVX512F),
 * cpuid.(7,1).eax bit 5 (AVX512_BF16), XCR0 bits 1,2,5,6,7 (SSE, AVX, opmask, ZMM state). */
static int have_avx512_bf16(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;   /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 16))) return 0;
    if (a < 1) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 5) & 1;
}

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
#define HAVE_BF16_INTRINSICS 1
/* 12 independent vdpbf16ps chains; each instruction: 16 lanes x 2 bf16 products = 64 FLOPs. */
__attribute__((target("avx512f,avx512bf16"))) static float bf16_loop(long iters)
{
    __m512 a[12];
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    for (int k = 0; k < 12; k++) a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; k++) a[k] = _mm512_dpbf16_ps(a[k], x, y);
    }
    __m512 s = a[0];
    for (int k = 1; k < 12; k++) s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}

static double bf16_gflops(int passes)
{
    const long iters = 10000000;
    double *r = malloc(sizeof(double) * (size_t)passes);
    sink = bf16_loop(iters / 10);
    for (int p = 0; p < passes; p++) {
        double t0 = bench_now();
        sink = bf16_loop(iters);
        r[p] = 12.0 * 64 * (double)iters / (bench_now() - t0) / 1e9;
    }
    double m = median(r, passes);
    free(r);
    return m;
}
#else
#define HAVE_BF16_INTRINSICS 0
#endif

/* ---- the model's products ---- */

typedef struct shape { const char *op; int ta, tb, M, N, K; } shape;

static void fill(float *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (float)((i * 7) % 13) * 0.01f - 0.06f; }

/* One decode step's weight products, in model order (L layers of qkv, attention projection, fc,
 * fc projection, then the LM head over the padded vocabulary) through the per-row kernel at
 * batch n. Each matrix has its own buffer, so at batch 1 every byte comes from where the
 * model's weights would be (the L3 for tiny, memory for small). Returns seconds per step
 * (median); *bytes and *flops per step. */
static double rows_step_s(int L, int C, int Vp, int n, int passes, double *bytes, double *flops)
{
    const gpt_backend *be = gpt_backend_cpu();
    int nm = 4 * L + 1;
    float **w = calloc((size_t)nm, sizeof *w);
    int *in = malloc(sizeof(int) * (size_t)nm), *out = malloc(sizeof(int) * (size_t)nm);
    *bytes = *flops = 0;
    for (int l = 0; l < L; l++) {
        int ins[4] = {C, C, C, 4 * C}, outs[4] = {3 * C, C, 4 * C, C};
        for (int k = 0; k < 4; k++) { in[4 * l + k] = ins[k]; out[4 * l + k] = outs[k]; }
    }
    in[nm - 1] = C;
    out[nm - 1] = Vp;
    for (int m = 0; m < nm; m++) {
        size_t e = (size_t)in[m] * (size_t)out[m];
        w[m] = aligned_alloc(64, ((e * 4 + 63) / 64) * 64);
        fill(w[m], e);
        *bytes += 4.0 * (double)e;
        *flops += 2.0 * (double)e * n;
    }
    float *x = malloc(sizeof(float) * (size_t)n * 4 * C), *y = malloc(sizeof(float) * (size_t)n * (Vp > 4 * C ? Vp : 4 * C));
    fill(x, (size_t)n * 4 * C);
    int steps = n == 1 ? 20 : 2;
    double *r = malloc(sizeof(double) * (size_t)passes);
    for (int p = -1; p < passes; p++) {   /* p = -1: warm-up */
        double t0 = bench_now();
        for (int s = 0; s < steps; s++)
            for (int m = 0; m < nm; m++) be->matmul_rows_forward(y, x, w[m], NULL, n, in[m], out[m]);
        if (p >= 0) r[p] = (bench_now() - t0) / steps;
    }
    double med = median(r, passes);
    for (int m = 0; m < nm; m++) free(w[m]);
    free(w); free(in); free(out); free(x); free(y); free(r);
    return med;
}

/* FLOP-weighted sgemm rate over shapes: total FLOPs / total time at each shape's rate. */
static double print_shapes(const shape *s, int n, int reps_flop_target)
{
    double fl = 0, t = 0;
    for (int i = 0; i < n; i++) {
        double f = 2.0 * s[i].M * s[i].N * s[i].K;
        int reps = (int)(reps_flop_target / f);
        if (reps < 1) reps = 1;
        double rate = bench_sgemm_flops(s[i].ta, s[i].tb, s[i].M, s[i].N, s[i].K, reps);
        printf("%s{\"op\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, \"gflops\": %.2f}", i ? ", " : "", s[i].op,
               s[i].M, s[i].N, s[i].K, rate / 1e9);
        fl += f;
        t += f / rate;
    }
    return fl / t;
}

/* The same shapes through bf16.h's training products (gpt.bf16), packing included, as the
 * model calls them: fwd = bf16_matmul_forward, dinp / dw = bf16_matmul_backward with only that
 * output. Best of 5 batches, as bench_sgemm_flops. FLOP-weighted like print_shapes. */
static double bf16_shape_rate(const shape *s, int reps)
{
    const int fwd = strncmp(s->op, "fwd", 3) == 0, dw = strncmp(s->op, "dw", 2) == 0;
    const int N = dw ? s->K : s->M, C = s->op[0] == 'f' ? s->K : s->N, OC = fwd ? s->N : dw ? s->M : s->K;
    float *inp = calloc((size_t)N * C, sizeof(float)), *w = calloc((size_t)OC * C, sizeof(float));
    float *out = calloc((size_t)N * (OC > C ? OC : C), sizeof(float)), *dwb = calloc((size_t)OC * C, sizeof(float));
    float *dout = calloc((size_t)N * OC, sizeof(float));
    for (size_t i = 0; i < (size_t)N * OC; i++) dout[i] = (float)(i % 5) * 0.01f;
    for (size_t i = 0; i < (size_t)N * C; i++) inp[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)OC * C; i++) w[i] = (float)(i % 7) * 0.01f;
    double best = 0.0, f = 2.0 * s->M * s->N * s->K;
    for (int b = -1; b < 5; b++) {
        double t0 = bench_now();
        for (int r = 0; r < (b < 0 ? 1 : reps); r++) {
            if (fwd) bf16_matmul_forward(out, inp, w, NULL, N, C, OC);
            else if (dw) bf16_matmul_backward(NULL, dwb, dout, inp, w, N, C, OC, 0);
            else bf16_matmul_backward(out, NULL, dout, inp, w, N, C, OC, 0);
        }
        double rate = f * reps / (bench_now() - t0);
        if (b >= 0 && rate > best) best = rate;
    }
    free(inp); free(w); free(out); free(dwb); free(dout);
    return best;
}

static double print_bf16_shapes(const shape *s, int n, int reps_flop_target)
{
    double fl = 0, t = 0;
    for (int i = 0; i < n; i++) {
        double f = 2.0 * s[i].M * s[i].N * s[i].K;
        int reps = (int)(reps_flop_target / f);
        double rate = bf16_shape_rate(&s[i], reps < 1 ? 1 : reps);
        printf("%s{\"op\": \"%s\", \"gflops\": %.2f}", i ? ", " : "", s[i].op, rate / 1e9);
        fl += f;
        t += f / rate;
    }
    return fl / t;
}

static void loadavg(char *buf, size_t n)
{
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        double a, b, c;
        if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(buf, n, "%.2f %.2f %.2f", a, b, c);
        fclose(f);
    }
}

static void cpu_model(char *buf, size_t n)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    snprintf(buf, n, "unknown");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) { v += 2; v[strcspn(v, "\n\"\\")] = 0; snprintf(buf, n, "%s", v); }
            break;
        }
    if (f) fclose(f);
}

int main(int argc, char **argv)
{
    int passes = argc > 1 ? atoi(argv[1]) : 9;
    if (passes < 1 || passes > 101) { fprintf(stderr, "bench_roofline: passes must be 1..101\n"); return 2; }
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "bench_roofline: needs AVX2 and FMA\n");
        return 2;
    }
    gpt_backend_cpu_set_threads(1);
    char la0[64], la1[64], cpu[256];
    loadavg(la0, sizeof la0);
    cpu_model(cpu, sizeof cpu);
    int bf16 = have_avx512_bf16();
    printf("{\"benchmark\": \"roofline of one core (tests/bench/bench_roofline.c)\", \"passes\": %d, \"statistic\": \"median\",\n", passes);
    printf(" \"cpu\": {\"model\": \"%s\", \"avx2\": true, \"fma\": true, \"avx512f\": %s, \"avx512_bf16\": %s},\n", cpu,
           __builtin_cpu_supports("avx512f") ? "true" : "false", bf16 ? "true" : "false");
    fflush(stdout);
    double dram1 = read_gbs((size_t)256 << 20, 1, passes), dram4 = read_gbs((size_t)256 << 20, 4, passes);
    double l3 = read_gbs((size_t)4 << 20, 1, passes), l2 = read_gbs((size_t)256 << 10, 1, passes);
    double dram = dram1 > dram4 ? dram1 : dram4;   /* the bounds use the better of the two */
    printf(" \"read_gbs\": {\"dram_256MiB\": %.2f, \"dram_256MiB_4_streams\": %.2f, \"l3_4MiB\": %.2f, \"l2_256KiB\": %.2f},\n",
           dram1, dram4, l3, l2);
    double fma = fma_gflops(passes);
    printf(" \"fma_gflops\": %.2f,\n", fma);
#if HAVE_BF16_INTRINSICS
    if (bf16) printf(" \"bf16_dot_gflops\": %.2f,\n", bf16_gflops(passes));
    else printf(" \"bf16_dot_gflops\": null, \"bf16_note\": \"cpuid: no AVX-512 BF16 on this core (or not enabled by the OS)\",\n");
#else
    printf(" \"bf16_dot_gflops\": null, \"bf16_note\": \"compiler without AVX-512 BF16 intrinsics\",\n");
#endif
    fflush(stdout);
    struct { const char *name; int L, C; } cfgs[2] = {{"tiny", 4, 128}, {"small", 6, 384}};
    const int BT = 4 * 256, T = 256, Vp = gpt_padded_vocab(257);
    printf(" \"models\": [\n");
    for (int ci = 0; ci < 2; ci++) {
        int L = cfgs[ci].L, C = cfgs[ci].C;
        shape tr[] = {
            {"fwd qkv", 0, 1, BT, 3 * C, C}, {"fwd attproj", 0, 1, BT, C, C}, {"fwd fc", 0, 1, BT, 4 * C, C},
            {"fwd fcproj", 0, 1, BT, C, 4 * C}, {"fwd lm_head", 0, 1, BT, Vp, C},
            {"dinp qkv", 0, 0, BT, C, 3 * C}, {"dinp attproj", 0, 0, BT, C, C}, {"dinp fc", 0, 0, BT, C, 4 * C},
            {"dinp fcproj", 0, 0, BT, 4 * C, C}, {"dinp lm_head", 0, 0, BT, C, Vp},
            {"dw qkv", 1, 0, 3 * C, C, BT}, {"dw attproj", 1, 0, C, C, BT}, {"dw fc", 1, 0, 4 * C, C, BT},
            {"dw fcproj", 1, 0, C, 4 * C, BT}, {"dw lm_head", 1, 0, Vp, C, BT},
        };
        shape dec[] = {
            {"qkv", 0, 1, 64, 3 * C, C}, {"attproj", 0, 1, 64, C, C}, {"fc", 0, 1, 64, 4 * C, C},
            {"fcproj", 0, 1, 64, C, 4 * C}, {"lm_head", 0, 1, 64, Vp, C},
        };
        printf("  {\"config\": \"%s\", \"layers\": %d, \"channels\": %d, \"padded_vocab\": %d,\n", cfgs[ci].name, L, C, Vp);
        printf("   \"sgemm_train_shapes\": [");
        double tr_rate = print_shapes(tr, 15, 4e8);
        printf("],\n   \"sgemm_train_weighted_gflops\": %.2f,\n", tr_rate / 1e9);
        double tr16 = 0.0;
        if (bf16_have_dot()) {
            printf("   \"bf16_train_shapes\": [");
            tr16 = print_bf16_shapes(tr, 15, 4e8);
            printf("],\n   \"bf16_train_weighted_gflops\": %.2f,\n", tr16 / 1e9);
        } else {
            printf("   \"bf16_train_weighted_gflops\": null,\n");
        }
        printf("   \"sgemm_decode_b64_shapes\": [");
        /* decode weights counted as the model runs them: L times each layer shape, once the head */
        double fl = 0, t = 0;
        double r64[5];
        for (int i = 0; i < 5; i++) {
            double f = 2.0 * dec[i].M * dec[i].N * dec[i].K;
            int reps = (int)(2e8 / f);
            r64[i] = bench_sgemm_flops(dec[i].ta, dec[i].tb, dec[i].M, dec[i].N, dec[i].K, reps < 1 ? 1 : reps);
            printf("%s{\"op\": \"%s\", \"M\": 64, \"N\": %d, \"K\": %d, \"gflops\": %.2f}", i ? ", " : "", dec[i].op,
                   dec[i].N, dec[i].K, r64[i] / 1e9);
            double mult = i < 4 ? L : 1;
            fl += mult * f;
            t += mult * f / r64[i];
        }
        double dec_rate = fl / t;
        printf("],\n   \"sgemm_decode_b64_weighted_gflops\": %.2f,\n", dec_rate / 1e9);
        double b1_bytes, b1_flops, b64_bytes, b64_flops;
        double s1 = rows_step_s(L, C, Vp, 1, passes, &b1_bytes, &b1_flops);
        double s64 = rows_step_s(L, C, Vp, 64, passes, &b64_bytes, &b64_flops);
        printf("   \"rows_b1\": {\"weight_mb_per_step\": %.2f, \"ms_per_step\": %.3f, \"weight_gbs\": %.2f, \"gflops\": %.2f},\n",
               b1_bytes / 1e6, s1 * 1e3, b1_bytes / s1 / 1e9, b1_flops / s1 / 1e9);
        printf("   \"rows_b64\": {\"ms_per_step\": %.3f, \"gflops\": %.2f, \"over_sgemm_b64\": %.3f},\n", s64 * 1e3,
               b64_flops / s64 / 1e9, b64_flops / s64 / dec_rate);
        /* bounds: bench_model's FLOP count for training; decode reads every weight once per step */
        double Cd = C, Ld = L, nonemb = Ld * 12 * Cd * Cd + (double)Vp * Cd;
        double train_fpt = 6 * nonemb + 12 * Ld * T * Cd;
        double wbytes = 4 * nonemb;
        printf("   \"bounds\": {\"train_flop_per_token\": %.0f, \"train_tokens_per_s_max_sgemm\": %.0f, "
               "\"train_tokens_per_s_max_fma_peak\": %.0f, \"train_tokens_per_s_max_bf16_products\": %.0f,\n"
               "     \"decode_weight_bytes_per_token_fp32\": %.0f, \"b1_tokens_per_s_max_dram\": %.0f, "
               "\"b1_tokens_per_s_max_l3\": %.0f,\n"
               "     \"b64_tokens_per_s_max_sgemm\": %.0f, \"b64_tokens_per_s_max_rows_kernel\": %.0f}}%s\n",
               train_fpt, tr_rate / train_fpt, fma * 1e9 / train_fpt, tr16 / train_fpt, wbytes, dram * 1e9 / wbytes, l3 * 1e9 / wbytes,
               dec_rate / (2 * nonemb), 64.0 / s64, ci ? "" : ",");
        fflush(stdout);
    }
    loadavg(la1, sizeof la1);
    printf(" ],\n \"machine\": {\"loadavg_1_5_15_start\": \"%s\", \"loadavg_1_5_15_end\": \"%s\"}}\n", la0, la1);
    return 0;
}
