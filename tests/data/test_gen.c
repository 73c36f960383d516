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

#define NAV_STEPS 64

/* One simulated instruction: the rationale's expected echo and the state after it. */
typedef struct navstep { char echo[8]; int x, y; char face; } navstep;

/* Simulates the question's sentences; fills steps[0..*n). Returns 0, or 1 when a sentence is
 * not a navigate instruction. */
static int nav_run(const char *q, navstep *steps, int *n) {
    size_t len = strlen(q), ls = strlen(NAV_SUFFIX);
    if (strncmp(q, NAV_PREFIX, strlen(NAV_PREFIX)) != 0 || len < ls || strcmp(q + len - ls, NAV_SUFFIX) != 0) return 1;
    char body[1024];
    size_t bl = len - ls - strlen(NAV_PREFIX);
    if (bl >= sizeof body) return 1;
    memcpy(body, q + strlen(NAV_PREFIX), bl);
    body[bl] = '\0';
    int x = 0, y = 0, hx = 0, hy = 1;   /* heading vector, start facing +y */
    *n = 0;
    for (char *s = strtok(body, "."); s; s = strtok(NULL, ".")) {
        while (*s == ' ') s++;
        if (!*s) continue;
        if (*n == NAV_STEPS) return 1;
        navstep *st = &steps[(*n)++];
        int k;
        char word[32] = "", dir[32] = "";
        if (!strcmp(s, "Turn left")) { int t = hx; hx = -hy; hy = t; strcpy(st->echo, "L"); }
        else if (!strcmp(s, "Turn right")) { int t = hx; hx = hy; hy = -t; strcpy(st->echo, "R"); }
        else if (!strcmp(s, "Turn around")) { hx = -hx; hy = -hy; strcpy(st->echo, "A"); }
        else if (!strcmp(s, "Always face forward")) { strcpy(st->echo, "F"); }
        else if (sscanf(s, "Take %d %31s %31s", &k, word, dir) >= 2) {
            if (strcmp(word, k == 1 ? "step" : "steps") != 0 || k < 1 || k > 10) return 1;
            int mx = hx, my = hy;
            if (!strcmp(dir, "backward")) { mx = -hx; my = -hy; }
            else if (!strcmp(dir, "left")) { mx = -hy; my = hx; }
            else if (!strcmp(dir, "right")) { mx = hy; my = -hx; }
            else if (dir[0] && strcmp(dir, "forward")) return 1;
            x += mx * k; y += my * k;
            snprintf(st->echo, sizeof st->echo, "%d%.1s", k, dir);
        } else return 1;
        st->x = x; st->y = y;
        st->face = hy == 1 ? 'N' : hy == -1 ? 'S' : hx == 1 ? 'E' : 'W';
    }
    return 0;
}

static int eval_nav(const char *q, char *out, size_t cap) {
    navstep st[NAV_STEPS];
    int n;
    if (nav_run(q, st, &n) != 0 || n == 0) return 1;
    snprintf(out, cap, "%s", st[n - 1].x == 0 && st[n - 1].y == 0 ? "Yes" : "No");
    return 0;
}

/* Every step of a navigate rationale: "Start 0,0 N." then per instruction " ECHO x,y F."
 * with the state the simulator reached, then " At 0,0." or " Not 0,0." and the answer. */
static int check_nav_rationale(const char *q, const char *rat, char *why, size_t cap) {
    navstep st[NAV_STEPS];
    int n;
    if (nav_run(q, st, &n) != 0) { snprintf(why, cap, "question unreadable"); return 1; }
    const char *p = rat;
    if (strncmp(p, "Start 0,0 N.", 12) != 0) { snprintf(why, cap, "no start state"); return 1; }
    p += 12;
    for (int i = 0; i < n; i++) {
        char echo[16], face;
        int x, y, used = 0;
        if (sscanf(p, " %15s %d,%d %c.%n", echo, &x, &y, &face, &used) != 4 || used == 0) {
            snprintf(why, cap, "step %d unreadable at '%s'", i + 1, p);
            return 1;
        }
        if (strcmp(echo, st[i].echo) || x != st[i].x || y != st[i].y || face != st[i].face) {
            snprintf(why, cap, "step %d: wrote '%s %d,%d %c', the simulator has '%s %d,%d %c'", i + 1,
                     echo, x, y, face, st[i].echo, st[i].x, st[i].y, st[i].face);
            return 1;
        }
        p += used;
    }
    int home = st[n - 1].x == 0 && st[n - 1].y == 0;
    const char *want = home ? " At 0,0. So the answer is Yes." : " Not 0,0. So the answer is No.";
    if (strcmp(p, want) != 0) { snprintf(why, cap, "verdict '%s', want '%s'", p, want); return 1; }
    return 0;
}

typedef int (*evaluator)(const char *, char *, size_t);

/* Value of one " = " segment of an arithmetic rationale; "-(...)" is a negated group. */
static int arith_value(const char *seg, long long *v) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", seg);
    size_t n = strlen(buf);
    int neg = 0;
    char *e = buf;
    if (strncmp(buf, "-(", 2) == 0 && n > 2 && buf[n - 1] == ')') { neg = 1; buf[n - 1] = '\0'; e = buf + 2; }
    ap p = {e, 1};
    *v = a_expr(&p);
    skip(&p);
    if (!p.ok || *p.s) return 1;
    if (neg) *v = -*v;
    return 0;
}

/* One step of a bracket: the first '*' if any, else the first operator, applied; the list
 * written back as the generator writes it ("a op b op c"). Returns 1 on a malformed list. */
static int arith_step(const char *in, char *out, size_t cap) {
    long long v[16];
    char op[16];
    int n = 0;
    const char *p = in;
    for (;;) {
        char *end;
        if (n == 16) return 1;
        v[n++] = strtoll(p, &end, 10);
        if (end == p) return 1;
        p = end;
        if (!*p) break;
        if (p[0] != ' ' || !strchr("+-*", p[1]) || p[2] != ' ') return 1;
        op[n - 1] = p[1];
        p += 3;
    }
    int k = 0;
    for (int i = n - 2; i >= 0; i--) if (op[i] == '*') k = i;
    if (n > 1 && op[k] != '*') k = 0;
    if (n > 1) {
        v[k] = op[k] == '*' ? v[k] * v[k + 1] : op[k] == '+' ? v[k] + v[k + 1] : v[k] - v[k + 1];
        for (int i = k + 1; i + 1 < n; i++) v[i] = v[i + 1];
        for (int i = k; i + 2 < n; i++) op[i] = op[i + 1];
        n--;
    }
    size_t o = 0;
    for (int i = 0; i < n && o < cap; i++) {
        if (i) o += (size_t)snprintf(out + o, cap - o, " %c ", op[i - 1]);
        if (o < cap) o += (size_t)snprintf(out + o, cap - o, "%lld", v[i]);
    }
    return 0;
}

/* Every step of an arithmetic rationale: each bracket's line starts from the question's
 * bracket and applies one operation per " = " (multiplication first, then left to right);
 * the outer line starts from the two bracket values and every later segment keeps the
 * value; the answer sentence closes it. */
static int check_arith_rationale(const char *q, const char *rat, char *why, size_t cap) {
    char outer_op = 0, br[2][256];
    const char *mid = strstr(q, ") ");
    if (strncmp(q, "((", 2) != 0 || !mid) { snprintf(why, cap, "question unreadable"); return 1; }
    snprintf(br[0], sizeof br[0], "%.*s", (int)(mid - q - 2), q + 2);
    outer_op = mid[2];
    const char *b2 = mid + 5;
    const char *b2end = strstr(b2, ")) =");
    if (!b2end || mid[3] != ' ' || mid[4] != '(') { snprintf(why, cap, "question unreadable"); return 1; }
    snprintf(br[1], sizeof br[1], "%.*s", (int)(b2end - b2), b2);
    char text[2048];
    snprintf(text, sizeof text, "%s", rat);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    long long val[2];
    for (int b = 0; b < 2; b++, line = strtok_r(NULL, "\n", &save)) {
        char label[8];
        snprintf(label, sizeof label, "%c = ", "AB"[b]);
        if (!line || strncmp(line, label, 4) != 0) { snprintf(why, cap, "no line '%s...'", label); return 1; }
        size_t ll = strlen(line);
        if (line[ll - 1] != '.') { snprintf(why, cap, "line %c does not end with '.'", "AB"[b]); return 1; }
        line[ll - 1] = '\0';
        char prev[256] = "";
        int seg = 0;
        for (char *s = line + 4, *next; s; s = next, seg++) {
            next = strstr(s, " = ");
            if (next) { *next = '\0'; next += 3; }
            if (seg == 0) {
                if (strcmp(s, br[b]) != 0) { snprintf(why, cap, "%c starts '%s', the question has '%s'", "AB"[b], s, br[b]); return 1; }
            } else {
                char want[256];
                if (arith_step(prev, want, sizeof want) != 0 || strcmp(want, s) != 0) {
                    snprintf(why, cap, "%c step %d: '%s' -> '%s', want '%s'", "AB"[b], seg, prev, s, want);
                    return 1;
                }
            }
            snprintf(prev, sizeof prev, "%s", s);
        }
        char *end;
        val[b] = strtoll(prev, &end, 10);
        if (*end || seg < 2 - (strchr(br[b], ' ') == NULL)) { snprintf(why, cap, "%c not reduced to a number: '%s'", "AB"[b], prev); return 1; }
    }
    if (!line) { snprintf(why, cap, "no outer line"); return 1; }
    long long want = outer_op == '*' ? val[0] * val[1] : outer_op == '+' ? val[0] + val[1] : val[0] - val[1];
    char head[128];
    snprintf(head, sizeof head, "A %c B = %lld %c %lld = ", outer_op, val[0], outer_op, val[1]);
    if (strncmp(line, head, strlen(head)) != 0) { snprintf(why, cap, "outer line '%s', want '%s...'", line, head); return 1; }
    char tail[128];
    snprintf(tail, sizeof tail, ". So the answer is %lld.", want);
    char *t = strstr(line, ". So the answer is ");
    if (!t || strcmp(t, tail) != 0 || strtok_r(NULL, "\n", &save)) { snprintf(why, cap, "ending of '%s', want '%s'", line, tail); return 1; }
    *t = '\0';
    for (char *s = line + strlen(head), *next; s; s = next) {
        next = strstr(s, " = ");
        if (next) { *next = '\0'; next += 3; }
        long long v;
        if (arith_value(s, &v) != 0 || v != want) { snprintf(why, cap, "outer segment '%s' is not %lld", s, want); return 1; }
        if (!next) {
            char *e;
            long long last = strtoll(s, &e, 10);
            if (*e || last != want) { snprintf(why, cap, "outer line ends '%s', not the number %lld", s, want); return 1; }
        }
    }
    return 0;
}

/* Every step of a dyck rationale: each input bracket with its level (an opener's depth after
 * it, a closer's before it), ". Open:" and the stack innermost first with levels, then the
 * answer sentence. */
static int check_dyck_rationale(const char *q, const char *rat, char *why, size_t cap) {
    if (strncmp(q, DYCK_PREFIX, strlen(DYCK_PREFIX)) != 0) { snprintf(why, cap, "question unreadable"); return 1; }
    char st[256];
    int sp = 0, i = 0;
    const char *p = rat;
    for (const char *c = q + strlen(DYCK_PREFIX); *c; c++) {
        if (*c == ' ') continue;
        int want_level;
        if (strchr("([{<", *c)) { st[sp++] = *c; want_level = sp; }
        else { want_level = sp; sp--; }
        char got;
        int level, used = 0;
        if (sscanf(p, i ? " %c%d%n" : "%c%d%n", &got, &level, &used) != 2 || used == 0 || got != *c || level != want_level) {
            snprintf(why, cap, "bracket %d ('%c', level %d) wrong at '%.20s'", i + 1, *c, want_level, p);
            return 1;
        }
        p += used;
        i++;
    }
    if (strncmp(p, ". Open:", 7) != 0) { snprintf(why, cap, "no '. Open:' at '%.20s'", p); return 1; }
    p += 7;
    char answer[256] = "";
    size_t al = 0;
    for (int j = sp - 1; j >= 0; j--) {
        char got;
        int level, used = 0;
        if (sscanf(p, " %c%d%n", &got, &level, &used) != 2 || got != st[j] || level != j + 1) {
            snprintf(why, cap, "open bracket %d: want %c%d at '%.20s'", sp - j, st[j], j + 1, p);
            return 1;
        }
        p += used;
        al += (size_t)snprintf(answer + al, sizeof answer - al, "%s%c", al ? " " : "", ")]}>"[strchr("([{<", st[j]) - "([{<"]);
    }
    char tail[300];
    snprintf(tail, sizeof tail, ". So the answer is %s.", answer);
    if (strcmp(p, tail) != 0) { snprintf(why, cap, "ending '%s', want '%s'", p, tail); return 1; }
    return 0;
}

/* rcheck: checks every step of a rationale against the question (0 = all right; why says
 * what is wrong); NULL where no step checker is written here */
typedef int (*rchecker)(const char *q, const char *rat, char *why, size_t cap);

typedef struct gcase { const char *name; evaluator ev; rchecker rcheck; } gcase;
static const gcase gcases[] = {
    {"multistep_arithmetic_two", eval_arith, check_arith_rationale},
    {"boolean_expressions", eval_bool, NULL},
    {"dyck_languages", eval_dyck, check_dyck_rationale},
    {"navigate", eval_nav, check_nav_rationale},
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
                char why[512] = "";
                if (gcases[g].rcheck)
                    cr_assert_eq(gcases[g].rcheck(e->question, e->rationale, why, sizeof why), 0,
                                 "%s d%d #%d: %s\nquestion: %s\nrationale: %s", name, d, i, why, e->question, e->rationale);
                if (gcases[g].rcheck) {   /* the step checker fails a rationale with one digit changed */
                    char *mut = strdup(e->rationale);
                    char *end = strstr(mut, "So the answer is");
                    int ndig = 0, k = 0;
                    for (char *c = mut; c < end; c++) ndig += isdigit((unsigned char)*c) != 0;
                    for (char *c = mut; c < end; c++)
                        if (isdigit((unsigned char)*c) && k++ == ndig / 2) { *c = (char)('0' + (*c - '0' + 1) % 10); break; }
                    cr_assert(ndig > 0 && gcases[g].rcheck(e->question, mut, why, sizeof why) != 0,
                              "%s d%d #%d: a changed digit passed: %s", name, d, i, mut);
                    free(mut);
                }
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

/* ---- instance sizes, measured on the question text ---- */

/* numbers per bracket: the counts of both brackets must agree */
static int size_arith(const char *q) {
    int count[2] = {0, 0}, b = -1;
    for (const char *p = q; *p; p++) {
        if (*p == '(' && p[1] != '(') b++;
        if (b >= 0 && b < 2 && isdigit((unsigned char)*p) && !isdigit((unsigned char)p[1])) count[b]++;
    }
    return count[0] == count[1] ? count[0] : -1;
}

/* tokens of the expression (parentheses included) before " is" */
static int size_bool(const char *q) {
    int toks = 1;
    for (const char *p = q; *p; p++) toks += *p == ' ';
    return toks - 1;
}

/* brackets of the input */
static int size_dyck(const char *q) {
    if (strncmp(q, DYCK_PREFIX, strlen(DYCK_PREFIX)) != 0) return -1;
    int n = 0;
    for (const char *p = q + strlen(DYCK_PREFIX); *p; p++) n += *p != ' ';
    return n;
}

/* instructions: the sentences between the question and the options */
static int size_nav(const char *q) {
    navstep st[NAV_STEPS];
    int n;
    return nav_run(q, st, &n) == 0 ? n : -1;
}

/* Every example's size lies inside gen_size_range of its difficulty, and the range is tight
 * at both ends in 2,000 draws, so that the stage rule (a rationale stage only on settings
 * whose hi is below the target's lo) judges the instances the generator really writes. */
Test(gen, sizes_lie_inside_gen_size_range) {
    static const struct { const char *name; int (*size)(const char *); } sz[] = {
        {"multistep_arithmetic_two", size_arith}, {"boolean_expressions", size_bool},
        {"dyck_languages", size_dyck}, {"navigate", size_nav},
    };
    enum { NS = 2000 };
    static task_example ex[NS];
    for (size_t g = 0; g < sizeof sz / sizeof sz[0]; g++) {
        int lo0, hi0;
        cr_assert_eq(gen_size_range(sz[g].name, 0, &lo0, &hi0, NULL), 0);
        for (int d = 0; d <= gen_max_difficulty(sz[g].name); d++) {
            int lo, hi;
            const char *unit = NULL;
            cr_assert_eq(gen_size_range(sz[g].name, d, &lo, &hi, &unit), 0);
            cr_assert(unit && *unit && lo >= 1 && lo <= hi, "%s d%d: range %d-%d", sz[g].name, d, lo, hi);
            tr_error err;
            cr_assert_eq(gen_make(sz[g].name, d, 0, NS, 11, ex, &err), 0, "%s d%d: %s", sz[g].name, d, err.msg);
            int seen_lo = 0, seen_hi = 0;
            for (int i = 0; i < NS; i++) {
                int s = sz[g].size(ex[i].question);
                cr_assert(s >= lo && s <= hi, "%s d%d: size %d %s outside %d-%d: %s", sz[g].name, d, s, unit, lo, hi, ex[i].question);
                seen_lo |= s == lo;
                seen_hi |= s == hi;
            }
            cr_expect(seen_lo && seen_hi, "%s d%d: the range %d-%d is not tight (lo seen %d, hi seen %d)",
                      sz[g].name, d, lo, hi, seen_lo, seen_hi);
            task_examples_free(ex, NS);
        }
        int lo, hi;
        cr_assert_neq(gen_size_range(sz[g].name, gen_max_difficulty(sz[g].name) + 1, &lo, &hi, NULL), 0);
    }
}

/* Difficulty 1 is the rationale warm-up: its largest instance is below the target's
 * smallest in the size unit (the stage rule admits it), for every generator. */
Test(gen, warmup_setting_is_strictly_below_the_target) {
    static const char *const names[] = {"multistep_arithmetic_two", "boolean_expressions", "dyck_languages", "navigate"};
    for (size_t g = 0; g < sizeof names / sizeof names[0]; g++) {
        int lo0, hi0, lo1, hi1;
        cr_assert_eq(gen_size_range(names[g], 0, &lo0, &hi0, NULL), 0);
        cr_assert_eq(gen_size_range(names[g], 1, &lo1, &hi1, NULL), 0);
        cr_assert_lt(hi1, lo0, "%s: d1 %d-%d is not below d0 %d-%d", names[g], lo1, hi1, lo0, hi0);
    }
}

/* navigate's target draws 3-8 moves in either style; the forward style's "Always face
 * forward." comes on top, so turn-style questions hold 3-8 instructions and forward-style
 * ones 4-9, both ends reached in 2,000 draws. */
Test(gen, navigate_target_counts_moves_per_style) {
    enum { NS = 2000 };
    static task_example ex[NS];
    tr_error err;
    cr_assert_eq(gen_make("navigate", 0, 0, NS, 3, ex, &err), 0, "%s", err.msg);
    int lo[2] = {99, 99}, hi[2] = {0, 0};
    for (int i = 0; i < NS; i++) {
        int fwd = strstr(ex[i].question, "Always face forward.") != NULL, n = size_nav(ex[i].question);
        if (n < lo[fwd]) lo[fwd] = n;
        if (n > hi[fwd]) hi[fwd] = n;
    }
    task_examples_free(ex, NS);
    cr_assert(lo[0] == 3 && hi[0] == 8, "turn style: %d-%d instructions, want 3-8", lo[0], hi[0]);
    cr_assert(lo[1] == 4 && hi[1] == 9, "forward style: %d-%d instructions, want 4-9", lo[1], hi[1]);
}
