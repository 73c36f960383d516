/* daemon.h - what rank 0 does once the world is registered: one experiment (--run) or
 * the daemon loop serving the control plane's queue. */
#ifndef TRICE_COORDINATOR_DAEMON_H
#define TRICE_COORDINATOR_DAEMON_H

#include "common/util/err.h"
#include "coordinator/world.h"

typedef struct coord_opts {
    int check_world;            /* register, log the world, shut down */
    int register_timeout_ms;
    const char *run_spec;       /* --run SPEC: one experiment, then exit */
    const char *out_dir;        /* --out DIR for --run */
    const char *resume_dir;     /* --resume DIR: continue that experiment */
    int resume_latest;          /* --resume-latest: with --run, continue from the folder's checkpoint if any */
    /* daemon */
    const char *db_path, *rpc_url, *http_addr, *token_file, *runs_dir;
    int allow_remote;
    int max_attempts;
    double heartbeat_timeout_s;  /* --heartbeat-timeout S: a worker silent this long is not live (0 = 300) */
    double shutdown_timeout_s;   /* --shutdown-timeout S: a stop that takes longer ends the job (0 = 120) */
    const char *data_roots[16];  /* --data-root DIR (repeatable): where specs may read files */
    int n_data_roots;           /* --max-attempts N: daemon deaths during one experiment before it is failed (0 = 2) */
} coord_opts;

/* Run one experiment on the world's workers. Returns 0, TR_ECANCELED (stopped by a signal,
 * checkpointed) or an error. */
int coord_run_once(const coord_opts *o, const world *w, tr_error *err);

/* Serve the control plane until shutdown (RPC Shutdown, SIGTERM/SIGINT, a worker's BYE). */
int coord_daemon(const coord_opts *o, const world *w, tr_error *err);

#endif
