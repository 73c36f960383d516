#include "coordinator/control/state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util/log.h"
#include "common/util/path.h"

double state_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int state_core_init(state_core *c, const char *db_path, const char *token, const char *exp_root, int max_crashes, tr_error *err) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->st.mu, NULL);
    pthread_cond_init(&c->st.ops_cv, NULL);
    c->st.started_at = state_now();
    c->st.heartbeat_timeout_s = 30;
    snprintf(c->token, sizeof c->token, "%s", token ? token : "");
    int rc = path_fmt(c->exp_root, sizeof c->exp_root, err, "%s", exp_root ? exp_root : "runs");
    if (!rc) rc = paths_roots_init(&c->roots, c->exp_root, NULL, 0, err);
    if (!rc) rc = registry_open(db_path, &c->reg, err);
    int nres = 0, nfailed = 0;
    if (!rc) rc = registry_recover(c->reg, max_crashes > 0 ? max_crashes : REGISTRY_MAX_CRASHES, &nres, &nfailed, err);
    reg_row *rows = NULL;
    int n = 0;
    if (!rc) rc = registry_load_all(c->reg, &rows, &n, err);
    for (int i = 0; i < n; i++) {
        if (!rc) rc = state_add(&c->st, &rows[i], err);
        reg_row_free(&rows[i]);
    }
    free(rows);
    if (rc) { state_core_free(c); return rc; }
    if (nfailed)
        LOG_W("registry %s: %d experiment(s) were running at %d crashes of the daemon; marked failed so that the queue moves on",
              db_path, nfailed, max_crashes > 0 ? max_crashes : REGISTRY_MAX_CRASHES);
    if (nres) LOG_I("registry %s: %d experiment(s) were running when the daemon stopped; they resume first", db_path, nres);
    return 0;
}

static void op_free(state_op *o) {
    free(o->result_json);
    free(o->error);
    free(o);
}

void state_core_free(state_core *c) {
    state_snapshot *s = &c->st;
    for (int i = 0; i < s->nexps; i++) {
        free(s->exps[i].spec_json);
        free(s->exps[i].result_json);
        free(s->exps[i].error);
    }
    free(s->exps);
    free(s->workers);
    free(s->last_heartbeat);
    for (state_op *o = s->ops_head, *nx; o; o = nx) { nx = o->next; op_free(o); }
    registry_close(c->reg);
    pthread_cond_destroy(&s->ops_cv);
    pthread_mutex_destroy(&s->mu);
    memset(c, 0, sizeof *c);
}

state_exp *state_find(state_snapshot *s, const char *id) {
    for (int i = 0; i < s->nexps; i++)
        if (strcmp(s->exps[i].id, id) == 0) return &s->exps[i];
    return NULL;
}

int state_add(state_snapshot *s, reg_row *row, tr_error *err) {
    if (s->nexps == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        state_exp *v = tr_realloc(s->exps, (size_t)cap * sizeof *v, err);
        if (!v) return TR_ENOMEM;
        s->exps = v;
        s->cap = cap;
    }
    state_exp *e = &s->exps[s->nexps];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", row->id);
    snprintf(e->name, sizeof e->name, "%s", row->name);
    snprintf(e->out_dir, sizeof e->out_dir, "%s", row->out_dir);
    e->spec_json = row->spec_json;
    e->result_json = row->result_json;
    e->error = row->error;
    row->spec_json = row->result_json = row->error = NULL;
    e->state = row->state;
    e->created_at = row->created_at;
    e->started_at = row->started_at;
    e->finished_at = row->finished_at;
    e->resume = row->resume;
    e->seq = row->seq;
    e->crashes = row->crashes;
    /* Recovery moves rows to the front of the queue: keep the array in seq order. */
    int i = s->nexps;
    while (i > 0 && s->exps[i - 1].seq > e->seq) i--;
    if (i != s->nexps) {
        state_exp tmp = *e;
        memmove(&s->exps[i + 1], &s->exps[i], (size_t)(s->nexps - i) * sizeof *e);
        s->exps[i] = tmp;
    }
    s->nexps++;
    return 0;
}

int state_queue_position(const state_snapshot *s, const state_exp *e) {
    if (e->state != EXP_QUEUED) return 0;
    int pos = 0;
    for (int i = 0; i < s->nexps; i++) {
        if (s->exps[i].state == EXP_QUEUED) pos++;
        if (&s->exps[i] == e) return pos;
    }
    return 0;
}

state_exp *state_running(state_snapshot *s) {
    for (int i = 0; i < s->nexps; i++)
        if (s->exps[i].state == EXP_RUNNING) return &s->exps[i];
    return NULL;
}

int state_workers_alive(const state_snapshot *s, double now) {
    int n = 0;
    for (int i = 0; i < s->nworkers; i++)
        if (now - s->last_heartbeat[i] <= s->heartbeat_timeout_s) n++;
    return n;
}

void state_silent_ranks(const state_snapshot *s, double now, char *out, size_t cap) {
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < s->nworkers && k + 16 < cap; i++)
        if (now - s->last_heartbeat[i] > s->heartbeat_timeout_s)
            k += (size_t)snprintf(out + k, cap - k, "%s%d", k ? ", rank " : "silent: rank ", s->workers[i].rank);
}

const state_sample *state_ring_at(const state_snapshot *s, int i) {
    return &s->ring[(s->ring_head - s->ring_n + i + STATE_RING) % STATE_RING];
}

uint64_t state_push_op(state_snapshot *s, const char *id, exp_state state, double started_at, double finished_at,
                     const char *result_json, const char *error, int resume) {
    state_op *o = calloc(1, sizeof *o);
    if (!o) { LOG_E("out of memory queueing a registry write for %s; it is lost until the next state change", id); return 0; }
    snprintf(o->id, sizeof o->id, "%s", id);
    o->state = state;
    o->started_at = started_at;
    o->finished_at = finished_at;
    o->result_json = result_json ? strdup(result_json) : NULL;
    o->error = error ? strdup(error) : NULL;
    o->resume = resume;
    o->seq = ++s->ops_seq;
    if (s->ops_tail) s->ops_tail->next = o; else s->ops_head = o;
    s->ops_tail = o;
    return o->seq;
}

state_op *state_take_ops(state_snapshot *s) {
    state_op *o = s->ops_head;
    s->ops_head = s->ops_tail = NULL;
    return o;
}

int state_apply_ops(state_core *c) {
    pthread_mutex_lock(&c->st.mu);
    state_op *o = state_take_ops(&c->st);
    pthread_mutex_unlock(&c->st.mu);
    int rc = 0;
    while (o) {
        state_op *nx = o->next;
        tr_error err = {0};
        rc = registry_update(c->reg, o->id, o->state, o->started_at, o->finished_at, o->result_json, o->error, o->resume, &err);
        if (rc == TR_ENOTFOUND) {
            LOG_E("registry write for %s (state %s) has no row to change: %s", o->id, exp_state_name(o->state), err.msg);
            rc = 0;   /* retrying cannot help */
        }
        if (rc) {
            /* Not dropped: the rest goes back in front of the queue, in order, and the next
             * wake-up or tick (1 s) retries. The registry waits REGISTRY_BUSY_MS for a lock
             * on each try, so a busy file delays the write but does not lose it. */
            if (!o->warned) LOG_W("registry write for %s (state %s) failed, retrying: %s", o->id, exp_state_name(o->state), err.msg);
            o->warned = 1;
            pthread_mutex_lock(&c->st.mu);
            state_op *last = o;
            while (last->next) last = last->next;
            last->next = c->st.ops_head;
            if (!c->st.ops_head) c->st.ops_tail = last;
            c->st.ops_head = o;
            pthread_mutex_unlock(&c->st.mu);
            return rc;
        }
        if (o->warned) LOG_I("registry write for %s (state %s) done after retrying", o->id, exp_state_name(o->state));
        pthread_mutex_lock(&c->st.mu);
        c->st.ops_done = o->seq;
        pthread_cond_broadcast(&c->st.ops_cv);
        pthread_mutex_unlock(&c->st.mu);
        op_free(o);
        o = nx;
    }
    return 0;
}

int state_wait_ops(state_snapshot *s, uint64_t seq, double timeout_s) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += (time_t)timeout_s;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (s->ops_done < seq && rc == 0) rc = pthread_cond_timedwait(&s->ops_cv, &s->mu, &dl);
    int done = s->ops_done >= seq;
    pthread_mutex_unlock(&s->mu);
    return done;
}
