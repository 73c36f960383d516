/* The operation dispatcher (dispatch.h) and the protocol's records (msg.h) on a tiny model:
 * two sides of W = 2 answer together what one side of W = 1 answers, and a failed side still
 * answers in the op's shape. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/comm/msg.h"
#include "common/engine/dispatch.h"
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

Test(dispatch, two_sides_sum_to_the_gradient_of_one) {
    experiment_spec s = tiny_spec("trice", "given", 3);
    engine_side *one = side(&s, 0, 1), *two[2] = {side(&s, 0, 2), side(&s, 1, 2)};
    dispatch_reply r;
    engine_side *all[3] = {one, two[0], two[1]};
    int index[3] = {0, 0, 1}, W[3] = {1, 2, 2};
    int64_t ids[8];
    int M = batch(one, ids, 8);
    /* every side: memory, then the minibatch; remember which side holds each position */
    int owner[8], local[8], cnt[2] = {0, 0};
    for (int k = 0; k < 3; k++) {
        serve(all[k], index[k], W[k], OP_MEMORY_INIT, 0, 0, NULL, 0, &r);
        dispatch_reply_free(&r);
        serve(all[k], index[k], W[k], OP_PROPOSE, 0, M, ids, 0, &r);
        for (size_t i = 0; k > 0 && i < r.len / msg_propose_bytes(1); i++) {
            int32_t pos;
            uint8_t a, m;
            msg_propose_decode(r.bytes + i * msg_propose_bytes(1), 1, &pos, &a, &m, NULL);
            owner[pos] = k - 1;
            local[pos] = cnt[k - 1]++;
        }
        dispatch_reply_free(&r);
    }
    est_coef terms[3] = {{0, EST_MEMORY, 0.125}, {M - 1, EST_MEMORY, -0.25}, {M / 2, EST_MEMORY, 0.5}};
    uint8_t enc[3 * MSG_TERM_BYTES], part[2][3 * MSG_TERM_BYTES];
    int np[2] = {0, 0};
    for (int i = 0; i < 3; i++) {
        msg_term_encode(&terms[i], enc + i * MSG_TERM_BYTES);
        est_coef t = {local[terms[i].ex], terms[i].which, terms[i].coef};
        int w = owner[terms[i].ex];
        msg_term_encode(&t, part[w] + np[w]++ * MSG_TERM_BYTES);
    }
    serve(one, 0, 1, OP_GRADIENT, 3, 0, enc, sizeof enc, &r);
    size_t n = r.n_grad;
    double *want = malloc(n * sizeof *want), loss = r.loss;
    memcpy(want, r.grad, n * sizeof *want);
    dispatch_reply_free(&r);
    double *sum = calloc(n, sizeof *sum), lsum = 0;
    for (int w = 0; w < 2; w++) {
        serve(two[w], w, 2, OP_GRADIENT, np[w], 0, part[w], (size_t)np[w] * MSG_TERM_BYTES, &r);
        for (size_t i = 0; i < n; i++) sum[i] += r.grad[i];
        lsum += r.loss;
        dispatch_reply_free(&r);
    }
    double norm = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_float_eq(sum[i], want[i], 1e-12 * (1 + fabs(want[i])), "parameter %zu: %g vs %g", i, sum[i], want[i]);
        norm += want[i] * want[i];
    }
    cr_assert_gt(norm, 0);
    cr_assert_float_eq(lsum, loss, 1e-9 * (1 + fabs(loss)));
    free(want); free(sum);
    engine_side_free(one); engine_side_free(two[0]); engine_side_free(two[1]);
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
    /* parameters of the wrong size: a failure naming both sizes, not a crash */
    float p[4] = {0};
    q = (dispatch_req){.h = {OP_SET_PARAMS, 4, 0, 0}, .in = p, .index = 1, .nworkers = 2};
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
                       .sample_s = 0.5, .check_s = 1e-9, .grad_s = 3.25, .eval_s = 42}, d;
    uint8_t cb[MSG_COUNTS_BYTES];
    msg_counts_encode(&c, cb);
    cr_assert_eq(msg_counts_decode(cb, sizeof cb, &d, NULL), 0);
    cr_assert_eq(memcmp(&c, &d, sizeof c), 0);
    cr_assert_neq(msg_counts_decode(cb, sizeof cb - 1, &d, NULL), 0, "a short record must be refused");
    msg_header h;
    int64_t words[MSG_HEADER_WORDS] = {99, 0, 0, 0};
    cr_assert_neq(msg_header_decode(words, &h, NULL), 0, "an unknown op must be refused");
}
