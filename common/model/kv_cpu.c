/* kv_cpu.c - the CPU backend's KV-cache attention (sampling): one new query row attends to its
 * sequence's cached keys and values.
 *
 * Layout of one slot's cache region (max_len * C floats for keys, as many for values; the
 * region is the backend's own, backend.h): values as rows, v[p * C + c]; keys in tiles of 16
 * positions, each tile transposed: key channel c of position p sits at
 * (p / 16) * 16 * C + c * 16 + p % 16 (the last tile, when max_len is not a multiple of 16, is
 * narrower: width w = max_len % 16 in place of 16). A head's scores for 16 keys are then one
 * multiply-add per channel into one 16-float accumulator, reading the head's hs x 16 floats of
 * the tile in order, and no key needs a horizontal sum. Row-major keys (session 23's kernel)
 * cost a horizontal sum per key, a third of the decoding time of the tiny model; fully
 * transposed keys (C, max_len) cost a cache miss per channel.
 *
 * Vectors are 16 floats (GNU C vector extension): one AVX-512 register in the x86-64-v4 clone,
 * two AVX2 registers in the v3 clone, four SSE registers in the baseline one. Each clone does
 * the same lane-wise operations in the same order; the v3 and v4 clones give the same bits
 * (both contract a * b + c into FMA), the baseline one does not (no FMA). A row's result
 * depends on its own sequence only, never on the batch. */
#include "common/model/kv_cpu.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "common/model/backend.h"
#include "common/model/fastmath.h"

/* v16f, ld16, st16 and GPT_SIMD_CLONES16: fastmath.h */

/* out (hs) written = sum over keys j < np of p[j] * v[j * C + 0 .. hs-1]: 32 output floats at a
 * time, even and odd keys in separate accumulators so that four multiply-add chains are in
 * flight, not two. Any head size. */
GPT_SIMD_CLONES16
static void av_head(float *out, const float *p, const float *v, int np, int C, int hs)
{
    int d0 = 0, j;
    for (; d0 + 32 <= hs; d0 += 32) {
        v16f e0 = {0}, e1 = {0}, o0 = {0}, o1 = {0};
        for (j = 0; j + 2 <= np; j += 2) {
            const float *v0 = v + (size_t)j * C + d0, *v1 = v0 + C;
            e0 += p[j] * ld16(v0);
            e1 += p[j] * ld16(v0 + 16);
            o0 += p[j + 1] * ld16(v1);
            o1 += p[j + 1] * ld16(v1 + 16);
        }
        if (j < np) {
            e0 += p[j] * ld16(v + (size_t)j * C + d0);
            e1 += p[j] * ld16(v + (size_t)j * C + d0 + 16);
        }
        st16(out + d0, e0 + o0);
        st16(out + d0 + 16, e1 + o1);
    }
    for (; d0 + 16 <= hs; d0 += 16) {
        v16f e = {0}, o = {0};
        for (j = 0; j + 2 <= np; j += 2) {
            e += p[j] * ld16(v + (size_t)j * C + d0);
            o += p[j + 1] * ld16(v + (size_t)(j + 1) * C + d0);
        }
        if (j < np) e += p[j] * ld16(v + (size_t)j * C + d0);
        st16(out + d0, e + o);
    }
    for (int d = d0; d < hs; d++) {
        float a = 0.0f;
        for (j = 0; j < np; j++) a += p[j] * v[(size_t)j * C + d];
        out[d] = a;
    }
}

/* All heads at once when the head size is a multiple of 16 (every 16-float block then belongs
 * to one head): out (C) written, head h's channels from its probabilities p + h * max_len. Each
 * value row is read once, in order, 128 floats (eight accumulators) at a time; the per-head
 * passes of av_head read a head's slice of every row, which costs the tiny model's batched
 * decoding a tenth of its time in cache misses. */
GPT_SIMD_CLONES16
static void av_all_heads(float *out, const float *p, const float *v, int np, int C, int hs, int max_len)
{
    int c0 = 0;
    for (; c0 + 128 <= C; c0 += 128) {
        const float *ph[8];
        for (int k = 0; k < 8; k++) ph[k] = p + (size_t)((c0 + 16 * k) / hs) * max_len;
        v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
        for (int j = 0; j < np; j++) {
            const float *vj = v + (size_t)j * C + c0;
            a0 += ph[0][j] * ld16(vj);
            a1 += ph[1][j] * ld16(vj + 16);
            a2 += ph[2][j] * ld16(vj + 32);
            a3 += ph[3][j] * ld16(vj + 48);
            a4 += ph[4][j] * ld16(vj + 64);
            a5 += ph[5][j] * ld16(vj + 80);
            a6 += ph[6][j] * ld16(vj + 96);
            a7 += ph[7][j] * ld16(vj + 112);
        }
        st16(out + c0, a0); st16(out + c0 + 16, a1); st16(out + c0 + 32, a2); st16(out + c0 + 48, a3);
        st16(out + c0 + 64, a4); st16(out + c0 + 80, a5); st16(out + c0 + 96, a6); st16(out + c0 + 112, a7);
    }
    for (; c0 < C; c0 += 16) {
        const int h = c0 / hs;
        av_head(out + c0, p + (size_t)h * max_len, v + c0, np, C, 16);
    }
}

/* One query row at position np - 1 attending to positions 0 .. np-1, all heads.
 *   out (C) written; q (C): the query row; kt (max_len * C): the slot's keys in tiles (above);
 *   vc (max_len, C): its values; scores (NH * max_len) scratch, head h's probabilities at
 *   h * max_len; alibi != 0: ALiBi's distance bias. Scores are computed for whole tiles, up to np rounded up to 16,
 *   except in the last, narrower tile, which goes one key at a time. */
GPT_SIMD_CLONES16
static void kv_attend(float *out, const float *q, const float *kt, const float *vc, int np, int C,
                      int max_len, int NH, int alibi, float *scores)
{
    const int hs = C / NH;
    const float scale = 1.0f / sqrtf((float)hs);
    const int full = max_len & ~15;                        /* positions in full tiles */
    const int nvec = ((np + 15) & ~15) <= full ? (np + 15) & ~15 : np & ~15;
    const size_t tile = (size_t)16 * C;
    for (int h = 0; h < NH; h++) {
        const float *qh = q + (size_t)h * hs;
        const float *kh = kt + (size_t)h * hs * 16;          /* head h's rows of tile 0 */
        float *sc = scores + (size_t)h * max_len;
        /* 64 keys (four tiles) at a time, then one tile; the lanes past np read finite stale or
         * zero keys and are never used */
        int j = 0;
        for (; j + 64 <= nvec; j += 64) {
            const float *t0 = kh + (size_t)(j / 16) * tile, *t1 = t0 + tile, *t2 = t1 + tile, *t3 = t2 + tile;
            v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (int d = 0; d < hs; d++) {
                const float qd = qh[d];
                a0 += qd * ld16(t0 + 16 * d);
                a1 += qd * ld16(t1 + 16 * d);
                a2 += qd * ld16(t2 + 16 * d);
                a3 += qd * ld16(t3 + 16 * d);
            }
            st16(sc + j, a0 * scale);
            st16(sc + j + 16, a1 * scale);
            st16(sc + j + 32, a2 * scale);
            st16(sc + j + 48, a3 * scale);
        }
        for (; j + 16 <= nvec; j += 16) {
            const float *t0 = kh + (size_t)(j / 16) * tile;
            v16f a = {0};
            for (int d = 0; d < hs; d++) a += qh[d] * ld16(t0 + 16 * d);
            st16(sc + j, a * scale);
        }
        if (j < np) {   /* the last, narrower tile (positions full .. max_len-1) */
            const int w = max_len - full;
            const float *t0 = kt + (size_t)(full / 16) * tile + (size_t)h * hs * w;
            for (; j < np; j++) {
                float a = 0.0f;
                for (int d = 0; d < hs; d++) a += qh[d] * t0[(size_t)d * w + (j - full)];
                sc[j] = a * scale;
            }
        }
        if (alibi) {
            const float slope = gpt_alibi_slope(h, NH);
            for (j = 0; j < np; j++) sc[j] -= slope * (float)(np - 1 - j);
        }
        float mx = sc[0];
        for (j = 1; j < np; j++) mx = sc[j] > mx ? sc[j] : mx;
        for (j = 0; j < np; j++) sc[j] = fm_expf(sc[j] - mx);
        v16f lanes = {0};
        float sum = 0.0f;
        for (j = 0; j + 16 <= np; j += 16) lanes += ld16(sc + j);
        for (; j < np; j++) sum += sc[j];
        for (int k = 0; k < 16; k++) sum += lanes[k];
        const float inv = 1.0f / sum;
        for (j = 0; j < np; j++) sc[j] *= inv;

    }
    if (hs % 16 == 0) {
        av_all_heads(out, scores, vc, np, C, hs, max_len);
        return;
    }
    for (int h = 0; h < NH; h++) av_head(out + (size_t)h * hs, scores + (size_t)h * max_len, vc + (size_t)h * hs, np, C, hs);
}

void kv_cpu_attention(float *out, float *scores, float *kcache, float *vcache, const float *qkv,
                      const int *slots, const int *start, int n, int Tc, int C, int NH, int max_len,
                      int alibi)
{
    const size_t Cz = (size_t)C, region = (size_t)max_len * Cz;
    for (int i = 0; i < n; i++) {
        float *kt = kcache + (size_t)slots[i] * region, *vc = vcache + (size_t)slots[i] * region;
        for (int t = 0; t < Tc; t++) {
            const float *row = qkv + ((size_t)i * Tc + t) * 3 * Cz;
            const size_t p = (size_t)(start[i] + t);
            const size_t b = p & ~(size_t)15, w = b + 16 <= (size_t)max_len ? 16 : (size_t)max_len - b;
            float *kp = kt + b * Cz + (p - b);
            for (size_t c = 0; c < Cz; c++) kp[c * w] = row[Cz + c];
            memcpy(vc + p * Cz, row + 2 * Cz, Cz * sizeof(float));
        }
        for (int t = 0; t < Tc; t++)
            kv_attend(out + ((size_t)i * Tc + t) * Cz, qkv + ((size_t)i * Tc + t) * 3 * Cz, kt, vc,
                      start[i] + t + 1, C, max_len, NH, alibi, scores);
    }
}
