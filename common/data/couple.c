/* couple.c - the "columns" position rule (couple.h). */
#include "common/data/couple.h"

/* The place just after the prompt's last "Q: " (0 if none): where the question starts. */
static int question_start(const int *prompt, int prompt_len) {
    for (int t = prompt_len - 3; t >= 0; t--)
        if (prompt[t] == 'Q' && prompt[t + 1] == ':' && prompt[t + 2] == ' ') return t + 3;
    return 0;
}

/* The id of generated token i, given the index k of the last '=' before it (-1 if none).
 * Without a "Q: " (q = 0) a line starts again at 0. */
static int column_id(int q, int k, int i) {
    return k < 0 ? q + i : (q > 0 ? q - 1 : 0) + (i - k - 1);
}

int couple_position(const int *prompt, int prompt_len, const int *gen, int i) {
    int k = i - 1;
    while (k >= 0 && gen[k] != '=') k--;
    return column_id(question_start(prompt, prompt_len), k, i);
}

void couple_positions(const int *seq, int prompt_len, int n, int *ids) {
    int q = question_start(seq, prompt_len), k = -1;
    for (int t = 0; t < n; t++) {
        int i = t - prompt_len;
        ids[t] = i < 0 ? t : column_id(q, k, i);
        if (i >= 0 && seq[t] == '=') k = i;
    }
}
