/* bench_grad.c - the TRICE step's gradient phase alone: training tokens/s of
 * engine_side_gradient on one side (W = 1) for a step's whole term list.
 * Usage: [TRICE_THREADS=n] bench_grad [iters [model.bin]]
 *   iters: gradient steps measured (default 10); model.bin: a GPT-2 checkpoint of context >= 256
 *   to start from (bench_distributed.sh warms one up), else the model benchmark's "tiny" shape
 *   (4 layers, 128 channels, 4 heads) randomly initialised. Context 256 either way. A random
 *   model's proposals run to max_new_tokens; a warmed one's end like the given rationales.
 * The step: trice on the built-in boolean_expressions task (difficulty 1), memory_init
 * "given", 16 examples, each with its memory term (+) and its proposal term (-): 32 terms, the
 * shape of bench_distributed.sh's full fine-tuning step. Tokens are the terms' real positions
 * (prompt, rationale, end-of-text), padding not counted, so the figure compares with
 * bench_model's train_tokens_per_s. Prints one JSON object (median and best of the iterations;
 * on a shared machine the best is what the code can do, the median what it did).
 * Written against engine.h's engine_side_gradient only, so that the same file builds on
 * commits before and after the batched groups for a side-by-side figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/engine.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 10;
    const char *init = argc > 2 ? argv[2] : NULL;
    if (iters < 1 || iters > 1000) { fprintf(stderr, "iters: 1..1000\n"); return 2; }
    char model[1200], json[2048];
    if (init) snprintf(model, sizeof model, "{\"init\": \"%.1000s\", \"context\": 256}", init);
    else snprintf(model, sizeof model, "{\"layers\": 4, \"heads\": 4, \"channels\": 128, \"context\": 256}");
    snprintf(json, sizeof json,
             "{\"name\": \"bench-grad\", \"seed\": 11, \"method\": \"trice\", \"memory_init\": \"given\","
             " \"task\": {\"name\": \"boolean_expressions\", \"difficulty\": 1, \"n_train\": 64, \"n_eval\": 8},"
             " \"model\": %s, \"max_new_tokens\": 96, \"batch_size\": 16, \"steps\": 1}", model);
    experiment_spec spec;
    tr_error err = {0};
    engine_side *e = NULL;
    int nv;
    if (spec_parse_json(json, "bench", &spec, &err) || engine_side_init(&e, &spec, 0, 1, &err) ||
        engine_side_memory_init(e, &nv, &err)) {
        fprintf(stderr, "bench_grad: %s\n", err.msg);
        return 1;
    }
    const task *t = engine_side_task(e);
    int64_t ids[16];
    int M = 0;
    for (int64_t i = 0; i < t->n_train && M < 16; i++) ids[M++] = t->train_ids[i];
    uint8_t a[16], mask[16];
    est_coef terms[32];
    int n = 0;
    if (engine_side_propose(e, 0, ids, M, a, mask, &err)) { fprintf(stderr, "bench_grad: %s\n", err.msg); return 1; }
    for (int i = 0; i < M; i++) {
        terms[n++] = (est_coef){i, EST_MEMORY, 1.0 / M};
        terms[n++] = (est_coef){i, EST_PROPOSAL, -0.5 / M};
    }
    engine_side_take_counts(e);
    double *rate = malloc((size_t)iters * sizeof *rate), *secs = malloc((size_t)iters * sizeof *secs);
    int64_t tokens = 0;
    for (int it = 0; it < iters; it++) {
        double loss;
        if (engine_side_gradient(e, terms, n, &loss, &err)) { fprintf(stderr, "bench_grad: %s\n", err.msg); return 1; }
        engine_counts c = engine_side_take_counts(e);
        tokens = c.tokens_trained;
        secs[it] = c.grad_s;
        rate[it] = (double)c.tokens_trained / c.grad_s;
    }
    qsort(rate, (size_t)iters, sizeof *rate, cmp_d);
    qsort(secs, (size_t)iters, sizeof *secs, cmp_d);
    const char *th = getenv("TRICE_THREADS"), *ob = getenv("OPENBLAS_NUM_THREADS");
    const gpt_config *gc = &engine_side_model(e)->config;
    printf("{\"benchmark\": \"gradient phase (tests/bench/bench_grad.c)\", \"model\": {\"init\": \"%s\", \"layers\": %d, "
           "\"channels\": %d, \"heads\": %d, \"context\": %d, \"params\": %zu}, \"terms\": %d, \"tokens_per_step\": %lld, "
           "\"trice_threads\": \"%s\", \"openblas_threads\": \"%s\", \"iters\": %d, \"grad_s_median\": %.4f, "
           "\"grad_s_best\": %.4f, \"grad_tokens_per_s_median\": %.0f, \"grad_tokens_per_s_best\": %.0f}\n",
           init ? init : "random", gc->num_layers, gc->channels, gc->num_heads, gc->max_seq_len, engine_side_model(e)->num_params, n, (long long)tokens, th ? th : "1", ob ? ob : "default", iters,
           secs[iters / 2], secs[0], rate[iters / 2], rate[iters - 1]);
    free(rate); free(secs);
    engine_side_free(e);
    return 0;
}
