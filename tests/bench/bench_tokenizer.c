/* bench_tokenizer - GPT-2 encoding speed on one core; prints one JSON object on stdout.
 * Usage: bench_tokenizer [passes]   (reads ../shared/data through TRICE_SHARED_DATA when set,
 * else the source tree's ../shared/data; without it, 20,000 fuzzed strings)
 * Text: every GSM8K question and answer and every BBH input, concatenated with newlines.
 * Figures: cold (a fresh tokenizer, empty piece cache: the first pass) and warm (the best of
 * the following passes) megabytes per second, tokens, bytes per token, and load time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tok/bpe.h"
#include "tests/tok/corpus.h"
#include "trice_config.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int passes = argc > 1 ? atoi(argv[1]) : 5;
    if (passes < 2) passes = 2;
    corpus c = {0};
    const char *shared = getenv("TRICE_SHARED_DATA");
    const char *source = "fuzz";
    if (corpus_add_shared(&c, shared ? shared : TRICE_SOURCE_ROOT "/../shared/data")) source = "gsm8k+bbh";
    else corpus_add_fuzz(&c, 1, 20000);
    size_t total = 0;
    for (size_t i = 0; i < c.n; i++) total += c.len[i] + 1;
    char *text = malloc(total);
    int *ids = malloc(total * sizeof *ids);
    if (!text || !ids) return 1;
    size_t k = 0;
    for (size_t i = 0; i < c.n; i++) {
        memcpy(text + k, c.s[i], c.len[i]);
        k += c.len[i];
        text[k++] = '\n';
    }
    tr_error err = {0};
    bpe b;
    double t0 = now();
    if (bpe_load_dir(&b, NULL, BPE_RANKS_OPENAI, &err)) { fprintf(stderr, "bench_tokenizer: %s\n", err.msg); return 1; }
    double load_s = now() - t0;
    double cold = 0, warm = 0;
    size_t ntok = 0;
    for (int p = 0; p < passes; p++) {
        t0 = now();
        ntok = bpe_encode(&b, text, total, ids);
        double mbs = (double)total / 1e6 / (now() - t0);
        if (p == 0) cold = mbs;
        else if (mbs > warm) warm = mbs;
    }
    printf("{\"text\": \"%s\", \"strings\": %zu, \"bytes\": %zu, \"tokens\": %zu, \"bytes_per_token\": %.3f, "
           "\"load_s\": %.3f, \"encode_mb_s_cold\": %.2f, \"encode_mb_s_warm\": %.2f, \"passes\": %d}\n",
           source, c.n, total, ntok, (double)total / (double)ntok, load_s, cold, warm, passes);
    bpe_free(&b);
    free(text);
    free(ids);
    corpus_free(&c);
    return 0;
}
