/* gen_dyck.c - dyck_languages: close a Dyck-4 word that lost its last few closers.
 *
 * Rationale: delete every adjacent matched pair, repeatedly, writing the sequence after
 * each round; what is left is the open stack, and the answer closes it in reverse:
 *   < > ( ( [ [ ( { } ) [ < > ] ] = ( ( [ [ ( ) [ ] ] = ( ( [ [ ] = ( ( [.
 *   So the answer is ] ) ).
 */
#include "common/data/gen_internal.h"

#define DYCK_MAX 64

static const char open_ch[] = "([{<";
static const char close_ch[] = ")]}>";

static const int pairs_range[4][2] = {{3, 20}, {2, 4}, {3, 8}, {6, 16}};
static const int k_cap[4] = {5, 2, 3, 4};

static void put_seq(sbuf *b, const char *s, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sbuf_putc(b, ' ');
        sbuf_putc(b, s[i]);
    }
}

static int matches(char o, char c) {
    for (int i = 0; i < 4; i++) if (open_ch[i] == o) return close_ch[i] == c;
    return 0;
}

int gen_dyck(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans) {
    int m = gen_range(r, pairs_range[difficulty][0], pairs_range[difficulty][1]);
    char word[DYCK_MAX], stack[DYCK_MAX];
    int depth = 0, n = 2 * m;
    for (int i = 0; i < n; i++) {
        int remaining = n - i;
        int open = depth == 0 ? 1 : depth == remaining ? 0 : (int)rng_below(r, 2);
        if (open) {
            char c = open_ch[rng_below(r, 4)];
            stack[depth++] = c;
            word[i] = c;
        } else {
            char o = stack[--depth];
            for (int t = 0; t < 4; t++) if (open_ch[t] == o) word[i] = close_ch[t];
        }
    }
    int trailing = 0;   /* closers at the end of the word */
    while (trailing < n && (word[n - 1 - trailing] == ')' || word[n - 1 - trailing] == ']' ||
                            word[n - 1 - trailing] == '}' || word[n - 1 - trailing] == '>'))
        trailing++;
    int kmax = trailing < k_cap[difficulty] ? trailing : k_cap[difficulty];
    int k = gen_range(r, 1, kmax);
    int len = n - k;

    sbuf_puts(q, "Complete the rest of the sequence, making sure that the parentheses are closed properly. Input: ");
    put_seq(q, word, len);

    char cur[DYCK_MAX], next[DYCK_MAX];
    int nc = len;
    for (int i = 0; i < len; i++) cur[i] = word[i];
    put_seq(rat, cur, nc);
    for (;;) {
        int nn = 0, removed = 0;
        for (int i = 0; i < nc; i++) {
            if (i + 1 < nc && matches(cur[i], cur[i + 1])) { i++; removed = 1; continue; }
            next[nn++] = cur[i];
        }
        if (!removed) break;
        for (int i = 0; i < nn; i++) cur[i] = next[i];
        nc = nn;
        sbuf_puts(rat, " = ");
        put_seq(rat, cur, nc);
    }
    sbuf_puts(rat, ". So the answer is ");
    for (int i = nc - 1; i >= 0; i--) {
        char c = 0;
        for (int t = 0; t < 4; t++) if (open_ch[t] == cur[i]) c = close_ch[t];
        sbuf_putc(ans, c);
        if (i) sbuf_putc(ans, ' ');
    }
    if (ans->s) sbuf_puts(rat, ans->s);
    sbuf_putc(rat, '.');
    return nc == k ? 0 : 1;   /* what is left is exactly the k cut-off openers */
}
