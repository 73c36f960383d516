/* gen_arith.c - multistep_arithmetic_two: "((a op b op c op d) op (e op f op g op h)) =".
 *
 * Size unit: numbers per bracket. The three CoT exemplars all hold 4 (numbers -9..9,
 * operators + - *): the target (difficulty 0). Difficulties 1 and 2 (2 and 3 numbers) are
 * strictly smaller, for a rationale warm-up; 3 (5 numbers) is larger:
 *   d0 4 (as the exemplars), d1 2, d2 3, d3 5.
 *
 * Rationale: each bracket reduced one operation per step, multiplications first, then left
 * to right, the whole rest of the bracket rewritten each time (the state stays explicit);
 * then the outer operation. Every product inside a bracket has a one-digit factor; when
 * the outer operation multiplies two numbers of two or more digits, the sign is taken out
 * and the smaller factor split into its digits, so that each product again has a one-digit
 * factor (times a power of ten):
 *   A = -5 + 9 * -4 - 0 = -5 + -36 - 0 = -41 - 0 = -41.
 *   B = 4 * -7 + 0 = -28 + 0 = -28.
 *   A * B = -41 * -28 = 41 * 28 = 41 * 20 + 41 * 8 = 820 + 328 = 1148. So the answer is 1148.
 */
#include "common/data/gen_internal.h"

#include <inttypes.h>
#include <stdlib.h>

#define ARITH_MAXN 8

static const char ops[] = {'+', '-', '*'};
static const int per_bracket[4] = {4, 2, 3, 5};   /* gen.c's size table must match */

static void put_list(sbuf *b, const int64_t *v, const char *op, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sbuf_printf(b, " %c ", op[i - 1]);
        sbuf_printf(b, "%" PRId64, v[i]);
    }
}

/* Reduce the bracket v[0..n) with operators op[0..n-1), writing each step; returns value. */
static int64_t reduce_group(sbuf *rat, const char *label, const int64_t *v0, const char *op0, int n) {
    int64_t v[ARITH_MAXN];
    char op[ARITH_MAXN];
    for (int i = 0; i < n; i++) v[i] = v0[i];
    for (int i = 0; i + 1 < n; i++) op[i] = op0[i];
    sbuf_printf(rat, "%s = ", label);
    put_list(rat, v, op, n);
    while (n > 1) {
        int k = -1;
        for (int i = 0; i + 1 < n && k < 0; i++) if (op[i] == '*') k = i;
        if (k < 0) k = 0;
        int64_t r = op[k] == '*' ? v[k] * v[k + 1] : op[k] == '+' ? v[k] + v[k + 1] : v[k] - v[k + 1];
        v[k] = r;
        for (int i = k + 1; i + 1 < n; i++) v[i] = v[i + 1];
        for (int i = k; i + 2 < n; i++) op[i] = op[i + 1];
        n--;
        sbuf_puts(rat, " = ");
        put_list(rat, v, op, n);
    }
    sbuf_puts(rat, ".\n");
    return v[0];
}

/* " = " steps of a * b where both have two or more digits: sign out, then the smaller
 * factor split into its nonzero digits (most significant first), partial products, sums. */
static void long_product(sbuf *rat, int64_t a, int64_t b) {
    int neg = (a < 0) != (b < 0);
    int64_t x = llabs(a), y = llabs(b);
    if (y > x) { int64_t t = x; x = y; y = t; }
    const char *open = neg ? "-(" : "", *close = neg ? ")" : "";
    if (a < 0 || b < 0 || llabs(b) > llabs(a)) sbuf_printf(rat, " = %s%" PRId64 " * %" PRId64 "%s", open, x, y, close);
    int64_t part[20];
    int np = 0;
    for (int64_t p = 1; p <= y; p *= 10) {
        int64_t digit = (y / p) % 10;
        if (digit) part[np++] = digit * p;
    }
    if (np > 1) {   /* most significant first */
        sbuf_printf(rat, " = %s", open);
        for (int i = np - 1; i >= 0; i--) sbuf_printf(rat, "%s%" PRId64 " * %" PRId64, i < np - 1 ? " + " : "", x, part[i]);
        sbuf_printf(rat, "%s = %s", close, open);
        for (int i = np - 1; i >= 0; i--) sbuf_printf(rat, "%s%" PRId64, i < np - 1 ? " + " : "", x * part[i]);
        sbuf_puts(rat, close);
        /* sum left to right, one addition per step */
        int64_t acc = x * part[np - 1];
        for (int i = np - 2; i >= 1; i--) {
            acc += x * part[i];
            sbuf_printf(rat, " = %s%" PRId64, open, acc);
            for (int j = i - 1; j >= 0; j--) sbuf_printf(rat, " + %" PRId64, x * part[j]);
            sbuf_puts(rat, close);
        }
    }
    sbuf_printf(rat, " = %" PRId64, neg ? -(x * y) : x * y);
}

int gen_arith(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans) {
    int n = per_bracket[difficulty];
    int64_t a[ARITH_MAXN], b[ARITH_MAXN];
    char oa[ARITH_MAXN], ob[ARITH_MAXN];
    for (int i = 0; i < n; i++) a[i] = gen_range(r, -9, 9);
    for (int i = 0; i + 1 < n; i++) oa[i] = ops[rng_below(r, 3)];
    for (int i = 0; i < n; i++) b[i] = gen_range(r, -9, 9);
    for (int i = 0; i + 1 < n; i++) ob[i] = ops[rng_below(r, 3)];
    char outer = ops[rng_below(r, 3)];

    sbuf_puts(q, "((");
    put_list(q, a, oa, n);
    sbuf_printf(q, ") %c (", outer);
    put_list(q, b, ob, n);
    sbuf_puts(q, ")) =");

    int64_t va = reduce_group(rat, "A", a, oa, n);
    int64_t vb = reduce_group(rat, "B", b, ob, n);
    int64_t res = outer == '*' ? va * vb : outer == '+' ? va + vb : va - vb;
    sbuf_printf(rat, "A %c B = %" PRId64 " %c %" PRId64, outer, va, outer, vb);
    if (outer == '*' && llabs(va) >= 10 && llabs(vb) >= 10) long_product(rat, va, vb);
    else sbuf_printf(rat, " = %" PRId64, res);
    sbuf_printf(rat, ". So the answer is %" PRId64 ".", res);
    sbuf_printf(ans, "%" PRId64, res);
    return 0;
}
