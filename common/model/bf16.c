/* bf16.c - bfloat16 packing and the products that read it (bf16.h). */
#include "common/model/bf16.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/fastmath.h"

/* A pair is one 32-bit word whose low half is the even element: bf16_pack_row writes the two
 * halves as consecutive uint16 in memory, bf16_pack_t builds the word with shifts, and both must
 * agree. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "bf16.c assumes little-endian words");

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#include <immintrin.h>
#define BF16_X86 1
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#endif

uint16_t bf16_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);   /* NaN: keep it a (quiet) NaN */
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);            /* subnormal: signed zero, as vcvtne2ps2bf16 */
    u += 0x7fffu + ((u >> 16) & 1u);                                            /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static int force_portable;   /* bf16_force_portable: tests only */

void bf16_force_portable(int on) { force_portable = on; }

int bf16_have_dot(void)
{
#ifdef BF16_X86
    static int have = -1;   /* a benign race: every thread computes the same answer */
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512bf16");
    }
    return have;
#else
    return 0;
#endif
}

size_t bf16_packed_count(int OC, int K)
{
    size_t panels = ((size_t)OC + BF16_PANEL - 1) / BF16_PANEL;
    return panels * BF16_PANEL * 2 * (((size_t)K + 1) / 2);
}

/* n floats to bf16: vcvtne2ps2bf16 where the CPU has it, else bf16_from_float (the same bits:
 * tests/model/test_model_bf16.c). Converting one float at a time made bf16 training of the tiny
 * model slower than fp32 (tests/bench/results/7856e7d). */
#ifdef BF16_X86
BF16_TARGET static void convert_avx512(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512(dst + i, (__m512i)h);
    }
    if (i < n) {   /* the tail through masks: no scalar code with its own rounding */
        const size_t left = n - i;
        const __mmask16 mlo = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
        const __mmask16 mhi = left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
        const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mhi, src + i + 16), _mm512_maskz_loadu_ps(mlo, src + i));
        _mm512_mask_storeu_epi16(dst + i, (__mmask32)(((uint64_t)1 << left) - 1), (__m512i)h);
    }
}
#endif

void bf16_convert(uint16_t *dst, const float *src, size_t n)
{
#ifdef BF16_X86
    if (!force_portable && bf16_have_dot()) {
        convert_avx512(dst, src, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) dst[i] = bf16_from_float(src[i]);
}

/* One grow-only scratch area per thread (the gradient threads each run their own products):
 * packing on every call keeps the kernels free of state about which weights they saw. The
 * engine starts its sampling and gradient threads anew at every step, so each thread's area is
 * freed when the thread ends (a thread-specific key's destructor), not leaked. */
typedef struct scratch {
    void *ptr[3];   /* 0, 1: a product's packed operands; 2: a packing's rows */
    size_t cap[3];
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p)
{
    scratch *w = p;
    for (int i = 0; i < 3; i++) free(w->ptr[i]);
    free(w);
}

static void scratch_init(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

static void *workspace(int i, size_t bytes)
{
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok) return NULL;   /* callers fall back or fail with ENOMEM */
    scratch *w = pthread_getspecific(scratch_key);
    if (!w) {
        if (!(w = calloc(1, sizeof *w))) return NULL;
        if (pthread_setspecific(scratch_key, w)) { free(w); return NULL; }
    }
    if (bytes > w->cap[i]) {
        free(w->ptr[i]);
        w->cap[i] = bytes + bytes / 4;
        w->ptr[i] = malloc(w->cap[i]);
        if (!w->ptr[i]) w->cap[i] = 0;
    }
    return w->ptr[i];
}

int bf16_pack(uint16_t *dst, const float *w, int OC, int K)
{
    const size_t K2 = ((size_t)K + 1) / 2, panels = ((size_t)OC + BF16_PANEL - 1) / BF16_PANEL;
    uint32_t *d = (uint32_t *)(void *)dst;
    uint32_t *row = workspace(2, K2 * sizeof *row);
    if (!row) return -1;
    if (OC % BF16_PANEL) memset(d + (panels - 1) * K2 * BF16_PANEL, 0, K2 * BF16_PANEL * sizeof *d);
    for (size_t o = 0; o < (size_t)OC; o++) {
        uint32_t *p = d + (o / BF16_PANEL) * K2 * BF16_PANEL + o % BF16_PANEL;
        bf16_pack_row(row, w + o * (size_t)K, K);
        for (size_t k2 = 0; k2 < K2; k2++) p[k2 * BF16_PANEL] = row[k2];
    }
    return 0;
}

void bf16_pack_row(uint32_t *dst, const float *x, int K)
{
    uint16_t *h = (uint16_t *)(void *)dst;   /* pairs are consecutive elements, low half first */
    bf16_convert(h, x, (size_t)K);
    if (K % 2) h[K] = 0;
}

/* The portable loop: each output lane adds each pair as vdpbf16ps does (odd element first, each
 * product exact in fp32, each sum rounded). Written with GNU C vectors so that the AVX2 clone
 * (GPT_SIMD_CLONES) runs it 8 lanes wide on CPUs without AVX-512 BF16: MR rows x one panel's 32
 * outputs at a time, 4 MR independent accumulator chains (one chain alone waits on the add's
 * latency at every pair). Every lane's operations are the scalar ones in the same order, so the
 * bits depend neither on the clone nor on MR. A macro, for fastmath.h's reason (no vectors passed
 * by value in the baseline clone). */
typedef uint32_t v8w __attribute__((vector_size(32), aligned(4)));

#define PORTABLE_TILE(MR)                                                                          \
    do {                                                                                           \
        v8f acc[MR][4];                                                                            \
        for (int r = 0; r < (MR); r++)                                                             \
            for (int g = 0; g < 4; g++) acc[r][g] = (v8f){0};                                      \
        for (size_t k = 0; k < K2; k++) {                                                          \
            const uint32_t *pk = panel + k * BF16_PANEL;                                           \
            v8f b1[4], b0[4];                                                                      \
            for (int g = 0; g < 4; g++) {                                                          \
                const v8w b = *(const v8w *)(const void *)(pk + 8 * g);                            \
                b1[g] = (v8f)(b & himask);                                                         \
                b0[g] = (v8f)(b << 16);                                                            \
            }                                                                                      \
            for (int r = 0; r < (MR); r++) {                                                       \
                const uint32_t a = x[(size_t)r * K2 + k];                                          \
                const float a1 = bf16_to_float((uint16_t)(a >> 16)), a0 = bf16_to_float((uint16_t)a); \
                for (int g = 0; g < 4; g++) {                                                      \
                    acc[r][g] = acc[r][g] + a1 * b1[g];                                            \
                    acc[r][g] = acc[r][g] + a0 * b0[g];                                            \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < (MR); r++)                                                             \
            for (int l = 0; l < BF16_PANEL && o0 + l < OC; l++) {                                  \
                float v = acc[r][l / 8][l % 8] + (bias ? bias[o0 + l] : 0.0f);                     \
                float *o = out + (size_t)(n + r) * OC + o0 + l;                                    \
                *o = accumulate ? *o + v : v;                                                      \
            }                                                                                      \
    } while (0)

GPT_SIMD_CLONES
static void portable_acc(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K, int OC,
                         int accumulate)
{
    const size_t K2 = ((size_t)K + 1) / 2;
    const uint32_t *w32 = (const uint32_t *)(const void *)wp;
    const v8w himask = {0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u,
                        0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u};
    for (int o0 = 0; o0 < OC; o0 += BF16_PANEL) {   /* panels are zero-padded to 32 outputs */
        const uint32_t *panel = w32 + (size_t)(o0 / BF16_PANEL) * K2 * BF16_PANEL;
        int n = 0;
        for (; n + 3 <= N; n += 3) {
            const uint32_t *x = rows + (size_t)n * K2;
            PORTABLE_TILE(3);
        }
        for (; n < N; n++) {
            const uint32_t *x = rows + (size_t)n * K2;
            PORTABLE_TILE(1);
        }
    }
}
#undef PORTABLE_TILE

void bf16_matmul_rows_portable(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K,
                               int OC)
{
    portable_acc(out, rows, wp, bias, N, K, OC, 0);
}

#ifdef BF16_X86
/* MR rows (a constant after inlining) against one panel: 2 x MR accumulators of 16 lanes. */
BF16_TARGET static inline __attribute__((always_inline)) void
tile(float *out, const uint32_t *rows, const uint32_t *panel, const float *bias, const int MR, size_t K2, int OC,
     int o0, __mmask16 m0, __mmask16 m1, int accumulate)
{
    __m512 c0[8], c1[8];
    for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (size_t k = 0; k < K2; k++) {
        const __m512i b0 = _mm512_loadu_si512(panel + k * BF16_PANEL), b1 = _mm512_loadu_si512(panel + k * BF16_PANEL + 16);
        for (int r = 0; r < MR; r++) {
            const __m512i a = _mm512_set1_epi32((int)rows[(size_t)r * K2 + k]);
            c0[r] = _mm512_dpbf16_ps(c0[r], (__m512bh)a, (__m512bh)b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], (__m512bh)a, (__m512bh)b1);
        }
    }
    const __m512 z = _mm512_setzero_ps();
    const __m512 bb0 = bias ? _mm512_maskz_loadu_ps(m0, bias + o0) : z, bb1 = bias ? _mm512_maskz_loadu_ps(m1, bias + o0 + 16) : z;
    for (int r = 0; r < MR; r++) {
        float *o = out + (size_t)r * OC + o0;
        __m512 v0 = _mm512_add_ps(c0[r], bb0), v1 = _mm512_add_ps(c1[r], bb1);
        if (accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), v1);
        }
        _mm512_mask_storeu_ps(o, m0, v0);
        _mm512_mask_storeu_ps(o + 16, m1, v1);
    }
}

/* Panels outside, rows inside: a panel (K2 x 128 bytes) stays in L1/L2 while the rows pass it. */
BF16_TARGET static void matmul_avx512(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N,
                                      int K, int OC, int accumulate)
{
    const size_t K2 = ((size_t)K + 1) / 2;
    const uint32_t *w32 = (const uint32_t *)(const void *)wp;
    for (int o0 = 0; o0 < OC; o0 += BF16_PANEL) {
        const int left = OC - o0;
        const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
        const __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
        const uint32_t *panel = w32 + (size_t)(o0 / BF16_PANEL) * K2 * BF16_PANEL;
        int n = 0;
        for (; n + 8 <= N; n += 8) tile(out + (size_t)n * OC, rows + (size_t)n * K2, panel, bias, 8, K2, OC, o0, m0, m1, accumulate);
        for (; n + 4 <= N; n += 4) tile(out + (size_t)n * OC, rows + (size_t)n * K2, panel, bias, 4, K2, OC, o0, m0, m1, accumulate);
        for (; n < N; n++) tile(out + (size_t)n * OC, rows + (size_t)n * K2, panel, bias, 1, K2, OC, o0, m0, m1, accumulate);
    }
}
#endif

static void matmul_acc(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K, int OC,
                       int accumulate)
{
#ifdef BF16_X86
    if (!force_portable && bf16_have_dot()) {
        matmul_avx512(out, rows, wp, bias, N, K, OC, accumulate);
        return;
    }
#endif
    portable_acc(out, rows, wp, bias, N, K, OC, accumulate);
}

void bf16_matmul_rows(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K, int OC)
{
    matmul_acc(out, rows, wp, bias, N, K, OC, 0);
}

/* ---- whole products from fp32 operands (training) ---- */

int bf16_pack_t(uint16_t *dst, const float *a, int R, int Cc)
{
    const size_t K2 = ((size_t)R + 1) / 2, C = (size_t)Cc, panels = (C + BF16_PANEL - 1) / BF16_PANEL;
    uint32_t *d32 = (uint32_t *)(void *)dst;
    uint16_t *t0 = workspace(2, 2 * C * sizeof *t0), *t1 = t0 + C;   /* two rows of a as bf16 */
    if (!t0) return -1;
    for (size_t k2 = 0; k2 < K2; k2++) {
        const size_t k = 2 * k2;
        bf16_convert(t0, a + k * C, C);
        if (k + 1 < (size_t)R) bf16_convert(t1, a + (k + 1) * C, C);
        else memset(t1, 0, C * sizeof *t1);
        for (size_t p = 0; p < panels; p++) {
            uint32_t *d = d32 + (p * K2 + k2) * BF16_PANEL;
            for (size_t j = 0; j < BF16_PANEL; j++) {
                size_t o = p * BF16_PANEL + j;
                d[j] = o < C ? (uint32_t)t0[o] | (uint32_t)t1[o] << 16 : 0;
            }
        }
    }
    return 0;
}

/* Blocked: KB pairs of rows are converted at once, so that each output row gets KB words in one
 * cache line instead of one word per line per pair (3x the kernel's time before, for dw). */
int bf16_pack_rows_t(uint32_t *dst, const float *a, int R, int Cc)
{
    enum { KB = 16 };
    const size_t K2 = ((size_t)R + 1) / 2, C = (size_t)Cc;
    uint16_t *tb = workspace(2, 2 * KB * C * sizeof *tb);
    if (!tb) return -1;
    for (size_t kb = 0; kb < K2; kb += KB) {
        const size_t nk = K2 - kb < KB ? K2 - kb : KB;
        for (size_t j = 0; j < 2 * nk; j++) {
            const size_t k = 2 * kb + j;
            if (k < (size_t)R) bf16_convert(tb + j * C, a + k * C, C);
            else memset(tb + j * C, 0, C * sizeof *tb);
        }
        for (size_t o = 0; o < C; o++) {
            uint32_t *d = dst + o * K2 + kb;
            for (size_t j = 0; j < nk; j++) d[j] = (uint32_t)tb[2 * j * C + o] | (uint32_t)tb[(2 * j + 1) * C + o] << 16;
        }
    }
    return 0;
}

/* out (N, OC) = x's rows (N, K), rounded and packed into scratch 1, against the packed wp. */
static int rows_times(float *out, const float *x, int N, int K, const uint16_t *wp, const float *bias, int OC,
                      int accumulate)
{
    const size_t K2 = ((size_t)K + 1) / 2;
    uint32_t *rows = workspace(1, (size_t)N * K2 * sizeof *rows);
    if (!rows) return -1;
    for (int n = 0; n < N; n++) bf16_pack_row(rows + (size_t)n * K2, x + (size_t)n * K, K);
    matmul_acc(out, rows, wp, bias, N, K, OC, accumulate);
    return 0;
}

int bf16_matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC)
{
    uint16_t *wp = workspace(0, bf16_packed_count(OC, C) * sizeof *wp);
    if (!wp || bf16_pack(wp, w, OC, C)) return -1;
    return rows_times(out, inp, N, C, wp, bias, OC, 0);
}

int bf16_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int C,
                         int OC, int accumulate)
{
    if (dinp) {   /* dinp (N, C) = dout (N, OC) @ w (OC, C): rows of dout against w's columns */
        uint16_t *wp = workspace(0, bf16_packed_count(C, OC) * sizeof *wp);
        if (!wp || bf16_pack_t(wp, w, OC, C)) return -1;
        if (rows_times(dinp, dout, N, OC, wp, NULL, C, accumulate)) return -1;
    }
    if (dw) {     /* dw (OC, C) += dout^T (OC, N) @ inp (N, C): columns of dout against inp's columns */
        const size_t K2 = ((size_t)N + 1) / 2;
        uint16_t *ip = workspace(0, bf16_packed_count(C, N) * sizeof *ip);
        uint32_t *rows = workspace(1, (size_t)OC * K2 * sizeof *rows);
        if (!ip || !rows || bf16_pack_t(ip, inp, N, C) || bf16_pack_rows_t(rows, dout, N, OC)) return -1;
        matmul_acc(dw, rows, ip, NULL, OC, N, C, 1);
    }
    return 0;
}
