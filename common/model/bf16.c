/* bf16.c - bfloat16 packing and the row-by-row product (bf16.h). */
#include "common/model/bf16.h"

#include <string.h>

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

void bf16_pack(uint16_t *dst, const float *w, int OC, int K)
{
    const size_t K2 = ((size_t)K + 1) / 2, panels = ((size_t)OC + BF16_PANEL - 1) / BF16_PANEL;
    for (size_t p = 0; p < panels; p++) {
        uint16_t *d = dst + p * K2 * BF16_PANEL * 2;
        for (size_t k2 = 0; k2 < K2; k2++)
            for (size_t j = 0; j < BF16_PANEL; j++) {
                size_t o = p * BF16_PANEL + j, k = 2 * k2;
                const float *row = w + o * (size_t)K;
                uint16_t *pair = d + (k2 * BF16_PANEL + j) * 2;
                pair[0] = o < (size_t)OC ? bf16_from_float(row[k]) : 0;
                pair[1] = o < (size_t)OC && k + 1 < (size_t)K ? bf16_from_float(row[k + 1]) : 0;
            }
    }
}

void bf16_pack_row(uint32_t *dst, const float *x, int K)
{
    for (int k = 0; k < K; k += 2) {
        uint32_t lo = bf16_from_float(x[k]), hi = k + 1 < K ? bf16_from_float(x[k + 1]) : 0;
        dst[k / 2] = lo | hi << 16;
    }
}

/* The portable loop: one output at a time, each pair as vdpbf16ps adds it (odd element first). */
void bf16_matmul_rows_portable(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K,
                            int OC)
{
    const size_t K2 = ((size_t)K + 1) / 2;
    const uint32_t *w32 = (const uint32_t *)(const void *)wp;
    for (int n = 0; n < N; n++) {
        const uint32_t *x = rows + (size_t)n * K2;
        for (int o = 0; o < OC; o++) {
            const uint32_t *pw = w32 + (size_t)(o / BF16_PANEL) * K2 * BF16_PANEL + o % BF16_PANEL;
            float acc = 0.0f;
            for (size_t k = 0; k < K2; k++) {
                uint32_t a = x[k], b = pw[k * BF16_PANEL];
                float p1 = bf16_to_float((uint16_t)(a >> 16)) * bf16_to_float((uint16_t)(b >> 16));
                float p0 = bf16_to_float((uint16_t)a) * bf16_to_float((uint16_t)b);
                acc = acc + p1;
                acc = acc + p0;
            }
            out[(size_t)n * OC + o] = acc + (bias ? bias[o] : 0.0f);
        }
    }
}

#ifdef BF16_X86
/* MR rows (a constant after inlining) against one panel: 2 x MR accumulators of 16 lanes. */
BF16_TARGET static inline __attribute__((always_inline)) void
tile(float *out, const uint32_t *rows, const uint32_t *panel, const float *bias, const int MR, size_t K2, int OC,
     int o0, __mmask16 m0, __mmask16 m1)
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
        _mm512_mask_storeu_ps(out + (size_t)r * OC + o0, m0, _mm512_add_ps(c0[r], bb0));
        _mm512_mask_storeu_ps(out + (size_t)r * OC + o0 + 16, m1, _mm512_add_ps(c1[r], bb1));
    }
}

/* Panels outside, rows inside: a panel (K2 x 128 bytes) stays in L1/L2 while the rows pass it. */
BF16_TARGET static void matmul_avx512(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N,
                                      int K, int OC)
{
    const size_t K2 = ((size_t)K + 1) / 2;
    const uint32_t *w32 = (const uint32_t *)(const void *)wp;
    for (int o0 = 0; o0 < OC; o0 += BF16_PANEL) {
        const int left = OC - o0;
        const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
        const __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
        const uint32_t *panel = w32 + (size_t)(o0 / BF16_PANEL) * K2 * BF16_PANEL;
        int n = 0;
        for (; n + 8 <= N; n += 8) tile(out + (size_t)n * OC, rows + (size_t)n * K2, panel, bias, 8, K2, OC, o0, m0, m1);
        for (; n + 4 <= N; n += 4) tile(out + (size_t)n * OC, rows + (size_t)n * K2, panel, bias, 4, K2, OC, o0, m0, m1);
        for (; n < N; n++) tile(out + (size_t)n * OC, rows + (size_t)n * K2, panel, bias, 1, K2, OC, o0, m0, m1);
    }
}
#endif

void bf16_matmul_rows(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K, int OC)
{
#ifdef BF16_X86
    if (bf16_have_dot()) {
        matmul_avx512(out, rows, wp, bias, N, K, OC);
        return;
    }
#endif
    bf16_matmul_rows_portable(out, rows, wp, bias, N, K, OC);
}
