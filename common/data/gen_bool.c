/* gen_bool.c - boolean_expressions: "not ( True ) and ( True ) is".
 *
 * A random token tree is rendered, then parsed back with Python's precedence
 * (not > and > or, left to right), and the parse drives the rationale: each step
 * rewrites every node whose operands are already constants, e.g.
 *   not ( True ) and ( True ) = not True and True = False and True = False.
 *   So the answer is False.
 */
#include "common/data/gen_internal.h"

#include <string.h>

enum { B_CONST, B_NOT, B_AND, B_OR, B_PAREN };

#define BOOL_MAXTOK 64
#define BOOL_MAXNODE 64

typedef struct bnode { int type, val, a, b; } bnode;   /* a, b: child node indices */

typedef struct bparse {
    const int *tok; int ntok, pos;
    bnode nodes[BOOL_MAXNODE]; int nnodes;
} bparse;

/* tokens */
enum { T_TRUE, T_FALSE, T_NOT, T_AND, T_OR, T_LP, T_RP };
static const char *const tok_text[] = {"True", "False", "not", "and", "or", "(", ")"};

/* Random token sequence from a loose grammar; the parser, not this, defines meaning. */
static void rand_expr(rng *r, int depth, int *tok, int *n) {
    if (*n >= BOOL_MAXTOK - 8) depth = 0;
    uint64_t c = depth <= 0 ? 0 : rng_below(r, 10);
    if (c < 3) { tok[(*n)++] = rng_below(r, 2) ? T_TRUE : T_FALSE; return; }
    if (c < 5) { tok[(*n)++] = T_NOT; rand_expr(r, depth - 1, tok, n); return; }
    if (c < 8) {
        rand_expr(r, depth - 1, tok, n);
        tok[(*n)++] = c < 7 ? T_AND : T_OR;
        rand_expr(r, depth - 1, tok, n);
        return;
    }
    tok[(*n)++] = T_LP;
    rand_expr(r, depth - 1, tok, n);
    tok[(*n)++] = T_RP;
}

static int new_node(bparse *p, int type, int val, int a, int b) {
    if (p->nnodes >= BOOL_MAXNODE) return -1;
    p->nodes[p->nnodes] = (bnode){type, val, a, b};
    return p->nnodes++;
}

static int parse_or(bparse *p);

static int parse_not(bparse *p) {
    if (p->pos >= p->ntok) return -1;
    int t = p->tok[p->pos];
    if (t == T_NOT) {
        p->pos++;
        int a = parse_not(p);
        return a < 0 ? -1 : new_node(p, B_NOT, 0, a, -1);
    }
    if (t == T_TRUE || t == T_FALSE) { p->pos++; return new_node(p, B_CONST, t == T_TRUE, -1, -1); }
    if (t == T_LP) {
        p->pos++;
        int a = parse_or(p);
        if (a < 0 || p->pos >= p->ntok || p->tok[p->pos] != T_RP) return -1;
        p->pos++;
        return new_node(p, B_PAREN, 0, a, -1);
    }
    return -1;
}

static int parse_and(bparse *p) {
    int a = parse_not(p);
    while (a >= 0 && p->pos < p->ntok && p->tok[p->pos] == T_AND) {
        p->pos++;
        int b = parse_not(p);
        a = b < 0 ? -1 : new_node(p, B_AND, 0, a, b);
    }
    return a;
}

static int parse_or(bparse *p) {
    int a = parse_and(p);
    while (a >= 0 && p->pos < p->ntok && p->tok[p->pos] == T_OR) {
        p->pos++;
        int b = parse_and(p);
        a = b < 0 ? -1 : new_node(p, B_OR, 0, a, b);
    }
    return a;
}

static void render(const bparse *p, int i, sbuf *b) {
    const bnode *n = &p->nodes[i];
    switch (n->type) {
    case B_CONST: sbuf_puts(b, n->val ? "True" : "False"); break;
    case B_NOT: sbuf_puts(b, "not "); render(p, n->a, b); break;
    case B_AND: render(p, n->a, b); sbuf_puts(b, " and "); render(p, n->b, b); break;
    case B_OR: render(p, n->a, b); sbuf_puts(b, " or "); render(p, n->b, b); break;
    default: sbuf_puts(b, "( "); render(p, n->a, b); sbuf_puts(b, " )"); break;
    }
}

static int is_const(const bparse *p, int i) { return p->nodes[i].type == B_CONST; }

/* One rewrite round: every node whose operands are constants becomes a constant.
 * Decided on the tree as it was at the start of the round (children first would
 * collapse a whole chain in one step). Returns the number of rewrites. */
static int reduce_round(bparse *p, int i) {
    bnode *n = &p->nodes[i];
    if (n->type == B_CONST) return 0;
    int ready = is_const(p, n->a) && (n->type == B_NOT || n->type == B_PAREN || is_const(p, n->b));
    if (!ready) {
        int k = reduce_round(p, n->a);
        if (n->type == B_AND || n->type == B_OR) k += reduce_round(p, n->b);
        return k;
    }
    int va = p->nodes[n->a].val, vb = n->b >= 0 ? p->nodes[n->b].val : 0;
    int v = n->type == B_NOT ? !va : n->type == B_PAREN ? va : n->type == B_AND ? (va && vb) : (va || vb);
    *n = (bnode){B_CONST, v, -1, -1};
    return 1;
}

static const int tok_range[4][2] = {{6, 9}, {3, 5}, {5, 7}, {8, 11}};   /* = gen.c size table */

int gen_bool(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans) {
    int want = (int)rng_below(r, 2);   /* balance True / False */
    int lo = tok_range[difficulty][0], hi = tok_range[difficulty][1];
    int tok[BOOL_MAXTOK];
    for (int attempt = 0; attempt < 100000; attempt++) {
        int n = 0;
        rand_expr(r, 2 + (int)rng_below(r, 4), tok, &n);
        if (n < lo || n > hi) continue;
        bparse p;
        memset(&p, 0, sizeof p);
        p.tok = tok; p.ntok = n;
        int root = parse_or(&p);
        if (root < 0 || p.pos != n) continue;
        /* evaluate on a copy to test the wanted answer before writing anything */
        bparse e = p;
        while (!is_const(&e, root)) reduce_round(&e, root);
        if (e.nodes[root].val != want) continue;

        for (int i = 0; i < n; i++) {
            if (i) sbuf_putc(q, ' ');
            sbuf_puts(q, tok_text[tok[i]]);
        }
        sbuf_puts(q, " is");
        render(&p, root, rat);
        while (!is_const(&p, root)) {
            reduce_round(&p, root);
            sbuf_puts(rat, " = ");
            render(&p, root, rat);
        }
        const char *v = p.nodes[root].val ? "True" : "False";
        sbuf_printf(rat, ". So the answer is %s.", v);
        sbuf_puts(ans, v);
        return 0;
    }
    return 1;
}
