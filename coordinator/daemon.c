/* daemon.c - rank 0 after registration: --run mode and the daemon loop. */
#include "coordinator/daemon.h"

#include <limits.h>
#include <systemd/sd-daemon.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/comm/wire.h"
#include "common/engine/trainer.h"
#include "common/util/afile.h"
#include "common/util/log.h"
#include "common/util/path.h"
#include "common/util/sig.h"
#include "coordinator/control/control.h"
#include "coordinator/fleet_mpi.h"

static int stop_on_signal(void *ctx) { (void)ctx; return sig_stop_requested() != 0; }

int coord_run_once(const coord_opts *o, const world *w, tr_error *err) {
    experiment_spec spec;
    char dir[PATH_BUF];
    int resume = o->resume_latest;
    if (o->resume_dir) {
        char p[PATH_BUF];
        TR_TRY(path_fmt(p, sizeof p, err, "%s/experiment.json", o->resume_dir));
        TR_TRY(spec_load_file(o->run_spec ? o->run_spec : p, &spec, err));
        TR_TRY(path_fmt(dir, sizeof dir, err, "%s", o->resume_dir));
        resume = 1;
    } else {
        TR_TRY(spec_load_file(o->run_spec, &spec, err));
        if (o->out_dir) TR_TRY(path_fmt(dir, sizeof dir, err, "%s", o->out_dir));
        else if (spec.out_dir[0]) TR_TRY(path_fmt(dir, sizeof dir, err, "%s", spec.out_dir));
        else TR_TRY(path_fmt(dir, sizeof dir, err, "runs/%s", spec.name));
    }
    LOG_I("experiment '%s': %s on %s with %d workers -> %s%s", spec.name, spec_method_name(spec.method), spec.task.name,
          w->nworkers, dir, resume ? " (resuming if a checkpoint exists)" : "");
    fleet_mpi_ctx ctx = {w->size, NULL, NULL};
    trainer_hooks hooks = {NULL, stop_on_signal, NULL, NULL, NULL};
    trainer_result r;
    int rc = experiment_run(&spec, dir, fleet_mpi_make, &ctx, resume, &hooks, &r, err);
    if (rc) return rc;
    LOG_I("done: held-out accuracy on %s (difficulty %d): %.4f before %s%s, %.4f after, on %d examples (%s/result.json)",
          spec.task.name, spec.task.difficulty, r.acc_before, spec_method_name(spec.method),
          spec.warmup_sft_steps > 0 ? " (that is, after the supervised warm-up)" : "", r.acc_after, r.n_eval, dir);
    return 0;
}

/* ---- daemon ---- */

typedef struct daemon_hooks_ctx {
    control *c;
    const char *id;
    char stage[32];           /* the running stage, for progress */
    int stage_index, stage_count;
    double eval_acc;          /* the stage's latest held-out accuracy (NAN before its first) */
    int64_t eval_step;
    int64_t step_offset;      /* steps of the earlier stages */
} daemon_hooks_ctx;

static void daemon_stage(void *p, int index, int count, const char *name, int64_t step_offset) {
    daemon_hooks_ctx *d = p;
    snprintf(d->stage, sizeof d->stage, "%s", name);
    d->step_offset = step_offset;
    d->stage_index = index;
    d->stage_count = count;
    d->eval_acc = NAN;        /* a new stage evaluates on its own setting */
    d->eval_step = 0;
}

static int daemon_should_stop(void *p) {
    daemon_hooks_ctx *d = p;
    return sig_stop_requested() || control_shutdown_requested(d->c) || control_cancel_requested(d->c, d->id);
}

static void daemon_progress(void *p, const metrics_row *row, int64_t total, double eta) {
    daemon_hooks_ctx *d = p;
    control_progress cp;
    memset(&cp, 0, sizeof cp);
    cp.step = row->step + 1;
    cp.total_steps = total;
    cp.proposal_acc = row->proposal_acc;
    cp.memory_acc = row->memory_acc;
    cp.beta = row->beta_mean;
    cp.loss = row->loss;
    if (row->has_eval) { d->eval_acc = row->eval_acc; d->eval_step = row->step + 1; }
    cp.eval_acc = d->eval_acc;
    cp.eval_step = d->eval_step;
    snprintf(cp.stage, sizeof cp.stage, "%s", d->stage);
    cp.stage_index = d->stage_index;
    cp.stage_count = d->stage_count;
    cp.step_offset = d->step_offset;
    cp.tokens = row->tokens_sampled;
    cp.sample_s = row->phases.sample;
    cp.grad_s = row->phases.gradient;
    cp.reduce_s = row->phases.reduce;
    cp.optim_s = row->phases.update;
    cp.eta_s = eta;
    control_progress_post(d->c, d->id, &cp);
}

static void daemon_checkpointed(void *p, const char *dir, int64_t step) {
    daemon_hooks_ctx *d = p;
    (void)dir; (void)step;
    control_checkpoint_saved(d->c, d->id);
}

static void post_heartbeat(void *p, int rank) { control_worker_heartbeat((control *)p, rank); }

/* Drain worker heartbeats and notice a worker's BYE (a signal on its node). */
static int poll_workers(control *c, int *bye, tr_error *err) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        TR_TRY(MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st), err));
        if (!flag) return 0;
        int v = 0;
        if (st.MPI_TAG != TAG_HEARTBEAT && st.MPI_TAG != TAG_BYE)
            return TR_FAIL(err, TR_EMPI, "unexpected message (tag %d) from rank %d while idle", st.MPI_TAG, st.MPI_SOURCE);
        TR_TRY(MPI_CHECK(MPI_Recv(&v, 1, MPI_INT, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE), err));
        if (st.MPI_TAG == TAG_HEARTBEAT) control_worker_heartbeat(c, st.MPI_SOURCE);
        else {
            LOG_I("worker rank %d received signal %d: shutting the daemon down", st.MPI_SOURCE, v);
            *bye = 1;
        }
    }
}

/* Bounded shutdown: once a stop is requested (signal or RPC), the loop has
 * shutdown_timeout_s to checkpoint and end. A worker that stopped answering (SIGSTOP, a
 * hung node) would otherwise hold rank 0 in a collective forever; then the job is ended
 * from here (rank 0 exits, mpirun ends the other ranks) and the registry keeps the
 * experiment 'running', so the next start resumes it from its latest checkpoint and
 * counts the crash. */
typedef struct watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    double timeout_s;
    control *c;
} watchdog;

static void *watchdog_main(void *p) {
    watchdog *wd = p;
    double deadline = 0;
    pthread_mutex_lock(&wd->mu);
    while (!wd->done) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        double now = (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
        if (!deadline && (sig_stop_requested() || control_shutdown_requested(wd->c))) deadline = now + wd->timeout_s;
        if (deadline && now >= deadline) {
            char silent[256];
            control_silent_workers(wd->c, silent, sizeof silent);
            LOG_E("shutdown did not complete within %.0f s (%s): ending the job; the running experiment resumes from its "
                  "latest checkpoint on the next start", wd->timeout_s, silent[0] ? silent : "no worker is silent");
            log_close_file();   /* flushes a --log-file; stderr is unbuffered per line */
            _exit(3);
        }
        t.tv_sec += 1;
        pthread_cond_timedwait(&wd->cv, &wd->mu, &t);
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

int coord_daemon(const coord_opts *o, const world *w, tr_error *err) {
    control_opts co;
    memset(&co, 0, sizeof co);
    co.db_path = o->db_path ? o->db_path : "trice-state/registry.db";
    co.rpc_url = o->rpc_url;
    co.http_addr = o->http_addr;
    co.token_file = o->token_file;
    co.experiments_root = o->runs_dir;
    co.allow_remote = o->allow_remote;
    co.max_crashes = o->max_attempts;
    co.data_roots = o->data_roots;
    co.n_data_roots = o->n_data_roots;
    co.handle_signals = 0;  /* this thread polls sig.h; the control thread must not steal the signals */
    /* workers answer after every fleet operation; one evaluation of a big model can take
     * minutes, and a dead rank ends the whole job through mpirun anyway */
    co.heartbeat_timeout_s = o->heartbeat_timeout_s > 0 ? o->heartbeat_timeout_s : 300;
    char dbdir[PATH_BUF];
    TR_TRY(path_fmt(dbdir, sizeof dbdir, err, "%s", co.db_path));
    char *slash = strrchr(dbdir, '/');
    if (slash) { *slash = '\0'; TR_TRY(afile_mkdirs(dbdir, err)); }
    control *c = NULL;
    TR_TRY(control_start(&co, &c, err));
    int rc = control_set_world(c, w->workers, w->nworkers, err);
    if (rc) { control_free(c); return rc; }
    LOG_I("daemon ready: RPC %s, HTTP 127.0.0.1:%d (status page at /), registry %s",
          control_rpc_url(c), control_http_port(c), co.db_path);
    /* what a client on this host needs, as a line to paste (the CLI's defaults otherwise) */
    char tok[PATH_BUF], tok_abs[PATH_BUF];   /* control_start opened this path, so it fits */
    if (co.token_file) (void)path_fmt(tok, sizeof tok, NULL, "%s", co.token_file);
    else (void)path_fmt(tok, sizeof tok, NULL, "%s/token", slash ? dbdir : ".");
    LOG_I("for the trice CLI: export TRICE_ENDPOINT=%s TRICE_TOKEN_FILE=%s", control_rpc_url(c),
          realpath(tok, tok_abs) ? tok_abs : tok);
    /* systemd (Type=notify, NotifyAccess=all: this process is mpirun's child) learns that the
     * daemon serves; without $NOTIFY_SOCKET this does nothing */
    sd_notifyf(0, "READY=1\nSTATUS=serving RPC %s, HTTP 127.0.0.1:%d", control_rpc_url(c), control_http_port(c));
    watchdog wd = {.timeout_s = o->shutdown_timeout_s > 0 ? o->shutdown_timeout_s : 120, .c = c};
    pthread_mutex_init(&wd.mu, NULL);
    pthread_cond_init(&wd.cv, NULL);
    int wd_started = pthread_create(&wd.thread, NULL, watchdog_main, &wd) == 0;
    if (!wd_started) LOG_W("could not start the shutdown watchdog: shutdown is not bounded");
    int bye = 0;
    while (!rc) {
        if (sig_stop_requested()) { LOG_I("signal %d received: shutting the daemon down", sig_stop_requested()); break; }
        if (control_shutdown_requested(c)) break;  /* the RPC handler logged it */
        if ((rc = poll_workers(c, &bye, err)) || bye) break;
        control_claim claim;
        if (control_next_experiment(c, &claim)) {
            LOG_I("experiment %s ('%s'): %s%s", claim.id, claim.spec.name, claim.resume ? "resuming in " : "starting in ", claim.out_dir);
            daemon_hooks_ctx d = {.c = c, .id = claim.id, .eval_acc = NAN};
            fleet_mpi_ctx fctx = {w->size, post_heartbeat, c};
            trainer_hooks hooks = {&d, daemon_should_stop, daemon_progress, daemon_checkpointed, daemon_stage};
            trainer_result r;
            tr_error e2 = {0};
            /* resume = 1 always: the folder is this experiment's alone (paths_own_folder), so a
             * checkpoint in it is its own progress, to continue rather than discard */
            int erc = experiment_run(&claim.spec, claim.out_dir, fleet_mpi_make, &fctx, 1, &hooks, &r, &e2);
            if (erc == 0) {
                /* the registry keeps the experiment's own result.json, written by experiment_run */
                char rp[PATH_BUF];   /* out_dir < SPEC_PATH_MAX: cannot be cut */
                snprintf(rp, sizeof rp, "%s/result.json", claim.out_dir);
                json_error_t je;
                json_t *res = json_load_file(rp, 0, &je);
                char *detail = res ? json_dumps(res, JSON_COMPACT) : NULL;  /* one line for `trice status` */
                json_decref(res);
                if (!detail) LOG_W("%s: %s", rp, je.text);
                rc = control_finish(c, claim.id, CONTROL_SUCCEEDED, detail ? detail : "{}", err);
                free(detail);
                LOG_I("experiment %s succeeded: held-out accuracy %.4f -> %.4f", claim.id, r.acc_before, r.acc_after);
            } else if (erc == TR_ECANCELED && control_cancel_requested(c, claim.id)) {
                rc = control_finish(c, claim.id, CONTROL_CANCELLED, "cancelled by request (checkpointed)", err);
                LOG_I("experiment %s cancelled", claim.id);
            } else if (erc == TR_ECANCELED) {
                /* daemon shutdown: queued again with resume, so the next start continues it */
                control_requeue(c, claim.id);
                LOG_I("experiment %s checkpointed for shutdown; it resumes on the next start", claim.id);
            } else if (erc == TR_EMPI) {
                /* a peer is gone: the world is broken, nothing more can run */
                control_set_fatal(c, e2.msg);
                rc = TR_FAIL(err, TR_EMPI, "experiment %s: %s", claim.id, e2.msg);
            } else {
                LOG_E("experiment %s failed: %s", claim.id, e2.msg);
                log_error_origin(&e2);
                rc = control_finish(c, claim.id, CONTROL_FAILED, e2.msg, err);
            }
            continue;
        }
        struct timespec d = {0, 20 * 1000000L};
        nanosleep(&d, NULL);
    }
    sd_notify(0, "STOPPING=1");
    if (wd_started) {
        pthread_mutex_lock(&wd.mu);
        wd.done = 1;
        pthread_cond_signal(&wd.cv);
        pthread_mutex_unlock(&wd.mu);
        pthread_join(wd.thread, NULL);
    }
    pthread_cond_destroy(&wd.cv);
    pthread_mutex_destroy(&wd.mu);
    control_stop(c);
    control_free(c);
    return rc;
}
