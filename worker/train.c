/* train.c - a worker's side of an experiment: build the engine_side for the spec, then
 * serve the coordinator's fleet operations (common/comm/msg.h) until OP_END.
 *
 * What the side does with an op is common/engine/dispatch.h's (the local fleet runs the same
 * code); this file moves each op's payload in and its reply out over MPI. */
#include "worker/worker.h"

#include <stdlib.h>
#include <string.h>

#include "common/comm/msg.h"
#include "common/comm/wire.h"
#include "common/engine/dispatch.h"
#include "common/util/log.h"

typedef struct wstate {
    engine_side *e;
    int rank, index, W;
    MPI_Comm workers;   /* ranks 1..W only: the data plane (OP_STEP's all-reduce), no rank 0 */
    /* The first local failure of this experiment (bad data, a sequence that does not fit,
     * out of memory): every later op's exchange still completes with placeholder data so that
     * the collectives stay matched, then the status round reports it and the coordinator
     * fails the experiment (not the job). */
    int lrc;
    tr_error lerr;
} wstate;

/* Record a local failure (keeps the first). */
static void local_fail(wstate *w, int rc, const tr_error *e) {
    if (rc && !w->lrc) {
        w->lrc = rc;
        w->lerr = *e;
    }
}

/* Fault injection for the reliability tests (tests/integration/test_reliability.sh):
 * TRICE_TEST_FAIL=NAME:STEP makes rank 1 fail its proposals at step STEP of the experiment
 * named NAME, as a worker's own error would (bad data, a sequence that does not fit).
 * Unset in normal use. */
static int injected_fault(const wstate *w, int64_t step, tr_error *err) {
    const char *v = getenv("TRICE_TEST_FAIL");
    const char *colon = v ? strrchr(v, ':') : NULL;
    const char *name = engine_side_spec(w->e)->name;
    if (!colon || w->rank != 1 || strtoll(colon + 1, NULL, 10) != step) return 0;
    if (strlen(name) != (size_t)(colon - v) || strncmp(name, v, (size_t)(colon - v)) != 0) return 0;
    return TR_FAIL(err, TR_EINVAL, "injected fault at step %lld (TRICE_TEST_FAIL)", (long long)step);
}

/* A payload of len bytes broadcast by the coordinator, into a buffer the op owns (*owned). */
static int recv_bcast(dispatch_req *q, void **owned, size_t len, const char *what, tr_error *err) {
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return TR_FAIL(err, TR_ENOMEM, "out of memory for %zu bytes of %s", len, what);
    *owned = buf;
    q->in = buf;
    q->in_len = len;
    return comm_bcast_bytes(buf, len, 0, err);
}

/* The op's payload from the coordinator (msg.h's table) into q->in; *owned: what to free.
 * Parameters are received straight into the side's own buffer when the sizes agree. */
static int recv_payload(wstate *w, dispatch_req *q, void **owned, tr_error *err) {
    *owned = NULL;
    switch ((int)q->h.op) {
    case OP_PROPOSE: {
        int M = (int)q->h.b;
        int64_t *ids = malloc((size_t)(M > 0 ? M : 1) * sizeof *ids);
        if (!ids) return TR_FAIL(err, TR_ENOMEM, "out of memory for a minibatch of %d (cannot take part in the step)", M);
        *owned = ids;
        q->in = ids;
        return comm_bcast_idle(ids, M, MPI_INT64_T, 0, err);
    }
    case OP_STEP:
    case OP_GRADIENT:   /* the step's whole term list */
        return recv_bcast(q, owned, (size_t)q->h.a * MSG_TERM_BYTES, "gradient terms", err);
    case OP_SET_STATE:
        return recv_bcast(q, owned, (size_t)q->h.a, "the parameter and optimiser state", err);
    case OP_CKPT_SAVE:
    case OP_CKPT_LOAD:
        return recv_bcast(q, owned, (size_t)q->h.a, "the checkpoint's folder and files", err);
    case OP_MEM_SCATTER:
        return recv_bcast(q, owned, (size_t)q->h.a, "memory entries", err);
    default: return 0;
    }
}

/* The side's reply to the coordinator (msg.h's table). */
static int send_reply(const wstate *w, const msg_header *h, dispatch_reply *r, tr_error *err) {
    switch ((int)h->op) {
    case OP_MEMORY_INIT: {
        int nv = (int)r->val[0];
        return comm_reduce_idle(&nv, NULL, 1, MPI_INT, 0, err);
    }
    case OP_STEP: {   /* the group losses, then the norm (worker 1's; the same on every worker) */
        double *v = calloc((size_t)r->n_groups + 1, sizeof *v);
        if (!v) return TR_FAIL(err, TR_EMPI, "out of memory for %d losses (cannot take part in the step)", r->n_groups);
        if (r->group_loss) memcpy(v, r->group_loss, (size_t)r->n_groups * sizeof *v);
        v[r->n_groups] = w->index == 0 ? r->norm : 0;
        int rc = comm_reduce_idle(v, NULL, r->n_groups + 1, MPI_DOUBLE, 0, err);
        free(v);
        return rc;
    }
    case OP_GRADIENT:
        TR_TRY(comm_reduce_sum_fix((fixsum *)r->grad, r->n_grad, 0, w->rank, err));
        /* every group's loss comes from one side, the others add +0: exact, in any order */
        return comm_reduce_idle(r->group_loss, NULL, r->n_groups, MPI_DOUBLE, 0, err);
    case OP_EVAL: {
        int counts[3] = {(int)r->val[0], (int)r->val[1], (int)r->val[2]};
        TR_TRY(comm_reduce_idle(counts, NULL, 3, MPI_INT, 0, err));
        return h->b ? comm_send_bytes(r->bytes ? (void *)r->bytes : "", r->len, 0, TAG_STEP, err) : 0;
    }
    case OP_PROPOSE:
    case OP_STAR:
    case OP_MEM_GATHER:
    case OP_COUNTS:
    case OP_CKPT_SAVE:   /* the files written; empty after a failure (the status round says why) */
    case OP_CKPT_LOAD:   /* empty, or why this checkpoint cannot be loaded */
        return comm_send_bytes(r->bytes ? (void *)r->bytes : "", r->len, 0, TAG_STEP, err);
    default: return 0;   /* OP_SET_STATE, OP_MEM_SCATTER: nothing back */
    }
}

/* OP_STEP's exact gradient sum among the workers, every one getting the total. The barrier
 * first separates the wait for the slowest worker's backward passes from the transfer, so
 * that the metrics can show the communication net of waiting. */
static int allreduce_grad(void *ctx, fixsum *sum, size_t n, double *wait_s, tr_error *err) {
    const wstate *w = ctx;
    double t0 = MPI_Wtime();
    TR_TRY(MPI_CHECK(MPI_Barrier(w->workers), err));
    *wait_s = MPI_Wtime() - t0;
    return comm_allreduce_sum_fix(sum, n, w->workers, err);
}

/* OP_STEP's and OP_GRADIENT's rationale exchange among the workers (ranks 1..W; side i is rank i + 1). */
static int exchange_rows(void *ctx, uint8_t *const *out, const size_t *out_len, uint8_t **in, size_t *in_len, tr_error *err) {
    const wstate *w = ctx;
    return comm_exchange_bytes(out, out_len, in, in_len, 1, w->W, w->rank, TAG_ROWS, err);
}

/* The status round closing every op (msg.h): gather one int per rank; a rank that failed
 * then sends its message. */
static int send_status(wstate *w, tr_error *err) {
    int bad = w->lrc != 0;
    TR_TRY(comm_gather_int_idle(bad, NULL, 0, err));
    if (!bad) return 0;
    return comm_send_bytes(w->lerr.msg, strlen(w->lerr.msg), 0, TAG_STEP, err);
}

static int recv_header(msg_header *h, tr_error *err) {
    int64_t words[MSG_HEADER_WORDS];
    TR_TRY(comm_bcast_idle(words, MSG_HEADER_WORDS, MPI_INT64_T, 0, err));
    return msg_header_decode(words, h, err);
}

/* Serve ops until OP_END. Returns only transport (MPI) errors; a local failure is kept in
 * w->lrc and reported in each op's status round. */
static int serve(wstate *w, tr_error *err) {
    for (;;) {
        dispatch_req q = {.index = w->index, .nworkers = w->W, .exchange = exchange_rows, .allreduce = allreduce_grad,
                          .exchange_ctx = w};
        TR_TRY(recv_header(&q.h, err));
        if (q.h.op == OP_END) {
            if (w->lrc) LOG_W("experiment ended after this worker's error: %s", w->lerr.msg);
            return 0;
        }
        void *owned;
        int rc = recv_payload(w, &q, &owned, err);
        dispatch_reply r = {0};
        tr_error le = {0};
        if (!rc && q.h.op == OP_PROPOSE && !w->lrc) local_fail(w, injected_fault(w, q.h.a, &le), &le);
        if (!rc) {
            int drc = dispatch_op(w->e, &q, w->lrc != 0, &r, &le);
            if (drc == TR_EMPI) { *err = le; rc = drc; }   /* the rationale exchange's transport failed */
            else local_fail(w, drc, &le);
        }
        if (!rc) rc = send_reply(w, &q.h, &r, err);
        dispatch_reply_free(&r);
        free(owned);
        if (rc) return rc;
        TR_TRY(send_status(w, err));
    }
}

/* The workers' own communicator (ranks 1..size-1), made by the workers alone
 * (MPI_Comm_create_group is collective over the group only: rank 0 takes no part). */
static int workers_comm(int size, MPI_Comm *out, tr_error *err) {
    MPI_Group world, g;
    int range[1][3] = {{1, size - 1, 1}};
    TR_TRY(MPI_CHECK(MPI_Comm_group(MPI_COMM_WORLD, &world), err));
    int rc = MPI_CHECK(MPI_Group_range_incl(world, 1, range, &g), err);
    MPI_Group_free(&world);
    if (rc) return rc;
    rc = MPI_CHECK(MPI_Comm_create_group(MPI_COMM_WORLD, g, TAG_WORKERS, out), err);
    MPI_Group_free(&g);
    if (!rc) rc = MPI_CHECK(MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN), err);
    return rc;
}

int worker_train(int rank, int size, const char *spec_json, tr_error *err) {
    experiment_spec spec;
    wstate w;
    memset(&w, 0, sizeof w);
    w.rank = rank;
    w.index = rank - 1;
    w.W = size - 1;
    /* every worker runs every experiment: all of them make the communicator, whatever follows */
    TR_TRY(workers_comm(size, &w.workers, err));
    int rc = spec_parse_json(spec_json, "spec from the coordinator", &spec, err);
    if (!rc) rc = engine_side_init(&w.e, &spec, w.index, w.W, err);
    /* report readiness (or why not) so that the coordinator can name the failing rank */
    const char *status = rc ? err->msg : "ok";
    int src = comm_send_bytes(status, strlen(status), 0, TAG_STEP, rc ? NULL : err);
    if (!rc && src) rc = src;
    if (!rc) {
        LOG_I("ready: %d training examples in this shard, %d parameters, computing on %s", engine_side_memory_size(w.e),
              (int)engine_side_model(w.e)->num_params, engine_side_device(w.e));
        rc = serve(&w, err);
    } else if (!src) {
        /* reported: the coordinator fails the experiment and ends it for every rank with OP_END */
        LOG_W("experiment not started here: %s", err->msg);
        int64_t h[MSG_HEADER_WORDS];
        rc = comm_bcast_idle(h, MSG_HEADER_WORDS, MPI_INT64_T, 0, err);
        if (!rc && h[0] != OP_END) rc = TR_FAIL(err, TR_EINTERNAL, "expected OP_END after a failed start, got op %lld", (long long)h[0]);
    }
    engine_side_free(w.e);
    MPI_Comm_free(&w.workers);
    return rc;
}
