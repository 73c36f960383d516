/* dispatch.c - what a side does with each fleet operation (dispatch.h, msg.h). */
#include "common/engine/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/task.h"
#include "common/engine/side_impl.h"
#include "common/util/log.h"
#include "common/util/path.h"

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
    if (!rc && !skip && q->nworkers > 1) rc = engine_side_set_minibatch(e, all, M, err);   /* gradient terms index it */
    if (!rc && !skip) rc = engine_side_propose(e, q->h.a, ids, n, a, mask, err);
    const int real = !rc && !skip;   /* else placeholders: the coordinator discards this step */
    for (int i = 0; r->bytes && i < n; i++)
        msg_propose_encode(r->bytes + (size_t)i * rec, K, pos[i], real ? a[i] : 0, real ? mask[i] : 0,
                           real ? engine_side_correct(e) + (size_t)i * (size_t)K : NULL);
    free(ids); free(pos); free(a); free(mask);
    return rc;
}

/* The step's term list, its groups' rationales moved between sides by q->exchange, then this
 * side's groups. The exchange and the reply's shape happen whatever failed before, so that a
 * worker always completes the op's collectives (msg.h). */
static int d_gradient(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, int want_sum, tr_error *err) {
    const size_t nt = q->in_len / MSG_TERM_BYTES;
    const int W = q->nworkers > 1 ? q->nworkers : 1, G = (int)q->h.b;
    r->n_groups = G > 0 ? (int)((nt + (size_t)G - 1) / (size_t)G) : 0;
    r->group_loss = tr_calloc((size_t)r->n_groups + 1, sizeof *r->group_loss, err);
    est_coef *terms = tr_malloc((nt ? nt : 1) * sizeof *terms, err);
    uint8_t **out = tr_calloc((size_t)W, sizeof *out, err), **in = tr_calloc((size_t)W, sizeof *in, err);
    size_t *out_len = tr_calloc((size_t)W, sizeof *out_len, err), *in_len = tr_calloc((size_t)W, sizeof *in_len, err);
    int rc = (!r->group_loss || !terms || !out || !in || !out_len || !in_len) ? TR_ENOMEM : 0;
    if (!rc && G != engine_group_terms(engine_side_spec(e)))
        rc = TR_FAIL(err, TR_EINTERNAL, "gradient groups of %d terms asked, this side makes %d (versions differ?)", G,
                     engine_group_terms(engine_side_spec(e)));
    for (size_t i = 0; !rc && i < nt; i++) msg_term_decode((const uint8_t *)q->in + i * MSG_TERM_BYTES, &terms[i]);
    if (!rc && !skip) rc = engine_side_grad_begin(e, terms, (int)nt, err);
    uint8_t *rows = NULL;
    size_t rows_len = 0;
    if (!rc && !skip && W > 1) rc = engine_side_grad_rows(e, &rows, &rows_len, err);
    for (int s = 0; out && out_len && s < W; s++)   /* the same rows for every other side */
        if (s != q->index) { out[s] = rows; out_len[s] = rows_len; }
    if (W > 1 && out && in && out_len && in_len) {   /* always: the other sides wait for this one's rows */
        double t0 = side_now_s();
        int xrc = q->exchange ? q->exchange(q->exchange_ctx, out, out_len, in, in_len, err)
                              : TR_FAIL(err, TR_EINTERNAL, "%d sides but no exchange for their rationales", W);
        if (xrc) { dispatch_reply_free(r); rc = xrc; }   /* a transport failure: nothing more to send */
        int64_t bytes = 0;
        for (int s = 0; !xrc && s < W; s++) bytes += (int64_t)(out_len[s] + in_len[s]);
        if (!xrc) engine_side_count_peer(e, bytes, side_now_s() - t0, 0);
    }
    if (!rc && !skip) rc = engine_side_grad_finish(e, (const uint8_t *const *)in, in_len, r->group_loss, err);
    for (int s = 0; in && s < W; s++) free(in[s]);
    free(rows); free(out); free(in); free(out_len); free(in_len); free(terms);
    if (!r->group_loss) return rc;
    /* the sum in the reply only for OP_GRADIENT: a step's update reads it where it is (on a
     * device, a single side's stays there) */
    if (want_sum) r->grad = engine_side_grad(e, &r->n_grad);
    else engine_side_grad_sum(e, &r->n_grad);
    if (skip || rc) {   /* add nothing to the fleet's sum */
        r->grad = r->zeros = tr_calloc(r->n_grad + 1, sizeof *r->zeros, err);
        memset(r->group_loss, 0, (size_t)r->n_groups * sizeof *r->group_loss);
        if (!r->zeros && !rc) rc = TR_ENOMEM;
    }
    return rc;
}

/* OP_GRADIENT's work, then the exact sum over every side (the transport's all-reduce, which
 * every side joins whatever failed before, adding zeros if so) and the same optimiser update
 * on every side (engine_side_update). */
static int d_step(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    int rc = d_gradient(e, q, skip, r, 0, err);
    if (rc == TR_EMPI) return rc;   /* the rationale exchange's transport failed */
    size_t n;
    fixsum *sum = engine_side_grad_sum(e, &n);   /* after a failure: whatever it holds, the step is discarded */
    if (r->zeros) sum = r->zeros;
    if (q->nworkers > 1) {
        double t0 = side_now_s(), wait = 0;
        int xrc = q->allreduce ? q->allreduce(q->exchange_ctx, sum, n, &wait, err)
                               : TR_FAIL(err, TR_EMPI, "%d sides but no all-reduce for their gradients", q->nworkers);
        if (xrc) return xrc;   /* the collective is broken: nothing more to send */
        /* a ring all-reduce sends and receives 2 (W-1)/W of the sum each way, whatever MPI chose */
        const int W = q->nworkers;
        int64_t bytes = (int64_t)(4.0 * (W - 1) / W * (double)(n * sizeof *sum));
        engine_side_count_peer(e, bytes, side_now_s() - t0 - wait, wait);
    }
    if (!rc && !skip) rc = engine_side_update(e, sum, msg_lr_decode(q->h.c), &r->norm, err);
    return rc;
}

/* Write this side's part of the checkpoint into the folder named by the payload; the reply
 * lists the files written (msg_file records) for rank 0's manifest. */
static int d_ckpt_save(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    if (skip) return 0;
    char dir[PATH_BUF];
    ckpt_file *none = NULL, files[ENGINE_CKPT_FILES];
    int nn = 0, n = 0;
    TR_TRY(msg_ckpt_decode(q->in, q->in_len, dir, sizeof dir, &none, &nn, err));
    free(none);
    const int W = q->nworkers > 1 ? q->nworkers : 1;
    TR_TRY(engine_side_ckpt_write(e, dir, q->index, W, files, &n, err));
    if (!(r->bytes = tr_malloc((size_t)n * MSG_FILE_BYTES, err))) return TR_ENOMEM;
    for (int i = 0; i < n; i++) msg_file_encode(&files[i], r->bytes + (size_t)i * MSG_FILE_BYTES);
    r->len = (size_t)n * MSG_FILE_BYTES;
    return 0;
}

/* Load the checkpoint the payload names. A damaged or missing file is this op's answer (the
 * reply's text, naming the file), not a failure of the side: the coordinator then offers the
 * previous checkpoint, and the experiment goes on. */
static int d_ckpt_load(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err) {
    if (skip) return 0;
    char dir[PATH_BUF];
    ckpt_file *files = NULL;
    int n = 0;
    TR_TRY(msg_ckpt_decode(q->in, q->in_len, dir, sizeof dir, &files, &n, err));
    tr_error le = {0};
    int rc = engine_side_ckpt_read(e, dir, files, n, &le);
    free(files);
    if (rc == TR_ENOMEM) { *err = le; return rc; }
    if (rc) {
        r->len = strlen(le.msg);
        if (!(r->bytes = tr_malloc(r->len + 1, err))) return TR_ENOMEM;
        memcpy(r->bytes, le.msg, r->len + 1);
    }
    return 0;
}

static int d_set_state(engine_side *e, const dispatch_req *q, int skip, tr_error *err) {
    if (skip) return 0;
    size_t n;
    engine_side_tunable(e, &n);
    float *buf = tr_malloc((3 * n + 1) * sizeof *buf, err);
    if (!buf) return TR_ENOMEM;
    int64_t step = 0;
    int rc = msg_state_decode(q->in, q->in_len, n, buf, buf + n, buf + 2 * n, &step, err);
    if (!rc) rc = engine_side_state_set(e, buf, buf + n, buf + 2 * n, step, n, err);
    free(buf);
    return rc;
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
    case OP_GRADIENT: return d_gradient(e, q, skip, r, 1, err);
    case OP_STEP: return d_step(e, q, skip, r, err);
    case OP_CKPT_SAVE: return d_ckpt_save(e, q, skip, r, err);
    case OP_CKPT_LOAD: return d_ckpt_load(e, q, skip, r, err);
    case OP_SET_STATE: return d_set_state(e, q, skip, err);
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
    free(r->zeros);
    free(r->group_loss);
    memset(r, 0, sizeof *r);
}
