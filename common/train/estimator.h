/* estimator.h - TRICE gradient-estimator math (ALGORITHM.md sections 4-6), with no model in sight.
 *
 * The engine turns one minibatch of M examples into plain arrays:
 *   a[i]    = 1 if the proposal z~_i reached the right answer (it was accepted), else 0;
 *   mask[i] = 1 if the memory after the step z'_i is correct (a[i] OR the old valid flag).
 * This module turns them into a short list of (example, rationale, coefficient) triples; the
 * engine then minimises loss = -sum_k coef_k * log p_theta(rationale_k | x_k), whose gradient is
 * the TRICE estimate. Everything here is deterministic given its inputs (the resampling offset u
 * comes from the caller's rng), allocation-free, and identical on the coordinator and in a
 * single-process run.
 *
 * Term layout: est_terms() writes exactly 2M terms, terms[2i] = memory term of example i and
 * terms[2i+1] = proposal term of example i, many of them with weight 0. A fixed layout keeps the
 * distributed code simple (term k belongs to example k/2) and zero-weight terms are never drawn.
 */
#ifndef TRICE_TRAIN_ESTIMATOR_H
#define TRICE_TRAIN_ESTIMATOR_H

#include <stdint.h>

/* Which rationale of an example a coefficient applies to. For `rs` the value is instead the
 * particle index 0..K-1 (see est_rs_coefs). */
enum { EST_MEMORY = 0, EST_PROPOSAL = 1 };

typedef struct est_term {
    int ex;      /* minibatch index i, 0..M-1 */
    int which;   /* EST_MEMORY (z'_i) or EST_PROPOSAL (z~_i) */
    int sign;    /* +1 for memory terms, -1 for proposal terms */
    double w;    /* weight >= 0 */
} est_term;

typedef struct est_coef {
    int ex;      /* minibatch index */
    int which;   /* EST_MEMORY / EST_PROPOSAL, or the particle index for rs */
    double coef; /* signed coefficient of grad log p(rationale | x_ex) in the estimate */
} est_coef;

/* Summary numbers for the metrics of ALGORITHM.md section 7. */
typedef struct est_stats {
    double proposal_acc;  /* mean a_i */
    double memory_acc;    /* mean mask_i */
    double beta_mean;     /* mean beta_i over examples with mask_i = 1 (0 for no-CV or S = 0) */
    int S;                /* sum mask_i: the normaliser */
    int nonzero_terms;    /* terms with w > 0 */
    double W;             /* sum of all term weights */
} est_stats;

/* Leave-one-out control-variate weights:
 *   beta_i = (sum_j a_j - a_i) / max(sum_j mask_j - 1, 1).
 * beta_i does not depend on z~_i, which is what keeps the control variate unbiased.
 * a, mask, beta: [M]. With M >= 2 and every a_i = 1, every beta_i is exactly 1.0 (the division
 * (M-1)/(M-1) is exact in IEEE arithmetic), which makes the gradient exactly zero (see est_terms).
 * Returns S = sum_j mask_j. */
int est_beta(const uint8_t *a, const uint8_t *mask, int M, double *beta);

/* The 2M weighted terms (layout in the file comment):
 *   memory term   (z'_i, sign +1): w = mask_i * (1 - beta_i * a_i)
 *   proposal term (z~_i, sign -1): w = mask_i * beta_i * (1 - a_i)
 * When a_i = 1 the proposal was accepted, so z'_i = z~_i: the two terms are the same rationale.
 * The formulas already merge them: the memory term carries 1 - beta_i and the proposal term
 * carries 0, so no rationale is ever counted with both signs.
 * cv = 0 gives trice-nocv: beta is ignored (may be NULL) and memory terms get w = mask_i,
 * proposal terms 0. Weights are clamped at 0 against rounding (beta_i <= 1 holds exactly,
 * because sum_j a_j - a_i <= S - 1 whenever mask_i = 1, since a_j <= mask_j).
 * Precondition: a_i = 1 implies mask_i = 1 (mask = a OR old valid flag, ALGORITHM.md step 3).
 * a, mask, beta: [M]; terms: [2M]. Returns S = sum_i mask_i (0: the step has no gradient). */
int est_terms(const uint8_t *a, const uint8_t *mask, const double *beta, int M, int cv,
              est_term *terms);

/* Systematic resampling of L draws with probability proportional to w (NOT exp(w)):
 * one offset u in [0, 1), draw positions (u + l) * W / L for l = 0..L-1, term k counted once per
 * position in its cumulative interval. Each term is drawn floor or ceil of L * w_k / W times,
 * the counts sum to exactly L, E_u[counts_k] = L * w_k / W, and a term with w_k = 0 is never
 * drawn. w: [n] (>= 0, finite); counts: [n] (output). If W = 0 every count is 0.
 * Returns 0, or TR_EINVAL for n < 0, L < 0, u outside [0, 1), or a negative/non-finite weight
 * (counts are then all 0). */
int est_resample_systematic(const double *w, int n, int L, double u, int *counts);

/* Turn terms (and optional draw counts) into a compact coefficient list, one entry per drawn
 * term (a term drawn c times appears once with c times the coefficient):
 *   counts == NULL (no subsampling): coef_k = sign_k * w_k / S for every term with w_k > 0;
 *   counts != NULL (L draws):        coef_k = counts_k * sign_k * W / (L * S), W = sum_k w_k.
 * S <= 0 gives an empty list (no gradient). terms, counts: [n]; out: capacity [n].
 * Returns the number of entries written. */
int est_coefs_from_counts(const est_term *terms, const int *counts, int n, int L, int S,
                          est_coef *out);

/* The whole selection step, the step's coefficient list: if 0 < L < (number of terms with
 * w > 0), draw L terms by systematic resampling with offset u (est_resample_systematic) and
 * use the subsampled coefficients (est_coefs_from_counts); otherwise (L = 0 or L covers
 * every non-zero term) use every term exactly. Using every non-zero term whenever L allows is
 * never more expensive than the L backward passes asked for, and has no resampling noise.
 * terms: [n]; counts_scratch: [n]; out: capacity [n]. Returns the number of entries, or -1
 * (a caller bug) for u outside [0, 1), L < 0, or a negative or non-finite weight. */
int est_coefs_systematic(const est_term *terms, int n, int L, int S, double u, int *counts_scratch,
                         est_coef *out);

/* Metrics of the step: a, mask, beta (may be NULL: beta_mean 0): [M]; terms: [2M] or NULL. */
void est_stats_compute(const uint8_t *a, const uint8_t *mask, const double *beta, int M,
                       const est_term *terms, est_stats *st);

/* ---- baselines on the same coefficient list ---- */

/* rs (rejection sampling, K particles): correct: [M * K] row-major (example i, particle k).
 * Each example with c_i >= 1 correct particles gets coefficient 1 / (c_i * E) on each correct
 * particle, E = number of such examples (the same 1/S normalisation as TRICE: examples with none
 * contribute nothing). `which` holds the particle index. out: capacity [M * K].
 * Returns the number of entries (0 when no example has a correct particle). */
int est_rs_coefs(const uint8_t *correct, int M, int K, est_coef *out);

/* sft / direct: every example's single target with coefficient 1/M. out: [M]. Returns M. */
int est_uniform_coefs(int M, int which, est_coef *out);

#endif
