/* couple.c - the "restate" position rule (couple.h). */
#include "common/data/couple.h"

/* The place just after the prompt's last "Q: " (0 if none): where the question starts. */
static int question_start(const int *prompt, int prompt_len) {
    for (int t = prompt_len - 3; t >= 0; t--)
        if (prompt[t] == 'Q' && prompt[t + 1] == ':' && prompt[t + 2] == ' ') return t + 3;
    return 0;
}

/* The index of the first '=' in gen[0..n-1], or -1. */
static int first_equals(const int *gen, int n) {
    for (int i = 0; i < n; i++)
        if (gen[i] == '=') return i;
    return -1;
}

int couple_position(const void *ctx, const int *prompt, int prompt_len, const int *gen, int i) {
    (void)ctx;
    int k = first_equals(gen, i);   /* an '=' before token i ends the restatement */
    return k < 0 ? question_start(prompt, prompt_len) + i : prompt_len + (i - k - 1);
}

void couple_positions(const int *seq, int prompt_len, int n, int *ids) {
    int q = question_start(seq, prompt_len), k = -1;
    for (int t = 0; t < n; t++) {
        int i = t - prompt_len;
        if (i < 0) ids[t] = t;
        else ids[t] = k < 0 ? q + i : prompt_len + (i - k - 1);
        if (i >= 0 && k < 0 && seq[t] == '=') k = i;
    }
}
