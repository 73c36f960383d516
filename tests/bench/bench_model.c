/* bench_model - throughput of the C model; prints one JSON object on stdout.
 * Usage: OPENBLAS_CORETYPE= bench_model [iters [what [config [threads]]]]
 *   what: all (default), train, sample or sample1 (batch-1 sampling only; the other figures
 *   print as 0); config: all, tiny or small; threads: 0 = 1 and 2 (default), else only that
 *   count. The filters exist for profiling and for tests/bench/bench_llama2c.sh (sample1 small 1).
 *   tests/bench/run_model_bench.sh runs this and the PyTorch script and prints both with ratios.
 * Per config (tiny, small) and thread count (1, 2): training tokens/s (forward + backward +
 * AdamW, batch 4 x 256), sampling tokens/s at batch 1 and 64 (1-token prompts, 64 new tokens,
 * no end-of-text), the sgemm rate of OpenBLAS on a training-shaped product measured in the same
 * run, training FLOP/s / sgemm FLOP/s, and peak RSS against the summed buffer sizes. Training
 * and sampling are also measured in bf16 (*_bf16_*: gpt.bf16 for the training products,
 * gpt_sample_opts.bf16 for decoding), right after the fp32 figures, with bf16_dot saying whether
 * the CPU ran the AVX-512 BF16 path. TRICE_BENCH_BF16_PORTABLE=1 measures the bf16 figures with
 * the portable loop instead (what a CPU without AVX-512 BF16 runs; "bf16_path" says which). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/model/bf16.h"
#include "common/model/gpt.h"
#include "common/model/optim.h"
#include "common/model/sample.h"
#include "sgemm_rate.h"

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Tokens/s of iters full training steps (forward, backward, clip, AdamW) after warmup untimed ones. */
static double train_rate(gpt *g, optim_state *s, const optim_group *gr, const optim_hparams *hp, const int *tok,
                         const int *tgt, int B, int T, int iters, int warmup)
{
    tr_error err;
    double t0 = bench_now();
    for (int it = -warmup; it < iters; it++) {
        if (it == 0) t0 = bench_now();
        gpt_zero_grad(g);
        gpt_forward(g, tok, tgt, NULL, B, T, NULL, NULL, &err);
        gpt_backward(g, GPT_GRAD_FULL, &err);
        optim_clip_grad_norm(g->grads, g->num_params, 1.0);
        optim_adamw_step(s, g->params, g->grads, gr, GPT_NUM_TENSORS, 1e-4f, hp, &err);
    }
    return (double)iters * B * T / (bench_now() - t0);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 3;
    const char *what = argc > 2 ? argv[2] : "all", *only = argc > 3 ? argv[3] : "all";
    int only_th = argc > 4 ? atoi(argv[4]) : 0;
    if (strcmp(what, "all") && strcmp(what, "train") && strcmp(what, "sample") && strcmp(what, "sample1")) {
        fprintf(stderr, "bench_model: what must be all, train, sample or sample1, got '%s'\n", what);
        return 2;
    }
    int do_train = strcmp(what, "all") == 0 || strcmp(what, "train") == 0;
    const char *portable = getenv("TRICE_BENCH_BF16_PORTABLE");
    const int force_portable = portable && strcmp(portable, "1") == 0;
    bf16_force_portable(force_portable);
    const char *bf16_path = force_portable || !bf16_have_dot() ? "portable" : "avx512_bf16";
    int n_sample = strcmp(what, "train") == 0 ? 0 : strcmp(what, "sample1") == 0 ? 1 : 2;
    struct { const char *name; int L, C, NH; } cfgs[2] = {{"tiny", 4, 128, 4}, {"small", 6, 384, 6}};
    const int B = 4, T = 256, NEW = 64;
    printf("{\"iters\": %d, \"train_batch\": [%d, %d], \"sample_new_tokens\": %d, \"results\": [\n", iters, B, T, NEW);
    int first = 1;
    for (int ci = 0; ci < 2; ci++) {
        if (strcmp(only, "all") != 0 && strcmp(only, cfgs[ci].name) != 0) continue;
        gpt_config c = {.max_seq_len = T, .vocab_size = 257, .num_layers = cfgs[ci].L, .num_heads = cfgs[ci].NH,
                        .channels = cfgs[ci].C};
        gpt g;
        tr_error err;
        if (gpt_init(&g, &c, B, 0, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        gpt_init_random(&g, 1);
        optim_state s;
        optim_init(&s, g.num_params, &err);
        gpt_sampler sp;
        if (gpt_sampler_init(&sp, &g, 64, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        int *tok = malloc(sizeof(int) * B * T), *tgt = malloc(sizeof(int) * B * T);
        for (int i = 0; i < B * T; i++) { tok[i] = (i * 31) % 256; tgt[i] = (i * 17) % 256; }
        optim_group gr[GPT_NUM_TENSORS];
        gpt_param_groups(&g, gr);
        optim_hparams hp = optim_hparams_default();
        double Cd = c.channels, Ld = c.num_layers;
        /* FLOPs per token: 6 x (non-embedding weights + LM head) + attention 6*2*L*T*C (llm.c's count) */
        double nonemb = Ld * 12 * Cd * Cd + (double)g.config.padded_vocab_size * Cd;
        double flop_per_tok = 6 * nonemb + 12 * Ld * T * Cd;
        for (int th = 1; th <= 2; th++) {
            if (only_th > 0 && th != only_th) continue;
            gpt_backend_cpu_set_threads(th);
            double gemm = n_sample == 1 ? 0.0 : bench_sgemm_flops(0, 1, B * T, 4 * c.channels, c.channels, 10);   /* sample1: not needed */
            gpt_zero_grad(&g);
            gpt_forward(&g, tok, tgt, NULL, B, T, NULL, NULL, &err);
            gpt_backward(&g, GPT_GRAD_FULL, &err);
            double train_tps = do_train ? train_rate(&g, &s, gr, &hp, tok, tgt, B, T, iters, 0) : 0.0;
            /* the same steps with the linear layers' products in bf16 (gpt.bf16), after one untimed
             * step that grows the bf16 scratch */
            g.bf16 = 1;
            double train16_tps = do_train ? train_rate(&g, &s, gr, &hp, tok, tgt, B, T, iters, 1) : 0.0;
            g.bf16 = 0;
            double samp[2] = {0.0, 0.0}, samp16[2] = {0.0, 0.0};
            int bs[2] = {1, 64};
            for (int k = 0; k < n_sample; k++) {
                samp[k] = bench_sample_rate(&sp, &g, bs[k], NEW, iters, 0);
                samp16[k] = bench_sample_rate_bf16(&sp, &g, bs[k], NEW, iters, 1, 1);   /* one untimed round packs and warms */
            }
            double bufs = 4.0 * (2 * g.num_params + g.num_acts + g.num_dacts + 2 * s.n) +
                          4.0 * 2 * (double)c.num_layers * 64 * T * c.channels;
            printf("%s  {\"config\": \"%s\", \"threads\": %d, \"params\": %zu, \"train_tokens_per_s\": %.1f, "
                   "\"train_gflops\": %.3f, \"sgemm_gflops\": %.3f, \"train_over_sgemm\": %.3f, "
                   "\"sample_tokens_per_s_b1\": %.1f, \"sample_tokens_per_s_b64\": %.1f, "
                   "\"train_bf16_tokens_per_s\": %.1f, "
                   "\"sample_bf16_tokens_per_s_b1\": %.1f, \"sample_bf16_tokens_per_s_b64\": %.1f, \"bf16_dot\": %s, \"bf16_path\": \"%s\", "
                   "\"peak_rss_mb\": %.1f, \"buffers_mb\": %.1f}",
                   first ? "" : ",\n", cfgs[ci].name, th, g.num_params, train_tps, train_tps * flop_per_tok / 1e9,
                   gemm / 1e9, gemm > 0 ? train_tps * flop_per_tok / gemm : 0.0, samp[0], samp[1], train16_tps, samp16[0], samp16[1],
                   bf16_have_dot() ? "true" : "false", bf16_path, peak_rss_kb() / 1024.0, bufs / 1048576.0);
            first = 0;
            fflush(stdout);
        }
        free(tok); free(tgt);
        gpt_sampler_free(&sp);
        optim_free(&s);
        gpt_free(&g);
    }
    printf("\n]}\n");
    return 0;
}
