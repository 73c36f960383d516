/* trice-worker: MPI ranks 1..W. Registers with the coordinator, then follows its commands. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/comm/wire.h"
#include "common/util/log.h"
#include "common/util/sig.h"
#include "trice_config.h"
#include "worker/worker.h"

static void usage(void) {
    fprintf(stderr,
            "usage: trice-worker [--log-level debug|info|warn|error] [--log-file PATH]\n"
            "Started by mpirun next to one trice-coordinator (rank 0); see README.\n");
}

int main(int argc, char **argv) {
    tr_error err = {0};
    int rank = -1, size = 0;
    sig_install();
    if (comm_init(&argc, &argv, &rank, &size, &err)) {
        fprintf(stderr, "trice-worker: %s\n", err.msg);
        return 1;
    }
    log_init(rank, "worker", LOG_INFO);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            log_level l;
            if (log_parse_level(argv[++i], &l, &err)) { LOG_E("%s", err.msg); MPI_Abort(MPI_COMM_WORLD, 2); }
            log_set_level(l);
        } else if (strcmp(argv[i], "--log-file") == 0 && i + 1 < argc) {
            if (log_open_file(argv[++i], &err)) { LOG_E("%s", err.msg); MPI_Abort(MPI_COMM_WORLD, 2); }
        } else if (strcmp(argv[i], "--help") == 0) {
            usage();
            MPI_Finalize();
            return 0;
        } else {
            LOG_E("unknown option '%s' (see trice-worker --help)", argv[i]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    }
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
