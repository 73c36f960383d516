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
} wstate;

static int op_propose(wstate *w, int64_t step, int M, tr_error *err) {
    int64_t *all = tr_malloc((size_t)M * sizeof *all, err);
    if (!all) return TR_ENOMEM;
    int rc = MPI_CHECK(MPI_Bcast(all, M, MPI_INT64_T, 0, MPI_COMM_WORLD), err);
    int32_t *pos = tr_malloc((size_t)M * sizeof *pos, err);
    if (!rc && !pos) rc = TR_ENOMEM;
    int n = 0;
    for (int i = 0; i < M && !rc; i++)
        if (shard_owner(w->e.spec.seed, all[i], w->W) == w->index) { pos[n] = i; w->ids[n++] = all[i]; }
    if (!rc) rc = eside_propose(&w->e, step, w->ids, n, w->a, w->mask, err);
    const int K = w->e.K;
    size_t rec = 6 + (size_t)K, len = (size_t)n * rec;
    uint8_t *buf = rc ? NULL : tr_malloc(len ? len : 1, err);
    if (!rc && !buf) rc = TR_ENOMEM;
    for (int i = 0; i < n && !rc; i++) {
        uint8_t *p = buf + (size_t)i * rec;
        memcpy(p, &pos[i], 4);
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
    est_coef *terms = tr_malloc((nt ? nt : 1) * sizeof *terms, err);
    if (!terms) { free(buf); return TR_ENOMEM; }
    for (size_t i = 0; i < nt; i++) {
        wire_term t;
        memcpy(&t, buf + i * sizeof t, sizeof t);
        terms[i] = (est_coef){t.ex, t.which, t.coef};
    }
    free(buf);
    double loss = 0;
    int rc = eside_gradient(&w->e, terms, (int)nt, &loss, err);
    free(terms);
    if (rc) return rc;
    TR_TRY(comm_reduce_sum_f64(w->e.gacc, w->e.n_tunable, 0, w->rank, err));
    return MPI_CHECK(MPI_Reduce(&loss, NULL, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD), err);
}

static int op_set_params(wstate *w, size_t n, tr_error *err) {
    if (n != w->e.n_tunable) return TR_FAIL(err, TR_EINTERNAL, "coordinator sends %zu parameters, this side has %zu", n, w->e.n_tunable);
    float *dst = w->e.spec.tunable == TUNABLE_PROMPT ? w->e.model.prompt : w->e.model.params;
    return comm_bcast_bytes(dst, n * sizeof(float), 0, err);
}

static int op_eval(wstate *w, int maj_k, int lines, tr_error *err) {
    int64_t *ids;
    int n;
    TR_TRY(eside_eval_ids(&w->e, w->index, w->W, &ids, &n, err));
    char *text = NULL;
    size_t tlen = 0;
    FILE *mf = lines ? open_memstream(&text, &tlen) : NULL;
    int counts[3] = {n, 0, 0};
    int rc = eside_eval(&w->e, ids, n, maj_k, &counts[1], &counts[2], mf, err);
    free(ids);
    if (mf) fclose(mf);
    if (!rc) rc = MPI_CHECK(MPI_Reduce(counts, NULL, 3, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD), err);
    if (!rc && lines) rc = comm_send_bytes(text ? text : "", text ? tlen : 0, 0, TAG_STEP, err);
    free(text);
    return rc;
}

static int op_star(wstate *w, int iter, tr_error *err) {
    int nv = 0;
    TR_TRY(eside_star_collect(&w->e, iter, &nv, err));
    int64_t *v = tr_malloc((size_t)(nv ? nv : 1) * sizeof *v, err);
    if (!v) return TR_ENOMEM;
    int k = 0;
    for (int i = 0; i < w->e.mem.n; i++)
        if (memory_valid(&w->e.mem, i)) v[k++] = w->e.mem.ids[i];
    int rc = comm_send_bytes(v, (size_t)k * sizeof *v, 0, TAG_STEP, err);
    free(v);
    return rc;
}

static int op_mem_gather(wstate *w, tr_error *err) {
    uint8_t *buf;
    size_t len;
    TR_TRY(memory_serialize(&w->e.mem, &buf, &len, err));
    int rc = comm_send_bytes(buf, len, 0, TAG_STEP, err);
    free(buf);
    return rc;
}

static int op_mem_scatter(wstate *w, size_t len, tr_error *err) {
    uint8_t *buf = tr_malloc(len ? len : 1, err);
    if (!buf) return TR_ENOMEM;
    int rc = comm_bcast_bytes(buf, len, 0, err);
    int taken = 0;
    if (!rc) rc = memory_deserialize_merge(&w->e.mem, buf, len, "checkpoint memory", &taken, err);
    free(buf);
    if (!rc) LOG_D("took %d memory entries of %d held here", taken, w->e.mem.n);
    return rc;
}

static int op_counts(wstate *w, tr_error *err) {
    engine_counts c = eside_take_counts(&w->e);
    return comm_send_bytes(&c, sizeof c, 0, TAG_STEP, err);
}

static int serve(wstate *w, tr_error *err) {
    for (;;) {
        int64_t h[4];
        TR_TRY(MPI_CHECK(MPI_Bcast(h, 4, MPI_INT64_T, 0, MPI_COMM_WORLD), err));
        int rc = 0;
        switch ((int)h[0]) {
        case OP_MEMORY_INIT: {
            int nv = 0;
            rc = eside_memory_init(&w->e, &nv, err);
            if (!rc) rc = MPI_CHECK(MPI_Reduce(&nv, NULL, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD), err);
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
        case OP_END: return 0;
        default: rc = TR_FAIL(err, TR_EINTERNAL, "unknown fleet op %lld (coordinator and worker versions differ?)", (long long)h[0]);
        }
        if (rc) return rc;
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
