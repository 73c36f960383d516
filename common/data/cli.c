/* cli.c - `data show` and `data stats`; usage in cli.h. */
#include "common/data/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/gen.h"
#include "common/data/load.h"
#include "common/data/task.h"
#include "common/util/cliopt.h"

typedef struct cli_opts {
    const char *cmd, *task;
    int n, n_given, difficulty, context;
    const char *path, *test_path, *split, *prompt;
    uint64_t seed;
    double train_fraction;
} cli_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: trice data show|stats TASK [--n N] [--difficulty D] [--path FILE] [--test-path FILE]\n"
            "                              [--seed S] [--split train|eval] [--prompt rationale|hinted|direct]\n"
            "                              [--context C] [--train-fraction F]\n"
            "show prints examples as the model sees them (prompt, rationale, answer); stats prints counts,\n"
            "lengths and the answer distribution. Needs no daemon.\n"
            "TASK: %s, bbh, gsm8k, jsonl (with --path), cot (a BBH CoT prompt file at --path)\n"
            "options:\n"
            "  --n N               examples to show (default 3) or to count (default 1000)\n"
            "  --difficulty D      generator setting (0 = the BBH format, 1 = easiest)\n"
            "  --path FILE         data file for bbh, gsm8k, jsonl, cot; --test-path FILE its held-out file\n"
            "  --seed S            seed of the generator and of the split (default 1)\n"
            "  --split S           train or eval (default train)\n"
            "  --prompt P          rationale, hinted or direct (default rationale)\n"
            "  --context C         context length for the fit count (default 256)\n"
            "  --train-fraction F  training share of a split file, in (0, 1) (default 0.6)\n"
            "  -h, --help          this text\n",
            gen_names());
}

#define PROG "trice data"

static int one_of(const char *flag, const char *v, const char *const *allowed) {
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(v, allowed[i])) return 0;
    fprintf(stderr, PROG ": --%s '%s': allowed values are", flag, v);
    for (int i = 0; allowed[i]; i++) fprintf(stderr, "%s %s", i ? "," : "", allowed[i]);
    fprintf(stderr, "\n");
    return 2;
}

/* Returns 0 to run, 2 for a usage error, -1 after printing --help. */
static int parse_args(int argc, char **argv, cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->split = "train";
    o->prompt = "rationale";
    o->context = 256;
    o->train_fraction = 0.6;
    enum { O_N = 256, O_DIFF, O_CTX, O_SEED, O_PATH, O_TEST, O_SPLIT, O_PROMPT, O_FRAC };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'}, {"n", required_argument, NULL, O_N},
        {"difficulty", required_argument, NULL, O_DIFF}, {"context", required_argument, NULL, O_CTX},
        {"seed", required_argument, NULL, O_SEED}, {"path", required_argument, NULL, O_PATH},
        {"test-path", required_argument, NULL, O_TEST}, {"split", required_argument, NULL, O_SPLIT},
        {"prompt", required_argument, NULL, O_PROMPT}, {"train-fraction", required_argument, NULL, O_FRAC},
        {NULL, 0, NULL, 0},
    };
    static const char *const splits[] = {"train", "eval", NULL}, *const prompts[] = {"rationale", "hinted", "direct", NULL};
    cliopt_reset();
    int c;
    long x;
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return -1;
        case O_N: if (cliopt_long(PROG, "n", optarg, 1, 10000000, &x)) return 2; o->n = (int)x; o->n_given = 1; break;
        case O_DIFF: if (cliopt_long(PROG, "difficulty", optarg, 0, 100, &x)) return 2; o->difficulty = (int)x; break;
        case O_CTX: if (cliopt_long(PROG, "context", optarg, 1, 1 << 20, &x)) return 2; o->context = (int)x; break;
        case O_SEED: if (cliopt_long(PROG, "seed", optarg, 0, 0x7fffffffL, &x)) return 2; o->seed = (uint64_t)x; break;
        case O_PATH: o->path = optarg; break;
        case O_TEST: o->test_path = optarg; break;
        case O_SPLIT: if (one_of("split", optarg, splits)) return 2; o->split = optarg; break;
        case O_PROMPT: if (one_of("prompt", optarg, prompts)) return 2; o->prompt = optarg; break;
        case O_FRAC:
            if (cliopt_double(PROG, "train-fraction", optarg, 1e-9, 1 - 1e-9, &o->train_fraction)) return 2;
            break;
        default: return cliopt_report(PROG, c, argv, lo);
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, PROG ": give a command (show or stats) and a task; see '" PROG " --help'\n");
        return 2;
    }
    o->cmd = argv[optind];
    o->task = argv[optind + 1];
    if (strcmp(o->cmd, "show") && strcmp(o->cmd, "stats")) {
        fprintf(stderr, PROG ": unknown command '%s' (show or stats); see '" PROG " --help'\n", o->cmd);
        return 2;
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
    if (!q.v || !p.v || !r.v || !pr.v || !a.v || !ac) { fprintf(stderr, PROG ": out of memory\n"); goto out; }
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
    if (!o->path) { fprintf(stderr, PROG ": task 'cot' needs --path FILE (a BBH cot-prompts/*.txt)\n"); return 2; }
    cot_prompt c;
    tr_error err;
    if (load_cot_file(o->path, &c, &err) != 0) { fprintf(stderr, PROG ": %s\n", err.msg); return 1; }
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
    if (rc) return rc < 0 ? 0 : rc;
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
        fprintf(stderr, PROG ": %s\n", err.msg);
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
