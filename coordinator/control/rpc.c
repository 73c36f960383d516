#include "coordinator/control/rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/task.h"
#include "common/util/log.h"
#include "rpc.pb-c.h"

typedef Trice__Rpc__Request Req;
typedef Trice__Rpc__Response Resp;
typedef Trice__Rpc__Experiment Exp;
typedef Trice__Rpc__Progress Prog;

static const char *kind_names[STATE_RPC_KINDS] = {"none", "submit", "list", "get", "cancel", "shutdown"};

/* Everything a response points at, freed after packing. */
typedef struct reply {
    Resp r;
    tr_error err;
    Exp *exps;
    Exp **exp_ptrs;
    Prog *progs;
    Prog **prog_ptrs;
    Exp one;
    Prog one_prog;
    Trice__Rpc__Worker *workers;
    Trice__Rpc__Worker **worker_ptrs;
    char id[CONTROL_ID_MAX];
    char msg[TR_ERRMSG_MAX];
} reply;

static int fail(reply *rp, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(reply *rp, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->msg, sizeof rp->msg, fmt, ap);
    va_end(ap);
    rp->r.code = code;
    return code;
}

static int fail_err(reply *rp, const tr_error *e) {
    return fail(rp, e->code ? e->code : TR_EINTERNAL, "%s", e->msg);
}

int rpc_check_name(const char *name, tr_error *err) {
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return TR_FAIL(err, TR_EINVAL, "field 'name': control character 0x%02x at position %d; names are printed in logs "
                           "and terminals, so only printable characters are allowed", *p, (int)(p - (const unsigned char *)name));
    return 0;
}

static int check_token(state_core *c, reply *rp, const Req *q) {
    size_t n = strlen(q->token);
    if (n == 0)
        return fail(rp, TR_EAUTH, "this call needs the daemon's token: pass --token-file (the file the daemon created with mode 0600)");
    if (n > TOKEN_MAX) return fail(rp, TR_EAUTH, "token is %zu characters; at most %d", n, TOKEN_MAX);
    if (!token_equal(c->token, q->token, n)) return fail(rp, TR_EAUTH, "token does not match the daemon's token file");
    return 0;
}

static int check_id(reply *rp, const Req *q) {
    size_t n = strlen(q->id);
    if (n == 0) return fail(rp, TR_EINVAL, "field 'id' is required (see 'trice list')");
    if (n >= CONTROL_ID_MAX) return fail(rp, TR_EINVAL, "field 'id': %zu characters; ids are shorter than %d", n, CONTROL_ID_MAX);
    return 0;
}

/* A posted step as protobuf. latest: the experiment's latest step, every field, with its
 * ETA when running (a finished or cancelled run has none). Otherwise a point of the recent
 * list: the fields charts plot, held-out accuracy only where measured. Strings point into
 * the snapshot: pack before st.mu is released. */
static void fill_progress(Prog *p, const state_sample *smp, int latest, int running) {
    trice__rpc__progress__init(p);
    const control_progress *g = &smp->p;
    p->step = g->step;
    p->proposal_acc = g->proposal_acc;
    p->memory_acc = g->memory_acc;
    p->beta = g->beta;
    p->loss = g->loss;
    p->updated_at = smp->at;
    if (!latest) {
        p->eval_acc = control_progress_eval_here(g);
        return;
    }
    p->total_steps = g->total_steps;
    p->eval_acc = g->eval_acc;
    p->tokens = g->tokens;
    p->step_seconds = control_progress_step_seconds(g);
    p->eta_seconds = running ? g->eta_s : NAN;
    p->stage = (char *)g->stage;
    p->stage_index = g->stage_index;
    p->stage_count = g->stage_count;
    p->eval_step = g->eval_step;
}

static void fill_exp(Exp *x, Prog *p, const state_snapshot *s, const state_exp *e, int with_spec) {
    trice__rpc__experiment__init(x);
    x->id = (char *)e->id;
    x->name = (char *)e->name;
    x->state = (char *)exp_state_name(e->state);
    x->created_at = e->created_at;
    x->started_at = e->started_at;
    x->finished_at = e->finished_at;
    x->out_dir = (char *)e->out_dir;
    if (e->result_json) x->result_json = e->result_json;
    if (e->error) x->error = e->error;
    if (with_spec && e->spec_json) x->spec_json = e->spec_json;
    x->resume = e->resume;
    x->queue_position = state_queue_position(s, e);
    x->cancel_requested = e->cancel_requested;
    if (e->has_progress) {
        fill_progress(p, &e->progress, 1, e->state == EXP_RUNNING);
        x->progress = p;
    }
}

static int do_submit(state_core *c, reply *rp, const Req *q) {
    TR_TRY(check_token(c, rp, q));
    size_t n = strlen(q->spec_json);
    if (n == 0) return fail(rp, TR_EINVAL, "field 'spec_json' is empty: send the experiment spec as JSON text");
    if (n > RPC_MAX_SPEC) return fail(rp, TR_EINVAL, "spec is %zu bytes; the limit is %u", n, RPC_MAX_SPEC);
    char source[RPC_MAX_SOURCE + 1];
    if (strlen(q->source) > RPC_MAX_SOURCE) return fail(rp, TR_EINVAL, "field 'source' is longer than %d characters", RPC_MAX_SOURCE);
    snprintf(source, sizeof source, "%s", q->source[0] ? q->source : "spec");
    experiment_spec *s = malloc(sizeof *s);
    if (!s) return fail(rp, TR_ENOMEM, "out of memory");
    tr_error e = {0};
    int rc = spec_parse_json(q->spec_json, source, s, &e);
    if (!rc) rc = rpc_check_name(s->name, &e);
    if (!rc) rc = paths_confine_inputs(&c->roots, s, &e);
    if (!rc) rc = task_check_stage_rule(s, &e);
    if (rc) { free(s); return fail_err(rp, &e); }
    reg_row row;
    memset(&row, 0, sizeof row);
    unsigned char rnd[2];
    if ((rc = token_random_bytes(rnd, sizeof rnd, &e))) { free(s); return fail_err(rp, &e); }
    /* seq is re-read inside the insert; the id only needs to be unique, and the random
     * suffix keeps it unique even if the registry file is deleted and numbering restarts. */
    snprintf(row.id, sizeof row.id, "exp-%06lld-%02x%02x", (long long)(registry_max_seq(c->reg) + 1), rnd[0], rnd[1]);
    snprintf(row.name, sizeof row.name, "%s", s->name);
    /* a new folder under the runs root, and no other experiment's (queued ones have none yet) */
    rc = paths_new_out_dir(&c->roots, s->out_dir, row.id, row.out_dir, sizeof row.out_dir, &e);
    pthread_mutex_lock(&c->st.mu);
    for (int i = 0; i < c->st.nexps && !rc; i++)
        if (strcmp(c->st.exps[i].out_dir, row.out_dir) == 0)
            rc = TR_FAIL(&e, TR_EINVAL, "field 'out_dir': folder '%s' is already experiment %s's; every experiment needs its own",
                         s->out_dir, c->st.exps[i].id);
    pthread_mutex_unlock(&c->st.mu);
    if (rc) { free(s); return fail_err(rp, &e); }
    snprintf(s->out_dir, sizeof s->out_dir, "%s", row.out_dir);
    row.spec_json = spec_to_json(s, &e);
    free(s);
    if (!row.spec_json) return fail_err(rp, &e);
    row.state = EXP_QUEUED;
    row.created_at = state_now();
    if ((rc = registry_insert(c->reg, &row, &e))) { reg_row_free(&row); return fail_err(rp, &e); }
    pthread_mutex_lock(&c->st.mu);
    rc = state_add(&c->st, &row, &e);
    if (!rc) c->st.submitted_total++;
    pthread_mutex_unlock(&c->st.mu);
    reg_row_free(&row);
    if (rc) return fail_err(rp, &e);
    snprintf(rp->id, sizeof rp->id, "%s", row.id);
    rp->r.id = rp->id;
    LOG_I("queued experiment %s ('%s')", row.id, row.name);
    return 0;
}

static int do_list(state_core *c, reply *rp, const Req *q) {
    if (c->reads_need_token) TR_TRY(check_token(c, rp, q));
    if (q->limit < 0 || q->limit > RPC_LIST_MAX) return fail(rp, TR_EINVAL, "field 'limit': %d; allowed 0 (default %d) to %d", q->limit, RPC_LIST_DEFAULT, RPC_LIST_MAX);
    int limit = q->limit ? q->limit : RPC_LIST_DEFAULT;
    state_snapshot *s = &c->st;
    if (s->nworkers > 0) {   /* where they compute: `trice status` shows it */
        rp->workers = calloc((size_t)s->nworkers, sizeof *rp->workers);
        rp->worker_ptrs = calloc((size_t)s->nworkers, sizeof *rp->worker_ptrs);
        if (!rp->workers || !rp->worker_ptrs) return fail(rp, TR_ENOMEM, "out of memory listing %d workers", s->nworkers);
        double now = state_now();
        for (int i = 0; i < s->nworkers; i++) {
            Trice__Rpc__Worker *w = &rp->workers[i];
            trice__rpc__worker__init(w);
            w->rank = s->workers[i].rank;
            w->host = s->workers[i].host;
            w->backend = s->workers[i].backend;
            w->alive = now - s->last_heartbeat[i] <= s->heartbeat_timeout_s;
            rp->worker_ptrs[i] = w;
        }
        rp->r.n_workers = (size_t)s->nworkers;
        rp->r.workers = rp->worker_ptrs;
    }
    int n = s->nexps < limit ? s->nexps : limit, first = s->nexps - n;
    if (n == 0) return 0;
    rp->exps = calloc((size_t)n, sizeof *rp->exps);
    rp->exp_ptrs = calloc((size_t)n, sizeof *rp->exp_ptrs);
    rp->progs = calloc((size_t)n, sizeof *rp->progs);
    if (!rp->exps || !rp->exp_ptrs || !rp->progs) return fail(rp, TR_ENOMEM, "out of memory listing %d experiments", n);
    for (int i = 0; i < n; i++) {
        fill_exp(&rp->exps[i], &rp->progs[i], s, &s->exps[first + i], 0);
        rp->exp_ptrs[i] = &rp->exps[i];
    }
    rp->r.n_experiments = (size_t)n;
    rp->r.experiments = rp->exp_ptrs;
    return 0;
}

static int do_get(state_core *c, reply *rp, const Req *q) {
    if (c->reads_need_token) TR_TRY(check_token(c, rp, q));
    TR_TRY(check_id(rp, q));
    state_snapshot *s = &c->st;
    state_exp *e = state_find(s, q->id);
    if (!e) return fail(rp, TR_ENOTFOUND, "no experiment with id '%s' (see 'trice list')", q->id);
    fill_exp(&rp->one, &rp->one_prog, s, e, 1);
    rp->r.experiment = &rp->one;
    if (strcmp(s->ring_id, e->id) == 0 && s->ring_n > 0) {
        int n = s->ring_n;
        rp->progs = calloc((size_t)n, sizeof *rp->progs);
        rp->prog_ptrs = calloc((size_t)n, sizeof *rp->prog_ptrs);
        if (!rp->progs || !rp->prog_ptrs) return fail(rp, TR_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            fill_progress(&rp->progs[i], state_ring_at(s, i), 0, 0);
            rp->prog_ptrs[i] = &rp->progs[i];
        }
        rp->r.n_recent = (size_t)n;
        rp->r.recent = rp->prog_ptrs;
    }
    return 0;
}

/* Acknowledged means durable: the reply says ok only after the registry has the change. */
static int do_cancel(state_core *c, reply *rp, const Req *q) {
    TR_TRY(check_token(c, rp, q));
    TR_TRY(check_id(rp, q));
    state_apply_ops(c);   /* earlier writes first, in order */
    state_snapshot *s = &c->st;
    pthread_mutex_lock(&s->mu);
    state_exp *e = state_find(s, q->id);
    int rc = 0, was_queued = 0;
    char id[CONTROL_ID_MAX] = "";
    double started = 0, finished = state_now();
    if (!e) rc = fail(rp, TR_ENOTFOUND, "no experiment with id '%s' (see 'trice list')", q->id);
    else if (exp_state_final(e->state))
        rc = fail(rp, TR_ESTATE, "experiment '%s' has already %s; nothing to cancel", e->id,
                  e->state == EXP_SUCCEEDED ? "succeeded" : e->state == EXP_FAILED ? "failed" : "been cancelled");
    else {
        snprintf(id, sizeof id, "%s", e->id);
        was_queued = e->state == EXP_QUEUED;
        started = e->started_at;
        /* held as cancelled while the registry is written, so that the training loop cannot claim it */
        if (was_queued) e->state = EXP_CANCELLED;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) return rc;
    static const char *why = "cancelled by the user before it started";
    tr_error we = {0};
    int wrc = was_queued ? registry_update(c->reg, id, EXP_CANCELLED, started, finished, NULL, why, 0, &we)
                         : registry_set_cancel_requested(c->reg, id, &we);
    pthread_mutex_lock(&s->mu);
    e = state_find(s, id);
    if (wrc) {
        if (e && was_queued) e->state = EXP_QUEUED;
        rc = fail(rp, TR_EIO, "the cancel of '%s' was not recorded (nothing changed; try again): %s", id, we.msg);
    } else if (e && was_queued) {
        e->finished_at = finished;
        free(e->error);
        e->error = strdup(why);
        s->finished_total[EXP_CANCELLED]++;
    } else if (e) {
        e->cancel_requested = 1;   /* the training loop stops at its next step and checkpoints */
    }
    pthread_mutex_unlock(&s->mu);
    if (!rc) LOG_I("cancel requested for %s", id);
    return rc;
}

static int do_shutdown(state_core *c, reply *rp, const Req *q) {
    TR_TRY(check_token(c, rp, q));
    pthread_mutex_lock(&c->st.mu);
    c->st.shutdown = 1;
    pthread_mutex_unlock(&c->st.mu);
    LOG_I("shutdown requested over RPC");
    return 0;
}

static int dispatch(state_core *c, reply *rp, const uint8_t *buf, size_t len, int *locked) {
    *locked = 0;
    if (len > RPC_MAX_REQUEST) return fail(rp, TR_EINVAL, "request is %zu bytes; the limit is %u", len, RPC_MAX_REQUEST);
    Req *q = trice__rpc__request__unpack(NULL, len, buf);
    if (!q) return fail(rp, TR_EFORMAT, "malformed request: %zu bytes that are not a trice.rpc.Request protobuf message", len);
    int rc = 0, kind = (int)q->kind;
    pthread_mutex_lock(&c->st.mu);
    c->st.rpc_requests[(unsigned)kind < STATE_RPC_KINDS ? kind : 0]++;
    pthread_mutex_unlock(&c->st.mu);
    if (q->protocol != 0 && q->protocol != RPC_PROTOCOL_VERSION) {
        rc = fail(rp, TR_EINVAL, "protocol version %d; this daemon speaks %d (update the client)", q->protocol, RPC_PROTOCOL_VERSION);
    } else {
        switch (q->kind) {
        case TRICE__RPC__REQUEST__KIND__SUBMIT: rc = do_submit(c, rp, q); break;
        case TRICE__RPC__REQUEST__KIND__CANCEL: rc = do_cancel(c, rp, q); break;
        case TRICE__RPC__REQUEST__KIND__SHUTDOWN: rc = do_shutdown(c, rp, q); break;
        case TRICE__RPC__REQUEST__KIND__LIST:
        case TRICE__RPC__REQUEST__KIND__GET:
            /* Reads copy pointers into the snapshot: keep the lock until the reply is packed. */
            pthread_mutex_lock(&c->st.mu);
            *locked = 1;   /* rpc_handle unlocks after packing */
            rc = q->kind == TRICE__RPC__REQUEST__KIND__LIST ? do_list(c, rp, q) : do_get(c, rp, q);
            break;
        default:
            rc = fail(rp, TR_EINVAL, "unknown request kind %d (allowed: 1 submit, 2 list, 3 get, 4 cancel, 5 shutdown)", kind);
        }
    }
    /* The reply may point into q only for ids, which it copies; free q now. */
    trice__rpc__request__free_unpacked(q, NULL);
    return rc;
}

int rpc_handle(state_core *c, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len) {
    reply *rp = calloc(1, sizeof *rp);
    if (!rp) return TR_ENOMEM;
    trice__rpc__response__init(&rp->r);
    int locked = 0;
    (void)dispatch(c, rp, req, len, &locked);
    if (rp->r.code) {
        rp->r.error = rp->msg;
        rp->r.code_name = (char *)tr_code_name(rp->r.code);
    }
    size_t n = trice__rpc__response__get_packed_size(&rp->r);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) trice__rpc__response__pack(&rp->r, buf);
    if (locked) pthread_mutex_unlock(&c->st.mu);
    if (rp->r.code) {
        pthread_mutex_lock(&c->st.mu);
        c->st.rpc_errors++;
        pthread_mutex_unlock(&c->st.mu);
        LOG_D("rpc error reply: %s", rp->msg);
    }
    free(rp->exps);
    free(rp->exp_ptrs);
    free(rp->workers);
    free(rp->worker_ptrs);
    free(rp->progs);
    free(rp->prog_ptrs);
    free(rp);
    if (!buf) return TR_ENOMEM;
    *out = buf;
    *out_len = n;
    return 0;
}

const char *rpc_kind_name(int kind) { return (unsigned)kind < STATE_RPC_KINDS ? kind_names[kind] : "unknown"; }
