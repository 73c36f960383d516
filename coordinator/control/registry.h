/* registry.h - experiments that survive daemon restarts (SQLite, WAL).
 *
 * One table, experiments: id, name, spec json, state, created/started/finished (unix
 * seconds), result json, error, out dir, resume flag and seq (FIFO order: the queue is
 * the queued rows by ascending seq). Every state change is one transaction.
 * Not thread-safe: the control thread owns the handle (see control.c).
 */
#ifndef TRICE_CONTROL_REGISTRY_H
#define TRICE_CONTROL_REGISTRY_H

#include <stdint.h>

#include "common/spec/spec.h"
#include "common/util/err.h"

typedef enum { EXP_QUEUED = 0, EXP_RUNNING, EXP_SUCCEEDED, EXP_FAILED, EXP_CANCELLED, EXP_NSTATES } exp_state;

const char *exp_state_name(exp_state s);
/* 1 for succeeded, failed, cancelled. */
int exp_state_final(exp_state s);

/* One row. Strings are owned by the row (reg_row_free). */
typedef struct reg_row {
    char id[64];
    char name[128];
    char *spec_json;
    exp_state state;
    double created_at, started_at, finished_at;
    char *result_json;   /* NULL when none */
    char *error;         /* NULL when none */
    char out_dir[SPEC_PATH_MAX];   /* the spec's out_dir, resolved (control/paths.h) */
    int resume;
    int64_t seq;
    int crashes;         /* times the daemon died while it was running */
    int cancel_requested;/* a cancel was acknowledged while it ran */
} reg_row;

void reg_row_free(reg_row *r);

typedef struct registry registry;

/* Open (create) the database at path. ":memory:" is allowed (tests, fuzzing). */
int registry_open(const char *path, registry **out, tr_error *err);
void registry_close(registry *r);

/* How long a write waits for a lock held by another connection before failing. */
#define REGISTRY_BUSY_MS 10000
/* Default for registry_recover's max_crashes. */
#define REGISTRY_MAX_CRASHES 2

/* After a restart. A row still 'running' was running when the daemon died (a clean
 * shutdown requeues it first): its crash count goes up by one; at max_crashes it becomes
 * 'failed' with a message saying so (*n_failed); one whose cancel was acknowledged becomes
 * 'cancelled'; otherwise 'queued' with resume = 1, ahead
 * of the rest of the queue in its old order (*n_resumed). */
int registry_recover(registry *r, int max_crashes, int *n_resumed, int *n_failed, tr_error *err);

/* Insert a new queued row; fills row->seq (the end of the queue). */
int registry_insert(registry *r, reg_row *row, tr_error *err);

/* Change state and its timestamp fields; result/error may be NULL (left unchanged). */
int registry_update(registry *r, const char *id, exp_state state, double started_at, double finished_at,
                    const char *result_json, const char *error, int resume, tr_error *err);

/* Record that the user cancelled running experiment id (one statement, durable on return):
 * if the daemon dies before the experiment stops, registry_recover marks it cancelled. */
int registry_set_cancel_requested(registry *r, const char *id, tr_error *err);

/* Every row in seq order; caller frees each with reg_row_free and the array with free. */
int registry_load_all(registry *r, reg_row **rows, int *n, tr_error *err);

/* Largest seq so far (0 when empty). */
int64_t registry_max_seq(registry *r);

#endif
