/* Built-in generators, checked by evaluators written here independently of gen_*.c:
 * a precedence-climbing arithmetic parser, a shunting-yard boolean evaluator, a bracket
 * stack and a text-driven navigation simulator. The evaluators are also run on the BBH
 * CoT exemplars (when ../shared/data is present) so that they agree with BBH's answers. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/answer.h"
#include "common/data/gen.h"
#include "common/data/load.h"
#include "common/data/task.h"

/* ---- arithmetic: recursive descent over the question text ---- */

typedef struct ap { const char *s; int ok; } ap;

static void skip(ap *p) { while (*p->s == ' ') p->s++; }

static long long a_expr(ap *p);

static long long a_factor(ap *p) {
    skip(p);
    if (*p->s == '(') {
        p->s++;
        long long v = a_expr(p);
        skip(p);
        if (*p->s != ')') p->ok = 0; else p->s++;
        return v;
    }
    char *end;
    long long v = strtoll(p->s, &end, 10);   /* "-4" is a negative literal */
    if (end == p->s) { p->ok = 0; return 0; }
    p->s = end;
    return v;
}

static long long a_term(ap *p) {
    long long v = a_factor(p);
    for (;;) {
        skip(p);
        if (*p->s == '*') { p->s++; v *= a_factor(p); } else return v;
    }
}

static long long a_expr(ap *p) {
    long long v = a_term(p);
    for (;;) {
        skip(p);
        /* binary minus is followed by a space ("- -4"); a literal's minus is not */
        if (*p->s == '+' && p->s[1] == ' ') { p->s++; v += a_term(p); }
        else if (*p->s == '-' && p->s[1] == ' ') { p->s++; v -= a_term(p); }
        else return v;
    }
}

static int eval_arith(const char *q, char *out, size_t cap) {
    ap p = {q, 1};
    long long v = a_expr(&p);
    skip(&p);
    if (!p.ok || strcmp(p.s, "=") != 0) return 1;
    snprintf(out, cap, "%lld", v);
    return 0;
}

/* ---- boolean: shunting-yard to RPN ---- */

static int eval_bool(const char *q, char *out, size_t cap) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", q);
    size_t n = strlen(buf);
    if (n < 3 || strcmp(buf + n - 3, " is") != 0) return 1;
    buf[n - 3] = '\0';
    char ops[64]; int nops = 0;       /* operator stack: '!' not, '&' and, '|' or, '(' */
    char rpn[128]; int nr = 0;
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        if (!strcmp(tok, "True")) rpn[nr++] = 'T';
        else if (!strcmp(tok, "False")) rpn[nr++] = 'F';
        else if (!strcmp(tok, "not")) ops[nops++] = '!';
        else if (!strcmp(tok, "(")) ops[nops++] = '(';
        else if (!strcmp(tok, ")")) {
            while (nops > 0 && ops[nops - 1] != '(') rpn[nr++] = ops[--nops];
            if (nops == 0) return 1;
            nops--;
        } else if (!strcmp(tok, "and") || !strcmp(tok, "or")) {
            char op = tok[0] == 'a' ? '&' : '|';
            int prec = op == '&' ? 2 : 1;
            while (nops > 0 && ops[nops - 1] != '(') {
                char top = ops[nops - 1];
                int tp = top == '!' ? 3 : top == '&' ? 2 : 1;
                if (tp < prec) break;
                rpn[nr++] = ops[--nops];
            }
            ops[nops++] = op;
        } else {
            return 1;
        }
    }
    while (nops > 0) { if (ops[nops - 1] == '(') return 1; rpn[nr++] = ops[--nops]; }
    int st[128], sp = 0;
    for (int i = 0; i < nr; i++) {
        char c = rpn[i];
        if (c == 'T' || c == 'F') st[sp++] = c == 'T';
        else if (c == '!') { if (sp < 1) return 1; st[sp - 1] = !st[sp - 1]; }
        else { if (sp < 2) return 1; int b = st[--sp], a = st[--sp]; st[sp++] = c == '&' ? (a && b) : (a || b); }
    }
    if (sp != 1) return 1;
    snprintf(out, cap, "%s", st[0] ? "True" : "False");
    return 0;
}

/* ---- dyck: a stack of the input's brackets ---- */

static const char *DYCK_PREFIX = "Complete the rest of the sequence, making sure that the parentheses are closed properly. Input: ";

static int eval_dyck(const char *q, char *out, size_t cap) {
    if (strncmp(q, DYCK_PREFIX, strlen(DYCK_PREFIX)) != 0) return 1;
    char st[256]; int sp = 0;
    for (const char *p = q + strlen(DYCK_PREFIX); *p; p++) {
        if (*p == ' ') continue;
        const char *o = strchr("([{<", *p), *c = strchr(")]}>", *p);
        if (o && *p) st[sp++] = *p;
        else if (c && *p) {
            const char *want = &"([{<"[c - ")]}>"];
            if (sp == 0 || st[sp - 1] != *want) return 1;
            sp--;
        } else return 1;
    }
    if (sp == 0) return 1;
    size_t o = 0;
    for (int i = sp - 1; i >= 0; i--) {
        char c = ")]}>"[strchr("([{<", st[i]) - "([{<"];
        if (o + 3 > cap) return 1;
        out[o++] = c;
        if (i) out[o++] = ' ';
    }
    out[o] = '\0';
    return 0;
}

/* ---- navigate: simulate the sentences ---- */

static const char *NAV_PREFIX = "If you follow these instructions, do you return to the starting point? ";
static const char *NAV_SUFFIX = "\nOptions:\n- Yes\n- No";

static int eval_nav(const char *q, char *out, size_t cap) {
    size_t n = strlen(q), ls = strlen(NAV_SUFFIX);
    if (strncmp(q, NAV_PREFIX, strlen(NAV_PREFIX)) != 0 || n < ls || strcmp(q + n - ls, NAV_SUFFIX) != 0) return 1;
    char body[1024];
    size_t bl = n - ls - strlen(NAV_PREFIX);
    if (bl >= sizeof body) return 1;
    memcpy(body, q + strlen(NAV_PREFIX), bl);
    body[bl] = '\0';
    int x = 0, y = 0, hx = 0, hy = 1;   /* heading vector, start facing +y */
    for (char *s = strtok(body, "."); s; s = strtok(NULL, ".")) {
        while (*s == ' ') s++;
        if (!*s) continue;
        int k;
        char word[32] = "", dir[32] = "";
        if (!strcmp(s, "Turn left")) { int t = hx; hx = -hy; hy = t; }
        else if (!strcmp(s, "Turn right")) { int t = hx; hx = hy; hy = -t; }
        else if (!strcmp(s, "Turn around")) { hx = -hx; hy = -hy; }
        else if (!strcmp(s, "Always face forward")) { /* heading stays */ }
        else if (sscanf(s, "Take %d %31s %31s", &k, word, dir) >= 2) {
            if (strcmp(word, k == 1 ? "step" : "steps") != 0) return 1;
            int mx = hx, my = hy;
            if (!strcmp(dir, "backward")) { mx = -hx; my = -hy; }
            else if (!strcmp(dir, "left")) { mx = -hy; my = hx; }
            else if (!strcmp(dir, "right")) { mx = hy; my = -hx; }
            else if (dir[0] && strcmp(dir, "forward")) return 1;
            x += mx * k; y += my * k;
        } else return 1;
    }
    snprintf(out, cap, "%s", x == 0 && y == 0 ? "Yes" : "No");
    return 0;
}

typedef int (*evaluator)(const char *, char *, size_t);

typedef struct gcase { const char *name; evaluator ev; } gcase;
static const gcase gcases[] = {
    {"multistep_arithmetic_two", eval_arith},
    {"boolean_expressions", eval_bool},
    {"dyck_languages", eval_dyck},
    {"navigate", eval_nav},
};

/* A wrong answer of the same kind as gold. */
static void wrong_answer(const char *name, const char *gold, char *out, size_t cap) {
    if (!strcmp(name, "multistep_arithmetic_two")) snprintf(out, cap, "%lld", atoll(gold) + 1);
    else if (!strcmp(name, "boolean_expressions")) snprintf(out, cap, "%s", strcmp(gold, "True") ? "True" : "False");
    else if (!strcmp(name, "navigate")) snprintf(out, cap, "%s", strcmp(gold, "Yes") ? "Yes" : "No");
    else { snprintf(out, cap, "%s", gold); out[0] = out[0] == ')' ? ']' : ')'; }
}

#define NGEN 300

Test(gen, answers_match_independent_evaluators_and_checks) {
    for (size_t g = 0; g < sizeof gcases / sizeof gcases[0]; g++) {
        const char *name = gcases[g].name;
        task t;
        memset(&t, 0, sizeof t);
        t.kind = gen_kind(name);
        for (int d = 0; d <= gen_max_difficulty(name); d++) {
            static task_example ex[NGEN];
            tr_error err;
            cr_assert_eq(gen_make(name, d, 0, NGEN, 42, ex, &err), 0, "%s d%d: %s", name, d, err.msg);
            int counts[2] = {0, 0};
            for (int i = 0; i < NGEN; i++) {
                const task_example *e = &ex[i];
                char want[256];
                cr_assert_eq(gcases[g].ev(e->question, want, sizeof want), 0, "%s d%d #%d: evaluator cannot read '%s'", name, d, i, e->question);
                cr_assert_str_eq(e->answer, want, "%s d%d #%d: question '%s'", name, d, i, e->question);
                cr_assert_eq(e->id, i);
                /* the rationale passes c(z, y) and ends with the answer sentence */
                cr_assert_eq(task_check(&t, e->rationale, e->answer), 1, "%s: '%s'", name, e->rationale);
                char tail[300];
                snprintf(tail, sizeof tail, "So the answer is %s.", e->answer);
                size_t lr = strlen(e->rationale), lt = strlen(tail);
                cr_assert(lr >= lt && strcmp(e->rationale + lr - lt, tail) == 0, "rationale does not end in '%s': %s", tail, e->rationale);
                /* corrupted rationales fail: wrong final answer, answer sentence cut off */
                char wrong[256], *bad = strdup(e->rationale);
                wrong_answer(name, e->answer, wrong, sizeof wrong);
                char *badr = malloc(lr + 300);
                snprintf(badr, lr + 300, "%.*sSo the answer is %s.", (int)(lr - lt), e->rationale, wrong);
                cr_assert_eq(task_check(&t, badr, e->answer), 0, "corrupted rationale passed: %s", badr);
                bad[lr - lt] = '\0';
                cr_assert_eq(task_check(&t, bad, e->answer), 0, "rationale without its answer passed: %s", bad);
                free(bad);
                free(badr);
                if (!strcmp(e->answer, "True") || !strcmp(e->answer, "Yes")) counts[1]++;
                if (!strcmp(e->answer, "False") || !strcmp(e->answer, "No")) counts[0]++;
            }
            if (counts[0] + counts[1] == NGEN) {   /* binary tasks are balanced */
                cr_expect(counts[0] > NGEN / 3 && counts[1] > NGEN / 3, "%s d%d: %d / %d", name, d, counts[0], counts[1]);
            }
            task_examples_free(ex, NGEN);
        }
    }
}

Test(gen, easiest_setting_fits_a_256_byte_context) {
    for (size_t g = 0; g < sizeof gcases / sizeof gcases[0]; g++) {
        static task_example ex[NGEN];
        cr_assert_eq(gen_make(gcases[g].name, 1, 0, NGEN, 7, ex, NULL), 0);
        task t;
        memset(&t, 0, sizeof t);
        for (int i = 0; i < NGEN; i++) {
            char *p;
            cr_assert_eq(task_rationale_prompt(&t, &ex[i], &p, NULL), 0);
            size_t lp = strlen(p), lr = strlen(ex[i].rationale);
            cr_expect(lr < 180 && lp + lr <= 256, "%s d1: prompt %zu + rationale %zu bytes:\n%s%s",
                      gcases[g].name, lp, lr, p, ex[i].rationale);
            free(p);
        }
        task_examples_free(ex, NGEN);
    }
}

Test(gen, question_shapes_follow_bbh) {
    task_example ex[50];
    cr_assert_eq(gen_make("multistep_arithmetic_two", 0, 0, 50, 3, ex, NULL), 0);
    for (int i = 0; i < 50; i++) {
        const char *q = ex[i].question;
        cr_assert(strncmp(q, "((", 2) == 0 && strcmp(q + strlen(q) - 4, ")) =") == 0, "%s", q);
        int nums = 0;
        for (const char *p = q; *p; p++)
            if (isdigit((unsigned char)*p)) { nums++; cr_assert(!isdigit((unsigned char)p[1]), "multi-digit operand in %s", q); }
        cr_assert_eq(nums, 8, "BBH brackets hold 4 numbers each: %s", q);
        cr_assert_null(strchr(q, '/'), "no division in BBH: %s", q);
    }
    task_examples_free(ex, 50);
    cr_assert_eq(gen_make("boolean_expressions", 0, 0, 50, 3, ex, NULL), 0);
    for (int i = 0; i < 50; i++) {
        int toks = 0;
        for (const char *p = ex[i].question; *p; p++) toks += *p == ' ';
        cr_assert(toks >= 6 && toks <= 9, "%d tokens: %s", toks, ex[i].question);   /* spaces = tokens before " is" */
    }
    task_examples_free(ex, 50);
    cr_assert_eq(gen_make("navigate", 0, 0, 50, 3, ex, NULL), 0);
    for (int i = 0; i < 50; i++) cr_assert_null(strstr(ex[i].question, "Take 1 steps"), "%s", ex[i].question);
    task_examples_free(ex, 50);
}

Test(gen, deterministic_per_index_and_seed) {
    task_example a[10], b[1], c[10];
    cr_assert_eq(gen_make("navigate", 2, 0, 10, 5, a, NULL), 0);
    cr_assert_eq(gen_make("navigate", 2, 7, 1, 5, b, NULL), 0);
    cr_assert_str_eq(a[7].question, b[0].question);
    cr_assert_eq(b[0].id, 7);
    cr_assert_eq(gen_make("navigate", 2, 0, 10, 6, c, NULL), 0);
    int same = 0;
    for (int i = 0; i < 10; i++) same += strcmp(a[i].question, c[i].question) == 0;
    cr_assert_lt(same, 10, "another seed gives other questions");
    task_examples_free(a, 10);
    task_examples_free(b, 1);
    task_examples_free(c, 10);
}

Test(gen, bad_arguments_are_errors) {
    task_example ex[1];
    tr_error err;
    cr_assert_neq(gen_make("navigate", 9, 0, 1, 1, ex, &err), 0);
    cr_assert(strstr(err.msg, "difficulty 9") && strstr(err.msg, "navigate"), "%s", err.msg);
    cr_assert_neq(gen_make("word_sorting", 0, 0, 1, 1, ex, &err), 0);
    cr_assert(strstr(err.msg, "word_sorting"), "%s", err.msg);
}

/* The evaluators agree with BBH's own worked exemplars, and BBH's question text has the
 * shape the generators write. */
Test(gen, evaluators_agree_with_bbh_exemplars) {
    const char *root = getenv("TRICE_SHARED_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/bbh/cot-prompts/navigate.txt", root ? root : "");
    FILE *f = root ? fopen(path, "r") : NULL;
    if (!f) cr_skip_test("../shared/data is absent (TRICE_SHARED_DATA unset or no %s): BBH exemplar check skipped", path);
    fclose(f);
    for (size_t g = 0; g < sizeof gcases / sizeof gcases[0]; g++) {
        snprintf(path, sizeof path, "%s/bbh/cot-prompts/%s.txt", root, gcases[g].name);
        cot_prompt c;
        tr_error err;
        cr_assert_eq(load_cot_file(path, &c, &err), 0, "%s", err.msg);
        cr_assert_eq(c.n, 3);
        for (int64_t i = 0; i < c.n; i++) {
            char got[256];
            cr_assert_eq(gcases[g].ev(c.ex[i].question, got, sizeof got), 0, "%s: cannot read exemplar '%s'", gcases[g].name, c.ex[i].question);
            cr_assert_str_eq(got, c.ex[i].answer, "%s exemplar %lld", gcases[g].name, (long long)i);
        }
        cot_prompt_free(&c);
    }
}
