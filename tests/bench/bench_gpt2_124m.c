/* bench_gpt2_124m - the GPT-2 124M shape (random weights, GPT-2 vocabulary) on this CPU;
 * prints one JSON object on stdout.
 * Usage: bench_gpt2_124m [context [new_tokens [path]]]   (defaults 256, 64, a temporary file)
 * Threads: OPENBLAS_NUM_THREADS (the kernels outside BLAS use one thread).
 * Figures: sampling tokens/s at batch 1 and 64 (1-token prompts, new_tokens each, no
 * end-of-text, KV cache), and the soft-prompt step: forward + backward into an 8-vector
 * soft prompt + Adam, for one sequence of 128 positions (what engine_side_gradient does per term;
 * a TRICE step of M examples runs up to 2M of them, plus sampling), median of 5. Peak RSS
 * against the buffers. Sampling is measured again with bf16 decoding (gpt_sample_opts.bf16;
 * *_bf16_*: one call each, which includes packing the weights, after one untimed call that
 * allocates them), bf16_dot saying whether the CPU ran the AVX-512 BF16 path. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/model/bf16.h"
#include "common/model/optim.h"
#include "tests/model/gpt2_124m.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int ctx = argc > 1 ? atoi(argv[1]) : 256, nnew = argc > 2 ? atoi(argv[2]) : 64;
    char tmp[] = "/tmp/trice-bench-124m-XXXXXX";
    const char *path = argc > 3 ? argv[3] : tmp;
    tr_error err = {0};
    if (argc <= 3) {
        int fd = mkstemp(tmp);
        if (fd < 0) return 1;
        close(fd);
        if (gpt2_124m_write(tmp, 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    gpt_config c;
    int version;
    if (gpt_ckpt_read_config(path, &c, &version, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    c.max_seq_len = ctx;
    const int P = 8, T = 128;
    gpt g;
    double t0 = now();
    if (gpt_init(&g, &c, 1, P, &err) || (gpt_init_random(&g, 1), gpt_ckpt_load(&g, path, &err))) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double load_s = now() - t0;
    if (argc <= 3) unlink(tmp);
    gpt_sampler s;
    if (gpt_sampler_init(&s, &g, 64, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double tps[2], tps16[2];
    int bs[2] = {1, 64};
    int one[1] = {464}, *out = malloc(sizeof(int) * 64 * (size_t)nnew), lens[64];
    const int *pr[64];
    int pl[64];
    double lp[64];
    rng rs[64];
    rng *rp[64];
    for (int i = 0; i < 64; i++) { pr[i] = one; pl[i] = 1; rng_init(&rs[i], 1, 2, (uint64_t)i); rp[i] = &rs[i]; }
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = nnew;
    o.eot = -1;
    for (int k = 0; k < 2; k++) {
        t0 = now();
        long produced = 0;
        if (gpt_sample(&s, &g, bs[k], pr, pl, rp, &o, out, lens, lp, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        for (int i = 0; i < bs[k]; i++) produced += lens[i];
        tps[k] = (double)produced / (now() - t0);
    }
    o.bf16 = 1;
    for (int k = -1; k < 2; k++) {   /* k = -1: the untimed call that allocates the bf16 copy */
        int b = k < 0 ? 1 : bs[k];
        t0 = now();
        long produced = 0;
        if (gpt_sample(&s, &g, b, pr, pl, rp, &o, out, lens, lp, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        for (int i = 0; i < b; i++) produced += lens[i];
        if (k >= 0) tps16[k] = (double)produced / (now() - t0);
    }
    int tok[128], tgt[128];
    for (int t = 0; t < T; t++) { tok[t] = (t * 7919) % 50257; tgt[t] = ((t + 1) * 7919) % 50257; }
    optim_state st;
    size_t np = (size_t)P * (size_t)c.channels;
    optim_init(&st, np, &err);
    optim_group grp = {0, np, 0};
    optim_hparams hp = optim_hparams_default();
    double step[5];
    for (int k = 0; k < 5; k++) {
        t0 = now();
        gpt_zero_grad(&g);
        gpt_forward(&g, tok, tgt, NULL, 1, T, NULL, NULL, &err);
        gpt_backward(&g, GPT_GRAD_PROMPT, &err);
        optim_adamw_step(&st, g.prompt, g.prompt_grad, &grp, 1, 1e-3f, &hp, &err);
        step[k] = now() - t0;
    }
    qsort(step, 5, sizeof step[0], cmp_d);
    const char *threads = getenv("OPENBLAS_NUM_THREADS");
    printf("{\"shape\": \"gpt2-124M\", \"params\": %zu, \"context\": %d, \"openblas_threads\": \"%s\", \"load_s\": %.2f, "
           "\"sample_new_tokens\": %d, \"sample_tokens_per_s_b1\": %.1f, \"sample_tokens_per_s_b64\": %.1f, "
           "\"sample_bf16_tokens_per_s_b1\": %.1f, \"sample_bf16_tokens_per_s_b64\": %.1f, \"bf16_dot\": %s, "
           "\"soft_prompt_step_s_T128\": %.3f, \"peak_rss_mb\": %.0f, \"buffers_mb\": %.0f}\n",
           g.num_params, ctx, threads ? threads : "default", load_s, nnew, tps[0], tps[1], tps16[0], tps16[1],
           bf16_have_dot() ? "true" : "false", step[2],
           peak_rss_bytes() / 1048576, (model_buffer_bytes(&g) + sampler_buffer_bytes(&s)) / 1048576);
    free(out);
    optim_free(&st);
    gpt_sampler_free(&s);
    gpt_free(&g);
    return 0;
}
