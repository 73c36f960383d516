/* train.c - a worker's side of an experiment: build the engine_side for the spec, then
 * serve the coordinator's fleet operations (common/comm/ops.h) until OP_END. */
#include "worker/worker.h"

#include <stdlib.h>
#include <string.h>

#include "common/comm/ops.h"
#include "common/comm/wire.h"
#include "common/data/task.h"
#include "common/engine/engine.h"
#include "common/util/log.h"

typedef struct wstate {
    engine_side e;
    int rank, index, W;
    uint8_t *a, *mask;
    int64_t *ids;
    int cap;
    /* The first local failure of this experiment (bad data, a sequence that does not fit,
     * out of memory): the op's exchange still completes with placeholder data so that the
     * collectives stay matched, then the status round reports it and the coordinator fails
     * the experiment (not the job). */
    int lrc;
    tr_error lerr;
} wstate;

/* Record a local failure (keeps the first). Returns 0: the caller goes on with the exchange. */
static int local_fail(wstate *w, int rc, const tr_error *e) {
    if (rc && !w->lrc) {
        w->lrc = rc;
        w->lerr = *e;
    }
    return 0;
}

/* Fault injection for the reliability tests (tests/integration/test_reliability.sh):
 * TRICE_TEST_FAIL=NAME:STEP makes rank 1 fail its proposals at step STEP of the experiment
 * named NAME, as a worker's own error would (bad data, a sequence that does not fit).
 * Unset in normal use. */
static int injected_fault(const wstate *w, int64_t step, tr_error *err) {
    const char *v = getenv("TRICE_TEST_FAIL");
    const char *colon = v ? strrchr(v, ':') : NULL;
    if (!colon || w->rank != 1 || strtoll(colon + 1, NULL, 10) != step) return 0;
    if (strlen(w->e.spec.name) != (size_t)(colon - v) || strncmp(w->e.spec.name, v, (size_t)(colon - v)) != 0) return 0;
    return TR_FAIL(err, TR_EINVAL, "injected fault at step %lld (TRICE_TEST_FAIL)", (long long)step);
}

/* Ops return only transport (MPI) errors; a local failure is kept in w->lrc. */
static int op_propose(wstate *w, int64_t step, int M, tr_error *err) {
    int64_t *all = malloc((size_t)(M > 0 ? M : 1) * sizeof *all);
    int32_t *pos = malloc((size_t)(M > 0 ? M : 1) * sizeof *pos);
    if (!all || !pos) {
        free(all); free(pos);
        return TR_FAIL(err, TR_ENOMEM, "out of memory for a minibatch of %d (cannot take part in the step)", M);
    }
    int rc = MPI_CHECK(MPI_Bcast(all, M, MPI_INT64_T, 0, MPI_COMM_WORLD), err);
    int n = 0;
    for (int i = 0; i < M && !rc; i++)
        if (shard_owner(w->e.spec.seed, all[i], w->W) == w->index) {
            if (n < w->cap) w->ids[n] = all[i];
            pos[n++] = i;
        }
    const int K = w->e.K;
    size_t rec = 6 + (size_t)K, len = (size_t)n * rec;
    tr_error le = {0};
    if (!rc && !w->lrc && n > w->cap)
        local_fail(w, TR_FAIL(&le, TR_EINTERNAL, "step has %d examples here, capacity %d", n, w->cap), &le);
    if (!rc && !w->lrc) local_fail(w, injected_fault(w, step, &le), &le);
    if (!rc && !w->lrc) local_fail(w, eside_propose(&w->e, step, w->ids, n, w->a, w->mask, &le), &le);
    uint8_t *buf = rc ? NULL : calloc(len ? len : 1, 1);
    if (!rc && !buf) rc = TR_FAIL(err, TR_ENOMEM, "out of memory for %zu bytes of proposal results", len);
    for (int i = 0; i < n && !rc; i++) {
        uint8_t *p = buf + (size_t)i * rec;
        memcpy(p, &pos[i], 4);
        if (w->lrc) continue;   /* placeholders: the coordinator discards this step */
        p[4] = w->a[i];
        p[5] = w->mask[i];
        memcpy(p + 6, w->e.prop_ok + (size_t)i * (size_t)K, (size_t)K);
    }
    if (!rc) rc = comm_send_bytes(buf, len, 0, TAG_STEP, err);
    free(buf);
    free(pos);
    free(all);
    return rc;
}

static int op_gradient(wstate *w, tr_error *err) {
    uint8_t *buf;
    size_t len;
    TR_TRY(comm_recv_bytes(&buf, &len, 0, TAG_STEP, NULL, err));
    size_t nt = len / sizeof(wire_term);
    tr_error le = {0};
    est_coef *terms = w->lrc ? NULL : tr_malloc((nt ? nt : 1) * sizeof *terms, &le);
    if (!w->lrc && !terms) local_fail(w, TR_ENOMEM, &le);
    for (size_t i = 0; terms && i < nt; i++) {
        wire_term t;
        memcpy(&t, buf + i * sizeof t, sizeof t);
        terms[i] = (est_coef){t.ex, t.which, t.coef};
    }
    free(buf);
    double loss = 0;
    if (terms) local_fail(w, eside_gradient(&w->e, terms, (int)nt, &loss, &le), &le);
    free(terms);
    if (w->lrc) {
        memset(w->e.gacc, 0, w->e.n_tunable * sizeof *w->e.gacc);
        loss = 0;
    }
    TR_TRY(comm_reduce_sum_f64(w->e.gacc, w->e.n_tunable, 0, w->rank, err));
    return MPI_CHECK(MPI_Reduce(&loss, NULL, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD), err);
}

static int op_set_params(wstate *w, size_t n, tr_error *err) {
    float *dst = w->e.spec.tunable == TUNABLE_PROMPT ? w->e.model.prompt : w->e.model.params;
    if (n == w->e.n_tunable) return comm_bcast_bytes(dst, n * sizeof(float), 0, err);
    tr_error le = {0};
    local_fail(w, TR_FAIL(&le, TR_EINTERNAL, "coordinator sends %zu parameters, this side has %zu", n, w->e.n_tunable), &le);
    float *scratch = malloc(n ? n * sizeof *scratch : 1);   /* take part in the broadcast anyway */
    if (!scratch) return TR_FAIL(err, TR_ENOMEM, "out of memory for %zu parameters", n);
    int rc = comm_bcast_bytes(scratch, n * sizeof(float), 0, err);
    free(scratch);
    return rc;
}

static int op_eval(wstate *w, int maj_k, int lines, tr_error *err) {
    int64_t *ids = NULL;
    int n = 0;
    tr_error le = {0};
    if (!w->lrc) local_fail(w, eside_eval_ids(&w->e, w->index, w->W, &ids, &n, &le), &le);
    char *text = NULL;
    size_t tlen = 0;
    FILE *mf = lines ? open_memstream(&text, &tlen) : NULL;
    int counts[3] = {0, 0, 0};
    if (!w->lrc) {
        counts[0] = n;
        local_fail(w, eside_eval(&w->e, ids, n, maj_k, &counts[1], &counts[2], mf, &le), &le);
    }
    free(ids);
    if (mf) fclose(mf);
    if (w->lrc) { counts[0] = counts[1] = counts[2] = 0; tlen = 0; }
    int rc = MPI_CHECK(MPI_Reduce(counts, NULL, 3, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD), err);
    if (!rc && lines) rc = comm_send_bytes(text ? text : "", text ? tlen : 0, 0, TAG_STEP, err);
    free(text);
    return rc;
}

static int op_star(wstate *w, int iter, tr_error *err) {
    int nv = 0;
    tr_error le = {0};
    if (!w->lrc) local_fail(w, eside_star_collect(&w->e, iter, &nv, &le), &le);
    int64_t *v = malloc((size_t)(nv > 0 ? nv : 1) * sizeof *v);
    if (!v) return TR_FAIL(err, TR_ENOMEM, "out of memory for %d ids", nv);
    int k = 0;
    for (int i = 0; i < w->e.mem.n && !w->lrc && k < nv; i++)
        if (memory_valid(&w->e.mem, i)) v[k++] = w->e.mem.ids[i];
    int rc = comm_send_bytes(v, (size_t)k * sizeof *v, 0, TAG_STEP, err);
    free(v);
    return rc;
}

static int op_mem_gather(wstate *w, tr_error *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    tr_error le = {0};
    if (!w->lrc) local_fail(w, memory_serialize(&w->e.mem, &buf, &len, &le), &le);
    if (w->lrc) len = 0;
    int rc = comm_send_bytes(buf ? buf : (uint8_t *)"", len, 0, TAG_STEP, err);
    free(buf);
    return rc;
}

static int op_mem_scatter(wstate *w, size_t len, tr_error *err) {
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return TR_FAIL(err, TR_ENOMEM, "out of memory for %zu bytes of memory entries", len);
    int rc = comm_bcast_bytes(buf, len, 0, err);
    int taken = 0;
    tr_error le = {0};
    if (!rc && !w->lrc) {
        local_fail(w, memory_deserialize_merge(&w->e.mem, buf, len, "checkpoint memory", &taken, &le), &le);
        if (!w->lrc) LOG_D("took %d memory entries of %d held here", taken, w->e.mem.n);
    }
    free(buf);
    return rc;
}

static int op_counts(wstate *w, tr_error *err) {
    engine_counts c = eside_take_counts(&w->e);
    return comm_send_bytes(&c, sizeof c, 0, TAG_STEP, err);
}

/* The status round closing every op (ops.h): gather one int per rank; a rank that failed
 * then sends its message. */
static int op_status(wstate *w, tr_error *err) {
    int bad = w->lrc != 0;
    TR_TRY(MPI_CHECK(MPI_Gather(&bad, 1, MPI_INT, NULL, 1, MPI_INT, 0, MPI_COMM_WORLD), err));
    if (!bad) return 0;
    return comm_send_bytes(w->lerr.msg, strlen(w->lerr.msg), 0, TAG_STEP, err);
}

static int serve(wstate *w, tr_error *err) {
    for (;;) {
        int64_t h[4];
        TR_TRY(MPI_CHECK(MPI_Bcast(h, 4, MPI_INT64_T, 0, MPI_COMM_WORLD), err));
        int rc = 0;
        switch ((int)h[0]) {
        case OP_MEMORY_INIT: {
            int nv = 0;
            tr_error le = {0};
            if (!w->lrc) local_fail(w, eside_memory_init(&w->e, &nv, &le), &le);
            if (w->lrc) nv = 0;
            rc = MPI_CHECK(MPI_Reduce(&nv, NULL, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD), err);
            break;
        }
        case OP_PROPOSE: rc = op_propose(w, h[1], (int)h[2], err); break;
        case OP_GRADIENT: rc = op_gradient(w, err); break;
        case OP_SET_PARAMS: rc = op_set_params(w, (size_t)h[1], err); break;
        case OP_EVAL: rc = op_eval(w, (int)h[1], (int)h[2], err); break;
        case OP_STAR: rc = op_star(w, (int)h[1], err); break;
        case OP_MEM_GATHER: rc = op_mem_gather(w, err); break;
        case OP_MEM_SCATTER: rc = op_mem_scatter(w, (size_t)h[1], err); break;
        case OP_COUNTS: rc = op_counts(w, err); break;
        case OP_END:
            if (w->lrc) LOG_W("experiment ended after this worker's error: %s", w->lerr.msg);
            return 0;
        default: rc = TR_FAIL(err, TR_EINTERNAL, "unknown fleet op %lld (coordinator and worker versions differ?)", (long long)h[0]);
        }
        if (rc) return rc;
        TR_TRY(op_status(w, err));
    }
}

int worker_train(int rank, int size, const char *spec_json, tr_error *err) {
    experiment_spec spec;
    wstate w;
    memset(&w, 0, sizeof w);
    w.rank = rank;
    w.index = rank - 1;
    w.W = size - 1;
    int rc = spec_parse_json(spec_json, "spec from the coordinator", &spec, err);
    if (!rc) rc = eside_init(&w.e, &spec, w.index, w.W, err);
    if (!rc) {
        w.cap = spec.batch_size;
        w.a = tr_malloc((size_t)w.cap, err);
        w.mask = tr_malloc((size_t)w.cap, err);
        w.ids = tr_malloc((size_t)w.cap * sizeof *w.ids, err);
        if (!w.a || !w.mask || !w.ids) rc = TR_ENOMEM;
    }
    /* report readiness (or why not) so that the coordinator can name the failing rank */
    const char *status = rc ? err->msg : "ok";
    int src = comm_send_bytes(status, strlen(status), 0, TAG_STEP, rc ? NULL : err);
    if (!rc && src) rc = src;
    if (!rc) {
        LOG_I("ready: %d training examples in this shard, %d parameters", w.e.mem.n, (int)w.e.model.num_params);
        rc = serve(&w, err);
    } else if (!src) {
        /* reported: the coordinator fails the experiment and ends it for every rank with OP_END */
        LOG_W("experiment not started here: %s", err->msg);
        int64_t h[4];
        rc = MPI_CHECK(MPI_Bcast(h, 4, MPI_INT64_T, 0, MPI_COMM_WORLD), err);
        if (!rc && h[0] != OP_END) rc = TR_FAIL(err, TR_EINTERNAL, "expected OP_END after a failed start, got op %lld", (long long)h[0]);
    }
    eside_free(&w.e);
    free(w.a); free(w.mask); free(w.ids);
    return rc;
}
