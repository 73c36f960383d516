/* gen_arith.c - multistep_arithmetic_two: "((a op b op c op d) op (e op f op g op h)) =".
 *
 * Rationale, one operation per step, multiplications first, then left to right:
 *   A = -5 + 9 * -4 - 0 = -5 + -36 - 0 = -41 - 0 = -41.
 *   B = 4 + -7 + 0 * -5 = 4 + -7 + 0 = -3 + 0 = -3.
 *   A * B = -41 * -3 = 123. So the answer is 123.
 */
#include "common/data/gen_internal.h"

#include <inttypes.h>

#define ARITH_MAXN 8

static const char ops[] = {'+', '-', '*'};

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

int gen_arith(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans) {
    int n = difficulty == 0 ? 4 : difficulty + 1;
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
    sbuf_printf(rat, "A %c B = %" PRId64 " %c %" PRId64 " = %" PRId64 ". So the answer is %" PRId64 ".",
                outer, va, outer, vb, res, res);
    sbuf_printf(ans, "%" PRId64, res);
    return 0;
}
