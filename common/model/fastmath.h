/* fastmath.h - branch-free exp and tanh that the compiler can vectorise, and the attribute that
 * compiles a hot kernel twice (AVX2+FMA and baseline x86-64) with run-time dispatch.
 *
 * Why: glibc's expf/tanhf are scalar calls; GELU and the softmaxes spent a third of a training
 * step in them. fm_expf is Cephes' polynomial (max relative error ~1.4 ulp on [-87, 88]), and
 * fm_tanhf = 1 - 2 / (exp(2x) + 1) has absolute error ~1e-7, which is what GELU needs (it uses
 * 1 + tanh). The loops that call these vectorise only with -O3 -fno-trapping-math, which
 * common/model/meson.build sets for this folder.
 *
 * Default builds must run on any x86-64 (no -march=native), so kernels marked GPT_SIMD_CLONES
 * get an AVX2+FMA clone chosen at load time (GCC target_clones, glibc ifunc); elsewhere, or when
 * the whole build already targets AVX2 (meson -Dnative=true), the attribute is empty.
 */
#ifndef TRICE_MODEL_FASTMATH_H
#define TRICE_MODEL_FASTMATH_H

#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__) && !defined(__AVX2__)
#define GPT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GPT_SIMD_CLONES
#endif

/* Kernels written for 16-float vectors (v16f below: kv_cpu.c, attn_cpu.c) also get an AVX-512
 * clone (x86-64-v4), where one vector is one register; the v3 clone runs them as two AVX2
 * registers, the baseline one as four SSE registers. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__) && !defined(__AVX512F__)
#define GPT_SIMD_CLONES16 __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GPT_SIMD_CLONES16
#endif

/* 8-float vectors (GNU C vector extension): the AVX2 clone maps them to one register, the
 * baseline clone to two SSE registers. v8u is the unaligned view used for loads. Macros, not
 * functions: passing 32-byte vectors by value would change the ABI of the baseline clone. */
typedef float v8f __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
#define ld8(p) (*(const v8u *)(const void *)(p))
typedef float v16f __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
#define ld16(p) (*(const v16u *)(const void *)(p))
#define st16(p, v) (*(v16u *)(void *)(p) = (v))
#define hsum8(v) ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))

/* Four dot products of x (n floats) with rows r0..r3, with four independent accumulators:
 * s0..s3 (float lvalues) get the results. Used by the one-row matmul and the KV-cache
 * attention scores; a macro for the same ABI reason as above. */
#define FM_DOT4(x, r0, r1, r2, r3, n, s0, s1, s2, s3)                                          \
    do {                                                                                    \
        const int n8_ = (n) & ~7;                                                           \
        v8f a0_ = {0}, a1_ = {0}, a2_ = {0}, a3_ = {0};                                     \
        for (int i_ = 0; i_ < n8_; i_ += 8) {                                               \
            v8f xv_ = ld8((x) + i_);                                                        \
            a0_ += xv_ * ld8((r0) + i_);                                                    \
            a1_ += xv_ * ld8((r1) + i_);                                                    \
            a2_ += xv_ * ld8((r2) + i_);                                                    \
            a3_ += xv_ * ld8((r3) + i_);                                                    \
        }                                                                                   \
        s0 = hsum8(a0_); s1 = hsum8(a1_); s2 = hsum8(a2_); s3 = hsum8(a3_);                 \
        for (int i_ = n8_; i_ < (n); i_++) {                                                \
            s0 += (x)[i_] * (r0)[i_]; s1 += (x)[i_] * (r1)[i_];                             \
            s2 += (x)[i_] * (r2)[i_]; s3 += (x)[i_] * (r3)[i_];                             \
        }                                                                                   \
    } while (0)

/* FM_DOT4 for three inputs x, y, z against the same four rows: twelve accumulators, so the FMA
 * units stay busy, and each of the twelve results (arrays s, t, u of 4) gets exactly FM_DOT4's
 * operations in FM_DOT4's order (one lane-wise multiply-add per 8 floats, hsum8, then the
 * scalar tail). Results are therefore bit-identical to FM_DOT4 on each input alone, which is
 * what makes a batched decode independent of the batch (tests/model/test_model_kernels.c). */
#define FM_DOT4X3(x, y, z, r0, r1, r2, r3, n, s, t, u)                                           \
    do {                                                                                    \
        const int n8_ = (n) & ~7;                                                           \
        v8f a0_ = {0}, a1_ = {0}, a2_ = {0}, a3_ = {0}, b0_ = {0}, b1_ = {0}, b2_ = {0}, b3_ = {0}; \
        v8f c0_ = {0}, c1_ = {0}, c2_ = {0}, c3_ = {0};                                     \
        for (int i_ = 0; i_ < n8_; i_ += 8) {                                               \
            v8f xv_ = ld8((x) + i_), yv_ = ld8((y) + i_), zv_ = ld8((z) + i_), w_;          \
            w_ = ld8((r0) + i_); a0_ += xv_ * w_; b0_ += yv_ * w_; c0_ += zv_ * w_;         \
            w_ = ld8((r1) + i_); a1_ += xv_ * w_; b1_ += yv_ * w_; c1_ += zv_ * w_;         \
            w_ = ld8((r2) + i_); a2_ += xv_ * w_; b2_ += yv_ * w_; c2_ += zv_ * w_;         \
            w_ = ld8((r3) + i_); a3_ += xv_ * w_; b3_ += yv_ * w_; c3_ += zv_ * w_;         \
        }                                                                                   \
        s[0] = hsum8(a0_); s[1] = hsum8(a1_); s[2] = hsum8(a2_); s[3] = hsum8(a3_);         \
        t[0] = hsum8(b0_); t[1] = hsum8(b1_); t[2] = hsum8(b2_); t[3] = hsum8(b3_);         \
        u[0] = hsum8(c0_); u[1] = hsum8(c1_); u[2] = hsum8(c2_); u[3] = hsum8(c3_);         \
        for (int i_ = n8_; i_ < (n); i_++) {                                                \
            s[0] += (x)[i_] * (r0)[i_]; s[1] += (x)[i_] * (r1)[i_];                         \
            s[2] += (x)[i_] * (r2)[i_]; s[3] += (x)[i_] * (r3)[i_];                         \
            t[0] += (y)[i_] * (r0)[i_]; t[1] += (y)[i_] * (r1)[i_];                         \
            t[2] += (y)[i_] * (r2)[i_]; t[3] += (y)[i_] * (r3)[i_];                         \
            u[0] += (z)[i_] * (r0)[i_]; u[1] += (z)[i_] * (r1)[i_];                         \
            u[2] += (z)[i_] * (r2)[i_]; u[3] += (z)[i_] * (r3)[i_];                         \
        }                                                                                   \
    } while (0)

/* e^x for finite x; clamped to [e^-87, e^88] (softmax arguments are <= 0, so the clamp only
 * turns results below 1.6e-38 into 1.6e-38, which is harmless in a sum that includes 1). */
static inline float fm_expf(float x)
{
    x = x < 88.0f ? x : 88.0f;
    x = x > -87.0f ? x : -87.0f;
    /* x = n ln2 + r, |r| <= ln2/2; the magic constant rounds to nearest without a call */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } s = { .i = ((int32_t)n + 127) * (1 << 23) };
    return p * s.f;
}

/* tanh(x) with absolute error ~1e-7 (relative error grows near 0: use it where 1 + tanh or
 * 1 - tanh^2 is what matters, as in GELU). */
static inline float fm_tanhf(float x)
{
    return 1.0f - 2.0f / (fm_expf(2.0f * x) + 1.0f);
}

#endif
