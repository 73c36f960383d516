/* state.h - the shared snapshot between the training loop, the control thread and the
 * HTTP handlers (nng threads): experiments (a mirror of the registry), the world, recent
 * metrics and counters. One mutex guards all of it; nobody holds it across I/O.
 *
 * ctl_core bundles the snapshot with the registry and the token: everything the RPC
 * handler needs, so that tests and fuzzers can drive rpc_handle() without sockets.
 */
#ifndef TRICE_CONTROL_STATE_H
#define TRICE_CONTROL_STATE_H

#include <pthread.h>
#include <stdint.h>

#include "coordinator/control/control.h"
#include "coordinator/control/paths.h"
#include "coordinator/control/registry.h"
#include "coordinator/control/token.h"

#define CTL_RING 512          /* recent steps kept for /status and Get */

/* A posted step as the snapshot keeps it: the training loop's record as it came, and when.
 * The latest step of an experiment and the ring of recent steps hold the same record. */
typedef struct ctl_sample {
    control_progress p;
    double at;                /* unix seconds */
} ctl_sample;

typedef struct ctl_exp {
    char id[CONTROL_ID_MAX];
    char name[128];
    char *spec_json;          /* canonical spec (owned) */
    exp_state state;
    double created_at, started_at, finished_at;
    char *result_json;        /* owned; NULL = none */
    char *error;              /* owned; NULL = none */
    char out_dir[1024];
    int resume;
    int cancel_requested;
    int64_t seq;
    int crashes;
    int has_progress;
    ctl_sample progress;      /* the latest step posted (when has_progress) */
} ctl_exp;

/* A registry write queued by the training thread for the control thread. */
typedef struct ctl_op {
    struct ctl_op *next;
    char id[CONTROL_ID_MAX];
    exp_state state;
    double started_at, finished_at;
    char *result_json, *error;  /* owned */
    int resume;
    uint64_t seq;             /* order of queueing (ctl_state.ops_seq) */
    int warned;               /* a failed try was logged */
} ctl_op;

enum { CTL_PHASE_SAMPLE, CTL_PHASE_GRAD, CTL_PHASE_REDUCE, CTL_PHASE_OPTIM, CTL_NPHASES };
enum { CTL_RPC_KINDS = 6 };

typedef struct ctl_state {
    pthread_mutex_t mu;
    ctl_exp *exps;            /* [nexps], ascending seq */
    int nexps, cap;
    control_worker *workers;  /* [nworkers] */
    double *last_heartbeat;   /* [nworkers], unix seconds */
    int nworkers, world_set;
    double heartbeat_timeout_s;
    char fatal[512];
    int shutdown;
    char ring_id[CONTROL_ID_MAX];  /* experiment whose steps the ring holds */
    ctl_sample ring[CTL_RING];
    int ring_n, ring_head;    /* oldest point is at (ring_head - ring_n) mod CTL_RING */
    double tokens_total, steps_total, phase_total[CTL_NPHASES];
    double last_checkpoint_at;
    uint64_t rpc_requests[CTL_RPC_KINDS], rpc_errors, http_requests;
    uint64_t submitted_total, finished_total[EXP_NSTATES];
    double started_at;
    ctl_op *ops_head, *ops_tail;
    uint64_t ops_seq, ops_done;  /* last queued, last written to the registry */
    pthread_cond_t ops_cv;       /* signalled when ops_done moves */
} ctl_state;

typedef struct ctl_core {
    ctl_state st;
    registry *reg;            /* touched only by the control thread (or a test's one thread) */
    char token[TOKEN_HEX_LEN + 1];
    int reads_need_token;     /* when bound beyond loopback */
    char exp_root[1024];
    paths_roots roots;        /* where submitted specs may read and write (paths.h) */
} ctl_core;

double ctl_now(void);

/* Open the registry, recover running rows, load every row into the snapshot. */
/* max_crashes: see registry_recover (0 = REGISTRY_MAX_CRASHES). */
int ctl_core_init(ctl_core *c, const char *db_path, const char *token, const char *exp_root, int max_crashes, tr_error *err);
void ctl_core_free(ctl_core *c);

/* Under st->mu: */
ctl_exp *ctl_find(ctl_state *s, const char *id);
/* Append a copy of row (takes ownership of its strings). */
int ctl_add(ctl_state *s, reg_row *row, tr_error *err);
/* 1-based queue position of e (0 when not queued). */
int ctl_queue_position(const ctl_state *s, const ctl_exp *e);
ctl_exp *ctl_running(ctl_state *s);
int ctl_workers_alive(const ctl_state *s, double now);
/* "silent: rank 2, rank 3" for workers past the heartbeat timeout ("" when none). */
void ctl_silent_ranks(const ctl_state *s, double now, char *out, size_t cap);
/* The i-th oldest step in the ring, 0 <= i < s->ring_n (a pointer into the snapshot). */
const ctl_sample *ctl_ring_at(const ctl_state *s, int i);
/* Queue a registry write (takes result/error copies). Returns its sequence number (0 when
 * out of memory) for ctl_wait_ops. */
uint64_t ctl_push_op(ctl_state *s, const char *id, exp_state state, double started_at, double finished_at,
                 const char *result_json, const char *error, int resume);
ctl_op *ctl_take_ops(ctl_state *s);

/* Control thread: apply queued writes to the registry in order. A write that fails stays
 * queued (with the rest behind it) for the next call; returns its code, 0 when all done. */
int ctl_apply_ops(ctl_core *c);
/* Wait (not holding st->mu) until write seq is in the registry: 1 = it is, 0 = timed out. */
int ctl_wait_ops(ctl_state *s, uint64_t seq, double timeout_s);

#endif
