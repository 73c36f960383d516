/* fuzz_rpc_regress - runs the RPC and spec fuzz entry points over seeds and a few hundred
 * deterministic mutations of them (Philox stream), so that every ordinary build (gcc,
 * no libFuzzer) exercises the same checks. Exit 0 = no crash, no failed check.
 *   fuzz_rpc_regress --write-seeds DIR   writes the RPC seeds as files rpc-NN into DIR (a
 *   libFuzzer starting corpus: valid requests carrying the fuzz token, which random bytes
 *   would take billions of runs to find) and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/rng.h"
#include "coordinator/control/rpc.h"
#include "fuzz_control.h"
#include "rpc.pb-c.h"

#define NMUT 300

static size_t pack_req(int kind, const char *token, const char *spec, const char *id, uint8_t *buf) {
    Trice__Rpc__Request q = TRICE__RPC__REQUEST__INIT;
    q.kind = (Trice__Rpc__Request__Kind)kind;
    if (token) q.token = (char *)token;
    if (spec) q.spec_json = (char *)spec;
    if (id) q.id = (char *)id;
    return trice__rpc__request__pack(&q, buf);
}

static const char *spec_seeds[] = {
    "{\"name\": \"a\", \"steps\": 5}",
    "{\"name\": \"b\", \"method\": \"sft\", \"optim\": {\"lr\": 0.01, \"schedule\": \"cosine\", \"warmup_steps\": 2}, \"steps\": 10}",
    "{\"task\": {\"name\": \"boolean_expressions\", \"n_train\": 50, \"n_eval\": 10}, \"tunable\": \"prompt\", \"prompt_len\": 4}",
    "{\"model\": {\"layers\": 2, \"heads\": 2, \"channels\": 64, \"context\": 128}, \"max_new_tokens\": 32, \"batch_size\": 4}",
    "{\"stpes\": 3}",
    "[1,2,3]",
    "{\"name\": \"\\u00e9\\n\", \"seed\": 18446744073709551615}",
};

static void mutate(rng *r, const uint8_t *in, size_t n, uint8_t *out, size_t *on, size_t cap) {
    memcpy(out, in, n);
    *on = n;
    int edits = 1 + (int)(rng_u32(r) % 4);
    for (int e = 0; e < edits; e++) {
        uint32_t op = rng_u32(r) % 4, x = rng_u32(r);
        if (op == 0 && *on) out[x % *on] ^= (uint8_t)(1u << (x >> 8) % 8);               /* flip a bit */
        else if (op == 1 && *on) out[x % *on] = (uint8_t)(x >> 16);                        /* set a byte */
        else if (op == 2 && *on > 1) *on = x % *on;                                        /* truncate */
        else if (op == 3 && *on < cap) { size_t p = *on ? x % *on : 0;                      /* insert a byte */
            memmove(out + p + 1, out + p, *on - p); out[p] = (uint8_t)(x >> 24); (*on)++; }
    }
}

static int write_seeds(const char *dir, uint8_t seeds[][4096], const size_t *lens, int ns) {
    for (int i = 0; i < ns; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/rpc-%02d", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(seeds[i], 1, lens[i], f) != lens[i] || fclose(f) != 0) {
            fprintf(stderr, "fuzz_rpc_regress: cannot write %s (does the folder exist?)\n", path);
            return 1;
        }
    }
    printf("fuzz_rpc_regress: %d seeds written to %s\n", ns, dir);
    return 0;
}

int main(int argc, char **argv) {
    uint8_t seeds[16][4096];
    size_t lens[16];
    int ns = 0;
    const char *tok = "00112233445566778899aabbccddeeff";
    for (size_t i = 0; i < sizeof spec_seeds / sizeof spec_seeds[0]; i++)
        lens[ns] = pack_req(TRICE__RPC__REQUEST__KIND__SUBMIT, tok, spec_seeds[i], NULL, seeds[ns]), ns++;
    lens[ns] = pack_req(TRICE__RPC__REQUEST__KIND__LIST, NULL, NULL, NULL, seeds[ns]), ns++;
    lens[ns] = pack_req(TRICE__RPC__REQUEST__KIND__GET, NULL, NULL, "exp-000001-abcd", seeds[ns]), ns++;
    lens[ns] = pack_req(TRICE__RPC__REQUEST__KIND__CANCEL, tok, NULL, "exp-000002-abcd", seeds[ns]), ns++;
    lens[ns] = pack_req(TRICE__RPC__REQUEST__KIND__SHUTDOWN, "bad", NULL, NULL, seeds[ns]), ns++;
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) return write_seeds(argv[2], seeds, lens, ns);
    rng r;
    rng_init(&r, 12345, 0xF022, 0);
    uint8_t buf[8192];
    size_t n;
    int runs = 0;
    for (int i = 0; i < ns; i++) { fuzz_rpc_one(seeds[i], lens[i]); runs++; }
    for (int k = 0; k < NMUT; k++) {
        int i = (int)(rng_u32(&r) % (uint32_t)ns);
        mutate(&r, seeds[i], lens[i], buf, &n, sizeof buf);
        fuzz_rpc_one(buf, n);
        runs++;
    }
    for (int k = 0; k < 50; k++) {   /* pure noise */
        n = rng_u32(&r) % 200;
        for (size_t j = 0; j < n; j++) buf[j] = (uint8_t)rng_u32(&r);
        fuzz_rpc_one(buf, n);
        runs++;
    }
    size_t nspec = sizeof spec_seeds / sizeof spec_seeds[0];
    for (size_t i = 0; i < nspec; i++) { fuzz_spec_one((const uint8_t *)spec_seeds[i], strlen(spec_seeds[i])); runs++; }
    for (int k = 0; k < NMUT; k++) {
        size_t i = rng_u32(&r) % nspec;
        mutate(&r, (const uint8_t *)spec_seeds[i], strlen(spec_seeds[i]), buf, &n, sizeof buf);
        fuzz_spec_one(buf, n);
        runs++;
    }
    printf("fuzz_rpc_regress: %d inputs, no crash and every check held\n", runs);
    return 0;
}
