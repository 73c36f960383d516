#include "coordinator/control/state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util/log.h"

double ctl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int ctl_core_init(ctl_core *c, const char *db_path, const char *token, const char *exp_root, tr_error *err) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->st.mu, NULL);
    c->st.started_at = ctl_now();
    c->st.heartbeat_timeout_s = 30;
    snprintf(c->token, sizeof c->token, "%s", token ? token : "");
    snprintf(c->exp_root, sizeof c->exp_root, "%s", exp_root ? exp_root : "runs");
    int rc = registry_open(db_path, &c->reg, err);
    int nres = 0;
    if (!rc) rc = registry_recover(c->reg, &nres, err);
    reg_row *rows = NULL;
    int n = 0;
    if (!rc) rc = registry_load_all(c->reg, &rows, &n, err);
    for (int i = 0; i < n; i++) {
        if (!rc) rc = ctl_add(&c->st, &rows[i], err);
        reg_row_free(&rows[i]);
    }
    free(rows);
    if (rc) { ctl_core_free(c); return rc; }
    if (nres) LOG_I("registry %s: %d experiment(s) were running when the daemon stopped; they resume first", db_path, nres);
    return 0;
}

static void op_free(ctl_op *o) {
    free(o->result_json);
    free(o->error);
    free(o);
}

void ctl_core_free(ctl_core *c) {
    ctl_state *s = &c->st;
    for (int i = 0; i < s->nexps; i++) {
        free(s->exps[i].spec_json);
        free(s->exps[i].result_json);
        free(s->exps[i].error);
    }
    free(s->exps);
    free(s->workers);
    free(s->last_heartbeat);
    for (ctl_op *o = s->ops_head, *nx; o; o = nx) { nx = o->next; op_free(o); }
    registry_close(c->reg);
    pthread_mutex_destroy(&s->mu);
    memset(c, 0, sizeof *c);
}

ctl_exp *ctl_find(ctl_state *s, const char *id) {
    for (int i = 0; i < s->nexps; i++)
        if (strcmp(s->exps[i].id, id) == 0) return &s->exps[i];
    return NULL;
}

int ctl_add(ctl_state *s, reg_row *row, tr_error *err) {
    if (s->nexps == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        ctl_exp *v = tr_realloc(s->exps, (size_t)cap * sizeof *v, err);
        if (!v) return TR_ENOMEM;
        s->exps = v;
        s->cap = cap;
    }
    ctl_exp *e = &s->exps[s->nexps];
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
    /* Recovery moves rows to the front of the queue: keep the array in seq order. */
    int i = s->nexps;
    while (i > 0 && s->exps[i - 1].seq > e->seq) i--;
    if (i != s->nexps) {
        ctl_exp tmp = *e;
        memmove(&s->exps[i + 1], &s->exps[i], (size_t)(s->nexps - i) * sizeof *e);
        s->exps[i] = tmp;
    }
    s->nexps++;
    return 0;
}

int ctl_queue_position(const ctl_state *s, const ctl_exp *e) {
    if (e->state != EXP_QUEUED) return 0;
    int pos = 0;
    for (int i = 0; i < s->nexps; i++) {
        if (s->exps[i].state == EXP_QUEUED) pos++;
        if (&s->exps[i] == e) return pos;
    }
    return 0;
}

ctl_exp *ctl_running(ctl_state *s) {
    for (int i = 0; i < s->nexps; i++)
        if (s->exps[i].state == EXP_RUNNING) return &s->exps[i];
    return NULL;
}

int ctl_workers_alive(const ctl_state *s, double now) {
    int n = 0;
    for (int i = 0; i < s->nworkers; i++)
        if (now - s->last_heartbeat[i] <= s->heartbeat_timeout_s) n++;
    return n;
}

int ctl_ring_copy(const ctl_state *s, ctl_point *out) {
    int start = (s->ring_head - s->ring_n + CTL_RING) % CTL_RING;
    for (int i = 0; i < s->ring_n; i++) out[i] = s->ring[(start + i) % CTL_RING];
    return s->ring_n;
}

void ctl_push_op(ctl_state *s, const char *id, exp_state state, double started_at, double finished_at,
                 const char *result_json, const char *error, int resume) {
    ctl_op *o = calloc(1, sizeof *o);
    if (!o) { LOG_E("out of memory queueing a registry write for %s; it is lost until the next state change", id); return; }
    snprintf(o->id, sizeof o->id, "%s", id);
    o->state = state;
    o->started_at = started_at;
    o->finished_at = finished_at;
    o->result_json = result_json ? strdup(result_json) : NULL;
    o->error = error ? strdup(error) : NULL;
    o->resume = resume;
    if (s->ops_tail) s->ops_tail->next = o; else s->ops_head = o;
    s->ops_tail = o;
}

ctl_op *ctl_take_ops(ctl_state *s) {
    ctl_op *o = s->ops_head;
    s->ops_head = s->ops_tail = NULL;
    return o;
}

void ctl_apply_ops(ctl_core *c) {
    pthread_mutex_lock(&c->st.mu);
    ctl_op *o = ctl_take_ops(&c->st);
    pthread_mutex_unlock(&c->st.mu);
    while (o) {
        ctl_op *nx = o->next;
        tr_error err = {0};
        if (registry_update(c->reg, o->id, o->state, o->started_at, o->finished_at, o->result_json, o->error, o->resume, &err))
            LOG_E("registry write for %s (state %s) failed: %s", o->id, exp_state_name(o->state), err.msg);
        op_free(o);
        o = nx;
    }
}
