/* trice-worker: MPI ranks 1..W. Registers with the coordinator, then follows its commands. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/comm/wire.h"
#include "common/engine/engine.h"
#include "common/util/cliopt.h"
#include "common/util/log.h"
#include "common/util/sig.h"
#include "trice_config.h"
#include "worker/worker.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: trice-worker [--log-level debug|info|warn|error] [--log-file PATH] [--device D]\n"
            "Started by mpirun next to one trice-coordinator (rank 0):\n"
            "  mpirun -n 1 trice-coordinator [options] : -n W trice-worker\n"
            "  --device D    cpu, cuda, cuda:N or auto (default: TRICE_DEVICE, else auto: one GPU per\n"
            "                worker by its local rank when GPUs are visible, else the CPU)\n"
            "  -h, --help    this text (needs no mpirun)\n");
}

static int under_mpirun(void) { return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK"); }

/* Before MPI starts. Returns 0, -1 after --help, or CLIOPT_USAGE after printing why. */
static int parse_args(int argc, char **argv) {
    enum { O_LEVEL = 256, O_FILE, O_DEVICE };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'}, {"log-level", required_argument, NULL, O_LEVEL},
        {"log-file", required_argument, NULL, O_FILE}, {"device", required_argument, NULL, O_DEVICE},
        {NULL, 0, NULL, 0},
    };
    tr_error err = {0};
    log_level l;
    cliopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return -1; }
        if (c == O_LEVEL) {
            if (log_parse_level(optarg, &l, &err)) { fprintf(stderr, "trice-worker: --log-level: %s\n", err.msg); return CLIOPT_USAGE; }
            log_set_level(l);
        } else if (c == O_DEVICE) {
            if (engine_device_set(optarg, &err)) { fprintf(stderr, "trice-worker: --device: %s\n", err.msg); return CLIOPT_USAGE; }
        } else if (c == O_FILE) {
            if (log_open_file(optarg, &err)) { fprintf(stderr, "trice-worker: --log-file: %s\n", err.msg); return CLIOPT_USAGE; }
        } else return cliopt_report("trice-worker", c, argv, lo);
    }
    if (optind < argc) {
        fprintf(stderr, "trice-worker: unexpected argument '%s'; see 'trice-worker --help'\n", argv[optind]);
        return CLIOPT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv) {
    tr_error err = {0};
    int rank = -1, size = 0;
    log_init(-1, "worker", LOG_INFO);
    int prc = parse_args(argc, argv);
    if (prc < 0) return 0;
    if (prc && !under_mpirun()) return prc;
    sig_install();
    if (comm_init(&argc, &argv, &rank, &size, &err)) {
        fprintf(stderr, "trice-worker: %s\n", err.msg);
        return 1;
    }
    log_init(rank, "worker", log_get_level());
    if (prc) MPI_Abort(MPI_COMM_WORLD, prc);
    if (rank == 0) {
        LOG_E("trice-worker must not be rank 0: launch as 'mpirun -n 1 trice-coordinator : -n W trice-worker'");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int rc = worker_run(rank, size, &err);
    if (rc && rc != TR_ECANCELED) {
        LOG_E("%s", err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1); /* never leave the coordinator waiting on a dead peer */
    }
    comm_finalize(NULL);
    return 0;
}
