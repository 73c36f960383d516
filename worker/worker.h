/* worker.h - the worker rank's main loop. */
#ifndef TRICE_WORKER_WORKER_H
#define TRICE_WORKER_WORKER_H

#include "common/util/err.h"

/* Register with the coordinator and serve its commands until SHUTDOWN. */
int worker_run(int rank, int size, tr_error *err);

/* One experiment (RUN command): build the engine side, serve fleet ops until OP_END.
 * A set-up failure (bad file on this node, ...) is reported to the coordinator, which fails
 * the experiment and ends it with OP_END; that returns 0 and the worker serves the next
 * command. A failure during the ops is returned: fatal to the job. */
int worker_train(int rank, int size, const char *spec_json, tr_error *err);

#endif
