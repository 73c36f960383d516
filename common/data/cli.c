/* cli.c - `data show` and `data stats`; usage in cli.h. */
#include "common/data/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/gen.h"
#include "common/data/load.h"
#include "common/data/task.h"

typedef struct cli_opts {
    const char *cmd, *task;
    int n, n_given, difficulty, context;
    const char *path, *test_path, *split, *prompt;
    uint64_t seed;
    double train_fraction;
} cli_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: data show|stats TASK [--n N] [--difficulty D] [--path FILE] [--test-path FILE]\n"
            "                        [--seed S] [--split train|eval] [--prompt rationale|hinted|direct]\n"
            "                        [--context C] [--train-fraction F]\n"
            "TASK: %s, bbh, gsm8k, jsonl (with --path), cot (a BBH CoT prompt file at --path)\n",
            gen_names());
}

static int parse_long(const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "data: %s expects an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->split = "train";
    o->prompt = "rationale";
    o->context = 256;
    o->train_fraction = 0.6;
    if (argc < 3) { usage(stderr); return 2; }
    o->cmd = argv[1];
    o->task = argv[2];
    if (strcmp(o->cmd, "show") && strcmp(o->cmd, "stats")) {
        fprintf(stderr, "data: unknown command '%s'\n", o->cmd);
        usage(stderr);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        const char *f = argv[i];
        if (i + 1 >= argc) { fprintf(stderr, "data: option '%s' needs a value\n", f); return 2; }
        const char *v = argv[++i];
        long x;
        if (!strcmp(f, "--n")) { if (parse_long(f, v, 1, 10000000, &x)) return 2; o->n = (int)x; o->n_given = 1; }
        else if (!strcmp(f, "--difficulty")) { if (parse_long(f, v, 0, 100, &x)) return 2; o->difficulty = (int)x; }
        else if (!strcmp(f, "--context")) { if (parse_long(f, v, 1, 1 << 20, &x)) return 2; o->context = (int)x; }
        else if (!strcmp(f, "--seed")) { if (parse_long(f, v, 0, 0x7fffffffL, &x)) return 2; o->seed = (uint64_t)x; }
        else if (!strcmp(f, "--path")) o->path = v;
        else if (!strcmp(f, "--test-path")) o->test_path = v;
        else if (!strcmp(f, "--split")) {
            if (strcmp(v, "train") && strcmp(v, "eval")) { fprintf(stderr, "data: --split is train or eval, got '%s'\n", v); return 2; }
            o->split = v;
        } else if (!strcmp(f, "--prompt")) {
            if (strcmp(v, "rationale") && strcmp(v, "hinted") && strcmp(v, "direct")) {
                fprintf(stderr, "data: --prompt is rationale, hinted or direct, got '%s'\n", v);
                return 2;
            }
            o->prompt = v;
        } else if (!strcmp(f, "--train-fraction")) {
            char *end;
            o->train_fraction = strtod(v, &end);
            if (*end || !(o->train_fraction > 0 && o->train_fraction < 1)) {
                fprintf(stderr, "data: --train-fraction is in (0, 1), got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "data: unknown option '%s'\n", f);
            usage(stderr);
            return 2;
        }
    }
    if (!o->n_given) o->n = strcmp(o->cmd, "show") == 0 ? 3 : 1000;
    return 0;
}

static char *make_prompt(const cli_opts *o, const task *t, const task_example *e, char **target) {
    char *p = NULL;
    *target = NULL;
    if (!strcmp(o->prompt, "hinted")) task_hinted_prompt(t, e, &p, NULL);
    else if (!strcmp(o->prompt, "direct")) { task_direct_prompt(t, e, &p, NULL); task_direct_target(t, e, target, NULL); }
    else task_rationale_prompt(t, e, &p, NULL);
    if (!*target && e->rationale) *target = strdup(e->rationale);
    return p;
}

static void show(const cli_opts *o, const task *t, const int64_t *ids, int64_t n) {
    int64_t m = n < o->n ? n : o->n;
    for (int64_t i = 0; i < m; i++) {
        const task_example *e = task_get(t, ids[i]);
        if (!e) continue;
        char *target, *p = make_prompt(o, t, e, &target);
        printf("=== %s example id %lld (%s) ===\n", t->name, (long long)e->id, o->split);
        printf("--- prompt (%zu bytes)\n%s\n", p ? strlen(p) : 0, p ? p : "(out of memory)");
        if (target) {
            printf("--- %s (%zu bytes; prompt + it = %zu)\n%s\n", strcmp(o->prompt, "direct") ? "rationale" : "target",
                   strlen(target), strlen(target) + (p ? strlen(p) : 0), target);
            printf("--- c(z, y) of it: %d\n", task_check(t, target, e->answer));
        } else {
            printf("--- rationale: (none in the data)\n");
        }
        printf("--- answer: %s\n\n", e->answer);
        free(p);
        free(target);
    }
    printf("(%lld of %lld %s examples shown)\n", (long long)m, (long long)n, o->split);
}

typedef struct lenstat { size_t *v; int64_t n; } lenstat;

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static void print_len(const char *label, lenstat *s) {
    if (s->n == 0) { printf("  %-18s (none)\n", label); return; }
    qsort(s->v, (size_t)s->n, sizeof *s->v, cmp_size);
    double sum = 0;
    for (int64_t i = 0; i < s->n; i++) sum += (double)s->v[i];
    printf("  %-18s %6zu %6zu %6zu %6zu %8.1f\n", label, s->v[0], s->v[s->n / 2],
           s->v[(s->n * 9) / 10], s->v[s->n - 1], sum / (double)s->n);
}

typedef struct anscount { const char *a; int64_t c; } anscount;

static int cmp_count(const void *a, const void *b) {
    const anscount *x = a, *y = b;
    if (x->c != y->c) return (y->c > x->c) - (y->c < x->c);
    return strcmp(x->a, y->a);
}

static int cmp_str(const void *a, const void *b) { return strcmp(((const anscount *)a)->a, ((const anscount *)b)->a); }

static int stats(const cli_opts *o, const task *t, const int64_t *ids, int64_t n) {
    lenstat q = {0}, p = {0}, r = {0}, pr = {0}, a = {0};
    q.v = calloc((size_t)n + 1, sizeof(size_t)); p.v = calloc((size_t)n + 1, sizeof(size_t));
    r.v = calloc((size_t)n + 1, sizeof(size_t)); pr.v = calloc((size_t)n + 1, sizeof(size_t));
    a.v = calloc((size_t)n + 1, sizeof(size_t));
    anscount *ac = calloc((size_t)n + 1, sizeof *ac);
    int64_t fits = 0, with_r = 0, bad = 0;
    if (!q.v || !p.v || !r.v || !pr.v || !a.v || !ac) { fprintf(stderr, "data: out of memory\n"); goto out; }
    for (int64_t i = 0; i < n; i++) {
        const task_example *e = task_get(t, ids[i]);
        char *target, *pp = make_prompt(o, t, e, &target);
        size_t lp = pp ? strlen(pp) : 0, lr = target ? strlen(target) : 0;
        q.v[q.n++] = strlen(e->question);
        p.v[p.n++] = lp;
        a.v[a.n++] = strlen(e->answer);
        if (target) {
            r.v[r.n++] = lr;
            pr.v[pr.n++] = lp + lr;
            with_r++;
            fits += lp + lr <= (size_t)o->context;
            bad += !task_check(t, target, e->answer);
        } else {
            fits += lp <= (size_t)o->context;
        }
        ac[i].a = e->answer;
        free(pp);
        free(target);
    }
    printf("task: %s (%s%s, answers compared as %s)\n", t->name,
           t->source == TASK_SRC_GENERATOR ? "generator" : "file",
           t->source == TASK_SRC_GENERATOR ? (t->difficulty == 0 ? ", difficulty 0 = BBH target" : ", easier/harder setting") : "",
           t->kind == ANSWER_INT ? "integers" : "text");
    if (t->source == TASK_SRC_GENERATOR) printf("difficulty: %d\n", t->difficulty);
    printf("examples: %lld train, %lld held-out; statistics below: %s split (%lld), prompt '%s'\n",
           (long long)t->n_train, (long long)t->n_eval, o->split, (long long)n, o->prompt);
    printf("byte lengths (= tokens: byte-level tokenizer)\n");
    printf("  %-18s %6s %6s %6s %6s %8s\n", "", "min", "p50", "p90", "max", "mean");
    print_len("question", &q);
    print_len("prompt", &p);
    print_len(strcmp(o->prompt, "direct") ? "rationale" : "target", &r);
    print_len("prompt+rationale", &pr);
    print_len("answer", &a);
    printf("with rationale: %lld; fit in context %d: %lld (%.1f%%)", (long long)with_r, o->context,
           (long long)fits, n ? 100.0 * (double)fits / (double)n : 0.0);
    if (with_r) printf("; rationales failing c(z, y): %lld", (long long)bad);
    printf("\n");
    qsort(ac, (size_t)n, sizeof *ac, cmp_str);
    int64_t distinct = 0;
    for (int64_t i = 0; i < n; i++) {
        if (distinct > 0 && strcmp(ac[distinct - 1].a, ac[i].a) == 0) ac[distinct - 1].c++;
        else ac[distinct++] = (anscount){ac[i].a, 1};
    }
    qsort(ac, (size_t)distinct, sizeof *ac, cmp_count);
    printf("answers: %lld distinct; most common:", (long long)distinct);
    for (int64_t i = 0; i < distinct && i < 10; i++)
        printf("%s '%s' %lld (%.1f%%)", i ? "," : "", ac[i].a, (long long)ac[i].c, 100.0 * (double)ac[i].c / (double)n);
    printf("\n");
out:
    free(q.v); free(p.v); free(r.v); free(pr.v); free(a.v); free(ac);
    return 0;
}

static int run_cot(const cli_opts *o) {
    if (!o->path) { fprintf(stderr, "data: task 'cot' needs --path FILE (a BBH cot-prompts/*.txt)\n"); return 2; }
    cot_prompt c;
    tr_error err;
    if (load_cot_file(o->path, &c, &err) != 0) { fprintf(stderr, "data: %s\n", err.msg); return 1; }
    task t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "cot");
    t.ex = c.ex;
    t.n_ex = c.n;
    int64_t ids[64];
    int64_t n = c.n < 64 ? c.n : 64;
    for (int64_t i = 0; i < n; i++) ids[i] = c.ex[i].id;
    printf("description: %s\n", c.description);
    if (!strcmp(o->cmd, "show")) show(o, &t, ids, n);
    else stats(o, &t, ids, n);
    cot_prompt_free(&c);
    return 0;
}

int data_cli_main(int argc, char **argv) {
    cli_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    if (!strcmp(o.task, "cot")) return run_cot(&o);
    spec_task st;
    memset(&st, 0, sizeof st);
    snprintf(st.name, sizeof st.name, "%s", o.task);
    if (o.path) snprintf(st.path, sizeof st.path, "%s", o.path);
    if (o.test_path) snprintf(st.test_path, sizeof st.test_path, "%s", o.test_path);
    st.difficulty = o.difficulty;
    st.train_fraction = o.train_fraction;
    if (gen_exists(o.task)) {
        st.n_train = o.n;
        st.n_eval = o.n / 10 + 1;   /* the held-out set only needs to exist here */
    }
    task t;
    tr_error err;
    if (task_load(&st, o.seed, &t, &err) != 0) {
        fprintf(stderr, "data: %s\n", err.msg);
        return 1;
    }
    int eval = !strcmp(o.split, "eval");
    const int64_t *ids = eval ? t.eval_ids : t.train_ids;
    int64_t n = eval ? t.n_eval : t.n_train;
    if (!strcmp(o.cmd, "show")) show(&o, &t, ids, n);
    else rc = stats(&o, &t, ids, n);
    task_free(&t);
    return rc;
}
