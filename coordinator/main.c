/* trice-coordinator: MPI rank 0. Registers the workers, then either runs one experiment
 * (--run SPEC) or serves as a daemon until SIGTERM/SIGINT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/comm/wire.h"
#include "common/util/cliopt.h"
#include "common/util/log.h"
#include "common/util/sig.h"
#include "coordinator/daemon.h"
#include "coordinator/world.h"
#include "trice_config.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mpirun -n 1 trice-coordinator [options] : -n W trice-worker\n"
            "One experiment (batch job):\n"
            "  --run SPEC.json          run it on the workers, then exit (0 = done or stopped and checkpointed)\n"
            "  --out DIR                experiment folder (default: the spec's out_dir, else runs/NAME)\n"
            "  --resume-latest          with --run: continue from DIR's latest checkpoint when there is one\n"
            "  --resume DIR             continue the experiment in DIR (its experiment.json) from its latest checkpoint\n"
            "Daemon (without --run/--resume): serve experiments submitted with `trice submit`\n"
            "  --db PATH                registry (SQLite; default trice-state/registry.db)\n"
            "  --rpc URL                RPC endpoint, tcp://HOST:PORT (default tcp://127.0.0.1:7870)\n"
            "  --http HOST:PORT         status endpoint (default 127.0.0.1:7871)\n"
            "  --token-file PATH        secret for mutating calls (default: next to the db; created 0600);\n"
            "                           `trice` finds trice-state/token itself, else set TRICE_TOKEN_FILE\n"
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
            "  --log-level LEVEL        debug, info, warn, error (default info); debug adds where errors arose\n"
            "  --log-file PATH          also append the log to PATH\n"
            "  -h, --help               this text (needs no mpirun)\n");
}

/* Parse argv (before MPI starts, so that --help and mistakes need no mpirun).
 * Returns 0, -1 after --help, or CLIOPT_USAGE after printing the problem. */
static int parse_args(int argc, char **argv, coord_opts *o) {
    static const char *P = "trice-coordinator";
    memset(o, 0, sizeof *o);
    o->register_timeout_ms = 60000;
    enum { O_CHECK = 256, O_RESUME_LATEST, O_REMOTE, O_RUN, O_OUT, O_RESUME, O_DB, O_RPC, O_HTTP, O_TOKEN, O_RUNS,
           O_REGTIMEOUT, O_LOGLEVEL, O_LOGFILE, O_HEARTBEAT, O_SHUTDOWN, O_DATAROOT, O_ATTEMPTS };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'},
        {"check-world", no_argument, NULL, O_CHECK},
        {"resume-latest", no_argument, NULL, O_RESUME_LATEST},
        {"allow-remote", no_argument, NULL, O_REMOTE},
        {"run", required_argument, NULL, O_RUN},
        {"out", required_argument, NULL, O_OUT},
        {"resume", required_argument, NULL, O_RESUME},
        {"db", required_argument, NULL, O_DB},
        {"rpc", required_argument, NULL, O_RPC},
        {"http", required_argument, NULL, O_HTTP},
        {"token-file", required_argument, NULL, O_TOKEN},
        {"runs", required_argument, NULL, O_RUNS},
        {"register-timeout", required_argument, NULL, O_REGTIMEOUT},
        {"heartbeat-timeout", required_argument, NULL, O_HEARTBEAT},
        {"shutdown-timeout", required_argument, NULL, O_SHUTDOWN},
        {"data-root", required_argument, NULL, O_DATAROOT},
        {"max-attempts", required_argument, NULL, O_ATTEMPTS},
        {"log-level", required_argument, NULL, O_LOGLEVEL},
        {"log-file", required_argument, NULL, O_LOGFILE},
        {NULL, 0, NULL, 0},
    };
    tr_error err = {0};
    double s;
    log_level l;
    cliopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return -1;
        case O_CHECK: o->check_world = 1; break;
        case O_RESUME_LATEST: o->resume_latest = 1; break;
        case O_REMOTE: o->allow_remote = 1; break;
        case O_RUN: o->run_spec = optarg; break;
        case O_OUT: o->out_dir = optarg; break;
        case O_RESUME: o->resume_dir = optarg; break;
        case O_DB: o->db_path = optarg; break;
        case O_RPC: o->rpc_url = optarg; break;
        case O_HTTP: o->http_addr = optarg; break;
        case O_TOKEN: o->token_file = optarg; break;
        case O_RUNS: o->runs_dir = optarg; break;
        case O_REGTIMEOUT:
            if (cliopt_double(P, "register-timeout", optarg, 0.001, 86400, &s)) return CLIOPT_USAGE;
            o->register_timeout_ms = (int)(s * 1000);
            break;
        case O_HEARTBEAT:
            if (cliopt_double(P, "heartbeat-timeout", optarg, 0.001, 86400, &o->heartbeat_timeout_s)) return CLIOPT_USAGE;
            break;
        case O_SHUTDOWN:
            if (cliopt_double(P, "shutdown-timeout", optarg, 0.001, 86400, &o->shutdown_timeout_s)) return CLIOPT_USAGE;
            break;
        case O_DATAROOT:
            if (o->n_data_roots == 16) { fprintf(stderr, "%s: --data-root: at most 16 folders\n", P); return CLIOPT_USAGE; }
            o->data_roots[o->n_data_roots++] = optarg;
            break;
        case O_ATTEMPTS: {
            long n;
            if (cliopt_long(P, "max-attempts", optarg, 1, 1000, &n)) return CLIOPT_USAGE;
            o->max_attempts = (int)n;
            break;
        }
        case O_LOGLEVEL:
            if (log_parse_level(optarg, &l, &err)) { fprintf(stderr, "%s: --log-level: %s\n", P, err.msg); return CLIOPT_USAGE; }
            log_set_level(l);
            break;
        case O_LOGFILE:
            if (log_open_file(optarg, &err)) { fprintf(stderr, "%s: --log-file: %s\n", P, err.msg); return CLIOPT_USAGE; }
            break;
        default: return cliopt_report(P, c, argv, lo);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'; see '%s --help'\n", P, argv[optind], P);
        return CLIOPT_USAGE;
    }
    if (o->rpc_url && o->rpc_url[0] && !strstr(o->rpc_url, "://")) {
        fprintf(stderr, "%s: --rpc '%s' is not an endpoint: write it as tcp://HOST:PORT, for example tcp://127.0.0.1:7870\n",
                P, o->rpc_url);
        return CLIOPT_USAGE;
    }
    if (o->resume_latest && !o->run_spec) {
        fprintf(stderr, "%s: --resume-latest goes with --run SPEC (or use --resume DIR)\n", P);
        return CLIOPT_USAGE;
    }
    return 0;
}

/* Under mpirun a rank that exits without MPI leaves the others waiting; outside it, MPI's
 * abort banner would bury a one-line usage error. */
static int under_mpirun(void) { return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK"); }

int main(int argc, char **argv) {
    tr_error err = {0};
    int rank = -1, size = 0;
    coord_opts o;
    log_init(-1, "coord", LOG_INFO);
    int rc = parse_args(argc, argv, &o);
    if (rc < 0) return 0;                      /* --help: before MPI starts */
    if (rc && !under_mpirun()) return rc;
    sig_install();
    if (comm_init(&argc, &argv, &rank, &size, &err)) {
        fprintf(stderr, "trice-coordinator: %s\n", err.msg);
        return 1;
    }
    log_init(rank, "coord", log_get_level());
    if (rc) MPI_Abort(MPI_COMM_WORLD, rc);     /* the problem is printed; end the workers too */
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
        else if (rc) { LOG_E("experiment failed: %s", err.msg); log_error_origin(&err); exit_code = 1; }
    } else if (!o.check_world) {
        rc = coord_daemon(&o, &w, &err);
        if (rc == TR_EMPI) { LOG_E("%s", err.msg); MPI_Abort(MPI_COMM_WORLD, 1); }
        else if (rc) { LOG_E("daemon: %s", err.msg); log_error_origin(&err); exit_code = 1; }
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
