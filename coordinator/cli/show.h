/* show.h - how the trice CLI shows experiments: a progress line and a result summary for
 * people, JSON objects for scripts (--json). Pure formatting: no I/O except show_print_json.
 */
#ifndef TRICE_CLI_SHOW_H
#define TRICE_CLI_SHOW_H

#include <jansson.h>
#include <stddef.h>

#include "rpc.pb-c.h"

/* Local time "YYYY-MM-DD HH:MM:SS", or "-" for t <= 0. */
void show_time(double t, char *out, size_t cap);

/* "ID  running  trice (stage 2/2)  step 57/300 [#####...............]  19%  1.2 steps/s  eta 3m20s
 *  held-out 0.412 @ step 50  accept 0.31  beta 0.50  loss 0.5213"; no rate or ETA once it ended. */
void show_progress_line(const Trice__Rpc__Experiment *e, char *out, size_t cap);

/* "held-out accuracy 0.375 -> 0.680 on 200 examples; 300 steps, N tokens sampled; took 3m12s;
 * folder DIR" from a trice result.json; any other result text is shown as it is. */
void show_result(const Trice__Rpc__Experiment *e, char *out, size_t cap);

/* The experiment as a JSON object (new reference): id, name, state, times (null when unset),
 * out_dir, queue_position, resume, cancel_requested, progress (or null), result (parsed), error. */
json_t *show_experiment_json(const Trice__Rpc__Experiment *e);

/* Print j compactly on one line to stdout, flush, and release it. */
void show_print_json(json_t *j);

#endif
