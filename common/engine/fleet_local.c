/* fleet_local.c - the fleet of one: an in-process engine_side that owns every example.
 *
 * Each op goes through dispatch_op and its reply is read with msg.h's decoders, exactly as
 * the MPI fleet reads a worker's: the in-process run is the protocol with W = 1 and no
 * transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/dispatch.h"
#include "common/engine/fleet.h"
#include "common/util/log.h"

typedef struct local_fleet {
    fleet base;
    engine_side *side;
} local_fleet;

static engine_side *side_of(fleet *f) { return ((local_fleet *)f)->side; }

engine_side *fleet_local_side(fleet *f) { return side_of(f); }

/* One op on the side; on failure the reply is freed. */
static int serve(fleet *f, int64_t op, int64_t a, int64_t b, const void *in, size_t in_len, dispatch_reply *r, tr_error *err) {
    dispatch_req q = {.h = {op, a, b, 0}, .in = in, .in_len = in_len, .index = 0, .nworkers = 1};
    int rc = dispatch_op(side_of(f), &q, 0, r, err);
    if (rc) dispatch_reply_free(r);
    return rc;
}

static int l_memory_init(fleet *f, int *n_valid, tr_error *err) {
    dispatch_reply r;
    TR_TRY(serve(f, OP_MEMORY_INIT, 0, 0, NULL, 0, &r, err));
    *n_valid = (int)r.val[0];
    dispatch_reply_free(&r);
    return 0;
}

static int l_propose(fleet *f, int64_t step, const int64_t *ids, int M, uint8_t *a, uint8_t *mask, uint8_t *correct, tr_error *err) {
    dispatch_reply r;
    TR_TRY(serve(f, OP_PROPOSE, step, M, ids, 0, &r, err));
    const int K = engine_side_particles(side_of(f));
    const size_t rec = msg_propose_bytes(K);
    int rc = r.len == (size_t)M * rec ? 0 : TR_FAIL(err, TR_EINTERNAL, "%zu bytes of proposal results for %d examples", r.len, M);
    for (int i = 0; i < M && !rc; i++) {
        int32_t pos;
        uint8_t pa, pm;
        msg_propose_decode(r.bytes + (size_t)i * rec, K, &pos, &pa, &pm, NULL);
        if (pos < 0 || pos >= M) { rc = TR_FAIL(err, TR_EINTERNAL, "proposal result for position %d of %d", pos, M); break; }
        a[pos] = pa;
        mask[pos] = pm;
        if (correct) msg_propose_decode(r.bytes + (size_t)i * rec, K, &pos, &pa, &pm, correct + (size_t)pos * (size_t)K);
    }
    dispatch_reply_free(&r);
    return rc;
}

static int l_gradient(fleet *f, const est_coef *coefs, int n, float *grads, size_t n_grads, double *loss, tr_error *err) {
    uint8_t *terms = tr_malloc((size_t)(n ? n : 1) * MSG_TERM_BYTES, err);
    if (!terms) return TR_ENOMEM;
    for (int i = 0; i < n; i++) msg_term_encode(&coefs[i], terms + (size_t)i * MSG_TERM_BYTES);
    dispatch_reply r;
    int G = engine_group_terms(engine_side_spec(side_of(f)));
    int rc = serve(f, OP_GRADIENT, n, G, terms, (size_t)n * MSG_TERM_BYTES, &r, err);
    free(terms);
    if (rc) return rc;
    if (r.n_grad != n_grads) rc = TR_FAIL(err, TR_EINTERNAL, "gradient of %zu floats asked, side has %zu", n_grads, r.n_grad);
    if (!rc) fixsum_to_floats(r.grad, grads, n_grads);
    *loss = 0;
    for (int g = 0; g < r.n_groups; g++) *loss += r.group_loss[g];   /* in group order, as fleet_mpi.c */
    dispatch_reply_free(&r);
    return rc;
}

static int l_step(fleet *f, const est_coef *coefs, int n, float lr, double *loss, double *norm, tr_error *err) {
    uint8_t *terms = tr_malloc((size_t)(n ? n : 1) * MSG_TERM_BYTES, err);
    if (!terms) return TR_ENOMEM;
    for (int i = 0; i < n; i++) msg_term_encode(&coefs[i], terms + (size_t)i * MSG_TERM_BYTES);
    dispatch_reply r;
    int G = engine_group_terms(engine_side_spec(side_of(f)));
    dispatch_req q = {.h = {OP_STEP, n, G, msg_lr_encode(lr)}, .in = terms, .in_len = (size_t)n * MSG_TERM_BYTES, .nworkers = 1};
    int rc = dispatch_op(side_of(f), &q, 0, &r, err);
    free(terms);
    *loss = 0;
    for (int g = 0; !rc && g < r.n_groups; g++) *loss += r.group_loss[g];   /* in group order, as fleet_mpi.c */
    *norm = r.norm;
    dispatch_reply_free(&r);
    return rc;
}

/* The payload both checkpoint ops carry (msg.h), as the MPI fleet broadcasts it. */
static uint8_t *ckpt_payload(const char *dir, const ckpt_file *files, int n, size_t *len, tr_error *err) {
    *len = msg_ckpt_bytes(strlen(dir), n);
    uint8_t *buf = tr_malloc(*len, err);
    if (buf) msg_ckpt_encode(buf, dir, files, n);
    return buf;
}

static int l_ckpt_save(fleet *f, const char *dir, ckpt_file **files, int *n_files, tr_error *err) {
    size_t len;
    uint8_t *in = ckpt_payload(dir, NULL, 0, &len, err);
    if (!in) return TR_ENOMEM;
    dispatch_reply r;
    int rc = serve(f, OP_CKPT_SAVE, (int64_t)len, 0, in, len, &r, err);
    free(in);
    if (rc) return rc;
    const int n = (int)(r.len / MSG_FILE_BYTES);
    *files = tr_malloc((size_t)(n ? n : 1) * sizeof **files, err);
    rc = *files ? 0 : TR_ENOMEM;
    for (int i = 0; !rc && i < n; i++) rc = msg_file_decode(r.bytes + (size_t)i * MSG_FILE_BYTES, &(*files)[i], err);
    *n_files = n;
    dispatch_reply_free(&r);
    if (rc) { free(*files); *files = NULL; }
    return rc;
}

static int l_ckpt_load(fleet *f, const char *dir, const ckpt_file *files, int n, tr_error *err) {
    size_t len;
    uint8_t *in = ckpt_payload(dir, files, n, &len, err);
    if (!in) return TR_ENOMEM;
    dispatch_reply r;
    int rc = serve(f, OP_CKPT_LOAD, (int64_t)len, 0, in, len, &r, err);
    free(in);
    if (rc) return rc;
    if (r.len) rc = TR_FAIL(err, TR_EFORMAT, "%.*s", (int)r.len, (const char *)r.bytes);
    dispatch_reply_free(&r);
    return rc;
}

static int l_set_state(fleet *f, const float *params, const optim_state *opt, size_t n, tr_error *err) {
    const size_t len = msg_state_bytes(n);
    uint8_t *buf = tr_malloc(len, err);
    if (!buf) return TR_ENOMEM;
    msg_state_encode(buf, n, params, opt->m, opt->v, opt->step);
    dispatch_reply r;
    int rc = serve(f, OP_SET_STATE, (int64_t)len, 0, buf, len, &r, err);
    free(buf);
    if (!rc) dispatch_reply_free(&r);
    return rc;
}

static int l_eval(fleet *f, int maj_k, int *n, int *correct, int *maj_correct, const char *per_example_path, tr_error *err) {
    dispatch_reply r;
    TR_TRY(serve(f, OP_EVAL, maj_k, per_example_path != NULL, NULL, 0, &r, err));
    *n = (int)r.val[0];
    *correct = (int)r.val[1];
    *maj_correct = (int)r.val[2];
    FILE *pf = NULL;
    int rc = per_example_path ? tr_fopen(&pf, per_example_path, "w", err) : 0;
    if (pf && r.len && fwrite(r.bytes, 1, r.len, pf) != r.len)
        rc = TR_FAIL(err, TR_EIO, "cannot write %s (disk full?)", per_example_path);
    if (pf && fclose(pf) && !rc) rc = TR_FAIL(err, TR_EIO, "cannot write %s (disk full?)", per_example_path);
    dispatch_reply_free(&r);
    return rc;
}

static int l_star_collect(fleet *f, int iter, int64_t **valid_ids, int *n_valid, tr_error *err) {
    dispatch_reply r;
    TR_TRY(serve(f, OP_STAR, iter, 0, NULL, 0, &r, err));
    size_t k = r.len / 8;
    *valid_ids = tr_malloc((k ? k : 1) * sizeof **valid_ids, err);
    if (*valid_ids) msg_ids_decode(r.bytes, k, *valid_ids);
    *n_valid = (int)k;
    dispatch_reply_free(&r);
    return *valid_ids ? 0 : TR_ENOMEM;
}

static int l_memory_gather(fleet *f, uint8_t **buf, size_t *len, tr_error *err) {
    dispatch_reply r;
    TR_TRY(serve(f, OP_MEM_GATHER, 0, 0, NULL, 0, &r, err));
    *buf = r.bytes;   /* handed over */
    *len = r.len;
    return 0;
}

static int l_memory_scatter(fleet *f, const uint8_t *buf, size_t len, tr_error *err) {
    dispatch_reply r;
    TR_TRY(serve(f, OP_MEM_SCATTER, (int64_t)len, 0, buf, len, &r, err));
    dispatch_reply_free(&r);
    return 0;
}

static int l_take_counts(fleet *f, fleet_counts *c, tr_error *err) {
    dispatch_reply r;
    TR_TRY(serve(f, OP_COUNTS, 0, 0, NULL, 0, &r, err));
    memset(c, 0, sizeof *c);   /* no transport: no traffic */
    int rc = msg_counts_decode(r.bytes, r.len, &c->sides, err);
    dispatch_reply_free(&r);
    return rc;
}

static void l_free(fleet *f) {
    engine_side_free(side_of(f));
    free(f);
}

static const fleet_ops local_ops = {
    l_memory_init, l_propose, l_step, l_gradient, l_ckpt_save, l_ckpt_load, l_set_state, l_eval, l_star_collect,
    l_memory_gather, l_memory_scatter, l_take_counts, l_free,
};

int fleet_local(const experiment_spec *spec, fleet **out, tr_error *err) {
    local_fleet *lf = tr_calloc(1, sizeof *lf, err);
    if (!lf) return TR_ENOMEM;
    int rc = engine_side_init(&lf->side, spec, 0, 1, err);
    if (rc) { free(lf); return rc; }
    LOG_I("computing on %s", engine_side_device(lf->side));
    lf->base.ops = &local_ops;
    lf->base.nsides = 1;
    *out = &lf->base;
    return 0;
}
