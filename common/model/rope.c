/* rope.c - rotary position embedding on fused QKV rows (rope.h). */
#include "common/model/rope.h"

#include <math.h>

void rope_table_fill(float *table, int max_len, int hs) {
    for (int p = 0; p < max_len; p++)
        for (int i = 0; i < hs / 2; i++) {
            double a = (double)p * pow(10000.0, -2.0 * i / hs);   /* in double: exact enough at every id */
            table[((size_t)p * (hs / 2) + i) * 2] = (float)cos(a);
            table[((size_t)p * (hs / 2) + i) * 2 + 1] = (float)sin(a);
        }
}

void rope_rotate(float *qkv, const int *ids, size_t N, int C, int NH, int inverse, const float *table) {
    const int hs = C / NH;
    for (size_t r = 0; r < N; r++) {
        float *row = qkv + r * 3 * (size_t)C;
        const float *cs_sn = table + (size_t)ids[r] * hs;   /* hs/2 (cos, sin) pairs */
        for (int i = 0; i < hs / 2; i++) {
            float cs = cs_sn[2 * i], sn = inverse ? -cs_sn[2 * i + 1] : cs_sn[2 * i + 1];
            for (int part = 0; part < 2; part++)      /* q, then k */
                for (int h = 0; h < NH; h++) {
                    float *x = row + (size_t)part * C + (size_t)h * hs + 2 * i;
                    float x0 = x[0], x1 = x[1];
                    x[0] = x0 * cs - x1 * sn;
                    x[1] = x0 * sn + x1 * cs;
                }
        }
    }
}
