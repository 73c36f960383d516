/* state.h - the shared snapshot between the training loop and the control thread (which
 * runs the RPC and HTTP handlers): experiments (a mirror of the registry), the world, recent
 * metrics and counters. One mutex guards all of it; nobody holds it across I/O.
 *
 * Names: everything declared here is state_*. state_snapshot is the mutex-guarded data;
 * state_core bundles it with the registry and the token: everything the RPC handler needs,
 * so that tests and fuzzers can drive rpc_handle() without sockets. control.h's control_*
 * is the training loop's API over it; rpc.h and http.h render it.
 */
#ifndef TRICE_CONTROL_STATE_H
#define TRICE_CONTROL_STATE_H

#include <pthread.h>
#include <stdint.h>

#include "coordinator/control/control.h"
#include "coordinator/control/paths.h"
#include "coordinator/control/registry.h"
#include "coordinator/control/token.h"

#define STATE_RING 512          /* recent steps kept for /status and Get */

/* A posted step as the snapshot keeps it: the training loop's record as it came, and when.
 * The latest step of an experiment and the ring of recent steps hold the same record. */
typedef struct state_sample {
    control_progress p;
    double at;                /* unix seconds */
} state_sample;

typedef struct state_exp {
    char id[CONTROL_ID_MAX];
    char name[128];
    char *spec_json;          /* canonical spec (owned) */
    exp_state state;
    double created_at, started_at, finished_at;
    char *result_json;        /* owned; NULL = none */
    char *error;              /* owned; NULL = none */
    char out_dir[SPEC_PATH_MAX];
    int resume;
    int cancel_requested;
    int64_t seq;
    int crashes;
    int has_progress;
    state_sample progress;      /* the latest step posted (when has_progress) */
} state_exp;

/* A registry write queued by the training thread for the control thread. */
typedef struct state_op {
    struct state_op *next;
    char id[CONTROL_ID_MAX];
    exp_state state;
    double started_at, finished_at;
    char *result_json, *error;  /* owned */
    int resume;
    uint64_t seq;             /* order of queueing (state_snapshot.ops_seq) */
    int warned;               /* a failed try was logged */
} state_op;

enum { STATE_PHASE_SAMPLE, STATE_PHASE_GRAD, STATE_PHASE_REDUCE, STATE_PHASE_OPTIM, STATE_NPHASES };
enum { STATE_RPC_KINDS = 6 };

typedef struct state_snapshot {
    pthread_mutex_t mu;
    state_exp *exps;            /* [nexps], ascending seq */
    int nexps, cap;
    control_worker *workers;  /* [nworkers] */
    double *last_heartbeat;   /* [nworkers], unix seconds */
    int nworkers, world_set;
    double heartbeat_timeout_s;
    char fatal[512];
    int shutdown;
    char ring_id[CONTROL_ID_MAX];  /* experiment whose steps the ring holds */
    state_sample ring[STATE_RING];
    int ring_n, ring_head;    /* oldest point is at (ring_head - ring_n) mod STATE_RING */
    double tokens_total, steps_total, phase_total[STATE_NPHASES];
    double last_checkpoint_at;
    uint64_t rpc_requests[STATE_RPC_KINDS], rpc_errors, http_requests;
    uint64_t submitted_total, finished_total[EXP_NSTATES];
    double started_at;
    state_op *ops_head, *ops_tail;
    uint64_t ops_seq, ops_done;  /* last queued, last written to the registry */
    pthread_cond_t ops_cv;       /* signalled when ops_done moves */
} state_snapshot;

typedef struct state_core {
    state_snapshot st;
    registry *reg;            /* touched only by the control thread (or a test's one thread) */
    char token[TOKEN_HEX_LEN + 1];
    int reads_need_token;     /* when bound beyond loopback */
    char exp_root[SPEC_PATH_MAX];
    paths_roots roots;        /* where submitted specs may read and write (paths.h) */
} state_core;

double state_now(void);

/* Open the registry, recover running rows, load every row into the snapshot. */
/* max_crashes: see registry_recover (0 = REGISTRY_MAX_CRASHES). */
int state_core_init(state_core *c, const char *db_path, const char *token, const char *exp_root, int max_crashes, tr_error *err);
void state_core_free(state_core *c);

/* Under st->mu: */
state_exp *state_find(state_snapshot *s, const char *id);
/* Append a copy of row (takes ownership of its strings). */
int state_add(state_snapshot *s, reg_row *row, tr_error *err);
/* 1-based queue position of e (0 when not queued). */
int state_queue_position(const state_snapshot *s, const state_exp *e);
state_exp *state_running(state_snapshot *s);
int state_workers_alive(const state_snapshot *s, double now);
/* "silent: rank 2, rank 3" for workers past the heartbeat timeout ("" when none). */
void state_silent_ranks(const state_snapshot *s, double now, char *out, size_t cap);
/* The i-th oldest step in the ring, 0 <= i < s->ring_n (a pointer into the snapshot). */
const state_sample *state_ring_at(const state_snapshot *s, int i);
/* Queue a registry write (takes result/error copies). Returns its sequence number (0 when
 * out of memory) for state_wait_ops. */
uint64_t state_push_op(state_snapshot *s, const char *id, exp_state state, double started_at, double finished_at,
                 const char *result_json, const char *error, int resume);
state_op *state_take_ops(state_snapshot *s);

/* Control thread: apply queued writes to the registry in order. A write that fails stays
 * queued (with the rest behind it) for the next call; returns its code, 0 when all done. */
int state_apply_ops(state_core *c);
/* Wait (not holding st->mu) until write seq is in the registry: 1 = it is, 0 = timed out. */
int state_wait_ops(state_snapshot *s, uint64_t seq, double timeout_s);

#endif
