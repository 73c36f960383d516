/* world.h - the MPI world as the coordinator sees it: who registered, from where. */
#ifndef TRICE_COORDINATOR_WORLD_H
#define TRICE_COORDINATOR_WORLD_H

#include <stdint.h>

#include "common/util/err.h"
#include "coordinator/control/worker.h"

typedef struct world {
    int size;               /* MPI world size = W + 1 */
    int nworkers;           /* W */
    control_worker *workers;/* [W], index rank-1; the record the control plane shows (control_set_world) */
} world;

/* Receive every worker's hello within timeout_ms (0 = wait forever, polling for signals).
 * Rejects a protocol mismatch or a duplicate rank with a clear error. */
int world_register(world *w, int size, int timeout_ms, tr_error *err);
void world_log(const world *w);
/* Send SHUTDOWN to every worker. */
int world_shutdown(const world *w, const char *reason, tr_error *err);
void world_free(world *w);

#endif
