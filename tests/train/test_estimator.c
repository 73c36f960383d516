/* Exact properties of the estimator math: beta edge cases, term weights, systematic
 * resampling counts, coefficient lists and the baselines. */
#include <criterion/criterion.h>
#include <math.h>

#include "common/train/estimator.h"
#include "common/util/err.h"
#include "common/util/rng.h"

Test(beta, leave_one_out_formula) {
    uint8_t a[] = {1, 0, 1, 0, 0}, mask[] = {1, 1, 1, 0, 1};
    double beta[5];
    int S = est_beta(a, mask, 5, beta);
    cr_assert_eq(S, 4);
    /* sum a = 2, S - 1 = 3 */
    cr_assert_float_eq(beta[0], 1.0 / 3, 1e-15);
    cr_assert_float_eq(beta[1], 2.0 / 3, 1e-15);
    cr_assert_float_eq(beta[2], 1.0 / 3, 1e-15);
    cr_assert_float_eq(beta[4], 2.0 / 3, 1e-15);
}

Test(beta, no_valid_example_means_no_gradient) {
    uint8_t a[] = {0, 0, 0}, mask[] = {0, 0, 0};
    double beta[3];
    est_term terms[6];
    est_coef out[6];
    int counts[6];
    cr_assert_eq(est_beta(a, mask, 3, beta), 0);
    int S = est_terms(a, mask, beta, 3, 1, terms);
    cr_assert_eq(S, 0);
    for (int k = 0; k < 6; k++) cr_assert_eq(terms[k].w, 0.0);
    cr_assert_eq(est_coefs_systematic(terms, 6, 0, S, 0.5, counts, out), 0, "S = 0 must give no terms");
    cr_assert_eq(est_coefs_systematic(terms, 6, 2, S, 0.5, counts, out), 0);
}

Test(beta, single_valid_example_has_beta_zero) {
    /* S = 1: the denominator is max(0, 1) = 1 and the numerator excludes the example itself */
    uint8_t a[] = {1, 0, 0}, mask[] = {1, 0, 0};
    double beta[3];
    est_term terms[6];
    est_coef out[6];
    int counts[6];
    int S = est_beta(a, mask, 3, beta);
    cr_assert_eq(S, 1);
    cr_assert_eq(beta[0], 0.0);
    S = est_terms(a, mask, beta, 3, 1, terms);
    int n = est_coefs_systematic(terms, 6, 0, S, 0.0, counts, out);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].ex, 0);
    cr_assert_eq(out[0].which, EST_MEMORY);
    cr_assert_eq(out[0].coef, 1.0, "the one valid example is an ordinary likelihood term");
    /* S = 1 with an invalid-but-wrong proposal elsewhere: no proposal term survives */
    uint8_t a2[] = {0, 0}, m2[] = {1, 0};
    est_beta(a2, m2, 2, beta);
    cr_assert_eq(beta[0], 0.0);
}

Test(beta, all_accepted_gives_exactly_zero_gradient) {
    for (int M = 2; M <= 64; M++) {
        uint8_t a[64], mask[64];
        double beta[64];
        est_term terms[128];
        est_coef out[128];
        int counts[128];
        for (int i = 0; i < M; i++) a[i] = mask[i] = 1;
        int S = est_beta(a, mask, M, beta);
        for (int i = 0; i < M; i++) cr_assert_eq(beta[i], 1.0, "M=%d beta[%d]=%.17g", M, i, beta[i]);
        S = est_terms(a, mask, beta, M, 1, terms);
        for (int k = 0; k < 2 * M; k++) cr_assert_eq(terms[k].w, 0.0, "M=%d term %d weight %.17g", M, k, terms[k].w);
        cr_assert_eq(est_coefs_systematic(terms, 2 * M, 0, S, 0.0, counts, out), 0, "M=%d: all accepted must give no terms", M);
        cr_assert_eq(est_coefs_systematic(terms, 2 * M, 3, S, 0.7, counts, out), 0);
    }
}

Test(terms, weights_signs_and_merge) {
    uint8_t a[] = {1, 0, 0, 1}, mask[] = {1, 1, 0, 1};
    double beta[4];
    est_term t[8];
    est_beta(a, mask, 4, beta);          /* sum a = 2, S = 3, den = 2 */
    int S = est_terms(a, mask, beta, 4, 1, t);
    cr_assert_eq(S, 3);
    /* accepted example 0: merged into one memory term 1 - beta_0, proposal 0 */
    cr_assert_float_eq(t[0].w, 1 - 0.5, 1e-15);
    cr_assert_eq(t[1].w, 0.0);
    /* rejected with valid memory: memory 1, proposal -beta */
    cr_assert_eq(t[2].w, 1.0);
    cr_assert_float_eq(t[3].w, 1.0, 1e-15);
    cr_assert_eq(t[2].sign, 1);
    cr_assert_eq(t[3].sign, -1);
    cr_assert_eq(t[3].which, EST_PROPOSAL);
    cr_assert_eq(t[3].ex, 1);
    /* masked-out example: nothing */
    cr_assert_eq(t[4].w, 0.0);
    cr_assert_eq(t[5].w, 0.0);
    /* no-CV: memory terms carry mask only */
    S = est_terms(a, mask, NULL, 4, 0, t);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(t[2 * i].w, mask[i] ? 1.0 : 0.0);
        cr_assert_eq(t[2 * i + 1].w, 0.0);
    }
}

/* Each term drawn floor or ceil of L w / W times, counts summing to L, zero weights never
 * drawn, over many random weight vectors and offsets. */
Test(resample, systematic_counts_are_floor_or_ceil) {
    rng r;
    rng_init(&r, 7, RNG_PURPOSE_TEST, 1);
    double w[40];
    int counts[40];
    for (int trial = 0; trial < 20000; trial++) {
        int n = 1 + (int)rng_below(&r, 40);
        int L = 1 + (int)rng_below(&r, 60);
        double W = 0;
        for (int k = 0; k < n; k++) {
            w[k] = rng_below(&r, 4) == 0 ? 0.0 : rng_uniform(&r) * (rng_below(&r, 2) ? 1.0 : 1e-3);
            W += w[k];
        }
        if (W == 0) { w[0] = 0.5; W = 0.5; }
        double u = rng_uniform(&r);
        cr_assert_eq(est_resample_systematic(w, n, L, u, counts), 0);
        int sum = 0;
        for (int k = 0; k < n; k++) {
            double e = L * w[k] / W;
            cr_assert(counts[k] >= (int)floor(e - 1e-9) && counts[k] <= (int)ceil(e + 1e-9),
                      "trial %d: term %d drawn %d times, expected floor/ceil of %.6f", trial, k, counts[k], e);
            if (w[k] == 0) cr_assert_eq(counts[k], 0, "a zero-weight term was drawn");
            sum += counts[k];
        }
        cr_assert_eq(sum, L, "trial %d: %d draws instead of L=%d", trial, sum, L);
    }
}

Test(resample, expected_counts_match_weights) {
    /* averaging over u on a fine grid gives L w / W exactly up to the grid */
    double w[] = {0.1, 0.0, 0.35, 0.05, 0.5};
    int counts[5];
    double avg[5] = {0};
    int G = 100000;
    for (int g = 0; g < G; g++) {
        cr_assert_eq(est_resample_systematic(w, 5, 3, (g + 0.5) / G, counts), 0);
        for (int k = 0; k < 5; k++) avg[k] += counts[k];
    }
    for (int k = 0; k < 5; k++) cr_assert_float_eq(avg[k] / G, 3 * w[k], 1e-4, "term %d", k);
}

Test(resample, bad_input_rejected) {
    double w[] = {0.5, -0.1};
    int counts[2] = {9, 9};
    cr_assert_eq(est_resample_systematic(w, 2, 2, 0.3, counts), TR_EINVAL);
    cr_assert_eq(counts[0], 0);
    double ok[] = {0.5, 0.5};
    cr_assert_eq(est_resample_systematic(ok, 2, 2, 1.0, counts), TR_EINVAL, "u must be < 1");
    cr_assert_eq(est_resample_systematic(ok, 2, -1, 0.5, counts), TR_EINVAL);
    double nanw[] = {NAN, 1};
    cr_assert_eq(est_resample_systematic(nanw, 2, 2, 0.5, counts), TR_EINVAL);
    est_term t[2] = {{.ex = 0, .which = EST_MEMORY, .sign = 1, .w = 0.5},
                     {.ex = 0, .which = EST_PROPOSAL, .sign = -1, .w = -0.5}};
    est_coef out[2];
    cr_assert_eq(est_coefs_systematic(t, 2, 1, 1, 0.5, counts, out), -1, "a negative weight is a caller bug");
    t[1].w = 0.5;
    cr_assert_eq(est_coefs_systematic(t, 2, 1, 1, 1.5, counts, out), -1, "u outside [0, 1) is a caller bug");
    cr_assert_eq(est_coefs_systematic(t, 2, 1, 1, 0.5, counts, out), 1);
    double zero[] = {0, 0};
    cr_assert_eq(est_resample_systematic(zero, 2, 2, 0.5, counts), 0);
    cr_assert_eq(counts[0] + counts[1], 0);
}

Test(coefs, subsampled_and_exact_coefficients) {
    est_term t[4] = {
        {.ex = 0, .which = EST_MEMORY, .sign = 1, .w = 0.5},
        {.ex = 0, .which = EST_PROPOSAL, .sign = -1, .w = 0.0},
        {.ex = 1, .which = EST_MEMORY, .sign = 1, .w = 1.0},
        {.ex = 1, .which = EST_PROPOSAL, .sign = -1, .w = 0.5},
    };
    est_coef out[4];
    /* exact: sign w / S over non-zero terms */
    int n = est_coefs_from_counts(t, NULL, 4, 0, 2, out);
    cr_assert_eq(n, 3);
    cr_assert_float_eq(out[0].coef, 0.25, 1e-15);
    cr_assert_float_eq(out[1].coef, 0.5, 1e-15);
    cr_assert_float_eq(out[2].coef, -0.25, 1e-15);
    cr_assert_eq(out[2].which, EST_PROPOSAL);
    /* drawn twice: one entry with twice the coefficient sign W / (L S) = 2 / (4 * 2) */
    int counts[4] = {0, 0, 2, 2};
    n = est_coefs_from_counts(t, counts, 4, 4, 2, out);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].ex, 1);
    cr_assert_float_eq(out[0].coef, 2 * 2.0 / (4 * 2), 1e-15);
    cr_assert_float_eq(out[1].coef, -2 * 2.0 / (4 * 2), 1e-15);
    /* L covering every non-zero term means no subsampling */
    int scratch[4];
    n = est_coefs_systematic(t, 4, 3, 2, 0.99, scratch, out);
    cr_assert_eq(n, 3);
    cr_assert_float_eq(out[1].coef, 0.5, 1e-15);
    /* L = 2 < 3 non-zero terms: exactly 2 draws in total */
    n = est_coefs_systematic(t, 4, 2, 2, 0.3, scratch, out);
    double unit = 2.0 / (2 * 2);
    double drawn = 0;
    for (int k = 0; k < n; k++) drawn += fabs(out[k].coef) / unit;
    cr_assert_float_eq(drawn, 2.0, 1e-12);
}

Test(baselines, rs_averages_correct_particles) {
    /* 3 examples x 4 particles; example 1 has none correct */
    uint8_t c[] = {1, 0, 1, 0,  0, 0, 0, 0,  0, 0, 0, 1};
    est_coef out[12];
    int n = est_rs_coefs(c, 3, 4, out);
    cr_assert_eq(n, 3);
    /* E = 2 contributing examples; example 0 has 2 correct: 1/(2*2) each; example 2: 1/2 */
    cr_assert_eq(out[0].ex, 0);
    cr_assert_eq(out[0].which, 0);
    cr_assert_float_eq(out[0].coef, 0.25, 1e-15);
    cr_assert_eq(out[1].which, 2);
    cr_assert_eq(out[2].ex, 2);
    cr_assert_eq(out[2].which, 3);
    cr_assert_float_eq(out[2].coef, 0.5, 1e-15);
    uint8_t none[] = {0, 0, 0, 0};
    cr_assert_eq(est_rs_coefs(none, 2, 2, out), 0, "no correct particle: no gradient");
}

Test(baselines, uniform_coefficients) {
    est_coef out[4];
    cr_assert_eq(est_uniform_coefs(4, EST_MEMORY, out), 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(out[i].ex, i);
        cr_assert_eq(out[i].coef, 0.25);
    }
}

Test(stats, step_summary) {
    uint8_t a[] = {1, 0, 0, 1}, mask[] = {1, 1, 0, 1};
    double beta[4];
    est_term t[8];
    est_beta(a, mask, 4, beta);
    est_terms(a, mask, beta, 4, 1, t);
    est_stats st;
    est_stats_compute(a, mask, beta, 4, t, &st);
    cr_assert_float_eq(st.proposal_acc, 0.5, 1e-15);
    cr_assert_float_eq(st.memory_acc, 0.75, 1e-15);
    cr_assert_eq(st.S, 3);
    cr_assert_eq(st.nonzero_terms, 4); /* ex0 memory, ex1 memory+proposal, ex3 memory */
}
