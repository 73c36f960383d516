/* worker.h - the worker rank's main loop. */
#ifndef TRICE_WORKER_WORKER_H
#define TRICE_WORKER_WORKER_H

#include "common/util/err.h"

/* Register with the coordinator and serve its commands until SHUTDOWN. */
int worker_run(int rank, int size, tr_error *err);

#endif
