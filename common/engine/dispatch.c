/* dispatch.c - what a side does with each fleet operation (dispatch.h, msg.h). */
#include "common/engine/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/task.h"
#include "common/util/log.h"

static int d_memory_init(engine_side *e, int skip, dispatch_reply *r, tr_error *err) {
    int nv = 0;
    int rc = skip ? 0 : engine_side_memory_init(e, &nv, err);
    r->val[0] = skip || rc ? 0 : nv;
    return rc;
}

/* The minibatch is every side's: each answers for the examples it owns, at their positions. */
static int d_propose(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    const int64_t *all = q->in;
    const int M = (int)q->h.b, K = engine_side_particles(e);
    const size_t rec = msg_propose_bytes(K), m = (size_t)(M > 0 ? M : 1);
    int64_t *ids = tr_malloc(m * sizeof *ids, err);
    int32_t *pos = tr_malloc(m * sizeof *pos, err);
    uint8_t *a = tr_malloc(m, err), *mask = tr_malloc(m, err);
    int rc = (!ids || !pos || !a || !mask) ? TR_ENOMEM : 0;
    int n = 0;
    for (int i = 0; i < M && !rc; i++)
        if (q->nworkers <= 1 || shard_owner(engine_side_spec(e)->seed, all[i], q->nworkers) == q->index) {
            ids[n] = all[i];
            pos[n++] = i;
        }
    if (!rc && !(r->bytes = tr_malloc((size_t)n * rec + 1, err))) rc = TR_ENOMEM;
    if (!rc) r->len = (size_t)n * rec;
    if (!rc && !skip) rc = engine_side_propose(e, q->h.a, ids, n, a, mask, err);
    const int real = !rc && !skip;   /* else placeholders: the coordinator discards this step */
    for (int i = 0; r->bytes && i < n; i++)
        msg_propose_encode(r->bytes + (size_t)i * rec, K, pos[i], real ? a[i] : 0, real ? mask[i] : 0,
                           real ? engine_side_correct(e) + (size_t)i * (size_t)K : NULL);
    free(ids); free(pos); free(a); free(mask);
    return rc;
}

static int d_gradient(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    r->grad = engine_side_grad(e, &r->n_grad);
    const size_t nt = q->in_len / MSG_TERM_BYTES;
    int rc = 0;
    if (!skip) {
        est_coef *terms = tr_malloc((nt ? nt : 1) * sizeof *terms, err);
        if (!terms) rc = TR_ENOMEM;
        for (size_t i = 0; terms && i < nt; i++) msg_term_decode((const uint8_t *)q->in + i * MSG_TERM_BYTES, &terms[i]);
        if (terms) rc = engine_side_gradient(e, terms, (int)nt, &r->loss, err);
        free(terms);
    }
    if (skip || rc) {   /* add nothing to the fleet's sum */
        memset(r->grad, 0, r->n_grad * sizeof *r->grad);
        r->loss = 0;
    }
    return rc;
}

static int d_set_params(engine_side *e, const dispatch_req *q, int skip, tr_error *err) {
    size_t n;
    float *dst = engine_side_tunable(e, &n);
    if ((size_t)q->h.a != n)
        return TR_FAIL(err, TR_EINTERNAL, "%zu parameters sent, this side has %zu", (size_t)q->h.a, n);
    if (!skip && dst != q->in) memcpy(dst, q->in, n * sizeof *dst);
    return 0;
}

static int d_eval(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    int64_t *ids = NULL;
    int n = 0, correct = 0, maj = 0, rc = 0;
    if (!skip) rc = engine_side_eval_ids(e, q->index, q->nworkers, &ids, &n, err);
    char *text = NULL;
    size_t tlen = 0;
    FILE *mf = q->h.b ? open_memstream(&text, &tlen) : NULL;
    if (!skip && !rc) rc = engine_side_eval(e, ids, n, (int)q->h.a, &correct, &maj, mf, err);
    if (mf) fclose(mf);
    free(ids);
    if (skip || rc) {
        n = correct = maj = 0;
        free(text);
        text = NULL;
        tlen = 0;
    }
    r->val[0] = n;
    r->val[1] = correct;
    r->val[2] = maj;
    r->bytes = (uint8_t *)text;
    r->len = tlen;
    return rc;
}

static int d_star(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    if (skip) return 0;
    int nv = 0;
    TR_TRY(engine_side_star_collect(e, (int)q->h.a, &nv, err));
    int64_t *ids;
    TR_TRY(engine_side_valid_ids(e, &ids, &nv, err));
    r->bytes = tr_malloc((size_t)nv * 8 + 1, err);
    if (r->bytes) {
        msg_ids_encode(ids, (size_t)nv, r->bytes);
        r->len = (size_t)nv * 8;
    }
    free(ids);
    return r->bytes ? 0 : TR_ENOMEM;
}

static int d_mem_gather(engine_side *e, int skip, dispatch_reply *r, tr_error *err) {
    if (skip) return 0;
    int rc = engine_side_memory_save(e, &r->bytes, &r->len, err);
    if (rc) { free(r->bytes); r->bytes = NULL; r->len = 0; }
    return rc;
}

static int d_mem_scatter(engine_side *e, const dispatch_req *q, int skip, tr_error *err) {
    if (skip) return 0;
    int taken = 0;
    TR_TRY(engine_side_memory_merge(e, q->in, (size_t)q->h.a, &taken, err));
    LOG_D("took %d memory entries of %d held here", taken, engine_side_memory_size(e));
    return 0;
}

/* Counted whatever happened before: the coordinator reads them in every case. */
static int d_counts(engine_side *e, dispatch_reply *r, tr_error *err) {
    engine_counts c = engine_side_take_counts(e);
    if (!(r->bytes = tr_malloc(MSG_COUNTS_BYTES, err))) return TR_ENOMEM;
    msg_counts_encode(&c, r->bytes);
    r->len = MSG_COUNTS_BYTES;
    return 0;
}

int dispatch_op(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    memset(r, 0, sizeof *r);
    switch ((int)q->h.op) {
    case OP_MEMORY_INIT: return d_memory_init(e, skip, r, err);
    case OP_PROPOSE: return d_propose(e, q, skip, r, err);
    case OP_GRADIENT: return d_gradient(e, q, skip, r, err);
    case OP_SET_PARAMS: return d_set_params(e, q, skip, err);
    case OP_EVAL: return d_eval(e, q, skip, r, err);
    case OP_STAR: return d_star(e, q, skip, r, err);
    case OP_MEM_GATHER: return d_mem_gather(e, skip, r, err);
    case OP_MEM_SCATTER: return d_mem_scatter(e, q, skip, err);
    case OP_COUNTS: return d_counts(e, r, err);
    default: return TR_FAIL(err, TR_EINTERNAL, "fleet op %lld is not a side's", (long long)q->h.op);
    }
}

void dispatch_reply_free(dispatch_reply *r) {
    free(r->bytes);
    memset(r, 0, sizeof *r);
}
