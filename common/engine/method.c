/* method.c - the methods of ALGORITHM.md §4-6 as strategies of the training loop: which
 * examples a step uses, and the coefficient list its gradient is taken of. */
#include <string.h>

#include "common/engine/run.h"
#include "common/engine/streams.h"

/* TRICE (§4-5): beta and the control variate (trice) or none (trice-nocv), then systematic
 * resampling of the 2M terms down to the subsampling budget L. */
static int trice_coefs(run *r, int64_t step, est_stats *st, tr_error *err) {
    const experiment_spec *s = r->spec;
    const int M = r->M, cv = s->method == METHOD_TRICE;
    memset(st, 0, sizeof *st);
    if (cv) est_beta(r->a, r->mask, M, r->beta);
    int S = est_terms(r->a, r->mask, cv ? r->beta : NULL, M, cv, r->terms);
    rng u;
    stream_resample(&u, s->seed, step);
    int n = est_coefs_systematic(r->terms, 2 * M, s->subsample, S, rng_uniform(&u), r->counts, r->coefs);
    if (n < 0) return TR_FAIL(err, TR_EINTERNAL, "est_coefs_systematic rejected the step's weights");
    est_stats_compute(r->a, r->mask, cv ? r->beta : NULL, M, r->terms, st);
    return n;
}

/* Rejection sampling (§6): every correct particle, weighted equally per example. */
static int rs_coefs(run *r, int64_t step, est_stats *st, tr_error *err) {
    const int M = r->M;
    memset(st, 0, sizeof *st);
    int n = est_rs_coefs(r->correct, M, r->K, r->coefs);
    est_stats_compute(r->mask, r->mask, NULL, M, NULL, st);
    st->proposal_acc = 0;
    for (int i = 0; i < M * r->K; i++) st->proposal_acc += r->correct[i];
    st->proposal_acc /= (double)(M * r->K);
    st->nonzero_terms = n;
    return n;
}

/* sft, direct, star: every example's one target (memory or direct answer) with 1/M. */
static int uniform_coefs(run *r, int64_t step, est_stats *st, tr_error *err) {
    memset(st, 0, sizeof *st);
    int n = est_uniform_coefs(r->M, EST_MEMORY, r->coefs);
    est_stats_compute(r->a, r->mask, NULL, r->M, NULL, st);
    st->nonzero_terms = n;
    return n;
}

static int plain_batch(run *r, int64_t step, int64_t *lr_step, tr_error *err) {
    schedule_batch(&r->sch, step, r->M, r->ids);
    *lr_step = step;
    return 0;
}

static int64_t plain_steps(const experiment_spec *s) { return s->steps; }
static int64_t star_steps(const experiment_spec *s) { return (int64_t)s->steps * s->star_iterations; }

static const method_strategy trice = {.proposes = 1, .needs_memory = 1, .total_steps = plain_steps,
                                      .batch = plain_batch, .coefs = trice_coefs};
static const method_strategy rs = {.proposes = 1, .needs_memory = 0, .total_steps = plain_steps,
                                   .batch = plain_batch, .coefs = rs_coefs};
static const method_strategy sft = {.proposes = 0, .needs_memory = 1, .total_steps = plain_steps,
                                    .batch = plain_batch, .coefs = uniform_coefs};
static const method_strategy direct = {.proposes = 0, .needs_memory = 0, .total_steps = plain_steps,
                                       .batch = plain_batch, .coefs = uniform_coefs};
static const method_strategy star = {.proposes = 0, .needs_memory = 0, .total_steps = star_steps,
                                     .batch = star_batch, .coefs = uniform_coefs};

const method_strategy *method_strategy_of(spec_method m) {
    switch (m) {
    case METHOD_TRICE:
    case METHOD_TRICE_NOCV: return &trice;
    case METHOD_RS: return &rs;
    case METHOD_SFT: return &sft;
    case METHOD_STAR: return &star;
    default: return &direct;
    }
}
