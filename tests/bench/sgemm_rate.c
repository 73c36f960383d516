/* sgemm_rate.c - see sgemm_rate.h. */
#include "sgemm_rate.h"

#include <stdlib.h>
#include <time.h>
#include <cblas.h>

#include "common/model/sample.h"
#include "common/util/rng.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_sgemm_flops(int trans_a, int trans_b, int M, int N, int K, int reps)
{
    float *a = calloc((size_t)M * K, 4), *b = calloc((size_t)K * N, 4), *c = calloc((size_t)M * N, 4);
    if (!a || !b || !c) { free(a); free(b); free(c); return 0.0; }
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 5) * 0.1f;
    const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    const int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1, a, lda, b, ldb, 0, c, N);
    double best = 0.0;
    for (int batch = 0; batch < 5; batch++) {
        double t0 = bench_now();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1, a, lda, b, ldb, 0, c, N);
        double rate = 2.0 * M * N * K * reps / (bench_now() - t0);
        if (rate > best) best = rate;
    }
    free(a); free(b); free(c);
    return best;
}

double bench_sample_rate(struct gpt_sampler *sp, const struct gpt *g, int n, int new_tokens, int iters, int warmup)
{
    return bench_sample_rate_bf16(sp, g, n, new_tokens, iters, warmup, 0);
}

double bench_sample_rate_bf16(struct gpt_sampler *sp, const struct gpt *g, int n, int new_tokens, int iters, int warmup,
                              int bf16)
{
    int one[1] = {65};
    const int **pr = malloc(sizeof(int *) * n);
    int *pl = malloc(sizeof(int) * n), *out = malloc(sizeof(int) * n * new_tokens), *lens = malloc(sizeof(int) * n);
    double *lp = malloc(sizeof(double) * n);
    rng *rs = malloc(sizeof(rng) * n);
    rng **rp = malloc(sizeof(rng *) * n);
    double rate = -1;
    if (pr && pl && out && lens && lp && rs && rp) {
        for (int i = 0; i < n; i++) { pr[i] = one; pl[i] = 1; rng_init(&rs[i], 1, RNG_PURPOSE_PROPOSAL, (uint64_t)i); rp[i] = &rs[i]; }
        gpt_sample_opts o = gpt_sample_opts_default();
        o.max_new_tokens = new_tokens;
        o.eot = -1;
        o.bf16 = bf16;
        tr_error err;
        long produced = 0;
        double t0 = bench_now();
        int it;
        for (it = -warmup; it < iters; it++) {
            if (it == 0) t0 = bench_now();
            if (gpt_sample(sp, g, n, pr, pl, rp, &o, out, lens, lp, &err)) break;
            for (int i = 0; it >= 0 && i < n; i++) produced += lens[i];
        }
        if (it == iters) rate = (double)produced / (bench_now() - t0);
    }
    free(pr); free(pl); free(out); free(lens); free(lp); free(rs); free(rp);
    return rate;
}
