/* world.h - the MPI world as the coordinator sees it: who registered, from where. */
#ifndef TRICE_COORDINATOR_WORLD_H
#define TRICE_COORDINATOR_WORLD_H

#include <stdint.h>

#include "common/util/err.h"

typedef struct world_worker {
    int rank;
    char host[256];
    int64_t pid;
    char version[32];
    int cores;
    char backend[32];
    double registered_at;   /* unix seconds */
} world_worker;

typedef struct world {
    int size;               /* MPI world size = W + 1 */
    int nworkers;           /* W */
    world_worker *workers;  /* [W], index rank-1 */
} world;

/* Receive every worker's hello within timeout_ms (0 = wait forever, polling for signals).
 * Rejects a protocol mismatch or a duplicate rank with a clear error. */
int world_register(world *w, int size, int timeout_ms, tr_error *err);
void world_log(const world *w);
/* Send SHUTDOWN to every worker. */
int world_shutdown(const world *w, const char *reason, tr_error *err);
void world_free(world *w);

#endif
