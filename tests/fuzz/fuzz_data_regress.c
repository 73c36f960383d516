/* fuzz_data_regress.c - runs the common/data fuzz entry points over seed inputs and a few
 * hundred deterministic mutations of each, so that gcc builds (no libFuzzer) exercise them.
 * A crash, an abort from a target's own invariant checks, or a sanitizer report fails it. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/err.h"
#include "common/util/rng.h"
#include "fuzz_data.h"

typedef int (*fuzz_fn)(const uint8_t *, size_t);

static const char *const tokens[] = {
    "<<", ">>", "####", "#### 1,080", "\\u2019", "\\u0000", "{", "}", "[", "]", "\"", ":", ",", "\n", "\r\n",
    "\n\nQ: ", "\nA: Let's think step by step.\n", "So the answer is ", ".", "-----", "\"examples\"",
    "\"input\"", "\"target\"", "\"question\"", "\"answer\"", "\"rationale\"", "null", "-", "$", "0",
};

static size_t mutate(rng *r, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t len = n < cap ? n : cap;
    memcpy(out, in, len);
    int rounds = 1 + (int)rng_below(r, 6);
    for (int k = 0; k < rounds; k++) {
        switch (rng_below(r, 6)) {
        case 0: if (len) out[rng_below(r, len)] ^= (uint8_t)(1u << rng_below(r, 8)); break;
        case 1: if (len) out[rng_below(r, len)] = (uint8_t)rng_below(r, 256); break;
        case 2: if (len) len = rng_below(r, len + 1); break;                 /* truncate */
        case 3: if (len) {                                                   /* delete a span */
                size_t a = rng_below(r, len), b = a + rng_below(r, len - a + 1);
                memmove(out + a, out + b, len - b);
                len -= b - a;
            } break;
        default: {                                                           /* insert a token */
                const char *t = tokens[rng_below(r, sizeof tokens / sizeof tokens[0])];
                size_t tl = strlen(t), at = rng_below(r, len + 1);
                if (len + tl > cap) break;
                memmove(out + at + tl, out + at, len - at);
                memcpy(out + at, t, tl);
                len += tl;
            }
        }
    }
    return len;
}

static char *read_fixture(const char *name, size_t *len) {
    const char *root = getenv("TRICE_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/fixtures/%s", root ? root : ".", name);
    char *text = NULL;
    if (tr_read_file(path, 1 << 20, &text, len, NULL) != 0) {
        fprintf(stderr, "fuzz_data_regress: fixture %s not readable; using inline seeds only\n", path);
        return NULL;
    }
    return text;
}

static int run(const char *name, fuzz_fn fn, const char *seed, size_t seed_len, uint64_t id) {
    enum { MUTATIONS = 300, CAP = 8192 };
    static uint8_t buf[CAP];
    fn((const uint8_t *)seed, seed_len);
    rng r;
    rng_init(&r, 2024, RNG_PURPOSE_TEST, id);
    for (int i = 0; i < MUTATIONS; i++) {
        size_t n = mutate(&r, (const uint8_t *)seed, seed_len, buf, CAP);
        fn(buf, n);
    }
    printf("%-18s %zu-byte seed + %d mutations: ok\n", name, seed_len, MUTATIONS);
    return 0;
}

/* Inputs that once crashed a libFuzzer target (tests/fuzz/regress/<target>/), each run once
 * and with mutations: they must never crash again. */
static void run_regressions(const char *sub, fuzz_fn fn, uint64_t id) {
    const char *root = getenv("TRICE_SOURCE_ROOT");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", root ? root : ".", sub);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char *text = NULL;
        size_t len = 0;
        if (tr_read_file(path, 1 << 20, &text, &len, NULL) != 0) continue;
        char name[300];
        snprintf(name, sizeof name, "%s/%.40s", sub, de->d_name);
        run(name, fn, text, len, id++);
        free(text);
    }
    closedir(d);
}

int main(void) {
    static const char gsm[] = "{\"question\": \"Q \\u2019?\", \"answer\": \"a <<1+1=2>>2\\nb\\n#### 1,080\"}\n"
                              "{\"question\": \"q\", \"answer\": \"#### -7\", \"rationale\": \"So the answer is -7.\"}\n";
    static const char bbh[] = "{\"canary\": \"c\", \"examples\": [{\"input\": \"x\\nOptions:\\n(A) a\", \"target\": \"(A)\"}, "
                              "{\"input\": \"not True is\", \"target\": \"False\"}]}";
    static const char cot[] = "canary\n-----\nDescribe.\n\nQ: a\nA: Let's think step by step.\nSo the answer is 1.\n\n"
                              "Q: b\nOptions:\n- Yes\n- No\nA: Let's think step by step. So the answer is No.";
    static const char ans[] = "A = 5.\nSo the answer is -1,080.00 apples. So the answer is (B) ] } ].";
    run("jsonl/inline", fuzz_data_jsonl, gsm, sizeof gsm - 1, 1);
    run("bbh/inline", fuzz_data_bbh, bbh, sizeof bbh - 1, 2);
    run("cot/inline", fuzz_data_cot, cot, sizeof cot - 1, 3);
    run("answer/inline", fuzz_data_answer, ans, sizeof ans - 1, 4);
    const struct { const char *file; fuzz_fn fn; } fx[] = {
        {"gsm8k_mini.jsonl", fuzz_data_jsonl}, {"generic.jsonl", fuzz_data_jsonl},
        {"bbh_mini.json", fuzz_data_bbh}, {"cot_mini.txt", fuzz_data_cot}, {"gsm8k_mini.jsonl", fuzz_data_answer},
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        size_t len;
        char *text = read_fixture(fx[i].file, &len);
        if (!text) continue;
        run(fx[i].file, fx[i].fn, text, len, 10 + i);
        free(text);
    }
    run_regressions("jsonl", fuzz_data_jsonl, 100);
    run_regressions("bbh", fuzz_data_bbh, 200);
    run_regressions("cot", fuzz_data_cot, 300);
    run_regressions("answer", fuzz_data_answer, 400);
    return 0;
}
