/* bench_fixsum.c - the exact gradient sum's two per-step passes over every parameter, in JSON:
 * adding a float gradient into the 128-bit accumulator (fixsum_add_floats, against its portable
 * scalar path fixsum_add_floats_portable: same bits, checked) and converting the total back to
 * floats (fixsum_to_floats), against its portable path and the conversion through the
 * compiler's 128-bit-to-double library call that it used before (same bits, checked).
 *
 *   bench_fixsum [N_PARAMS (default 883456, the default model)] [REPS (default 9)]
 *
 * Medians of REPS, alternating old and new in one run (the machine is noisy). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/train/fixsum.h"

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* the conversion before: (double) of the 128-bit integer (libgcc's __floattidf), then ldexp */
__attribute__((noinline)) static void library_to_floats(const fixsum *a, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        i128 x = (i128)(((u128)a[i].hi << 64) | a[i].lo);
        out[i] = (float)ldexp((double)x, -FIXSUM_FRAC_BITS);
    }
}

static int by_value(const void *p, const void *q) {
    double a = *(const double *)p, b = *(const double *)q;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 883456;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    if (n == 0 || reps < 1 || reps > 99) { fprintf(stderr, "usage: bench_fixsum [N_PARAMS] [REPS 1..99]\n"); return 2; }
    fixsum *acc = calloc(n, sizeof *acc), *acc2 = calloc(n, sizeof *acc2);
    float *g = malloc(n * sizeof *g), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b),
          *c = malloc(n * sizeof *c);
    if (!acc || !acc2 || !g || !a || !b || !c) { fprintf(stderr, "bench_fixsum: out of memory for %zu parameters\n", n); return 1; }
    srand(1);
    for (size_t i = 0; i < n; i++) g[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.01f;   /* gradient-like */
    double t_add[99], t_port[99], t_lib[99], t_new[99], t_tport[99];
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        if (fixsum_add_floats(acc, g, n, NULL)) { fprintf(stderr, "bench_fixsum: add refused\n"); return 1; }
        t_add[r] = now_s() - t0;
        t0 = now_s();
        if (fixsum_add_floats_portable(acc2, g, n, NULL)) { fprintf(stderr, "bench_fixsum: add refused\n"); return 1; }
        t_port[r] = now_s() - t0;
        t0 = now_s();
        library_to_floats(acc, a, n);
        t_lib[r] = now_s() - t0;
        t0 = now_s();
        fixsum_to_floats(acc, b, n);
        t_new[r] = now_s() - t0;
        t0 = now_s();
        fixsum_to_floats_portable(acc, c, n);
        t_tport[r] = now_s() - t0;
    }
    qsort(t_add, (size_t)reps, sizeof *t_add, by_value);
    qsort(t_port, (size_t)reps, sizeof *t_port, by_value);
    qsort(t_lib, (size_t)reps, sizeof *t_lib, by_value);
    qsort(t_tport, (size_t)reps, sizeof *t_tport, by_value);
    qsort(t_new, (size_t)reps, sizeof *t_new, by_value);
    int m = reps / 2;
    printf("{\"params\": %zu, \"reps\": %d, \"add_floats_ms\": %.3f, \"add_floats_portable_ms\": %.3f, "
           "\"add_floats_speedup\": %.3f, \"add_same_bits\": %s, \"to_floats_library_ms\": %.3f, "
           "\"to_floats_portable_ms\": %.3f, \"to_floats_ms\": %.3f, \"to_floats_speedup\": %.3f, "
           "\"to_floats_vector_speedup\": %.3f, \"same_bits\": %s}\n",
           n, reps, t_add[m] * 1e3, t_port[m] * 1e3, t_port[m] / t_add[m],
           memcmp(acc, acc2, n * sizeof *acc) ? "false" : "true", t_lib[m] * 1e3, t_tport[m] * 1e3, t_new[m] * 1e3,
           t_lib[m] / t_new[m], t_tport[m] / t_new[m],
           memcmp(a, b, n * sizeof *a) || memcmp(a, c, n * sizeof *a) ? "false" : "true");
    free(acc); free(acc2); free(g); free(a); free(b); free(c);
    return 0;
}
