/* answer.c - answer extraction, normalisation and comparison; rules in answer.h. */
#include "common/data/answer.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Parse a number at s (GSM8K rules). Writes the normalised form into out[cap] and the end
 * of the number into *end. Returns 0, 1 when there is no number, 2 when it does not fit. */
static int parse_number(const char *s, const char **end, char *out, size_t cap) {
    const char *p = s;
    if (*p == '$') p++;
    int neg = 0;
    if (*p == '-' || *p == '+') { neg = *p == '-'; p++; }
    if (*p == '$') p++;   /* "-$5" */
    if (!isdigit((unsigned char)*p)) return 1;
    char digits[ANSWER_MAX];
    size_t nd = 0;
    for (;;) {
        if (isdigit((unsigned char)*p)) {
            if (nd + 1 >= sizeof digits) return 2;
            digits[nd++] = *p++;
        } else if (*p == ',' && isdigit((unsigned char)p[1])) {
            p++;   /* thousands separator */
        } else {
            break;
        }
    }
    digits[nd] = '\0';
    char frac[ANSWER_MAX];
    size_t nf = 0;
    if (*p == '.' && isdigit((unsigned char)p[1])) {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (nf + 1 >= sizeof frac) return 2;
            frac[nf++] = *p++;
        }
    }
    while (nf > 0 && frac[nf - 1] == '0') nf--;   /* 18.50 -> 18.5, 18.00 -> 18 */
    frac[nf] = '\0';
    const char *d = digits;
    while (d[0] == '0' && d[1] != '\0') d++;       /* leading zeros */
    if (strcmp(d, "0") == 0 && nf == 0) neg = 0;   /* "-0" is 0 */
    size_t need = (size_t)neg + strlen(d) + (nf ? 1 + nf : 0) + 1;
    if (need > cap) return 2;
    char *o = out;
    if (neg) *o++ = '-';
    memcpy(o, d, strlen(d));
    o += strlen(d);
    if (nf) { *o++ = '.'; memcpy(o, frac, nf); o += nf; }
    *o = '\0';
    *end = p;
    return 0;
}

/* Copy s[0..n) into out with whitespace trimmed and runs collapsed to one space. */
static int collapse_ws(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    int pending_space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) { pending_space = o > 0; continue; }
        if (pending_space) {
            if (o + 1 >= cap) return 2;
            out[o++] = ' ';
            pending_space = 0;
        }
        if (o + 1 >= cap) return 2;
        out[o++] = (char)c;
    }
    if (cap == 0) return 2;
    out[o] = '\0';
    return o == 0 ? 1 : 0;
}

static const char *find_marker(const char *g) {
    static const char *const markers[] = {"So the answer is", "so the answer is"};
    const char *best = NULL;
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        const char *m = strstr(g, markers[i]);
        if (m && (!best || m < best)) best = m;
    }
    return best ? best + strlen("So the answer is") : NULL;
}

int answer_extract(answer_kind kind, const char *generated, char *out, size_t cap) {
    if (cap) out[0] = '\0';
    if (!generated) return 1;
    const char *p = find_marker(generated);
    if (!p) return 1;
    while (*p == ' ' || *p == '\t') p++;
    if (kind == ANSWER_INT) {
        const char *end;
        return parse_number(p, &end, out, cap);
    }
    /* the answer ends at a line break or at a '.' that ends the sentence */
    size_t n = 0;
    while (p[n] && p[n] != '\n' && p[n] != '\r') {
        if (p[n] == '.' && (p[n + 1] == '\0' || isspace((unsigned char)p[n + 1]))) break;
        n++;
    }
    return collapse_ws(p, n, out, cap);
}

int answer_normalise(answer_kind kind, const char *s, char *out, size_t cap) {
    if (cap) out[0] = '\0';
    if (!s) return 1;
    if (kind == ANSWER_INT) {
        while (isspace((unsigned char)*s)) s++;
        const char *end;
        int rc = parse_number(s, &end, out, cap);
        if (rc) return rc;
        while (isspace((unsigned char)*end)) end++;
        if (*end != '\0' || strchr(out, '.')) { out[0] = '\0'; return 1; }
        return 0;
    }
    return collapse_ws(s, strlen(s), out, cap);
}

int answer_is_integer(const char *s) {
    char buf[ANSWER_MAX];
    return answer_normalise(ANSWER_INT, s, buf, sizeof buf) == 0;
}

static int is_option(const char *s) {
    return s[0] == '(' && isupper((unsigned char)s[1]) && s[2] == ')' && s[3] == '\0';
}

int answer_equal(answer_kind kind, const char *extracted, const char *gold) {
    if (strcmp(extracted, gold) == 0) return 1;
    if (kind == ANSWER_INT) return 0;
    static const char *const ci[] = {"yes", "no", "true", "false", "valid", "invalid"};
    for (size_t i = 0; i < sizeof ci / sizeof ci[0]; i++)
        if (strcasecmp(gold, ci[i]) == 0) return strcasecmp(extracted, gold) == 0;
    if (is_option(gold)) return strncmp(extracted, gold, 3) == 0 && extracted[3] == ' ';
    return 0;
}

int answer_check(answer_kind kind, const char *generated, const char *gold) {
    char a[ANSWER_MAX], g[ANSWER_MAX];
    if (answer_extract(kind, generated, a, sizeof a) != 0) return 0;
    if (answer_normalise(kind, gold, g, sizeof g) != 0) return 0;
    return answer_equal(kind, a, g);
}
