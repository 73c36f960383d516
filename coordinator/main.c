/* trice-coordinator: MPI rank 0. Registers the workers, then either runs one experiment
 * (--run SPEC) or serves as a daemon until SIGTERM/SIGINT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/comm/wire.h"
#include "common/util/log.h"
#include "common/util/sig.h"
#include "coordinator/daemon.h"
#include "coordinator/world.h"
#include "trice_config.h"

static void usage(void) {
    fprintf(stderr,
            "usage: mpirun -n 1 trice-coordinator [options] : -n W trice-worker\n"
            "One experiment (batch job):\n"
            "  --run SPEC.json          run it on the workers, then exit (0 = done or stopped and checkpointed)\n"
            "  --out DIR                experiment folder (default: the spec's out_dir, else runs/NAME)\n"
            "  --resume-latest          with --run: continue from DIR's latest checkpoint when there is one\n"
            "  --resume DIR             continue the experiment in DIR (its experiment.json) from its latest checkpoint\n"
            "Daemon (without --run/--resume): serve experiments submitted with `trice submit`\n"
            "  --db PATH                registry (SQLite; default trice-state/registry.db)\n"
            "  --rpc URL                RPC endpoint (default tcp://127.0.0.1:7870)\n"
            "  --http HOST:PORT         status endpoint (default 127.0.0.1:7871)\n"
            "  --token-file PATH        secret for mutating calls (default: next to the db; created 0600)\n"
            "  --runs DIR               experiment folders; a spec's out_dir is a name inside it (default: next to the db)\n"
            "  --data-root DIR          a folder submitted specs may read data files and models from (repeatable;\n"
            "                           besides the runs folder, nothing else is readable through a spec)\n"
            "  --allow-remote           allow binding RPC/HTTP to a non-loopback address\n"
            "  --heartbeat-timeout S    a worker not heard from for S seconds is reported silent (/readyz 503; default 300)\n"
            "  --shutdown-timeout S     a requested stop that has not finished after S seconds ends the job (default 120)\n"
            "  --max-attempts N         crashes of the daemon while one experiment runs before it is marked\n"
            "                           failed and the queue moves on (default 2)\n"
            "Other:\n"
            "  --check-world            register the workers, log the world, shut down (exit 0)\n"
            "  --register-timeout S     seconds to wait for every worker to register (default 60)\n"
            "  --log-level LEVEL        debug, info, warn, error (default info)\n"
            "  --log-file PATH          also append the log to PATH\n");
}

static int parse_args(int argc, char **argv, coord_opts *o, tr_error *err) {
    memset(o, 0, sizeof *o);
    o->register_timeout_ms = 60000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        const char **str = NULL;
        if (strcmp(a, "--check-world") == 0) o->check_world = 1;
        else if (strcmp(a, "--resume-latest") == 0) o->resume_latest = 1;
        else if (strcmp(a, "--allow-remote") == 0) o->allow_remote = 1;
        else if (strcmp(a, "--run") == 0) str = &o->run_spec;
        else if (strcmp(a, "--out") == 0) str = &o->out_dir;
        else if (strcmp(a, "--resume") == 0) str = &o->resume_dir;
        else if (strcmp(a, "--db") == 0) str = &o->db_path;
        else if (strcmp(a, "--rpc") == 0) str = &o->rpc_url;
        else if (strcmp(a, "--http") == 0) str = &o->http_addr;
        else if (strcmp(a, "--token-file") == 0) str = &o->token_file;
        else if (strcmp(a, "--runs") == 0) str = &o->runs_dir;
        else if (strcmp(a, "--register-timeout") == 0 && has_val) {
            char *end;
            double s = strtod(argv[++i], &end);
            if (*end || s <= 0 || s > 86400)
                return TR_FAIL(err, TR_EINVAL, "--register-timeout '%s': want seconds in (0, 86400]", argv[i]);
            o->register_timeout_ms = (int)(s * 1000);
        } else if ((strcmp(a, "--heartbeat-timeout") == 0 || strcmp(a, "--shutdown-timeout") == 0) && has_val) {
            char *end;
            double v = strtod(argv[++i], &end);
            if (*end || !(v > 0 && v <= 86400))
                return TR_FAIL(err, TR_EINVAL, "%s '%s': want seconds in (0, 86400]", a, argv[i]);
            if (a[2] == 'h') o->heartbeat_timeout_s = v; else o->shutdown_timeout_s = v;
        } else if (strcmp(a, "--data-root") == 0 && has_val) {
            if (o->n_data_roots == 16) return TR_FAIL(err, TR_EINVAL, "--data-root: at most 16 folders");
            o->data_roots[o->n_data_roots++] = argv[++i];
        } else if (strcmp(a, "--max-attempts") == 0 && has_val) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1000)
                return TR_FAIL(err, TR_EINVAL, "--max-attempts '%s': want a whole number from 1 to 1000", argv[i]);
            o->max_attempts = (int)n;
        } else if (strcmp(a, "--log-level") == 0 && has_val) {
            log_level l;
            TR_TRY(log_parse_level(argv[++i], &l, err));
            log_set_level(l);
        } else if (strcmp(a, "--log-file") == 0 && has_val) {
            TR_TRY(log_open_file(argv[++i], err));
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return TR_ECANCELED;
        } else {
            return TR_FAIL(err, TR_EINVAL, "unknown option or missing value: '%s' (see --help)", a);
        }
        if (str) {
            if (!has_val) return TR_FAIL(err, TR_EINVAL, "option %s needs a value (see --help)", a);
            *str = argv[++i];
        }
    }
    if (o->resume_latest && !o->run_spec)
        return TR_FAIL(err, TR_EINVAL, "--resume-latest goes with --run SPEC (or use --resume DIR)");
    return 0;
}

int main(int argc, char **argv) {
    tr_error err = {0};
    int rank = -1, size = 0;
    sig_install();
    if (comm_init(&argc, &argv, &rank, &size, &err)) {
        fprintf(stderr, "trice-coordinator: %s\n", err.msg);
        return 1;
    }
    log_init(rank, "coord", LOG_INFO);
    coord_opts o;
    int rc = parse_args(argc, argv, &o, &err);
    if (rc == TR_ECANCELED) { MPI_Abort(MPI_COMM_WORLD, 0); return 0; }
    if (rc) { LOG_E("%s", err.msg); MPI_Abort(MPI_COMM_WORLD, 2); return 2; }
    if (rank != 0) {
        LOG_E("trice-coordinator must be rank 0: launch as 'mpirun -n 1 trice-coordinator : -n W trice-worker'");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    LOG_I("trice %s coordinator starting, world size %d", TRICE_VERSION, size);
    world w;
    rc = world_register(&w, size, o.register_timeout_ms, &err);
    if (rc == TR_ECANCELED) {
        LOG_I("stopped by a signal before every worker registered");
        MPI_Abort(MPI_COMM_WORLD, 0); /* workers may be mid-registration: end them all */
    }
    if (rc) { LOG_E("registration failed: %s", err.msg); MPI_Abort(MPI_COMM_WORLD, 1); }
    world_log(&w);
    int exit_code = 0;
    if (o.run_spec || o.resume_dir) {
        rc = coord_run_once(&o, &w, &err);
        if (rc == TR_ECANCELED) LOG_I("%s", err.msg);
        else if (rc == TR_EMPI) { LOG_E("%s", err.msg); MPI_Abort(MPI_COMM_WORLD, 1); }
        else if (rc) { LOG_E("experiment failed: %s", err.msg); exit_code = 1; }
    } else if (!o.check_world) {
        rc = coord_daemon(&o, &w, &err);
        if (rc == TR_EMPI) { LOG_E("%s", err.msg); MPI_Abort(MPI_COMM_WORLD, 1); }
        else if (rc) { LOG_E("daemon: %s", err.msg); exit_code = 1; }
    }
    if (world_shutdown(&w, o.check_world ? "world checked" : "done", &err)) {
        LOG_E("%s", err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    world_free(&w);
    comm_finalize(NULL);
    LOG_I("coordinator exiting %s", exit_code ? "after a failure" : "cleanly");
    return exit_code;
}
