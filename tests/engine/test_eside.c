/* The example side (engine.h): memory initialisation, shards, proposals and their
 * accept/reject rule, and the term gradient. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/engine.h"
#include "tests/engine/tiny.h"

static engine_side *side(const experiment_spec *s, int index, int W) {
    engine_side *e = NULL;
    tr_error err = {0};
    cr_assert_eq(engine_side_init(&e, s, index, W, &err), 0, "%s", err.msg);
    return e;
}

static void memory_bytes(const engine_side *e, uint8_t **buf, size_t *len) {
    tr_error err = {0};
    cr_assert_eq(engine_side_memory_save(e, buf, len, &err), 0, "%s", err.msg);
}

/* The first n training ids the side owns. */
static int owned_ids(const engine_side *e, int64_t *ids, int n) {
    const task *t = engine_side_task(e);
    int k = 0;
    for (int64_t i = 0; i < t->n_train && k < n; i++) ids[k++] = t->train_ids[i];
    return k;
}

Test(eside, given_memory_is_valid_for_every_program_written_rationale) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    engine_side *e = side(&s, 0, 1);
    tr_error err = {0};
    int nv = -1;
    cr_assert_eq(engine_side_memory_init(e, &nv, &err), 0, "%s", err.msg);
    cr_assert_gt(engine_side_memory_size(e), 0);
    /* the built-in task's rationales reach their answers: all of them are usable */
    cr_assert_eq(nv, engine_side_memory_size(e), "%d of %d valid", nv, engine_side_memory_size(e));
    int64_t *ids;
    int n;
    cr_assert_eq(engine_side_valid_ids(e, &ids, &n, &err), 0);
    cr_assert_eq(n, nv);
    free(ids);
    engine_side_free(e);
}

Test(eside, shards_of_two_workers_split_the_training_set) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    engine_side *all = side(&s, 0, 1), *a = side(&s, 0, 2), *b = side(&s, 1, 2);
    cr_assert_eq(engine_side_memory_size(a) + engine_side_memory_size(b), engine_side_memory_size(all));
    cr_assert_gt(engine_side_memory_size(a), 0);
    cr_assert_gt(engine_side_memory_size(b), 0);
    engine_side_free(all); engine_side_free(a); engine_side_free(b);
}

Test(eside, sampled_memory_is_a_function_of_the_seed) {
    experiment_spec s = tiny_spec("trice", "hint", 11), t = tiny_spec("trice", "hint", 12);
    engine_side *e1 = side(&s, 0, 1), *e2 = side(&s, 0, 1), *e3 = side(&t, 0, 1);
    tr_error err = {0};
    int nv;
    cr_assert_eq(engine_side_memory_init(e1, &nv, &err), 0, "%s", err.msg);
    cr_assert_eq(engine_side_memory_init(e2, &nv, &err), 0, "%s", err.msg);
    cr_assert_eq(engine_side_memory_init(e3, &nv, &err), 0, "%s", err.msg);
    uint8_t *b1, *b2, *b3;
    size_t l1, l2, l3;
    memory_bytes(e1, &b1, &l1); memory_bytes(e2, &b2, &l2); memory_bytes(e3, &b3, &l3);
    cr_assert(l1 == l2 && memcmp(b1, b2, l1) == 0, "same seed, different memory");
    cr_assert(l1 != l3 || memcmp(b1, b3, l1) != 0, "another seed gave the same samples");
    free(b1); free(b2); free(b3);
    engine_side_free(e1); engine_side_free(e2); engine_side_free(e3);
}

Test(eside, a_wrong_proposal_is_rejected_and_the_memory_kept) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    engine_side *e = side(&s, 0, 1);
    tr_error err = {0};
    int nv;
    cr_assert_eq(engine_side_memory_init(e, &nv, &err), 0, "%s", err.msg);
    uint8_t *before, *after;
    size_t lb, la;
    memory_bytes(e, &before, &lb);
    int64_t ids[8];
    int n = owned_ids(e, ids, 8);
    uint8_t a[8], mask[8];
    cr_assert_eq(engine_side_propose(e, 0, ids, n, a, mask, &err), 0, "%s", err.msg);
    const uint8_t *ok = engine_side_correct(e);
    int accepted = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(a[i], ok[i], "example %d: accepted %d, proposal correct %d", i, a[i], ok[i]);
        cr_assert_eq(mask[i], 1, "example %d: a valid memory became invalid", i);
        accepted += a[i];
    }
    memory_bytes(e, &after, &la);
    /* an untrained model's proposals are wrong: nothing may change */
    if (!accepted) cr_assert(lb == la && memcmp(before, after, lb) == 0, "rejected proposals changed the memory");
    free(before); free(after);
    engine_side_free(e);
}

Test(eside, proposals_do_not_depend_on_the_batch) {
    experiment_spec s = tiny_spec("rs", "hint", 5);
    engine_side *e = side(&s, 0, 1);
    tr_error err = {0};
    int64_t ids[8];
    int n = owned_ids(e, ids, 8);
    uint8_t a[8], mask[8], first[8 * 3];
    cr_assert_eq(engine_side_propose(e, 4, ids, n, a, mask, &err), 0, "%s", err.msg);
    memcpy(first, engine_side_correct(e), (size_t)n * 3);
    /* example ids[2] alone at the same step: the same particles' outcome */
    cr_assert_eq(engine_side_propose(e, 4, ids + 2, 1, a, mask, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(engine_side_correct(e), first + 2 * 3, 3), 0);
    engine_side_free(e);
}

/* gradient of terms[n] into a fresh double copy */
/* Given memory, then step 0's proposals for every owned example: the state a gradient
 * request finds on a worker. */
static void step_zero(engine_side *e) {
    tr_error err = {0};
    int nv;
    cr_assert_eq(engine_side_memory_init(e, &nv, &err), 0, "%s", err.msg);
    int64_t ids[8];
    int n = owned_ids(e, ids, 8);
    uint8_t a[8], mask[8];
    cr_assert_eq(engine_side_propose(e, 0, ids, n, a, mask, &err), 0, "%s", err.msg);
}

/* The exact sum as doubles: at most 48 significant bits, so nothing is rounded away that a
 * bit-for-bit comparison would need. */
static double *grad_of(engine_side *e, const est_coef *terms, int n, double *loss) {
    tr_error err = {0};
    cr_assert_eq(engine_side_gradient(e, terms, n, loss, &err), 0, "%s", err.msg);
    size_t m;
    const fixsum *g = engine_side_grad(e, &m);
    double *copy = malloc(m * sizeof *copy);
    for (size_t i = 0; i < m; i++) copy[i] = fixsum_to_double(g[i]);
    return copy;
}

static double max_abs(const double *g, size_t m) {
    double a = 0;
    for (size_t i = 0; i < m; i++) a = fmax(a, fabs(g[i]));
    return a;
}

Test(eside, gradient_of_a_term_list_is_the_sum_of_its_terms) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    engine_side *e = side(&s, 0, 1);
    step_zero(e);
    est_coef t1 = {0, EST_MEMORY, 0.25}, t2 = {3, EST_MEMORY, -0.5}, both[2] = {t1, t2};
    est_coef t1x2 = {0, EST_MEMORY, 0.5};
    double l1, l2, l12, l1x2;
    double *g1 = grad_of(e, &t1, 1, &l1), *g2 = grad_of(e, &t2, 1, &l2), *g12 = grad_of(e, both, 2, &l12);
    double *g1x2 = grad_of(e, &t1x2, 1, &l1x2);
    size_t m;
    engine_side_grad(e, &m);
    double norm = 0, tol = 1e-5 * max_abs(g12, m);   /* a batch of 2 against two of 1: float rounding */
    for (size_t i = 0; i < m; i++) {
        cr_assert_float_eq(g12[i], g1[i] + g2[i], tol, "parameter %zu", i);
        /* doubling a coefficient doubles its gradient exactly (a power of two in float) */
        cr_assert_eq(g1x2[i], 2 * g1[i], "parameter %zu", i);
        norm += g1[i] * g1[i];
    }
    cr_assert_gt(norm, 0, "a term with a rationale has a non-zero gradient");
    cr_assert_float_eq(l12, l1 + l2, 1e-5 * (1 + fabs(l12)));
    free(g1); free(g2); free(g12); free(g1x2);
    engine_side_free(e);
}

Test(eside, gradient_descends_the_memory_term_loss) {
    /* a small step against the gradient of +1 * log p lowers -log p: the sign a user's
     * training depends on (loss = -sum coef log p) */
    experiment_spec s = tiny_spec("sft", "given", 3);
    engine_side *e = side(&s, 0, 1);
    step_zero(e);
    est_coef t = {1, EST_MEMORY, 1.0};
    double l0, l1;
    double *g = grad_of(e, &t, 1, &l0);
    size_t m;
    float *p = engine_side_tunable(e, &m);
    double gn = 0;
    for (size_t i = 0; i < m; i++) gn += g[i] * g[i];
    const double h = 1e-3 / sqrt(gn);
    for (size_t i = 0; i < m; i++) p[i] -= (float)(h * g[i]);
    free(grad_of(e, &t, 1, &l1));
    /* first order: l1 ~ l0 - h |g|^2 */
    double want = l0 - h * gn;
    cr_assert_lt(l1, l0, "loss %g -> %g", l0, l1);
    cr_assert_float_eq(l1, want, 0.2 * (l0 - want), "loss %g -> %g, first order %g", l0, l1, want);
    free(g);
    engine_side_free(e);
}

/* tiny_spec with a context of 256: groups of engine_group_terms = 4 terms, so that the 16
 * terms of an 8-example step make 4 groups. */
static experiment_spec grouped_spec(const char *method) {
    experiment_spec s = tiny_spec(method, "given", 3);
    s.model.context = 256;
    cr_assert_eq(engine_group_terms(&s), 4);
    return s;
}

/* every example's memory and proposal term, with distinct coefficients of both signs */
static int all_terms(est_coef *terms, int n_ex, int with_proposals) {
    int n = 0;
    for (int i = 0; i < n_ex; i++) {
        terms[n] = (est_coef){i, EST_MEMORY, 0.125 * (i + 1)};
        n++;
        if (with_proposals) { terms[n] = (est_coef){i, EST_PROPOSAL, -0.0625 * (i + 2)}; n++; }
    }
    return n;
}

/* A step's gradient over batched groups equals the sum of its terms' gradients computed one
 * per backward pass, within float rounding: every entry within 1e-5 of the largest entry
 * (padding and batching change only the order of float sums inside sgemm). sft with position
 * jitter: every sequence of a group sits at its own offset (gpt.h row_offsets). */
static void check_groups_against_terms(const char *method, int jitter, int with_proposals, spec_position position) {
    experiment_spec s = grouped_spec(method);
    s.position_jitter = jitter;
    s.model.position = position;
    engine_side *e = side(&s, 0, 1);
    step_zero(e);
    est_coef terms[16];
    int n = all_terms(terms, 8, with_proposals);
    double loss, lsum = 0;
    double *g = grad_of(e, terms, n, &loss);
    cr_assert_eq(engine_side_grad_groups(e), (n + 3) / 4);
    size_t m;
    engine_side_grad(e, &m);
    double *sum = calloc(m, sizeof *sum);
    for (int k = 0; k < n; k++) {
        double l;
        double *gk = grad_of(e, &terms[k], 1, &l);
        for (size_t i = 0; i < m; i++) sum[i] += gk[i];
        lsum += l;
        free(gk);
    }
    double tol = 1e-5 * max_abs(sum, m);
    cr_assert_gt(tol, 0);
    for (size_t i = 0; i < m; i++) cr_assert_float_eq(g[i], sum[i], tol, "parameter %zu: %g vs %g", i, g[i], sum[i]);
    cr_assert_float_eq(loss, lsum, 1e-5 * fabs(lsum), "loss %.9g, per term %.9g", loss, lsum);
    free(g); free(sum);
    engine_side_free(e);
}

Test(eside, a_grouped_gradient_is_the_sum_of_per_term_gradients) {
    check_groups_against_terms("trice", 0, 1, SPEC_POSITION_LEARNED);
}
Test(eside, grouped_gradients_with_position_jitter_match_per_term_gradients) {
    check_groups_against_terms("sft", 1, 0, SPEC_POSITION_LEARNED);
}
/* position coupling: each sequence's ids (couple.h) travel with it into its group */
Test(eside, coupled_grouped_gradients_match_per_term_gradients) {
    check_groups_against_terms("trice", 0, 1, SPEC_POSITION_COUPLED);
    check_groups_against_terms("sft", 1, 0, SPEC_POSITION_COUPLED);
    check_groups_against_terms("trice", 0, 1, SPEC_POSITION_COUPLED_ALIBI);
    check_groups_against_terms("trice", 0, 1, SPEC_POSITION_COUPLED_ROPE);
    check_groups_against_terms("sft", 0, 0, SPEC_POSITION_COUPLED_ROPE_ALIBI);
}

/* A coupled model's step uses the ids: from the same weights (the same seed), its loss on
 * the same given rationales is not the learned-position model's; and its proposals and
 * gradient are the same bits with 1 and 3 threads. */
Test(eside, a_coupled_model_trains_and_samples_at_its_ids) {
    est_coef terms[16];
    int n = all_terms(terms, 8, 0);   /* memory terms: the given rationales, the same for both */
    double *g[2], loss[2];
    size_t m = 0;
    for (int c = 0; c < 2; c++) {
        experiment_spec s = grouped_spec("trice");
        s.model.position = c ? SPEC_POSITION_COUPLED : SPEC_POSITION_LEARNED;
        engine_side *e = side(&s, 0, 1);
        step_zero(e);
        g[c] = grad_of(e, terms, n, &loss[c]);
        engine_side_grad(e, &m);
        engine_side_free(e);
    }
    cr_assert(fabs(loss[0] - loss[1]) > 1e-6 * fabs(loss[0]), "coupled loss %.9g equals learned %.9g", loss[1], loss[0]);
    free(g[0]); free(g[1]);
    n = all_terms(terms, 8, 1);
    uint8_t correct[2][8];
    double *gt[2];
    for (int run = 0; run < 2; run++) {
        if (run) setenv("TRICE_THREADS", "3", 1);
        experiment_spec s = grouped_spec("trice");
        s.model.position = SPEC_POSITION_COUPLED;
        engine_side *e = side(&s, 0, 1);
        step_zero(e);
        memcpy(correct[run], engine_side_correct(e), 8);
        gt[run] = grad_of(e, terms, n, &loss[run]);
        engine_side_free(e);
    }
    unsetenv("TRICE_THREADS");
    cr_assert_eq(memcmp(correct[0], correct[1], 8), 0, "coupled proposals differ with 3 threads");
    cr_assert_eq(memcmp(gt[0], gt[1], m * sizeof *gt[0]), 0, "coupled gradient differs with 3 threads");
    free(gt[0]); free(gt[1]);
}

/* TRICE_THREADS splits the proposals and the gradient's groups over threads: the same
 * proposals' outcomes and the same gradient bits and loss as one thread (4 groups over 2 and 3
 * threads: even and uneven slices). */
Test(eside, threads_give_the_same_proposals_and_gradient) {
    experiment_spec s = grouped_spec("trice");
    est_coef terms[16];
    int n = all_terms(terms, 8, 1);
    double *g[3], loss[3];
    uint8_t correct[3][8];
    size_t m = 0;
    const char *threads[3] = {NULL, "2", "3"};
    for (int run = 0; run < 3; run++) {
        if (threads[run]) setenv("TRICE_THREADS", threads[run], 1); else unsetenv("TRICE_THREADS");
        engine_side *e = side(&s, 0, 1);
        step_zero(e);
        memcpy(correct[run], engine_side_correct(e), 8);
        g[run] = grad_of(e, terms, n, &loss[run]);
        engine_side_grad(e, &m);
        engine_side_free(e);
    }
    unsetenv("TRICE_THREADS");
    for (int run = 1; run < 3; run++) {
        cr_assert_eq(memcmp(correct[0], correct[run], 8), 0, "proposals differ with %s threads", threads[run]);
        cr_assert_eq(memcmp(g[0], g[run], m * sizeof *g[0]), 0, "gradient differs with %s threads", threads[run]);
        cr_assert_eq(loss[0], loss[run], "loss differs with %s threads", threads[run]);
    }
    free(g[0]); free(g[1]); free(g[2]);
}

/* A diverged model: the step fails with a message naming the step and the group, not a NaN
 * update. */
Test(eside, a_non_finite_gradient_is_refused_naming_the_step) {
    experiment_spec s = grouped_spec("trice");
    engine_side *e = side(&s, 0, 1);
    step_zero(e);
    size_t np;
    float *p = engine_side_tunable(e, &np);
    p[np - 1] = NAN;   /* the final LayerNorm's last bias: every logit becomes NaN */
    est_coef terms[16];
    int n = all_terms(terms, 8, 1);
    double loss;
    tr_error err = {0};
    cr_assert_neq(engine_side_gradient(e, terms, n, &loss, &err), 0);
    cr_assert(strstr(err.msg, "step 0") && strstr(err.msg, "group") && strstr(err.msg, "not finite"), "%s", err.msg);
    engine_side_free(e);
}

Test(eside, a_bad_thread_count_is_refused_with_the_range) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    const char *bad[] = {"abc", "0", "17", "2x"};
    for (int i = 0; i < 4; i++) {
        setenv("TRICE_THREADS", bad[i], 1);
        engine_side *e = NULL;
        tr_error err = {0};
        cr_assert_neq(engine_side_init(&e, &s, 0, 1, &err), 0, "TRICE_THREADS=%s was accepted", bad[i]);
        cr_assert(strstr(err.msg, "TRICE_THREADS") && strstr(err.msg, bad[i]) && strstr(err.msg, "from 1 to 16"), "%s", err.msg);
        cr_assert_null(e);
    }
    unsetenv("TRICE_THREADS");
}
