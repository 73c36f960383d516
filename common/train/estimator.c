/* estimator.c - TRICE estimator math; see estimator.h and ALGORITHM.md sections 4-6. */
#include "common/train/estimator.h"

#include <math.h>

#include "common/util/err.h"

int est_beta(const uint8_t *a, const uint8_t *mask, int M, double *beta) {
    int A = 0, S = 0;
    for (int i = 0; i < M; i++) {
        A += a[i] != 0;
        S += mask[i] != 0;
    }
    /* max(S - 1, 1): with S <= 1 the leave-one-out mean is over nobody; beta is then
     * 0 for the one valid example (its numerator A - a_i is 0) */
    double den = S - 1 > 1 ? (double)(S - 1) : 1.0;
    for (int i = 0; i < M; i++)
        beta[i] = (double)(A - (a[i] != 0)) / den;
    return S;
}

int est_terms(const uint8_t *a, const uint8_t *mask, const double *beta, int M, int cv,
              est_term *terms) {
    int S = 0;
    for (int i = 0; i < M; i++) {
        double m = mask[i] != 0 ? 1.0 : 0.0;
        double ai = a[i] != 0 ? 1.0 : 0.0;
        double b = cv ? beta[i] : 0.0;
        S += mask[i] != 0;
        double wm = m * (1.0 - b * ai);
        double wp = m * b * (1.0 - ai);
        /* beta_i <= 1 exactly when mask_i = 1 (see header); the clamp only guards callers
         * that pass their own beta */
        if (!(wm > 0.0)) wm = 0.0;
        if (!(wp > 0.0)) wp = 0.0;
        terms[2 * i] = (est_term){.ex = i, .which = EST_MEMORY, .sign = +1, .w = wm};
        terms[2 * i + 1] = (est_term){.ex = i, .which = EST_PROPOSAL, .sign = -1, .w = wp};
    }
    return S;
}

/* Systematic resampling over weights read with a byte stride, so that the same arithmetic
 * serves a plain double array and the w field of an est_term array. Inputs already checked;
 * W = sum of the weights accumulated in index order, W > 0, L > 0.
 *
 * Term k owns the draws l with C_{k-1} <= (u + l) W / L < C_k, i.e. the integers l in
 * [t_{k-1} - u, t_k - u) with t_k = L * C_k / W; their number is
 * ceil(t_k - u) - ceil(t_{k-1} - u). Computed this way the counts are differences of a
 * monotone sequence (never negative), a zero weight leaves C unchanged (count exactly 0), and
 * the last t is L * (W / W) = L exactly, so the counts always sum to exactly L. C accumulates
 * in the same order as W, so the final C equals W bit for bit. */
static void systematic_core(const double *w0, size_t stride, int n, int L, double u, double W,
                            int *counts) {
    const char *base = (const char *)w0;
    double C = 0.0;
    double prev = ceil(0.0 - u); /* t_0 = 0 */
    for (int k = 0; k < n; k++) {
        C += *(const double *)(const void *)(base + (size_t)k * stride);
        double cur = ceil((double)L * (C / W) - u);
        counts[k] = (int)(cur - prev);
        prev = cur;
    }
}

int est_resample_systematic(const double *w, int n, int L, double u, int *counts) {
    if (n < 0) return TR_EINVAL;
    for (int k = 0; k < n; k++) counts[k] = 0;
    if (L < 0 || !(u >= 0.0 && u < 1.0)) return TR_EINVAL;
    double W = 0.0;
    for (int k = 0; k < n; k++) {
        if (!(w[k] >= 0.0) || !isfinite(w[k])) return TR_EINVAL;
        W += w[k];
    }
    if (L == 0 || !(W > 0.0)) return 0;
    systematic_core(w, sizeof *w, n, L, u, W, counts);
    return 0;
}

int est_coefs_from_counts(const est_term *terms, const int *counts, int n, int L, int S,
                          est_coef *out) {
    if (S <= 0 || n <= 0) return 0;
    int m = 0;
    if (!counts) {
        for (int k = 0; k < n; k++) {
            if (!(terms[k].w > 0.0)) continue;
            out[m++] = (est_coef){.ex = terms[k].ex, .which = terms[k].which,
                                  .coef = terms[k].sign * terms[k].w / S};
        }
        return m;
    }
    if (L <= 0) return 0;
    double W = 0.0;
    for (int k = 0; k < n; k++) W += terms[k].w;
    double unit = W / ((double)L * S);
    for (int k = 0; k < n; k++) {
        if (counts[k] <= 0) continue;
        out[m++] = (est_coef){.ex = terms[k].ex, .which = terms[k].which,
                              .coef = counts[k] * terms[k].sign * unit};
    }
    return m;
}

int est_coefs_systematic(const est_term *terms, int n, int L, int S, double u, int *counts_scratch,
                         est_coef *out) {
    if (n < 0 || L < 0 || !(u >= 0.0 && u < 1.0)) return -1;
    int nnz = 0;
    for (int k = 0; k < n; k++) {
        if (!(terms[k].w >= 0.0) || !isfinite(terms[k].w)) return -1;
        nnz += terms[k].w > 0.0;
    }
    if (S <= 0) return 0;
    if (L <= 0 || L >= nnz) return est_coefs_from_counts(terms, NULL, n, 0, S, out);
    double W = 0.0;
    for (int k = 0; k < n; k++) W += terms[k].w;
    systematic_core(&terms[0].w, sizeof *terms, n, L, u, W, counts_scratch);
    return est_coefs_from_counts(terms, counts_scratch, n, L, S, out);
}

void est_stats_compute(const uint8_t *a, const uint8_t *mask, const double *beta, int M,
                       const est_term *terms, est_stats *st) {
    *st = (est_stats){0};
    if (M <= 0) return;
    double sa = 0, sm = 0, sb = 0;
    for (int i = 0; i < M; i++) {
        sa += a[i] != 0;
        sm += mask[i] != 0;
        if (beta && mask[i]) sb += beta[i];
    }
    st->proposal_acc = sa / M;
    st->memory_acc = sm / M;
    /* over the examples that carry a gradient (mask_i = 1): beta_i of the others is unused */
    st->beta_mean = sm > 0 ? sb / sm : 0.0;
    st->S = (int)sm;
    if (terms) {
        for (int k = 0; k < 2 * M; k++) {
            st->nonzero_terms += terms[k].w > 0.0;
            st->W += terms[k].w;
        }
    }
}

int est_rs_coefs(const uint8_t *correct, int M, int K, est_coef *out) {
    int E = 0;
    for (int i = 0; i < M; i++) {
        int c = 0;
        for (int k = 0; k < K; k++) c += correct[(size_t)i * K + k] != 0;
        E += c > 0;
    }
    if (E == 0) return 0;
    int m = 0;
    for (int i = 0; i < M; i++) {
        int c = 0;
        for (int k = 0; k < K; k++) c += correct[(size_t)i * K + k] != 0;
        if (c == 0) continue;
        double coef = 1.0 / ((double)c * E);
        for (int k = 0; k < K; k++)
            if (correct[(size_t)i * K + k]) out[m++] = (est_coef){.ex = i, .which = k, .coef = coef};
    }
    return m;
}

int est_uniform_coefs(int M, int which, est_coef *out) {
    for (int i = 0; i < M; i++) out[i] = (est_coef){.ex = i, .which = which, .coef = 1.0 / M};
    return M > 0 ? M : 0;
}
