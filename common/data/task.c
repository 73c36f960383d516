/* task.c - building tasks from the spec, splits, prompts and the answer check. */
#include "common/data/task.h"

#include <stdlib.h>
#include <string.h>

#include "common/data/gen.h"
#include "common/data/load.h"
#include "common/data/sbuf.h"
#include "common/util/log.h"
#include "common/util/rng.h"


void task_free(task *t) {
    if (!t) return;
    task_examples_free(t->ex, t->n_ex);
    free(t->ex);
    free(t->train_ids);
    free(t->eval_ids);
    memset(t, 0, sizeof *t);
}

const task_example *task_get(const task *t, int64_t id) {
    int64_t lo = 0, hi = t->n_ex - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (t->ex[mid].id == id) return &t->ex[mid];
        if (t->ex[mid].id < id) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_ex(const void *a, const void *b) {
    return cmp_i64(&((const task_example *)a)->id, &((const task_example *)b)->id);
}

int task_split(const int64_t *ids, int64_t n, double train_fraction, uint64_t seed,
               int64_t **train, int64_t *n_train, int64_t **eval, int64_t *n_eval, tr_error *err) {
    *train = *eval = NULL;
    *n_train = *n_eval = 0;
    if (n < 2) return TR_FAIL(err, TR_EINVAL, "cannot split %lld example(s) into train and held-out sets (need at least 2)", (long long)n);
    if (!(train_fraction > 0.0 && train_fraction < 1.0))
        return TR_FAIL(err, TR_EINVAL, "train_fraction %g is outside (0, 1)", train_fraction);
    int64_t *perm = tr_malloc((size_t)n * sizeof *perm, err);
    if (!perm) return TR_ENOMEM;
    memcpy(perm, ids, (size_t)n * sizeof *perm);
    qsort(perm, (size_t)n, sizeof *perm, cmp_i64);   /* the split must not depend on input order */
    rng r;
    rng_init(&r, seed, RNG_PURPOSE_SPLIT, 0);
    rng_shuffle_i64(&r, perm, (size_t)n);
    int64_t nt = (int64_t)(train_fraction * (double)n + 0.5);
    if (nt < 1) nt = 1;
    if (nt > n - 1) nt = n - 1;
    int64_t *tr = tr_malloc((size_t)nt * sizeof *tr, err);
    int64_t *ev = tr ? tr_malloc((size_t)(n - nt) * sizeof *ev, err) : NULL;
    if (!tr || !ev) { free(tr); free(perm); return TR_ENOMEM; }
    memcpy(tr, perm, (size_t)nt * sizeof *tr);
    memcpy(ev, perm + nt, (size_t)(n - nt) * sizeof *ev);
    free(perm);
    qsort(tr, (size_t)nt, sizeof *tr, cmp_i64);
    qsort(ev, (size_t)(n - nt), sizeof *ev, cmp_i64);
    *train = tr; *n_train = nt;
    *eval = ev; *n_eval = n - nt;
    return 0;
}

/* Keep a seeded random subset of `cap` ids (cap 0 = all), sorted. */
static void cap_ids(int64_t *ids, int64_t *n, int cap, uint64_t seed, uint64_t which) {
    if (cap <= 0 || *n <= cap) return;
    rng r;
    rng_init(&r, seed, RNG_PURPOSE_SPLIT, which);
    rng_shuffle_i64(&r, ids, (size_t)*n);
    *n = cap;
    qsort(ids, (size_t)*n, sizeof *ids, cmp_i64);
}

/* ---- question set (for held-out/train disjointness of generated data) ---- */

typedef struct qset { const char **slot; size_t cap, n; } qset;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int qset_init(qset *s, size_t expect, tr_error *err) {
    s->cap = 64;
    while (s->cap < expect * 2) s->cap *= 2;
    s->n = 0;
    s->slot = tr_calloc(s->cap, sizeof *s->slot, err);
    return s->slot ? 0 : TR_ENOMEM;
}

static int qset_has(const qset *s, const char *q) {
    for (size_t i = hash_str(q) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
        if (strcmp(s->slot[i], q) == 0) return 1;
    return 0;
}

/* Insert (the set borrows q); returns 1 if it was new, 0 if present. Capacity is sized
 * by the caller for everything it will insert. */
static int qset_add(qset *s, const char *q) {
    size_t i = hash_str(q) & (s->cap - 1);
    while (s->slot[i]) {
        if (strcmp(s->slot[i], q) == 0) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->slot[i] = q;
    s->n++;
    return 1;
}

/* Draw a generator's examples at indices 0, 1, 2, ... and keep those whose question is not in
 * held, until n are kept or 20 n + 10,000 were drawn: kept example j goes to dst[j] with id
 * id_base + its index (ids[j] too). *kept, *drawn and *skipped (held-out questions left out while
 * examples were still wanted) are set; on error the examples kept so far stay in dst (the
 * caller's task owns them). */
static int draw_unheld(const char *name, int difficulty, uint64_t seed, int64_t id_base, int n, const qset *held,
                       task_example *dst, int64_t *ids, int64_t *kept, int64_t *drawn, int64_t *skipped, tr_error *err) {
    enum { CHUNK = 256 };
    task_example chunk[CHUNK];
    int64_t budget = 20 * (int64_t)n + 10000;
    *kept = *drawn = *skipped = 0;
    while (*kept < n && *drawn < budget) {
        TR_TRY(gen_make(name, difficulty, *drawn, CHUNK, seed, chunk, err));
        for (int i = 0; i < CHUNK; i++) {
            if (*kept < n && !qset_has(held, chunk[i].question)) {
                chunk[i].id = id_base + *drawn + i;
                dst[*kept] = chunk[i];
                ids[(*kept)++] = chunk[i].id;
            } else {
                *skipped += *kept < n;
                task_examples_free(&chunk[i], 1);
            }
        }
        *drawn += CHUNK;
    }
    return 0;
}

/* Generated tasks. The held-out set is a fixed sample of the generator's own distribution:
 * indices TASK_TEST_ID_BASE .. + n_eval - 1, whatever n_train is, repeats included, so that
 * accuracies are comparable across recipes and match the task's real distribution (skipping
 * questions seen in training would bias it towards long, rare questions). The training side
 * is deduplicated instead: indices 0, 1, 2, ... whose question is also a held-out question
 * are left out, and drawing goes on until n_train examples are kept.
 * n_eval 0 means no held-out set, so nothing is left out of training. That is what a warm-up
 * stage on a small setting wants: boolean_expressions at difficulty 1 has only 62 distinct
 * questions, and a held-out set of 50 draws would take about half of them away from training. */
static int load_generated(const spec_task *st, uint64_t seed, task *t, tr_error *err) {
    int n_train = st->n_train, n_eval = st->n_eval > 0 ? st->n_eval : 0;
    if (n_train < 1) return TR_FAIL(err, TR_EINVAL, "task '%s': n_train must be >= 1 for a generator (got %d)", st->name, n_train);
    t->ex = tr_calloc((size_t)n_train + (size_t)n_eval, sizeof *t->ex, err);
    t->train_ids = tr_malloc((size_t)n_train * sizeof *t->train_ids, err);
    t->eval_ids = tr_malloc((size_t)(n_eval ? n_eval : 1) * sizeof *t->eval_ids, err);
    if (!t->ex || !t->train_ids || !t->eval_ids) return TR_ENOMEM;
    /* held-out first (ids above every training id: t->ex stays sorted once training is put before it) */
    task_example *held = t->ex + n_train;
    TR_TRY(gen_make(st->name, st->difficulty, TASK_TEST_ID_BASE, n_eval, seed, held, err));
    t->n_eval = n_eval;
    for (int i = 0; i < n_eval; i++) t->eval_ids[i] = held[i].id;
    qset heldq;
    TR_TRY(qset_init(&heldq, (size_t)(n_eval ? n_eval : 1), err));
    for (int i = 0; i < n_eval; i++) qset_add(&heldq, held[i].question);

    int64_t next, skipped;
    int rc = draw_unheld(st->name, st->difficulty, seed, 0, n_train, &heldq, t->ex, t->train_ids, &t->n_train, &next, &skipped, err);
    free(heldq.slot);
    /* close the gap between the training examples and the held-out ones (t->ex sorted by id) */
    if (t->n_train < n_train) memmove(t->ex + t->n_train, held, (size_t)n_eval * sizeof *held);
    t->n_ex = t->n_train + t->n_eval;
    if (rc) return rc;
    if (skipped * 100 >= skipped + n_train && t->n_train == n_train)   /* what the held-out set costs (1% or more) */
        LOG_I("task '%s' difficulty %d: %lld%% of the training draws were left out because their question is also one of "
              "the %d held-out ones%s", st->name, st->difficulty, (long long)(100 * skipped / (skipped + n_train)), n_eval,
              skipped * 4 > n_train ? " (a warm-up stage needs no held-out set: there, task.n_eval 0 keeps them all)" : "");
    if (t->n_train < n_train)
        return TR_FAIL(err, TR_EINVAL, "task '%s' difficulty %d: only %lld of %lld drawn training questions differ from the %d held-out ones "
                       "(wanted n_train = %d); this setting has too few distinct questions: lower n_eval, or raise the difficulty",
                       st->name, st->difficulty, (long long)t->n_train, (long long)next, n_eval, n_train);
    return 0;
}

/* Normalise golds, choose the answer kind, check given rationales. */
static int finish_file_task(task *t, const char *path, tr_error *err) {
    if (t->source != TASK_SRC_GSM8K) {
        int all_int = 1;
        for (int64_t i = 0; i < t->n_ex && all_int; i++) all_int = answer_is_integer(t->ex[i].answer);
        t->kind = all_int ? ANSWER_INT : ANSWER_TEXT;
    }
    for (int64_t i = 0; i < t->n_ex; i++) {
        task_example *e = &t->ex[i];
        char norm[ANSWER_MAX];
        if (answer_normalise(t->kind, e->answer, norm, sizeof norm) != 0)
            return TR_FAIL(err, TR_EFORMAT, "%s: record id %lld: answer '%.60s' is empty or longer than %d bytes",
                           path, (long long)e->id, e->answer, ANSWER_MAX - 1);
        char *d = tr_strdup(norm, err);
        if (!d) return TR_ENOMEM;
        free(e->answer);
        e->answer = d;
        if (e->rationale && !answer_check(t->kind, e->rationale, e->answer))
            return TR_FAIL(err, TR_EFORMAT, "%s: record id %lld: the rationale does not end in \"So the answer is %s.\" "
                           "(c(z, y) would reject it)", path, (long long)e->id, e->answer);
    }
    return 0;
}

typedef int (*file_loader)(const char *, int64_t, task_example **, int64_t *, tr_error *);

static int load_from_files(const spec_task *st, uint64_t seed, file_loader fn, task *t, tr_error *err) {
    task_example *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    TR_TRY(fn(st->path, 0, &a, &na, err));
    if (st->test_path[0]) {
        int rc = fn(st->test_path, TASK_TEST_ID_BASE, &b, &nb, err);
        if (rc) { task_examples_free(a, na); free(a); return rc; }
    }
    t->ex = tr_realloc(a, (size_t)(na + nb) * sizeof *a, err);
    if (!t->ex) { task_examples_free(a, na); free(a); task_examples_free(b, nb); free(b); return TR_ENOMEM; }
    if (nb) memcpy(t->ex + na, b, (size_t)nb * sizeof *b);
    free(b);
    t->n_ex = na + nb;
    qsort(t->ex, (size_t)t->n_ex, sizeof *t->ex, cmp_ex);
    for (int64_t i = 1; i < t->n_ex; i++)
        if (t->ex[i].id == t->ex[i - 1].id)
            return TR_FAIL(err, TR_EINTERNAL, "duplicate example id %lld", (long long)t->ex[i].id);
    TR_TRY(finish_file_task(t, st->path, err));

    if (st->test_path[0]) {
        t->train_ids = tr_malloc((size_t)(na ? na : 1) * sizeof *t->train_ids, err);
        t->eval_ids = tr_malloc((size_t)(nb ? nb : 1) * sizeof *t->eval_ids, err);
        if (!t->train_ids || !t->eval_ids) return TR_ENOMEM;
        for (int64_t i = 0; i < na; i++) t->train_ids[i] = t->ex[i].id;
        for (int64_t i = 0; i < nb; i++) t->eval_ids[i] = t->ex[na + i].id;
        t->n_train = na;
        t->n_eval = nb;
    } else {
        int64_t *ids = tr_malloc((size_t)t->n_ex * sizeof *ids, err);
        if (!ids) return TR_ENOMEM;
        for (int64_t i = 0; i < t->n_ex; i++) ids[i] = t->ex[i].id;
        int rc = task_split(ids, t->n_ex, st->train_fraction, seed, &t->train_ids, &t->n_train,
                            &t->eval_ids, &t->n_eval, err);
        free(ids);
        if (rc) {
            if (err) tr_error_wrap(err, "%s", st->path);
            return rc;
        }
    }
    cap_ids(t->train_ids, &t->n_train, st->n_train, seed, 1);
    cap_ids(t->eval_ids, &t->n_eval, st->n_eval, seed, 2);
    return 0;
}

/* ---- mixes: other generator settings trained beside the task ---- */

/* The generator seed of mix part k: its own stream, so that a part of the task's own setting
 * draws other questions than the task's training examples. */
static uint64_t mix_seed(uint64_t seed, int k) { return seed * UINT64_C(0x9E3779B97F4A7C15) + UINT64_C(1000003) * (uint64_t)(k + 1); }

static int add_mix_part(const spec_task *st, int k, uint64_t seed, const qset *heldq, task *t, tr_error *err) {
    const spec_mix_part *p = &st->mix[k];
    int64_t kept, drawn, skipped;
    int rc = draw_unheld(p->name, p->difficulty, mix_seed(seed, k), TASK_MIX_ID_BASE + k * TASK_MIX_ID_STRIDE, p->n_train, heldq,
                         t->ex + t->n_ex, t->train_ids + t->n_train, &kept, &drawn, &skipped, err);
    t->n_ex += kept;
    t->n_train += kept;
    if (rc) return tr_error_wrap(err, "task.mix[%d] (%s difficulty %d)", k, p->name, p->difficulty);
    if (kept < p->n_train)
        return TR_FAIL(err, TR_EINVAL, "task.mix[%d] (%s difficulty %d): only %lld of %lld drawn questions differ from the task's "
                       "%lld held-out ones (wanted n_train = %d); lower its n_train", k, p->name, p->difficulty, (long long)kept,
                       (long long)drawn, (long long)t->n_eval, p->n_train);
    t->mix_kind[k] = gen_kind(p->name);
    t->n_mix = k + 1;
    return 0;
}

static int add_mix(const spec_task *st, uint64_t seed, task *t, tr_error *err) {
    if (st->n_mix <= 0) return 0;
    if (st->n_mix > SPEC_MIX_MAX) return TR_FAIL(err, TR_EINVAL, "task.mix has %d parts; at most %d", st->n_mix, SPEC_MIX_MAX);
    int64_t total = 0;
    for (int k = 0; k < st->n_mix; k++) total += st->mix[k].n_train;
    task_example *ex = tr_realloc(t->ex, (size_t)(t->n_ex + total) * sizeof *ex, err);
    if (!ex) return TR_ENOMEM;
    t->ex = ex;
    int64_t *ids = tr_realloc(t->train_ids, (size_t)(t->n_train + total) * sizeof *ids, err);
    if (!ids) return TR_ENOMEM;
    t->train_ids = ids;
    qset heldq;
    TR_TRY(qset_init(&heldq, (size_t)(t->n_eval ? t->n_eval : 1), err));
    for (int64_t i = 0; i < t->n_eval; i++) qset_add(&heldq, task_get(t, t->eval_ids[i])->question);
    int rc = 0;
    for (int k = 0; k < st->n_mix && !rc; k++) rc = add_mix_part(st, k, seed, &heldq, t, err);
    free(heldq.slot);
    return rc;
}

int task_load(const spec_task *st, uint64_t seed, task *out, tr_error *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", st->name);
    out->difficulty = st->difficulty;
    int rc;
    if (gen_exists(st->name)) {
        out->source = TASK_SRC_GENERATOR;
        out->kind = gen_kind(st->name);
        rc = load_generated(st, seed, out, err);
    } else if (strcmp(st->name, "bbh") == 0 || strcmp(st->name, "gsm8k") == 0 || strcmp(st->name, "jsonl") == 0) {
        if (st->path[0] == '\0')
            return TR_FAIL(err, TR_EINVAL, "task '%s' reads a data file: set task.path", st->name);
        out->source = st->name[0] == 'b' ? TASK_SRC_BBH : st->name[0] == 'g' ? TASK_SRC_GSM8K : TASK_SRC_JSONL;
        out->kind = out->source == TASK_SRC_GSM8K ? ANSWER_INT : ANSWER_TEXT;
        rc = load_from_files(st, seed, out->source == TASK_SRC_BBH ? load_bbh_file
                             : out->source == TASK_SRC_GSM8K ? load_gsm8k_file : load_jsonl_file, out, err);
    } else {
        return TR_FAIL(err, TR_EINVAL, "unknown task '%s' (allowed: %s, bbh, gsm8k, jsonl)", st->name, gen_names());
    }
    if (!rc) rc = add_mix(st, seed, out, err);
    if (rc) task_free(out);
    return rc;
}

/* ---- prompts and checks ---- */

static int build(char **out, tr_error *err, const char *a, const char *b, const char *c, const char *d) {
    sbuf s;
    sbuf_init(&s);
    sbuf_puts(&s, a);
    sbuf_puts(&s, b);
    sbuf_puts(&s, c);
    if (d) sbuf_puts(&s, d);
    return sbuf_finish(&s, out, err);
}

int task_rationale_prompt(const task *t, const task_example *ex, char **out, tr_error *err) {
    (void)t;
    return build(out, err, "Q: ", ex->question, "\nA: Let's think step by step.\n", NULL);
}

int task_exemplars(const task *t, int64_t self, int k, int64_t *out) {
    int n = 0;
    for (int64_t i = 0; i < t->n_train && n < k; i++) {   /* train_ids are ascending */
        const task_example *x = task_get(t, t->train_ids[i]);
        if (x && x->rationale && x->id != self) out[n++] = x->id;
    }
    return n;
}

int task_fewshot_prompt(const task *t, const int64_t *shots, int k, const task_example *ex, char **out, tr_error *err) {
    sbuf s;
    sbuf_init(&s);
    for (int i = 0; i < k; i++) {
        const task_example *x = task_get(t, shots[i]);
        if (!x || !x->rationale) {
            sbuf_free(&s);
            *out = NULL;
            return TR_FAIL(err, TR_EINTERNAL, "few-shot exemplar %lld is not an example with a rationale", (long long)shots[i]);
        }
        sbuf_printf(&s, "Q: %s\nA: Let's think step by step.\n%s\n\n", x->question, x->rationale);
    }
    sbuf_printf(&s, "Q: %s\nA: Let's think step by step.\n", ex->question);
    return sbuf_finish(&s, out, err);
}

int task_hinted_prompt(const task *t, const task_example *ex, char **out, tr_error *err) {
    (void)t;
    sbuf s;
    sbuf_init(&s);
    sbuf_printf(&s, "Q: %s\nA: The answer is %s. Let's think step by step.\n", ex->question, ex->answer);
    return sbuf_finish(&s, out, err);
}

int task_direct_prompt(const task *t, const task_example *ex, char **out, tr_error *err) {
    (void)t;
    return build(out, err, "Q: ", ex->question, "\nA:", NULL);
}

int task_direct_target(const task *t, const task_example *ex, char **out, tr_error *err) {
    (void)t;
    return build(out, err, " So the answer is ", ex->answer, ".", NULL);
}

int task_extract_answer(const task *t, const char *generated, char *out, size_t cap) {
    return answer_extract(t->kind, generated, out, cap);
}

int task_check(const task *t, const char *generated, const char *gold) {
    return answer_check(t->kind, generated, gold);
}

int task_check_example(const task *t, const task_example *ex, const char *generated) {
    int64_t part = ex->id >= TASK_MIX_ID_BASE ? (ex->id - TASK_MIX_ID_BASE) / TASK_MIX_ID_STRIDE : -1;
    answer_kind kind = part >= 0 && part < t->n_mix ? t->mix_kind[part] : t->kind;
    return answer_check(kind, generated, ex->answer);
}
