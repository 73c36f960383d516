/* fleet_mpi.c - the coordinator's end of the fleet protocol (common/comm/msg.h).
 *
 * The control plane: rank 0 sends ops, minibatches and term lists and collects per-example
 * outcomes, losses and counters. Gradients and parameters stay among the workers (OP_STEP:
 * an all-reduce on their own communicator, worker/train.c), and so do checkpoints: the
 * workers write the parameters and their optimiser shards into the run folder and rank 0
 * writes the memory and the manifest (OP_CKPT_SAVE); on resume each worker reads them back
 * (OP_CKPT_LOAD). Rank 0 pushes parameters only at a STaR restart. */
#include "coordinator/fleet_mpi.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/comm/msg.h"
#include "common/comm/wire.h"
#include "common/util/afile.h"
#include "common/util/log.h"

typedef struct mpi_fleet {
    fleet base;
    fleet_mpi_ctx ctx;
    experiment_spec spec;
    int W, K;
    /* the current step: minibatch index -> (worker index, local index) */
    int M;
    int *owner, *local;
    fleet_counts comm;        /* the coordinator's own traffic since the last take_counts (sides: unused) */
    fixsum *acc;              /* [n_acc] the exact gradient sum, kept across steps */
    size_t n_acc;
    /* A worker reported an error in this experiment: every later op fails with it at once
     * (nothing more is sent), and m_free ends the experiment on every rank with OP_END. */
    int broken;
    char why[TR_ERRMSG_MAX];
} mpi_fleet;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static mpi_fleet *as_mpi_fleet(fleet *f) { return (mpi_fleet *)f; }

static void beat_all(mpi_fleet *m) {
    if (!m->ctx.heartbeat) return;
    for (int r = 1; r <= m->W; r++) m->ctx.heartbeat(m->ctx.heartbeat_ctx, r);
}

static int send_op(mpi_fleet *m, int64_t op, int64_t a, int64_t b, int64_t c, tr_error *err) {
    if (m->broken && op != OP_END) return TR_FAIL(err, TR_EINVAL, "%s", m->why);
    int64_t h[MSG_HEADER_WORDS];
    msg_header_encode(&(msg_header){op, a, b, c}, h);
    m->comm.bytes_moved += (int64_t)sizeof h * m->W;
    return comm_bcast_idle(h, MSG_HEADER_WORDS, MPI_INT64_T, 0, err);
}

/* A reply from one worker; the wait (mostly the workers' own work: sampling, evaluating,
 * writing a checkpoint) sleeps between probes instead of spinning (comm.h). */
static int recv_from(mpi_fleet *m, int rank, uint8_t **buf, size_t *len, tr_error *err) {
    int rc = comm_probe_idle(rank, TAG_STEP, err);
    if (!rc) rc = comm_recv_bytes(buf, len, rank, TAG_STEP, NULL, err);
    if (rc) return tr_error_wrap(err, "from worker rank %d", rank);
    m->comm.bytes_moved += (int64_t)*len + 8;
    return 0;
}

/* The status round closing every op (msg.h): which workers failed, and why. Run after the
 * op's exchange whatever the coordinator's own outcome rc, unless the transport itself
 * failed (TR_EMPI: the collectives are no longer matched). A worker's error wins: it is
 * the cause, and it fails this experiment only. */
static int finish_op(mpi_fleet *m, int rc, tr_error *err) {
    if (rc == TR_EMPI) return rc;
    int *bad = calloc((size_t)m->W + 1, sizeof *bad);
    int zero = 0;
    tr_error se = {0};
    int src = bad ? comm_gather_int_idle(zero, bad, 0, &se)
                  : TR_FAIL(&se, TR_EMPI, "out of memory for the status of %d workers", m->W);
    int nbad = 0;
    for (int r = 1; r <= m->W && !src; r++) {
        if (!bad[r]) continue;
        uint8_t *buf;
        size_t len;
        if ((src = recv_from(m, r, &buf, &len, &se))) break;
        if (!nbad++) snprintf(m->why, sizeof m->why, "worker rank %d: %.*s", r, (int)(len > 900 ? 900 : len), (const char *)buf);
        free(buf);
    }
    free(bad);
    if (src) { *err = se; return src; }
    if (!nbad) return rc;
    if (nbad > 1) {
        size_t l = strlen(m->why);
        snprintf(m->why + l, sizeof m->why - l, " (and %d other worker%s)", nbad - 1, nbad > 2 ? "s" : "");
    }
    m->broken = 1;
    return TR_FAIL(err, TR_EINVAL, "%s", m->why);
}

static int m_memory_init(fleet *f, int *n_valid, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    TR_TRY(send_op(m, OP_MEMORY_INIT, 0, 0, 0, err));
    int zero = 0;
    *n_valid = 0;
    TR_TRY(comm_reduce_idle(&zero, n_valid, 1, MPI_INT, 0, err));
    TR_TRY(finish_op(m, 0, err));
    beat_all(m);
    return 0;
}

static int m_propose(fleet *f, int64_t step, const int64_t *ids, int M, uint8_t *a, uint8_t *mask, uint8_t *correct, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    if (M > m->M) {
        int *o = realloc(m->owner, (size_t)M * sizeof *o), *l = o ? realloc(m->local, (size_t)M * sizeof *l) : NULL;
        if (!o || !l) { if (o) m->owner = o; return TR_FAIL(err, TR_ENOMEM, "out of memory for %d examples", M); }
        m->owner = o; m->local = l;
    }
    m->M = M;
    int *cnt = tr_calloc((size_t)m->W, sizeof *cnt, err);
    if (!cnt) return TR_ENOMEM;
    for (int i = 0; i < M; i++) {
        m->owner[i] = shard_owner(m->spec.seed, ids[i], m->W);
        m->local[i] = cnt[m->owner[i]]++;
    }
    double t0 = now_s();
    int rc = send_op(m, OP_PROPOSE, step, M, 0, err);
    if (rc) { free(cnt); return rc; }
    rc = comm_bcast_idle((void *)ids, M, MPI_INT64_T, 0, err);
    m->comm.bytes_moved += (int64_t)M * 8 * m->W;
    double t1 = now_s();
    const size_t rec = msg_propose_bytes(m->K);
    for (int r = 1; r <= m->W && !rc; r++) {
        uint8_t *buf;
        size_t len;
        rc = recv_from(m, r, &buf, &len, err);
        if (rc) break;
        if (len != (size_t)cnt[r - 1] * rec) {
            rc = TR_FAIL(err, TR_EMPI, "worker rank %d reported %zu bytes for %d examples (protocol mismatch)", r, len, cnt[r - 1]);
            free(buf);
            break;
        }
        for (int k = 0; k < cnt[r - 1]; k++) {
            const uint8_t *p = buf + (size_t)k * rec;
            int32_t pos;
            uint8_t pa, pm;
            msg_propose_decode(p, m->K, &pos, &pa, &pm, NULL);
            if (pos < 0 || pos >= M || m->owner[pos] != r - 1) { rc = TR_FAIL(err, TR_EMPI, "worker rank %d answered for example position %d it does not own", r, pos); break; }
            a[pos] = pa;
            mask[pos] = pm;
            if (correct) msg_propose_decode(p, m->K, &pos, &pa, &pm, correct + (size_t)pos * (size_t)m->K);
        }
        free(buf);
    }
    /* the wait for results is mostly the workers' sampling; only the sends count as comm */
    m->comm.comm_s += t1 - t0;
    free(cnt);
    rc = finish_op(m, rc, err);
    if (!rc) beat_all(m);
    return rc;
}

/* An op carrying the step's whole term list (OP_STEP, OP_GRADIENT): the header, then the
 * terms to every worker (each plans the groups and swaps rationales with the others, msg.h). */
static int send_terms(mpi_fleet *m, int64_t op, const est_coef *coefs, int n, int G, int64_t c, tr_error *err) {
    for (int i = 0; i < n; i++)   /* before anything is sent: an op is all or nothing */
        if (coefs[i].ex < 0 || coefs[i].ex >= m->M) return TR_FAIL(err, TR_EINTERNAL, "term for minibatch index %d of %d", coefs[i].ex, m->M);
    uint8_t *t = tr_malloc((size_t)(n ? n : 1) * MSG_TERM_BYTES, err);
    if (!t) return TR_ENOMEM;
    for (int i = 0; i < n; i++) msg_term_encode(&coefs[i], t + (size_t)i * MSG_TERM_BYTES);
    double t0 = now_s();
    int rc = send_op(m, op, n, G, c, err);
    if (!rc) rc = comm_bcast_bytes(t, (size_t)n * MSG_TERM_BYTES, 0, err);
    free(t);
    if (rc) return rc;
    m->comm.bytes_moved += ((int64_t)n * MSG_TERM_BYTES + 8) * m->W;
    m->comm.comm_s += now_s() - t0;
    return 0;
}

/* One update (msg.h, OP_STEP): the workers sum the gradient among themselves and each applies
 * it; back here come only each group's loss and the norm, a few bytes per group. */
static int m_step(fleet *f, const est_coef *coefs, int n, float lr, double *loss, double *norm, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    const int G = engine_group_terms(&m->spec), ngroups = (n + G - 1) / G;
    double *gl = tr_calloc((size_t)ngroups + 1, sizeof *gl, err);
    if (!gl) return TR_ENOMEM;
    int rc = send_terms(m, OP_STEP, coefs, n, G, msg_lr_encode(lr), err);
    if (!rc) rc = comm_reduce_idle(MPI_IN_PLACE, gl, ngroups + 1, MPI_DOUBLE, 0, err);
    if (!rc) rc = finish_op(m, 0, err);
    if (rc) { free(gl); return rc; }
    *loss = 0;
    for (int g = 0; g < ngroups; g++) *loss += gl[g];   /* in group order: the same bits for any W */
    *norm = gl[ngroups];   /* worker 1's; the others add +0 */
    free(gl);
    m->comm.bytes_moved += (int64_t)((size_t)(ngroups + 1) * sizeof(double)) * m->W;
    beat_all(m);
    return 0;
}

/* The gradient to rank 0 without an update (msg.h, OP_GRADIENT): the variance probe only. */
static int m_gradient(fleet *f, const est_coef *coefs, int n, float *grads, size_t n_grads, double *loss, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    const int G = engine_group_terms(&m->spec), ngroups = (n + G - 1) / G;
    if (m->n_acc != n_grads) {
        fixsum *a = realloc(m->acc, n_grads * sizeof *a);
        if (!a) return TR_FAIL(err, TR_ENOMEM, "out of memory for a %zu-parameter gradient", n_grads);
        m->acc = a;
        m->n_acc = n_grads;
    }
    double *gl = tr_calloc((size_t)ngroups + 1, sizeof *gl, err);
    if (!gl) return TR_ENOMEM;
    int rc = send_terms(m, OP_GRADIENT, coefs, n, G, 0, err);
    if (rc) { free(gl); return rc; }
    double t1 = now_s();
    memset(m->acc, 0, n_grads * sizeof *m->acc);
    rc = comm_reduce_sum_fix(m->acc, n_grads, 0, 0, err);
    if (!rc) rc = comm_reduce_idle(MPI_IN_PLACE, gl, ngroups, MPI_DOUBLE, 0, err);
    if (!rc) rc = finish_op(m, 0, err);
    if (rc) { free(gl); return rc; }
    fixsum_to_floats(m->acc, grads, n_grads);
    *loss = 0;
    for (int g = 0; g < ngroups; g++) *loss += gl[g];   /* in group order: the same bits for any W */
    free(gl);
    /* includes the wait for the slowest worker's backward passes */
    m->comm.reduce_s += now_s() - t1;
    m->comm.bytes_moved += (int64_t)(n_grads * sizeof(fixsum) + (size_t)ngroups * sizeof(double)) * m->W;
    beat_all(m);
    return 0;
}

/* The header and the msg_ckpt payload both checkpoint ops start with (msg.h). */
static int send_ckpt(mpi_fleet *m, int64_t op, const char *dir, const ckpt_file *files, int n, tr_error *err) {
    const size_t len = msg_ckpt_bytes(strlen(dir), n);
    uint8_t *buf = tr_malloc(len, err);
    if (!buf) return TR_ENOMEM;
    msg_ckpt_encode(buf, dir, files, n);
    int rc = send_op(m, op, (int64_t)len, 0, 0, err);
    if (!rc) rc = comm_bcast_bytes(buf, len, 0, err);
    free(buf);
    if (!rc) m->comm.bytes_moved += (int64_t)len * m->W;
    return rc;
}

/* A checkpoint (msg.h, OP_CKPT_SAVE): the workers write the parameters and their optimiser
 * shards into dir themselves; back come only the records of what each wrote, a few dozen
 * bytes per worker whatever the model. */
static int m_ckpt_save(fleet *f, const char *dir, ckpt_file **files, int *n_files, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    double t0 = now_s();
    TR_TRY(send_ckpt(m, OP_CKPT_SAVE, dir, NULL, 0, err));
    ckpt_file *all = NULL;
    int n = 0, rc = 0;
    for (int r = 1; r <= m->W; r++) {   /* always drain every rank */
        uint8_t *buf;
        size_t len;
        int rrc = recv_from(m, r, &buf, &len, err);
        if (rrc) { if (!rc) rc = rrc; continue; }
        const int k = (int)(len / MSG_FILE_BYTES);
        ckpt_file *na = rc ? NULL : realloc(all, (size_t)(n + k + 1) * sizeof *na);
        if (!rc && !na) rc = TR_FAIL(err, TR_ENOMEM, "out of memory for %d checkpoint files", n + k);
        if (na) all = na;
        if (!rc && len % MSG_FILE_BYTES) rc = TR_FAIL(err, TR_EMPI, "worker rank %d: %zu bytes of checkpoint file records (protocol mismatch)", r, len);
        for (int i = 0; !rc && i < k; i++) rc = msg_file_decode(buf + (size_t)i * MSG_FILE_BYTES, &all[n + i], err);
        if (!rc) n += k;
        free(buf);
    }
    rc = finish_op(m, rc, err);   /* a worker that could not write: its error first */
    m->comm.comm_s += now_s() - t0;
    if (rc) { free(all); return rc; }
    *files = all;
    *n_files = n;
    beat_all(m);
    return 0;
}

/* Resume (msg.h, OP_CKPT_LOAD): every worker reads the files the manifest names from the
 * shared run folder. A worker that finds one damaged answers why; that fails this load only
 * (the caller offers an older checkpoint), not the experiment. */
static int m_ckpt_load(fleet *f, const char *dir, const ckpt_file *files, int n, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    double t0 = now_s();
    TR_TRY(send_ckpt(m, OP_CKPT_LOAD, dir, files, n, err));
    char why[TR_ERRMSG_MAX] = "";
    int rc = 0, nbad = 0;
    for (int r = 1; r <= m->W; r++) {
        uint8_t *buf;
        size_t len;
        int rrc = recv_from(m, r, &buf, &len, err);
        if (rrc) { if (!rc) rc = rrc; continue; }
        if (len && !nbad++) snprintf(why, sizeof why, "worker rank %d: %.*s", r, (int)(len > 900 ? 900 : len), (const char *)buf);
        free(buf);
    }
    rc = finish_op(m, rc, err);
    m->comm.comm_s += now_s() - t0;
    if (rc) return rc;
    beat_all(m);
    if (nbad) return TR_FAIL(err, TR_EFORMAT, "%s", why);
    return 0;
}

/* STaR restarts (and a checkpoint from before manifests): every worker gets the same parameters
 * and optimiser state. */
static int m_set_state(fleet *f, const float *params, const optim_state *opt, size_t n, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    const size_t len = msg_state_bytes(n);
    uint8_t *buf = tr_malloc(len, err);
    if (!buf) return TR_ENOMEM;
    msg_state_encode(buf, n, params, opt->m, opt->v, opt->step);
    double t0 = now_s();
    int rc = send_op(m, OP_SET_STATE, (int64_t)len, 0, 0, err);
    if (!rc) rc = comm_bcast_bytes(buf, len, 0, err);
    free(buf);
    if (!rc) rc = finish_op(m, 0, err);
    if (rc) return rc;
    m->comm.bcast_s += now_s() - t0;
    m->comm.bytes_moved += (int64_t)len * m->W;
    return 0;
}

static int m_eval(fleet *f, int maj_k, int *n, int *correct, int *maj_correct, const char *path, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    TR_TRY(send_op(m, OP_EVAL, maj_k, path ? 1 : 0, 0, err));
    int zero[3] = {0, 0, 0}, sum[3] = {0, 0, 0};
    TR_TRY(comm_reduce_idle(zero, sum, 3, MPI_INT, 0, err));
    *n = sum[0];
    *correct = sum[1];
    *maj_correct = sum[2];
    if (!path) {
        TR_TRY(finish_op(m, 0, err));
        beat_all(m);
        return 0;
    }
    afile af;
    int rc = afile_open(&af, path, err);
    int opened = !rc;
    for (int r = 1; r <= m->W; r++) {
        uint8_t *buf;
        size_t len;
        int rrc = recv_from(m, r, &buf, &len, err);  /* always drain every rank */
        if (!rrc && opened && !rc) rc = afile_put(&af, buf, len, err);
        if (rrc && !rc) rc = rrc;
        if (!rrc) free(buf);
    }
    /* the workers' status first: a failed worker's empty lines must not be committed */
    rc = finish_op(m, rc, err);
    if (opened) { if (rc) afile_abort(&af); else rc = afile_commit(&af, err); }
    if (!rc) beat_all(m);
    return rc;
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static int m_star_collect(fleet *f, int iter, int64_t **valid, int *n_valid, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    TR_TRY(send_op(m, OP_STAR, iter, 0, 0, err));
    int64_t *all = NULL;
    size_t total = 0;
    int rc = 0;
    for (int r = 1; r <= m->W; r++) {
        uint8_t *buf;
        size_t len;
        int rrc = recv_from(m, r, &buf, &len, err);
        if (rrc) { if (!rc) rc = rrc; continue; }
        size_t k = len / 8;
        int64_t *na = realloc(all, (total + k + 1) * sizeof *na);
        if (!na) { free(buf); if (!rc) rc = TR_FAIL(err, TR_ENOMEM, "out of memory"); continue; }
        all = na;
        msg_ids_decode(buf, k, all + total);
        total += k;
        free(buf);
    }
    rc = finish_op(m, rc, err);
    if (rc) { free(all); return rc; }
    if (!all) all = malloc(sizeof *all);
    qsort(all, total, sizeof *all, cmp_i64);
    *valid = all;
    *n_valid = (int)total;
    beat_all(m);
    return 0;
}

static int m_memory_gather(fleet *f, uint8_t **out, size_t *out_len, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    TR_TRY(send_op(m, OP_MEM_GATHER, 0, 0, 0, err));
    uint8_t **bufs = tr_calloc((size_t)m->W, sizeof *bufs, err);
    size_t *lens = tr_calloc((size_t)m->W, sizeof *lens, err);
    int rc = (!bufs || !lens) ? TR_ENOMEM : 0;
    for (int r = 1; r <= m->W; r++) {
        int rrc = bufs ? recv_from(m, r, &bufs[r - 1], &lens[r - 1], err) : TR_ENOMEM;
        if (rrc && !rc) rc = rrc;
    }
    rc = finish_op(m, rc, err);
    if (!rc) rc = memory_concat((const uint8_t *const *)bufs, lens, m->W, out, out_len, err);
    for (int r = 0; bufs && r < m->W; r++) free(bufs[r]);
    free(bufs);
    free(lens);
    return rc;
}

static int m_memory_scatter(fleet *f, const uint8_t *buf, size_t len, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    TR_TRY(send_op(m, OP_MEM_SCATTER, (int64_t)len, 0, 0, err));
    TR_TRY(comm_bcast_bytes((void *)buf, len, 0, err));
    m->comm.bytes_moved += (int64_t)len * m->W;
    return finish_op(m, 0, err);
}

static int m_take_counts(fleet *f, fleet_counts *c, tr_error *err) {
    mpi_fleet *m = as_mpi_fleet(f);
    TR_TRY(send_op(m, OP_COUNTS, 0, 0, 0, err));
    engine_counts *s = &c->sides;
    memset(s, 0, sizeof *s);
    for (int r = 1; r <= m->W; r++) {
        uint8_t *buf;
        size_t len;
        TR_TRY(recv_from(m, r, &buf, &len, err));
        engine_counts w;
        tr_error de = {0};
        int rc = msg_counts_decode(buf, len, &w, &de);
        free(buf);
        if (rc) return TR_FAIL(err, TR_EMPI, "worker rank %d: %s", r, de.msg);
        s->tokens_sampled += w.tokens_sampled;
        s->tokens_trained += w.tokens_trained;
        s->sample_digest += w.sample_digest;   /* mod 2^64: independent of the order */
        /* phases run in parallel on the workers: the step waits for the slowest */
        if (w.sample_s > s->sample_s) s->sample_s = w.sample_s;
        if (w.check_s > s->check_s) s->check_s = w.check_s;
        if (w.grad_s > s->grad_s) s->grad_s = w.grad_s;
        if (w.eval_s > s->eval_s) s->eval_s = w.eval_s;
        if (w.update_s > s->update_s) s->update_s = w.update_s;
        /* the data plane: the busiest worker's bytes and the slowest one's times */
        if (w.peer_bytes > s->peer_bytes) s->peer_bytes = w.peer_bytes;
        if (w.peer_s > s->peer_s) s->peer_s = w.peer_s;
        if (w.wait_s > s->wait_s) s->wait_s = w.wait_s;
    }
    TR_TRY(finish_op(m, 0, err));
    c->reduce_s = m->comm.reduce_s;
    c->bcast_s = m->comm.bcast_s;
    c->comm_s = m->comm.comm_s;
    c->bytes_moved = m->comm.bytes_moved;
    memset(&m->comm, 0, sizeof m->comm);
    return 0;
}

static void m_free(fleet *f) {
    mpi_fleet *m = as_mpi_fleet(f);
    tr_error err = {0};
    if (send_op(m, OP_END, 0, 0, 0, &err)) LOG_W("ending the experiment on the workers: %s", err.msg);
    free(m->owner);
    free(m->local);
    free(m->acc);
    free(m);
}

static const fleet_ops mpi_ops = {
    m_memory_init, m_propose, m_step, m_gradient, m_ckpt_save, m_ckpt_load, m_set_state, m_eval, m_star_collect,
    m_memory_gather, m_memory_scatter, m_take_counts, m_free,
};

int fleet_mpi_make(void *vctx, const experiment_spec *spec, fleet **out, tr_error *err) {
    const fleet_mpi_ctx *ctx = vctx;
    mpi_fleet *m = tr_calloc(1, sizeof *m, err);
    if (!m) return TR_ENOMEM;
    m->ctx = *ctx;
    m->spec = *spec;
    m->W = ctx->size - 1;
    m->K = spec->method == METHOD_RS ? spec->particles : 1;
    m->base.ops = &mpi_ops;
    m->base.nsides = m->W;
    char *json = spec_to_json(spec, err);
    if (!json) { free(m); return TR_ENOMEM; }
    int rc = 0;
    for (int r = 1; r <= m->W && !rc; r++) rc = wire_send_command(r, TRICE__COMMAND__KIND__RUN, spec->name, json, "run", err);
    free(json);
    if (rc) { free(m); return rc; }
    /* every worker says "ok" or why it cannot start; collect all before deciding */
    char first[TR_ERRMSG_MAX] = "";
    int failed = 0;
    for (int r = 1; r <= m->W; r++) {
        uint8_t *buf;
        size_t len;
        rc = recv_from(m, r, &buf, &len, err);
        if (rc) { free(m); return rc; }
        if (len != 2 || memcmp(buf, "ok", 2) != 0) {
            if (!failed) snprintf(first, sizeof first, "worker rank %d cannot start the experiment: %.*s", r, (int)(len > 900 ? 900 : len), (const char *)buf);
            failed++;
        }
        free(buf);
    }
    if (failed) {
        tr_error e2 = {0};
        send_op(m, OP_END, 0, 0, 0, &e2);
        free(m);
        return TR_FAIL(err, TR_EINVAL, "%s%s", first, failed > 1 ? " (and others)" : "");
    }
    beat_all(m);
    *out = &m->base;
    return 0;
}
