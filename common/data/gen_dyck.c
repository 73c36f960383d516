/* gen_dyck.c - dyck_languages: close the brackets a prefix of a Dyck-4 word leaves open.
 *
 * Size unit: brackets of the input. The target (difficulty 0) is written from the task
 * description and the three CoT exemplars, not from BBH's test items (held-out data): a
 * random Dyck word of m = 3-20 pairs loses its last k closers, k drawn from 1 to the word's
 * trailing closers (at most 5), so the input holds 2m - k = 3-39 brackets. Difficulty 1
 * (1-2 brackets) is strictly smaller than every target question, for a rationale warm-up;
 * 2-5 climb in length for an answers-only curriculum (they may overlap the target), each a
 * uniform length with 1-5 brackets left open (k <= 5 as at the target, k of len's parity):
 *   d0 3-39, d1 1-2, d2 2-10, d3 11-30, d4 31-60, d5 61-99.
 *
 * Rationale: every input bracket with its level (an opener's depth after it opens, a
 * closer's that of the opener it closes, so a closer repeats its opener's level), then the
 * brackets still open, innermost first (for each level, the last opener of that level),
 * then their closers: the answer. Each level is the previous one +-1 and each lookup is
 * "the last opener of level j", so every step is local and the stack stays explicit.
 *   [1 {2 }2 <2 (3. Open: (3 <2 [1. So the answer is ) > ].
 */
#include "common/data/gen_internal.h"

#define DYCK_MAX 128

static const char open_ch[] = "([{<";
static const char close_ch[] = ")]}>";

/* input brackets per difficulty from 1 on (d0: pairs 3-20, see draw_target); gen.c's size
 * table must match */
static const int len_range[6][2] = {{3, 39}, {1, 2}, {2, 10}, {11, 30}, {31, 60}, {61, 99}};
#define K_MAX 5   /* brackets left open, at most */

static int is_open(char c) { return c == '(' || c == '[' || c == '{' || c == '<'; }

static char closer_of(char o) {
    for (int t = 0; t < 4; t++) if (open_ch[t] == o) return close_ch[t];
    return 0;
}

/* The target: a uniformly branching random Dyck word of 3-20 pairs without its last k
 * closers, 1 <= k <= min(trailing closers, K_MAX). Writes the input to in[0..*len). */
static void draw_target(rng *r, char *in, int *len) {
    char word[DYCK_MAX], stack[DYCK_MAX];
    int m = gen_range(r, 3, 20), n = 2 * m, depth = 0;
    for (int i = 0; i < n; i++) {
        int remaining = n - i;
        int open = depth == 0 ? 1 : depth == remaining ? 0 : (int)rng_below(r, 2);
        if (open) {
            word[i] = open_ch[rng_below(r, 4)];
            stack[depth++] = word[i];
        } else {
            word[i] = closer_of(stack[--depth]);
        }
    }
    int trailing = 0;
    while (trailing < n && !is_open(word[n - 1 - trailing])) trailing++;
    int k = gen_range(r, 1, trailing < K_MAX ? trailing : K_MAX);
    *len = n - k;
    for (int i = 0; i < *len; i++) in[i] = word[i];
}

/* The other settings: a uniform length, then a prefix that leaves k open (k of len's
 * parity, 1 <= k <= min(len, K_MAX)), each bracket chosen among those that still allow it.
 * Returns 0, or 1 when no bracket fits (cannot happen: kept as a guard). */
static int draw_ladder(rng *r, int difficulty, char *in, int *len) {
    int n = gen_range(r, len_range[difficulty][0], len_range[difficulty][1]);
    int kmax = n < K_MAX ? n : K_MAX;
    int k = n % 2 ? 1 + 2 * (int)rng_below(r, (uint64_t)(kmax + 1) / 2) : 2 + 2 * (int)rng_below(r, (uint64_t)kmax / 2);
    char stack[DYCK_MAX];
    int depth = 0;
    for (int i = 0; i < n; i++) {
        int left = n - i - 1;   /* brackets after this one */
        int can_open = depth + 1 - k <= left;
        int can_close = depth > 0 && (depth - 1 >= k ? depth - 1 - k : k - depth + 1) <= left;
        if (!can_open && !can_close) return 1;
        if (can_open && (!can_close || rng_below(r, 2))) {
            in[i] = open_ch[rng_below(r, 4)];
            stack[depth++] = in[i];
        } else {
            in[i] = closer_of(stack[--depth]);
        }
    }
    *len = n;
    return depth == k ? 0 : 1;
}

int gen_dyck(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans) {
    char in[DYCK_MAX], stack[DYCK_MAX];
    int len, level[DYCK_MAX], depth = 0;
    if (difficulty == 0) draw_target(r, in, &len);
    else if (draw_ladder(r, difficulty, in, &len) != 0) return 1;
    for (int i = 0; i < len; i++) {   /* levels and the open stack */
        if (is_open(in[i])) {
            stack[depth++] = in[i];
            level[i] = depth;
        } else {
            if (depth == 0 || closer_of(stack[depth - 1]) != in[i]) return 1;
            level[i] = depth--;
        }
    }
    if (depth == 0) return 1;

    sbuf_puts(q, "Complete the rest of the sequence, making sure that the parentheses are closed properly. Input:");
    for (int i = 0; i < len; i++) sbuf_printf(q, " %c", in[i]);

    for (int i = 0; i < len; i++) sbuf_printf(rat, "%s%c%d", i ? " " : "", in[i], level[i]);
    sbuf_puts(rat, ". Open:");
    for (int j = depth - 1; j >= 0; j--) {
        sbuf_printf(rat, " %c%d", stack[j], j + 1);
        sbuf_printf(ans, "%s%c", j < depth - 1 ? " " : "", closer_of(stack[j]));
    }
    sbuf_printf(rat, ". So the answer is %s.", ans->s);
    return 0;
}
