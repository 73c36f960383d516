/* worker.h - one MPI worker as it registered: the record the coordinator's world
 * (coordinator/world.h) fills from the worker's hello and the control plane (control.h)
 * shows in /status and /metrics. One record, shared, so that a new field is added once.
 * No dependencies: the world does not depend on the control plane, nor the reverse. */
#ifndef TRICE_CONTROL_WORKER_H
#define TRICE_CONTROL_WORKER_H

#include <stdint.h>

typedef struct control_worker {
    int rank;
    char host[256];
    int64_t pid;
    char version[32];
    int cores;
    char backend[128];       /* compute backend: "cpu-openblas" or "cuda:N (device name)" */
    double registered_at;    /* unix seconds; 0 = not known */
} control_worker;

#endif
