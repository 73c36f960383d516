/* fleet_mpi.h - the fleet as W worker ranks over MPI (common/comm/msg.h protocol).
 * The coordinator's training loop (common/engine/trainer.h) runs unchanged on it. */
#ifndef TRICE_COORDINATOR_FLEET_MPI_H
#define TRICE_COORDINATOR_FLEET_MPI_H

#include "common/engine/fleet.h"

typedef struct fleet_mpi_ctx {
    int size;                          /* MPI world size (W + 1) */
    void (*heartbeat)(void *ctx, int rank);   /* called when a rank answered; may be NULL */
    void *heartbeat_ctx;
} fleet_mpi_ctx;

/* A fleet_factory (trainer.h): sends RUN with the spec to every worker and waits until each
 * is ready; a worker that cannot start names itself in the error. ctx is a fleet_mpi_ctx. */
int fleet_mpi_make(void *ctx, const experiment_spec *spec, fleet **out, tr_error *err);

#endif
