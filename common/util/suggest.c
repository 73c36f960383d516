/* suggest.c - closest-word suggestions; see suggest.h. */
#include "common/util/suggest.h"

#include <string.h>

#define SUGGEST_MAXLEN 64

int suggest_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na >= SUGGEST_MAXLEN || nb >= SUGGEST_MAXLEN) return 1 << 20;
    int row[SUGGEST_MAXLEN + 1];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

int suggest_closest(const char *word, const char *const *cands, int n) {
    size_t wl = strlen(word);
    int best = -1, best_d = 1 << 20, prefix_hits = 0, prefix_i = -1;
    for (int i = 0; n < 0 ? cands[i] != NULL : i < n; i++) {
        if (!cands[i]) continue;
        int d = suggest_distance(word, cands[i]);
        if (d < best_d) { best_d = d; best = i; }
        if (wl >= 2 && strncmp(cands[i], word, wl) == 0) { prefix_hits++; prefix_i = i; }
    }
    int limit = (int)(wl / 3) > 2 ? (int)(wl / 3) : 2;
    if (best >= 0 && best_d <= limit && best_d < (int)wl) return best;
    if (prefix_hits == 1) return prefix_i;
    return -1;
}
