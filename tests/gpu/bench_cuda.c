/* bench_cuda - the model on the CUDA backend; prints one JSON object on stdout.
 * Usage: bench_cuda [iters]
 * Per config (tiny: 4 layers x 128 channels; small: 6 x 384, as tests/bench/bench_model):
 *   training tokens/s (forward + backward + AdamW on the device) at batch 4 x 256 (the CPU
 *   benchmark's shape) and 32 x 256, with the achieved FLOP/s against the GPU's fp32 peak
 *   (llm.c's count: 6 x weights + attention per token);
 *   sampling tokens/s at batch 1 and 64 (1-token prompts, 64 new tokens, no end-of-text; the
 *   token draws run on the host from the logits, as in training).
 * Exits 77 (skipped) when no CUDA device can be used, saying why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/model/gpt.h"
#include "common/model/optim.h"
#include "common/model/sample.h"
#include "common/util/rng.h"
#include "tests/bench/sgemm_rate.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* tokens/s of iters training steps at batch Bt x T on the device */
static double train_rate(const gpt_backend *be, const gpt_config *c, int Bt, int T, int iters, tr_error *err)
{
    gpt g;
    if (gpt_init_on(&g, c, Bt, 0, be, err)) return -1;
    if (gpt_init_random(&g, 1)) { gpt_free(&g); return -1; }
    size_t n = g.num_params;
    float *m = be->alloc(n * sizeof(float)), *v = be->alloc(n * sizeof(float));
    int *tok = malloc(sizeof(int) * Bt * T), *tgt = malloc(sizeof(int) * Bt * T);
    for (int i = 0; i < Bt * T; i++) { tok[i] = (i * 31) % 256; tgt[i] = (i * 17) % 256; }
    optim_group gr[GPT_NUM_TENSORS];
    int ng = gpt_param_groups(&g, gr);
    double rate = -1;
    if (m && v && tok && tgt) {
        double t0 = 0;
        for (int it = -2; it < iters; it++) {  /* two warm-up steps */
            if (it == 0) { gpt_backend_cuda_sync(); t0 = now(); }
            gpt_zero_grad(&g);
            if (gpt_forward(&g, tok, tgt, NULL, Bt, T, NULL, NULL, err) || gpt_backward(&g, GPT_GRAD_FULL, err))
                break;
            for (int k = 0; k < ng; k++)
                be->adamw(g.params + gr[k].offset, m + gr[k].offset, v + gr[k].offset, g.grads + gr[k].offset,
                          gr[k].count, 1e-4f, 0.9f, 0.95f, 0.5f, 0.5f, 1e-8f, gr[k].decay ? 0.1f : 0.0f);
            if (it == iters - 1 && !gpt_backend_cuda_sync()) rate = (double)iters * Bt * T / (now() - t0);
        }
    }
    be->free(m);
    be->free(v);
    free(tok);
    free(tgt);
    gpt_free(&g);
    return rate;
}

static double sample_rate(const gpt_backend *be, const gpt_config *c, int n, int NEW, int iters, tr_error *err)
{
    gpt g;
    gpt_sampler sp;
    if (gpt_init_on(&g, c, 1, 0, be, err)) return -1;
    gpt_init_random(&g, 1);
    if (gpt_sampler_init(&sp, &g, n, err)) { gpt_free(&g); return -1; }
    double rate = bench_sample_rate(&sp, &g, n, NEW, iters, 1);
    gpt_sampler_free(&sp);
    gpt_free(&g);
    return rate;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 10;
    char why[256] = "";
    const gpt_backend *be = gpt_backend_cuda(0, why, sizeof why);
    if (!be) {
        fprintf(stderr, "bench_cuda: skipped: %s\n", why);
        return 77;
    }
    double peak = gpt_backend_cuda_peak_flops();
    struct { const char *name; int L, C, NH; } cfgs[2] = {{"tiny", 4, 128, 4}, {"small", 6, 384, 6}};
    const int T = 256, NEW = 64;
    printf("{\"device\": \"%s\", \"fp32_peak_tflops\": %.2f, \"iters\": %d, \"seq_len\": %d, "
           "\"sample_new_tokens\": %d, \"results\": [\n", gpt_backend_cuda_device_name(), peak / 1e12, iters, T, NEW);
    for (int ci = 0; ci < 2; ci++) {
        gpt_config c = {.max_seq_len = T, .vocab_size = 257, .num_layers = cfgs[ci].L, .num_heads = cfgs[ci].NH,
                        .channels = cfgs[ci].C};
        tr_error err = {0};
        double Cd = c.channels, Ld = c.num_layers;
        double flop_per_tok = 6 * (Ld * 12 * Cd * Cd + 384.0 * Cd) + 12 * Ld * T * Cd;
        double tr4 = train_rate(be, &c, 4, T, iters, &err), tr32 = train_rate(be, &c, 32, T, iters, &err);
        double s1 = sample_rate(be, &c, 1, NEW, iters > 3 ? 3 : iters, &err);
        double s64 = sample_rate(be, &c, 64, NEW, iters > 3 ? 3 : iters, &err);
        if (err.code) fprintf(stderr, "bench_cuda: %s\n", err.msg);
        printf("%s  {\"config\": \"%s\", \"train_tokens_per_s_b4\": %.1f, \"train_tokens_per_s_b32\": %.1f, "
               "\"train_tflops_b32\": %.3f, \"train_share_of_fp32_peak_b32\": %.4f, "
               "\"sample_tokens_per_s_b1\": %.1f, \"sample_tokens_per_s_b64\": %.1f}",
               ci ? ",\n" : "", cfgs[ci].name, tr4, tr32, tr32 * flop_per_tok / 1e12,
               peak > 0 ? tr32 * flop_per_tok / peak : 0.0, s1, s64);
        fflush(stdout);
    }
    printf("\n]}\n");
    return 0;
}
