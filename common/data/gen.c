/* gen.c - generator registry and gen_make; the tasks live in gen_*.c. */
#include "common/data/gen.h"

#include <stdlib.h>
#include <string.h>

#include "common/data/gen_internal.h"

#define GEN_MAX_DIFFICULTY 8

typedef struct gen_entry {
    const char *name;
    gen_fn fn;
    answer_kind kind;
    int max_difficulty;
    const char *size_unit;
    int size[GEN_MAX_DIFFICULTY + 1][2];   /* [difficulty] = {lo, hi}; must match the gen_*.c tables */
} gen_entry;

static const gen_entry gens[] = {
    {"multistep_arithmetic_two", gen_arith, ANSWER_INT, 3, "numbers per bracket", {{4, 4}, {2, 2}, {3, 3}, {5, 5}}},
    {"boolean_expressions", gen_bool, ANSWER_TEXT, 3, "tokens", {{6, 9}, {3, 5}, {5, 7}, {8, 11}}},
    {"dyck_languages", gen_dyck, ANSWER_TEXT, 5, "brackets of the input", {{3, 39}, {1, 2}, {2, 10}, {11, 30}, {31, 60}, {61, 99}}},
    {"navigate", gen_nav, ANSWER_TEXT, 4, "instructions", {{3, 9}, {1, 2}, {3, 4}, {5, 7}, {8, 10}}},
};
#define NGENS (sizeof gens / sizeof gens[0])

static const gen_entry *find(const char *name) {
    for (size_t i = 0; i < NGENS; i++)
        if (name && strcmp(gens[i].name, name) == 0) return &gens[i];
    return NULL;
}

int gen_exists(const char *name) { return find(name) != NULL; }

int gen_max_difficulty(const char *name) {
    const gen_entry *g = find(name);
    return g ? g->max_difficulty : 0;
}

int gen_size_range(const char *name, int difficulty, int *lo, int *hi, const char **unit) {
    const gen_entry *g = find(name);
    if (!g || difficulty < 0 || difficulty > g->max_difficulty) return TR_EINVAL;
    *lo = g->size[difficulty][0];
    *hi = g->size[difficulty][1];
    if (unit) *unit = g->size_unit;
    return 0;
}

answer_kind gen_kind(const char *name) {
    const gen_entry *g = find(name);
    return g ? g->kind : ANSWER_TEXT;
}

const char *gen_names(void) {
    return "multistep_arithmetic_two, boolean_expressions, dyck_languages, navigate";
}

int gen_make(const char *name, int difficulty, int64_t first_index, int n, uint64_t seed,
             task_example *out, tr_error *err) {
    const gen_entry *g = find(name);
    if (!g)
        return TR_FAIL(err, TR_EINVAL, "unknown generator '%s' (allowed: %s)", name ? name : "(null)", gen_names());
    if (difficulty < 0 || difficulty > g->max_difficulty)
        return TR_FAIL(err, TR_EINVAL, "generator '%s': difficulty %d is out of range (allowed: 0 = BBH target, 1 = easiest .. %d)",
                       name, difficulty, g->max_difficulty);
    if (n < 0 || first_index < 0)
        return TR_FAIL(err, TR_EINVAL, "generator '%s': bad range first_index=%lld n=%d (both must be >= 0)",
                       name, (long long)first_index, n);
    memset(out, 0, (size_t)n * sizeof *out);
    sbuf q, rat, ans;
    sbuf_init(&q); sbuf_init(&rat); sbuf_init(&ans);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t index = first_index + i;
        rng r;
        rng_init(&r, seed, RNG_PURPOSE_GENERATOR, (uint64_t)index);
        sbuf_clear(&q); sbuf_clear(&rat); sbuf_clear(&ans);
        if (g->fn(&r, difficulty, &q, &rat, &ans) != 0) {
            rc = TR_FAIL(err, TR_EINTERNAL, "generator '%s' difficulty %d index %lld: could not meet its own constraints",
                         name, difficulty, (long long)index);
            break;
        }
        out[i].id = index;
        if ((rc = sbuf_finish(&q, &out[i].question, err)) != 0) break;
        if ((rc = sbuf_finish(&rat, &out[i].rationale, err)) != 0) break;
        if ((rc = sbuf_finish(&ans, &out[i].answer, err)) != 0) break;
    }
    sbuf_free(&q); sbuf_free(&rat); sbuf_free(&ans);
    if (rc != 0) {
        task_examples_free(out, n);
        memset(out, 0, (size_t)n * sizeof *out);
    }
    return rc;
}
