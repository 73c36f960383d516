/* The toy latent-variable model of ALGORITHM.md section 9.
 *
 * p_theta(z | x) = softmax(theta_x) over Z rationales, some of them correct. Then
 *   p(y | x) = sum_{z correct} p(z | x),  grad_theta_x log p(y | x) = q_x - p_x,
 * where q_x is the posterior p(z | x, y), and grad_theta_x log p(z | x) = e_z - p_x.
 * One minibatch = every example. Memory is drawn from the exact posterior (valid), except one
 * example that has no correct rationale at all: its memory is invalid, it is masked out, and
 * the normaliser is S = M - 1. The exact expectation of every estimator is therefore
 *   g* = (1 / (M - 1)) sum_{x answerable} (q_x - p_x).
 * Each estimator is run many times with fixed seeds; the mean must lie within 4 standard
 * errors of g* on every coordinate, and a resampler proportional to exp(w) must fail that.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/train/estimator.h"
#include "common/util/rng.h"

#define MAXX 8
#define Z 5

typedef struct toy {
    int M;                    /* examples = minibatch size; the last one is unanswerable */
    double p[MAXX][Z];        /* p_theta(z | x) */
    double q[MAXX][Z];        /* posterior over correct z (zeros for the unanswerable one) */
    uint8_t correct[MAXX][Z];
    double exact[MAXX][Z];    /* g* */
} toy;

enum sampler { SAMPLE_ALL, SAMPLE_SYSTEMATIC, SAMPLE_EXP_BUGGY };

/* Logits that give p(correct | x) = acc for answerable examples, with unequal probabilities
 * inside the correct and wrong sets so that the posterior has spread (otherwise even the basic
 * estimator would have zero variance). */
static void toy_make(toy *t, int M, double acc) {
    memset(t, 0, sizeof *t);
    t->M = M;
    for (int x = 0; x < M; x++) {
        int answerable = x < M - 1;
        /* correct set: z = 0, 1 (and 2 for odd x); the last example: none */
        int nc = answerable ? (x % 2 ? 3 : 2) : 0;
        double cshape[Z] = {0}, wshape[Z] = {0}, csum = 0, wsum = 0;
        for (int z = 0; z < Z; z++) {
            t->correct[x][z] = z < nc;
            double s = 1.0 + 0.7 * ((z + x) % 3); /* uneven, deterministic */
            if (z < nc) { cshape[z] = s; csum += s; }
            else { wshape[z] = s; wsum += s; }
        }
        for (int z = 0; z < Z; z++)
            t->p[x][z] = answerable ? (z < nc ? acc * cshape[z] / csum : (1 - acc) * wshape[z] / wsum)
                                    : wshape[z] / wsum;
        for (int z = 0; z < Z; z++) t->q[x][z] = z < nc ? t->p[x][z] / acc : 0.0;
    }
    for (int x = 0; x < M - 1; x++)
        for (int z = 0; z < Z; z++) t->exact[x][z] = (t->q[x][z] - t->p[x][z]) / (M - 1);
}

static int draw(rng *r, const double *probs) {
    double u = rng_uniform(r), c = 0;
    for (int z = 0; z < Z; z++) {
        c += probs[z];
        if (u < c) return z;
    }
    for (int z = Z - 1; z >= 0; z--) if (probs[z] > 0) return z;
    return Z - 1;
}

typedef struct mc {
    double mean[MAXX][Z];
    double var[MAXX][Z];   /* per-estimate variance of each coordinate */
    double total_var;      /* trace of the covariance */
    long n;
} mc;

/* Run n estimates; cv: control variate on/off; L: subsampling budget (sampler != ALL). */
static void run(const toy *t, int cv, enum sampler smp, int L, long n, uint64_t seed, mc *out) {
    rng r;
    rng_init(&r, seed, RNG_PURPOSE_TEST, (uint64_t)(cv * 100 + smp * 10 + L));
    int M = t->M;
    double s1[MAXX][Z] = {{0}}, s2[MAXX][Z] = {{0}};
    uint8_t a[MAXX], mask[MAXX];
    double beta[MAXX];
    int zmem[MAXX], zprop[MAXX], zafter[MAXX];
    est_term terms[2 * MAXX];
    est_coef coefs[2 * MAXX];
    int counts[2 * MAXX];
    double ew[2 * MAXX];
    for (long it = 0; it < n; it++) {
        for (int i = 0; i < M; i++) {
            int valid = i < M - 1; /* memory from the exact posterior; none for the last one */
            zmem[i] = valid ? draw(&r, t->q[i]) : draw(&r, t->p[i]);
            zprop[i] = draw(&r, t->p[i]);
            a[i] = t->correct[i][zprop[i]];
            zafter[i] = a[i] ? zprop[i] : zmem[i];
            mask[i] = a[i] || valid;
        }
        est_beta(a, mask, M, beta);
        int S = est_terms(a, mask, beta, M, cv, terms);
        int nc;
        if (smp == SAMPLE_ALL) {
            nc = est_coefs_systematic(terms, 2 * M, 0, S, 0.0, counts, coefs);
        } else if (smp == SAMPLE_SYSTEMATIC) {
            nc = est_coefs_systematic(terms, 2 * M, L, S, rng_uniform(&r), counts, coefs);
        } else {
            /* the public notebook's bug: log_softmax(w) given to the resampler as log-probs,
             * i.e. draws proportional to exp(w), with the coefficient of the correct scheme */
            for (int k = 0; k < 2 * M; k++) ew[k] = exp(terms[k].w);
            cr_assert_eq(est_resample_systematic(ew, 2 * M, L, rng_uniform(&r), counts), 0);
            nc = est_coefs_from_counts(terms, counts, 2 * M, L, S, coefs);
        }
        double g[MAXX][Z] = {{0}};
        for (int c = 0; c < nc; c++) {
            int i = coefs[c].ex;
            int z = coefs[c].which == EST_MEMORY ? zafter[i] : zprop[i];
            for (int zz = 0; zz < Z; zz++) g[i][zz] += coefs[c].coef * ((zz == z) - t->p[i][zz]);
        }
        for (int i = 0; i < M; i++)
            for (int z = 0; z < Z; z++) {
                s1[i][z] += g[i][z];
                s2[i][z] += g[i][z] * g[i][z];
            }
    }
    out->n = n;
    out->total_var = 0;
    for (int i = 0; i < M; i++)
        for (int z = 0; z < Z; z++) {
            out->mean[i][z] = s1[i][z] / n;
            double v = s2[i][z] / n - out->mean[i][z] * out->mean[i][z];
            out->var[i][z] = v > 0 ? v * n / (n - 1) : 0;
            out->total_var += out->var[i][z];
        }
}

/* Largest |mean - exact| / standard error over coordinates (coordinates with no variance
 * must match to rounding, else they count as infinitely far). */
static double worst_z(const toy *t, const mc *m) {
    double worst = 0;
    for (int i = 0; i < t->M; i++)
        for (int z = 0; z < Z; z++) {
            double se = sqrt(m->var[i][z] / m->n);
            double d = fabs(m->mean[i][z] - t->exact[i][z]);
            double zs = se > 1e-15 ? d / se : (d < 1e-12 ? 0 : INFINITY);
            if (zs > worst) worst = zs;
        }
    return worst;
}

#define N_EST 200000

Test(toy, basic_estimator_is_unbiased) {
    toy t;
    toy_make(&t, 5, 0.5);
    mc m;
    run(&t, 0, SAMPLE_ALL, 0, N_EST, 11, &m);
    double wz = worst_z(&t, &m);
    cr_log_info("basic: worst %.2f SE", wz);
    cr_assert_lt(wz, 4.0, "basic (no-CV) estimator: worst coordinate %.2f standard errors from the exact gradient", wz);
}

Test(toy, control_variate_estimator_is_unbiased) {
    toy t;
    toy_make(&t, 5, 0.5);
    mc m;
    run(&t, 1, SAMPLE_ALL, 0, N_EST, 12, &m);
    double wz = worst_z(&t, &m);
    cr_log_info("cv: worst %.2f SE", wz);
    cr_assert_lt(wz, 4.0, "CV estimator: worst coordinate %.2f standard errors from the exact gradient", wz);
}

Test(toy, subsampled_estimators_are_unbiased) {
    toy t;
    toy_make(&t, 5, 0.5);
    int Ls[] = {1, 2, 3};
    for (int j = 0; j < 3; j++) {
        mc m;
        run(&t, 1, SAMPLE_SYSTEMATIC, Ls[j], N_EST, 13, &m);
        double wz = worst_z(&t, &m);
        cr_log_info("cv L=%d: worst %.2f SE", Ls[j], wz);
        cr_assert_lt(wz, 4.0, "CV + systematic subsampling L=%d: worst coordinate %.2f standard errors off", Ls[j], wz);
    }
    mc m;
    run(&t, 0, SAMPLE_SYSTEMATIC, 2, N_EST, 14, &m);
    double wz = worst_z(&t, &m);
    cr_log_info("nocv L=2: worst %.2f SE", wz);
    cr_assert_lt(wz, 4.0, "no-CV + subsampling L=2: worst coordinate %.2f standard errors off", wz);
}

/* The same machinery must catch the notebook's resampler: otherwise the tests above prove
 * nothing about bias. */
Test(toy, exp_weight_resampler_is_detected_as_biased) {
    toy t;
    toy_make(&t, 5, 0.5);
    mc m;
    run(&t, 1, SAMPLE_EXP_BUGGY, 2, N_EST, 15, &m);
    double wz = worst_z(&t, &m);
    cr_log_info("exp(w) resampler: worst %.2f SE", wz);
    cr_assert_gt(wz, 4.0, "a resampler proportional to exp(w) should be detected as biased; worst is only %.2f SE", wz);
}

/* ALGORITHM.md section 9: the CV variance is close to the basic one at low accuracy and falls
 * towards 0 as p(y|x) -> 1. */
Test(toy, control_variate_variance_falls_as_accuracy_rises) {
    toy t;
    mc basic, cv;
    toy_make(&t, 8, 0.995);
    run(&t, 0, SAMPLE_ALL, 0, 20000, 21, &basic);
    run(&t, 1, SAMPLE_ALL, 0, 20000, 22, &cv);
    double hi = cv.total_var / basic.total_var;
    cr_assert_lt(hi, 0.1, "at p(y|x)=0.995 the CV/basic variance ratio is %.3f (expected < 0.1)", hi);
    toy_make(&t, 8, 0.28);
    run(&t, 0, SAMPLE_ALL, 0, 20000, 23, &basic);
    run(&t, 1, SAMPLE_ALL, 0, 20000, 24, &cv);
    double lo = cv.total_var / basic.total_var;
    cr_assert(lo > 0.7 && lo < 1.3, "at p(y|x)=0.28 the CV/basic variance ratio is %.3f (expected near 1)", lo);
    cr_log_info("CV/basic variance ratio: %.3f at p=0.28, %.4f at p=0.995", lo, hi);
}
