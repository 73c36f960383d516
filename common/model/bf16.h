/* bf16.h - bfloat16 packing and the products that read it: the row-by-row product of
 * decoding (gpt_sample_opts.bf16) and the training products (gpt.bf16).
 *
 * Why: decoding one token reads every weight once, so at batch 1 it is bound by memory
 * bandwidth, and at batch 64 and in training by the multiply-adds. bfloat16 (fp32's top 16 bits: 8 exponent
 * bits, 8 mantissa bits, rounded to nearest even) halves the bytes, and AVX-512 BF16's
 * vdpbf16ps does 32 multiply-adds per instruction where a 512-bit fp32 FMA does 16. The
 * products of two bf16 numbers are exact in fp32 and the sums stay fp32, so the only loss is
 * the rounding of the inputs (at most half a bf16 ulp, a relative 2^-8, per weight and per input).
 *
 * Layout (bf16_pack): a weight w (OC, K) row-major, as every linear layer here, becomes panels
 * of 32 output rows; panel p holds, for each k2 in 0..ceil(K/2)-1, 32 pairs (w[o][2 k2],
 * w[o][2 k2 + 1]) for o = 32 p .. 32 p + 31, one 32-bit word per pair (low half first). Rows
 * past OC and the element past an odd K are zero. So one 64-byte load gives 16 output rows'
 * next two weights, and an input pair broadcast to every lane multiplies them all.
 *
 * Bits: every output element is one fp32 accumulator that adds the pairs in k2 order, then the
 * bias; nothing depends on N or on the other rows (as backend.h's matmul_rows_forward), so
 * batched decoding stays independent of the batch make-up. The AVX-512 BF16 path is chosen at
 * run time (bf16_have_dot); elsewhere a portable loop adds each pair's two products in the
 * instruction's documented order (odd element, then even, each rounded to fp32), which gave the
 * same bits on the one CPU measured, an AMD EPYC with AVX-512 BF16 (tests/model/test_model_bf16.c
 * checks it wherever the instruction exists).
 * Results may still differ between CPUs in denormals (the instruction flushes them).
 */
#ifndef TRICE_MODEL_BF16_H
#define TRICE_MODEL_BF16_H

#include <stddef.h>
#include <stdint.h>

#define BF16_PANEL 32   /* output rows per packed panel */

/* fp32 -> bf16, rounded to nearest even; NaN stays NaN and subnormals become a signed zero (as
 * AVX-512 BF16's conversion does). bf16 -> fp32 is exact. */
uint16_t bf16_from_float(float x);
float bf16_to_float(uint16_t h);

/* dst (n) = src (n) rounded as bf16_from_float does (vectorised where the CPU has AVX-512 BF16). */
void bf16_convert(uint16_t *dst, const float *src, size_t n);

/* Whether this CPU runs the AVX-512 BF16 path (cpuid: avx512f and avx512_bf16). */
int bf16_have_dot(void);

/* Tests only: 1 makes every product and conversion take the portable loop on this CPU too (so
 * that its bits can be compared with the instruction's), 0 restores the choice. Not thread-safe. */
void bf16_force_portable(int on);

/* uint16 entries of w (OC, K) packed: ceil(OC/32) * 32 * 2 * ceil(K/2). */
size_t bf16_packed_count(int OC, int K);

/* dst (bf16_packed_count(OC, K)) written with w (OC, K) rounded and packed as above. The
 * packings return 0, or -1 when their per-thread scratch cannot be allocated. */
int bf16_pack(uint16_t *dst, const float *w, int OC, int K);

/* bf16 pairs of one input row: dst (ceil(K/2) words) written with x (K) rounded, zero-padded. */
void bf16_pack_row(uint32_t *dst, const float *x, int K);

/* out (N, OC) written = rows (N, K2 words, bf16_pack_row's) @ wp^T (bf16_pack's) + bias (OC, may
 * be NULL), K2 = ceil(K/2); every row alone (see above). */
void bf16_matmul_rows(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K, int OC);
/* The same with the portable loop whatever the CPU (tests compare the two). */
void bf16_matmul_rows_portable(float *out, const uint32_t *rows, const uint16_t *wp, const float *bias, int N, int K,
                               int OC);


/* The transposes, for the backward products: bf16_pack_t packs a^T where a is (R, Cc) row-major
 * (Cc output rows, K = R: the pairs run down a's columns); bf16_pack_rows_t writes a^T's rows as
 * bf16 pairs, dst (Cc, ceil(R/2) words). */
int bf16_pack_t(uint16_t *dst, const float *a, int R, int Cc);
int bf16_pack_rows_t(uint32_t *dst, const float *a, int R, int Cc);

/* Training products with bf16 inputs and fp32 sums, as backend.h's matmul_forward and
 * matmul_backward (same shapes, same conventions; no bias gradient: the caller sums dout's
 * columns in fp32). Both operands are rounded and packed on every call, into a grow-only
 * scratch area per thread. Return 0, or -1 when that scratch cannot be allocated (the whole
 * pass must then fail: a product may be missing). Deterministic; a row's forward and input
 * gradient do not depend on the other rows, the weight gradient sums over them. */
int bf16_matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC);
int bf16_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int N, int C,
                         int OC, int accumulate);

#endif
