/* control.h - the coordinator's control plane, as the training loop sees it.
 *
 * control_start() opens the registry (SQLite), loads the token, and starts the control
 * thread: a libuv loop (SIGTERM/SIGINT, a 1 s timer, wake-ups) that serves RPC (nng's REQ/REP
 * wire protocol, rpcd.h; protobuf-c, rpc.h) and the HTTP status endpoint (a small server on the same libuv loop;
 * see http.h).
 *
 * The training loop (main thread, owner of MPI) talks to it only through the functions
 * below. None of them blocks on the network or the database: they update a mutex-protected
 * snapshot and queue registry writes for the control thread. This header does not
 * depend on MPI.
 *
 * Life of an experiment: Submit (RPC) -> queued -> control_next_experiment() claims it
 * (running) -> control_progress() per step -> control_finish(succeeded|failed|cancelled).
 * Shutdown with an experiment running requeues it (control_requeue); a crash leaves it
 * 'running' in the registry, and the next control_start() counts the crash and re-queues it
 * at the head with resume = 1, or marks it failed after max_crashes.
 */
#ifndef TRICE_CONTROL_CONTROL_H
#define TRICE_CONTROL_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "common/spec/spec.h"
#include "common/util/err.h"
#include "coordinator/control/progress.h"
#include "coordinator/control/protocol.h"
#include "coordinator/control/worker.h"

typedef struct control_opts {
    const char *db_path;         /* SQLite registry file (created if absent); required */
    const char *rpc_url;         /* NULL = CONTROL_DEFAULT_RPC_URL; "tcp://127.0.0.1:0" picks a free port; "" = no RPC */
    const char *http_addr;       /* "HOST:PORT"; NULL = CONTROL_DEFAULT_HTTP_ADDR; port 0 picks; "" = no HTTP */
    const char *token_file;      /* NULL = "<folder of db_path>/token"; created (0600) if absent */
    const char *experiments_root;/* runs root: every experiment's folder is inside (paths.h); NULL = "<folder of db_path>/runs" */
    const char *const *data_roots;/* folders submitted specs may read data and models from (besides the runs root) */
    int n_data_roots;
    int allow_remote;            /* 1 = may bind a non-loopback address (then reads need the token too) */
    int handle_signals;          /* 1 = the loop watches SIGTERM/SIGINT and requests shutdown */
    double heartbeat_timeout_s;  /* a worker silent this long is not alive; 0 = 30 */
    int max_crashes;             /* daemon deaths while an experiment runs before it is marked failed; 0 = 2 */
    double rpc_idle_s;           /* an RPC connection without a request this long is closed; 0 = 60 */
} control_opts;

typedef struct control control;

/* What the training loop should run next. */
typedef struct control_claim {
    char id[CONTROL_ID_MAX];
    experiment_spec spec;        /* parsed and validated; spec.out_dir = out_dir */
    char out_dir[SPEC_PATH_MAX]; /* experiment folder (created); checkpoints live here */
    int resume;                  /* 1 = was running when the daemon stopped: resume from out_dir's latest checkpoint */
} control_claim;

typedef enum { CONTROL_SUCCEEDED = 0, CONTROL_FAILED, CONTROL_CANCELLED } control_outcome;

/* Start the control plane. On success *out is owned by the caller (control_free). */
int control_start(const control_opts *o, control **out, tr_error *err);

/* Record the world (copied). Every worker counts as just heard from. */
int control_set_world(control *c, const control_worker *workers, int n, tr_error *err);
void control_worker_heartbeat(control *c, int rank);
/* "silent: rank 2, rank 3" for the workers not heard from within the heartbeat timeout
 * ("" when all are live), into out (cap bytes). */
void control_silent_workers(control *c, char *out, size_t cap);
/* A fatal condition (e.g. a worker vanished): /readyz turns 503 with this reason. NULL clears. */
void control_set_fatal(control *c, const char *reason);

/* Claim the head of the queue: 1 = claimed (state is now running, *claim filled),
 * 0 = queue empty, < 0 never; a spec that no longer parses is marked failed and skipped.
 * Non-blocking. */
int control_next_experiment(control *c, control_claim *claim);
/* Post a step's numbers for experiment id (ignored if id is not the running one). */
void control_progress_post(control *c, const char *id, const control_progress *p);
/* A checkpoint of id was written (for /metrics' last checkpoint time). */
void control_checkpoint_saved(control *c, const char *id);
/* 1 if the user cancelled id: stop, checkpoint, then control_finish(CANCELLED). */
int control_cancel_requested(control *c, const char *id);
/* The daemon is shutting down with id checkpointed: back to the head of the queue with
 * resume = 1 (not a crash: registry_recover counts only rows left 'running'). */
void control_requeue(control *c, const char *id);
/* End experiment id. detail: result JSON (succeeded) or an error message (failed/cancelled); may be NULL. */
int control_finish(control *c, const char *id, control_outcome outcome, const char *detail, tr_error *err);
/* 1 after RPC Shutdown or SIGTERM/SIGINT: checkpoint the running experiment, then control_stop. */
int control_shutdown_requested(control *c);
/* Ask for shutdown from code (same effect as the RPC). */
void control_request_shutdown(control *c);

/* Where the servers actually listen (useful with port 0). */
const char *control_rpc_url(const control *c);   /* "" when RPC is off */
int control_http_port(const control *c);         /* 0 when HTTP is off */

/* Stop the servers and the thread, flush pending registry writes. Idempotent. */
void control_stop(control *c);
/* control_stop, then free everything. NULL is fine. */
void control_free(control *c);

#endif
