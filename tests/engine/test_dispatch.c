/* The operation dispatcher (dispatch.h), the gradient plan (gplan.h) and the protocol's
 * records (msg.h) on a tiny model: sides of W = 2 and 3 answer together what one side of W = 1
 * answers (the gradient bit for bit), and a failed side still answers in the op's shape. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/comm/msg.h"
#include "common/engine/dispatch.h"
#include "common/engine/gplan.h"
#include "common/util/rng.h"
#include "tests/engine/tiny.h"

static engine_side *side(const experiment_spec *s, int index, int W) {
    engine_side *e = NULL;
    tr_error err = {0};
    cr_assert_eq(engine_side_init(&e, s, index, W, &err), 0, "%s", err.msg);
    return e;
}

static void serve(engine_side *e, int index, int W, int64_t op, int64_t a, int64_t b, const void *in, size_t in_len,
                  dispatch_reply *r) {
    dispatch_req q = {.h = {op, a, b, 0}, .in = in, .in_len = in_len, .index = index, .nworkers = W};
    tr_error err = {0};
    cr_assert_eq(dispatch_op(e, &q, 0, r, &err), 0, "op %lld: %s", (long long)op, err.msg);
}

/* The minibatch: the first M training ids. */
static int batch(const engine_side *e, int64_t *ids, int M) {
    const task *t = engine_side_task(e);
    int k = 0;
    for (int64_t i = 0; i < t->n_train && k < M; i++) ids[k++] = t->train_ids[i];
    return k;
}

Test(dispatch, two_sides_propose_what_one_side_proposes) {
    experiment_spec s = tiny_spec("rs", "hint", 5);
    engine_side *one = side(&s, 0, 1), *two[2] = {side(&s, 0, 2), side(&s, 1, 2)};
    int64_t ids[8];
    int M = batch(one, ids, 8);
    const int K = 3;
    const size_t rec = msg_propose_bytes(K);
    uint8_t a1[8], m1[8], c1[8 * 3], a2[8], m2[8], c2[8 * 3];
    int seen[8] = {0};
    dispatch_reply r;
    serve(one, 0, 1, OP_PROPOSE, 7, M, ids, 0, &r);
    cr_assert_eq(r.len, (size_t)M * rec);
    for (int i = 0; i < M; i++) {
        int32_t pos;
        uint8_t a, m;
        msg_propose_decode(r.bytes + (size_t)i * rec, K, &pos, &a, &m, NULL);
        msg_propose_decode(r.bytes + (size_t)i * rec, K, &pos, &a1[pos], &m1[pos], c1 + (size_t)pos * K);
    }
    dispatch_reply_free(&r);
    for (int w = 0; w < 2; w++) {
        serve(two[w], w, 2, OP_PROPOSE, 7, M, ids, 0, &r);
        cr_assert_eq(r.len % rec, 0);
        for (size_t i = 0; i < r.len / rec; i++) {
            int32_t pos;
            uint8_t a, m;
            msg_propose_decode(r.bytes + i * rec, K, &pos, &a, &m, NULL);
            cr_assert(pos >= 0 && pos < M && !seen[pos], "position %d answered twice or out of range", pos);
            seen[pos] = 1;
            msg_propose_decode(r.bytes + i * rec, K, &pos, &a2[pos], &m2[pos], c2 + (size_t)pos * K);
        }
        dispatch_reply_free(&r);
    }
    for (int i = 0; i < M; i++) cr_assert(seen[i], "position %d not answered", i);
    cr_assert_eq(memcmp(a1, a2, (size_t)M), 0);
    cr_assert_eq(memcmp(m1, m2, (size_t)M), 0);
    cr_assert_eq(memcmp(c1, c2, (size_t)M * K), 0);
    /* the sampling was counted: tokens and time reach the coordinator */
    serve(one, 0, 1, OP_COUNTS, 0, 0, NULL, 0, &r);
    engine_counts c;
    cr_assert_eq(msg_counts_decode(r.bytes, r.len, &c, NULL), 0);
    cr_assert_geq(c.tokens_sampled, (int64_t)M * K, "%lld tokens sampled", (long long)c.tokens_sampled);
    dispatch_reply_free(&r);
    engine_side_free(one); engine_side_free(two[0]); engine_side_free(two[1]);
}

/* An in-process stand-in for the workers' rationale exchange: each side's dispatch_op runs on
 * its own thread; they post their rows, meet, copy what is theirs, and meet again before
 * anyone frees a posted buffer. */
typedef struct xchg {
    int W;
    pthread_barrier_t bar;
    uint8_t *const *out[3];
    const size_t *out_len[3];
    fixsum *sum[3];
} xchg;

typedef struct xside {
    xchg *x;
    engine_side *e;
    int index, failed;
    const uint8_t *terms;
    int n, G;
    int64_t op;      /* OP_GRADIENT, or OP_STEP (with x_allreduce) */
    float lr;
    dispatch_reply r;
    tr_error err;
} xside;

static int x_exchange(void *ctx, uint8_t *const *out, const size_t *out_len, uint8_t **in, size_t *in_len, tr_error *err) {
    xside *me = ctx;
    xchg *x = me->x;
    (void)err;
    x->out[me->index] = out;
    x->out_len[me->index] = out_len;
    pthread_barrier_wait(&x->bar);
    for (int s = 0; s < x->W; s++) {
        in[s] = NULL;
        in_len[s] = 0;
        if (s == me->index) continue;
        in_len[s] = x->out_len[s][me->index];
        in[s] = malloc(in_len[s] + 1);
        if (in_len[s]) memcpy(in[s], x->out[s][me->index], in_len[s]);
    }
    pthread_barrier_wait(&x->bar);
    return 0;
}

/* The workers' all-reduce in process: each side posts its sum, all meet, each adds up every
 * posted sum into a copy, all meet, and each takes the total. */
static int x_allreduce(void *ctx, fixsum *sum, size_t n, double *wait_s, tr_error *err) {
    xside *me = ctx;
    xchg *x = me->x;
    (void)err;
    *wait_s = 0;
    x->sum[me->index] = sum;
    fixsum *t = calloc(n + 1, sizeof *t);
    pthread_barrier_wait(&x->bar);
    for (int s = 0; s < x->W; s++) fixsum_add(t, x->sum[s], n);
    pthread_barrier_wait(&x->bar);
    memcpy(sum, t, n * sizeof *t);
    free(t);
    return 0;
}

static void *x_run(void *arg) {
    xside *me = arg;
    dispatch_req q = {.h = {me->op, me->n, me->G, me->op == OP_STEP ? msg_lr_encode(me->lr) : 0}, .in = me->terms,
                      .in_len = (size_t)me->n * MSG_TERM_BYTES, .index = me->index, .nworkers = me->x->W,
                      .exchange = x_exchange, .allreduce = x_allreduce, .exchange_ctx = me};
    me->failed = dispatch_op(me->e, &q, 0, &me->r, &me->err);
    return NULL;
}

/* The test's term list over the minibatch: both terms of every example, coefficients scaled by
 * k, encoded into enc (room for 16 terms). Returns the count. */
static int encode_terms(int M, double k, uint8_t *enc) {
    int n = 0;
    for (int i = 0; i < M; i++) {
        est_coef m = {i, EST_MEMORY, k * 0.125 * (i + 1)}, p = {i, EST_PROPOSAL, -k * 0.0625 * (i + 2)};
        msg_term_encode(&m, enc + (size_t)n++ * MSG_TERM_BYTES);
        msg_term_encode(&p, enc + (size_t)n++ * MSG_TERM_BYTES);
    }
    return n;
}

/* W sides of s for op over the terms enc[n], each with its memory and the minibatch's proposals. */
static void sides_start(xside *xs, xchg *x, const experiment_spec *s, int W, int64_t op, const uint8_t *enc, int n,
                        const int64_t *ids, int M) {
    for (int w = 0; w < W; w++) {
        xs[w] = (xside){.x = x, .e = side(s, w, W), .index = w, .terms = enc, .n = n, .G = engine_group_terms(s),
                        .op = op, .lr = 1e-3f};
        dispatch_reply r;
        serve(xs[w].e, w, W, OP_MEMORY_INIT, 0, 0, NULL, 0, &r);
        dispatch_reply_free(&r);
        serve(xs[w].e, w, W, OP_PROPOSE, 0, M, ids, 0, &r);
        dispatch_reply_free(&r);
    }
}

/* One op on every side at once, each on its own thread (they meet in the exchange). */
static void sides_run(xside *xs, int W) {
    pthread_t th[3];
    for (int w = 0; w < W; w++) cr_assert_eq(pthread_create(&th[w], NULL, x_run, &xs[w]), 0);
    for (int w = 0; w < W; w++) pthread_join(th[w], NULL);
}

/* The same spec and minibatch on W = 1, 2 and 3 sides (shards as the workers have them, and
 * every term's rationale sent from the side holding it to the others):
 * the exact sums of the sides' gradients have the same bits, and the per-group losses are
 * the same. 16 terms in groups of 4 (context 256). */
Test(dispatch, one_two_and_three_sides_give_the_same_gradient_bits) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    s.model.context = 256;
    const int G = engine_group_terms(&s);
    cr_assert_eq(G, 4);
    int64_t ids[8];
    engine_side *probe = side(&s, 0, 1);
    int M = batch(probe, ids, 8);
    engine_side_free(probe);
    uint8_t enc[16 * MSG_TERM_BYTES];
    const int n = encode_terms(M, 1, enc);
    fixsum *sum[4] = {0};
    double loss[4][4] = {{0}};
    size_t np = 0;
    for (int W = 1; W <= 3; W++) {
        xchg x = {.W = W};
        pthread_barrier_init(&x.bar, NULL, (unsigned)W);
        xside xs[3];
        sides_start(xs, &x, &s, W, OP_GRADIENT, enc, n, ids, M);
        sides_run(xs, W);
        pthread_barrier_destroy(&x.bar);
        for (int w = 0; w < W; w++) {
            cr_assert_eq(xs[w].failed, 0, "W=%d side %d: %s", W, w, xs[w].err.msg);
            cr_assert_eq(xs[w].r.n_groups, 4);
            if (!sum[W]) { np = xs[w].r.n_grad; sum[W] = calloc(np, sizeof *sum[W]); }
            fixsum_add(sum[W], xs[w].r.grad, np);
            int computed = 0;
            for (int g = 0; g < 4; g++) { loss[W][g] += xs[w].r.group_loss[g]; computed += xs[w].r.group_loss[g] != 0; }
            /* every side plans from every term's length, so it needed the others' rows; and each
             * computed a share of the groups */
            cr_assert_gt(computed, 0, "W=%d: side %d computed no group", W, w);
            dispatch_reply_free(&xs[w].r);
            engine_side_free(xs[w].e);
        }
    }
    double norm = 0;
    for (size_t i = 0; i < np; i++) norm += fabs(fixsum_to_double(sum[1][i]));
    cr_assert_gt(norm, 0);
    for (int W = 2; W <= 3; W++) {
        cr_assert_eq(memcmp(sum[1], sum[W], np * sizeof *sum[1]), 0, "W=%d: gradient bits differ from W=1", W);
        cr_assert_eq(memcmp(loss[1], loss[W], sizeof loss[1]), 0, "W=%d: group losses differ from W=1", W);
    }
    free(sum[1]); free(sum[2]); free(sum[3]);
}

/* OP_STEP on W = 1, 2 and 3 sides, twice (so that the optimiser's moments matter): every side
 * of every W ends with the same parameter and optimiser bits, the same norm, and they moved. */
Test(dispatch, every_side_of_any_fleet_applies_the_same_update) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    s.model.context = 256;
    s.optim.grad_clip = 0.5;   /* clipping on: the norm is the same exact sum's everywhere */
    int64_t ids[8];
    engine_side *probe = side(&s, 0, 1);
    int M = batch(probe, ids, 8);
    size_t np;
    float *p0 = malloc(engine_side_model(probe)->num_params * sizeof *p0);
    memcpy(p0, engine_side_tunable(probe, &np), np * sizeof *p0);
    engine_side_free(probe);
    uint8_t enc[16 * MSG_TERM_BYTES];
    const int n = encode_terms(M, 2, enc);
    float *ref = NULL, *refm = NULL;
    double refnorm[2] = {0, 0};
    for (int W = 1; W <= 3; W++) {
        xchg x = {.W = W};
        pthread_barrier_init(&x.bar, NULL, (unsigned)W);
        xside xs[3];
        sides_start(xs, &x, &s, W, OP_STEP, enc, n, ids, M);
        for (int step = 0; step < 2; step++) {
            sides_run(xs, W);
            for (int w = 0; w < W; w++) {
                cr_assert_eq(xs[w].failed, 0, "W=%d side %d: %s", W, w, xs[w].err.msg);
                if (W == 1) refnorm[step] = xs[w].r.norm;
                cr_assert_eq(memcmp(&xs[w].r.norm, &refnorm[step], sizeof(double)), 0, "W=%d side %d step %d: norm %.17g, W=1 %.17g",
                             W, w, step, xs[w].r.norm, refnorm[step]);
                dispatch_reply_free(&xs[w].r);
            }
        }
        pthread_barrier_destroy(&x.bar);
        cr_assert_gt(refnorm[0], 0.5, "the norm %g should exceed the clip so that clipping is tested", refnorm[0]);
        for (int w = 0; w < W; w++) {
            const float *p;
            const optim_state *o;
            size_t k;
            tr_error err = {0};
            cr_assert_eq(engine_side_state_get(xs[w].e, &p, &o, &k, &err), 0, "%s", err.msg);
            cr_assert_eq(o->step, 2);
            if (!ref) {
                ref = malloc(k * sizeof *ref);
                refm = malloc(k * sizeof *refm);
                memcpy(ref, p, k * sizeof *ref);
                memcpy(refm, o->v, k * sizeof *refm);
                cr_assert_neq(memcmp(ref, p0, k * sizeof *ref), 0, "the update changed nothing");
            }
            cr_assert_eq(memcmp(ref, p, k * sizeof *ref), 0, "W=%d side %d: parameters differ from W=1's", W, w);
            cr_assert_eq(memcmp(refm, o->v, k * sizeof *refm), 0, "W=%d side %d: optimiser state differs from W=1's", W, w);
            engine_side_free(xs[w].e);
        }
    }
    free(ref); free(refm); free(p0);
}

/* The plan: terms by length (longest first, ties by index) in runs of G, whatever W; the
 * groups spread over the sides by their padded positions (plus a fixed 16 per group). */
Test(gplan, groups_are_runs_of_terms_by_length_spread_by_work) {
    const int len[7] = {5, 9, 9, 3, 7, 1, 8};
    grad_plan p;
    cr_assert_eq(grad_plan_make(&p, len, 7, 3, 2, NULL), 0);
    cr_assert_eq(p.ngroups, 3);
    const int order[7] = {1, 2, 6, 4, 0, 3, 5};
    cr_assert_eq(memcmp(p.order, order, sizeof order), 0);
    int lo, hi;
    grad_plan_group(&p, 2, &lo, &hi);
    cr_assert(lo == 6 && hi == 7);
    cr_assert_eq(p.side[0], 0);   /* 3 x 9 positions */
    cr_assert_eq(p.side[1], 1);   /* 3 x 7 */
    cr_assert_eq(p.side[2], 1);   /* side 1 has 21 + 16 < 27 + 16; no move or swap narrows 54 - 43 */
    grad_plan_free(&p);
    /* one side: the same groups */
    cr_assert_eq(grad_plan_make(&p, len, 7, 3, 1, NULL), 0);
    cr_assert_eq(memcmp(p.order, order, sizeof order), 0);
    cr_assert(p.side[0] == 0 && p.side[1] == 0 && p.side[2] == 0);
    grad_plan_free(&p);
    const int bad[2] = {4, 0};
    tr_error err = {0};
    cr_assert_neq(grad_plan_make(&p, bad, 2, 3, 2, &err), 0);
    cr_assert(strstr(err.msg, "term 1"), "%s", err.msg);
}

static int64_t side_load(const grad_plan *p, const int *len, int side) {
    int64_t l = 0;
    for (int g = 0; g < p->ngroups; g++) {
        int lo, hi;
        grad_plan_group(p, g, &lo, &hi);
        if (p->side[g] == side) l += (int64_t)(hi - lo) * len[p->order[lo]] + 16;
    }
    return l;
}

/* A main-job SFT step: 16 terms in groups of 3. Handing the groups out largest first leaves
 * the two workers at 462 and 558 positions; one swap brings them to 492 and 528, the best
 * split there is. */
Test(gplan, the_groups_are_balanced_over_the_sides) {
    const int len[16] = {70, 69, 68, 63, 62, 61, 57, 56, 55, 53, 52, 51, 50, 49, 48, 45};
    grad_plan p;
    cr_assert_eq(grad_plan_make(&p, len, 16, 3, 2, NULL), 0);
    cr_assert_eq(p.ngroups, 6);
    int64_t l0 = side_load(&p, len, 0), l1 = side_load(&p, len, 1);
    cr_assert_eq(l0 > l1 ? l0 : l1, 528, "loads %lld and %lld", (long long)l0, (long long)l1);
    cr_assert(p.side[0] == p.side[1] && p.side[1] == p.side[5], "groups 0, 1 and 5 together (226 + 205 + 61)");
    cr_assert(p.side[2] == p.side[3] && p.side[3] == p.side[4] && p.side[2] != p.side[0]);
    grad_plan_free(&p);
}

/* Any lengths, any number of sides: every group has a side, no side is further above the
 * least loaded one than the largest group, and the same input gives the same plan (every side
 * computes it for itself). */
Test(gplan, plans_are_valid_balanced_and_deterministic) {
    rng r;
    rng_init(&r, 3, 0, 0);
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + (int)rng_below(&r, 120), G = 1 + (int)rng_below(&r, 8), S = 1 + (int)rng_below(&r, 9);
        int len[120];
        for (int k = 0; k < n; k++) len[k] = 1 + (int)rng_below(&r, 300);
        grad_plan a, b;
        cr_assert_eq(grad_plan_make(&a, len, n, G, S, NULL), 0);
        cr_assert_eq(grad_plan_make(&b, len, n, G, S, NULL), 0);
        cr_assert_eq(memcmp(a.side, b.side, (size_t)a.ngroups * sizeof *a.side), 0, "trial %d: two plans differ", trial);
        int64_t mx = 0, mn = INT64_MAX, big = 0;
        for (int g = 0; g < a.ngroups; g++) {
            cr_assert(a.side[g] >= 0 && a.side[g] < S, "trial %d: group %d on side %d of %d", trial, g, a.side[g], S);
            int lo, hi;
            grad_plan_group(&a, g, &lo, &hi);
            int64_t c = (int64_t)(hi - lo) * len[a.order[lo]] + 16;
            big = c > big ? c : big;
        }
        for (int s = 0; s < S; s++) {
            int64_t l = side_load(&a, len, s);
            mx = l > mx ? l : mx;
            mn = l < mn ? l : mn;
        }
        cr_assert(mx - mn <= big, "trial %d (%d terms, G %d, %d sides): loads %lld..%lld, largest group %lld", trial, n, G, S,
                  (long long)mn, (long long)mx, (long long)big);
        grad_plan_free(&a);
        grad_plan_free(&b);
    }
}

Test(dispatch, a_failed_side_answers_placeholders_of_the_right_shape) {
    experiment_spec s = tiny_spec("rs", "hint", 5);
    engine_side *e = side(&s, 1, 2);
    int64_t ids[8];
    int M = batch(e, ids, 8);
    dispatch_req q = {.h = {OP_PROPOSE, 0, M, 0}, .in = ids, .index = 1, .nworkers = 2};
    dispatch_reply r;
    tr_error err = {0};
    cr_assert_eq(dispatch_op(e, &q, 1, &r, &err), 0);
    cr_assert_gt(r.len, 0, "the side owns none of the batch: pick another seed");
    cr_assert_eq(r.len % msg_propose_bytes(3), 0);
    for (size_t i = 0; i < r.len / msg_propose_bytes(3); i++) {
        int32_t pos;
        uint8_t a, m, c[3];
        msg_propose_decode(r.bytes + i * msg_propose_bytes(3), 3, &pos, &a, &m, c);
        cr_assert(pos >= 0 && pos < M);
        cr_assert(a == 0 && m == 0 && c[0] == 0 && c[1] == 0 && c[2] == 0, "placeholder with data");
    }
    dispatch_reply_free(&r);
    /* a state of the wrong size: a failure naming both sizes, not a crash */
    float p[4] = {0};
    uint8_t st[16 + 12 * 4];
    msg_state_encode(st, 4, p, p, p, 0);
    q = (dispatch_req){.h = {OP_SET_STATE, sizeof st, 0, 0}, .in = st, .in_len = sizeof st, .index = 1, .nworkers = 2};
    cr_assert_neq(dispatch_op(e, &q, 0, &r, &err), 0);
    cr_assert(strstr(err.msg, "4 parameters"), "%s", err.msg);
    dispatch_reply_free(&r);
    engine_side_free(e);
}

Test(msg, records_round_trip_bit_for_bit) {
    est_coef t = {12345, EST_PROPOSAL, -0.1 / 3}, u;
    uint8_t b[MSG_TERM_BYTES];
    msg_term_encode(&t, b);
    msg_term_decode(b, &u);
    cr_assert(u.ex == t.ex && u.which == t.which && memcmp(&u.coef, &t.coef, sizeof u.coef) == 0);
    engine_counts c = {.tokens_sampled = 1LL << 40, .tokens_trained = 7, .sample_digest = 0xfedcba9876543210ull,
                       .sample_s = 0.5, .check_s = 1e-9, .grad_s = 3.25, .eval_s = 42, .peer_bytes = 3LL << 33,
                       .peer_s = 0.25, .wait_s = 1.5, .update_s = 1e-3}, d;
    uint8_t cb[MSG_COUNTS_BYTES];
    msg_counts_encode(&c, cb);
    cr_assert_eq(msg_counts_decode(cb, sizeof cb, &d, NULL), 0);
    cr_assert_eq(memcmp(&c, &d, sizeof c), 0);
    cr_assert_neq(msg_counts_decode(cb, sizeof cb - 1, &d, NULL), 0, "a short record must be refused");
    /* a rationale record; a cut or oversized one is refused */
    int32_t tok[3] = {7, -1, 256}, back[3], term, len;
    int64_t id;
    size_t used;
    uint8_t rb[64];
    msg_row_encode(rb, 41, (int64_t)1 << 40, tok, 3);
    cr_assert_eq(msg_row_decode(rb, sizeof rb, 3, &term, &id, back, &len, &used, NULL), 0);
    cr_assert(term == 41 && id == (int64_t)1 << 40 && len == 3 && used == msg_row_bytes(3) && memcmp(tok, back, sizeof tok) == 0);
    cr_assert_neq(msg_row_decode(rb, msg_row_bytes(3) - 1, 3, &term, &id, back, &len, &used, NULL), 0, "cut short");
    cr_assert_neq(msg_row_decode(rb, sizeof rb, 2, &term, &id, back, &len, &used, NULL), 0, "more tokens than room");
    /* the learning rate and a parameter and optimiser state, bit for bit; another size refused */
    cr_assert_eq(msg_lr_decode(msg_lr_encode(3e-4f)), 3e-4f);
    float sp[3] = {1.5f, -0.0f, 1e-30f}, sm[3] = {2, 3, 4}, sv[3] = {5, 6, 7}, bp[3], bm[3], bv[3];
    uint8_t sb[16 + 12 * 3];
    int64_t step = 0;
    cr_assert_eq(msg_state_bytes(3), sizeof sb);
    msg_state_encode(sb, 3, sp, sm, sv, 123456789012LL);
    cr_assert_eq(msg_state_decode(sb, sizeof sb, 3, bp, bm, bv, &step, NULL), 0);
    cr_assert(step == 123456789012LL && !memcmp(sp, bp, sizeof sp) && !memcmp(sm, bm, sizeof sm) && !memcmp(sv, bv, sizeof sv));
    cr_assert_neq(msg_state_decode(sb, sizeof sb, 2, bp, bm, bv, &step, NULL), 0, "a state for 3 parameters taken as 2");
    cr_assert_neq(msg_state_decode(sb, sizeof sb - 4, 3, bp, bm, bv, &step, NULL), 0, "a cut state");
    msg_header h;
    int64_t words[MSG_HEADER_WORDS] = {99, 0, 0, 0};
    cr_assert_neq(msg_header_decode(words, &h, NULL), 0, "an unknown op must be refused");
}
