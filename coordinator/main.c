/* trice-coordinator: MPI rank 0. Registers the workers, then either runs one experiment
 * (--run SPEC) or serves as a daemon until SIGTERM/SIGINT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/comm/wire.h"
#include "common/util/log.h"
#include "common/util/sig.h"
#include "coordinator/world.h"
#include "trice_config.h"

typedef struct coord_opts {
    int check_world;          /* register, log the world, shut down */
    int register_timeout_ms;
} coord_opts;

static void usage(void) {
    fprintf(stderr,
            "usage: mpirun -n 1 trice-coordinator [options] : -n W trice-worker\n"
            "  --check-world            register the workers, log the world, shut down (exit 0)\n"
            "  --register-timeout S     seconds to wait for every worker to register (default 60)\n"
            "  --log-level LEVEL        debug, info, warn, error (default info)\n"
            "  --log-file PATH          also append the log to PATH\n"
            "Without --check-world the coordinator waits until SIGTERM or SIGINT.\n");
}

static int parse_args(int argc, char **argv, coord_opts *o, tr_error *err) {
    memset(o, 0, sizeof *o);
    o->register_timeout_ms = 60000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--check-world") == 0) o->check_world = 1;
        else if (strcmp(a, "--register-timeout") == 0 && has_val) {
            char *end;
            double s = strtod(argv[++i], &end);
            if (*end || s <= 0 || s > 86400)
                return TR_FAIL(err, TR_EINVAL, "--register-timeout '%s': want seconds in (0, 86400]", argv[i]);
            o->register_timeout_ms = (int)(s * 1000);
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
    }
    return 0;
}

/* Daemon idle loop: until a signal here or a worker's BYE (a signal there). */
static int serve_until_stop(const world *w, tr_error *err) {
    for (;;) {
        int sig = sig_stop_requested();
        if (sig) { LOG_I("signal %d received: shutting the job down", sig); return 0; }
        int flag = 0;
        MPI_Status st;
        TR_TRY(MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, TAG_BYE, MPI_COMM_WORLD, &flag, &st), err));
        if (flag) {
            int s = 0;
            TR_TRY(MPI_CHECK(MPI_Recv(&s, 1, MPI_INT, st.MPI_SOURCE, TAG_BYE, MPI_COMM_WORLD, MPI_STATUS_IGNORE), err));
            LOG_I("worker rank %d received signal %d: shutting the job down", st.MPI_SOURCE, s);
            return 0;
        }
        struct timespec d = {0, 10 * 1000000L};
        nanosleep(&d, NULL);
    }
    (void)w;
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
    if (!o.check_world) {
        LOG_I("no experiment to run (training arrives with the engine); waiting for SIGTERM or SIGINT");
        rc = serve_until_stop(&w, &err);
        if (rc) { LOG_E("%s", err.msg); MPI_Abort(MPI_COMM_WORLD, 1); }
    }
    if (world_shutdown(&w, o.check_world ? "world checked" : "signal", &err)) {
        LOG_E("%s", err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    world_free(&w);
    comm_finalize(NULL);
    LOG_I("coordinator exiting cleanly");
    return 0;
}
