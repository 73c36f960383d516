/* rope.c - rotary position embedding on fused QKV rows (rope.h). */
#include "common/model/rope.h"

#include <math.h>

void rope_rotate(float *qkv, const int *ids, size_t N, int C, int NH, int inverse) {
    const int hs = C / NH;
    for (size_t r = 0; r < N; r++) {
        float *row = qkv + r * 3 * (size_t)C;
        for (int i = 0; i < hs / 2; i++) {
            /* the angle in double, so that every caller (forward, backward, KV decode) turns a
             * given (id, i) by the same float cos and sin */
            double a = (double)ids[r] * pow(10000.0, -2.0 * i / hs);
            float cs = (float)cos(a), sn = inverse ? -(float)sin(a) : (float)sin(a);
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
