/* progress.h - the one record of a training step's progress, as the control plane keeps it.
 *
 * The training loop posts a control_progress per step (control_progress_post, control.h);
 * the snapshot keeps that record as it came (the latest per experiment, and the recent
 * steps in a ring: state.h) and the RPC (rpc.c) and the status endpoint (http.c) render it.
 * Every number derived from it (the step's seconds, the global step, the held-out point of
 * a chart) is computed here, once, so that RPC and HTTP cannot disagree.
 */
#ifndef TRICE_CONTROL_PROGRESS_H
#define TRICE_CONTROL_PROGRESS_H

#include <stdint.h>

/* One training step's numbers. Fields the loop does not know yet: NAN (doubles) or -1. */
typedef struct control_progress {
    int64_t step;                /* steps done (1-based after the first step) */
    int64_t total_steps;
    double proposal_acc;         /* share of proposals accepted this step, [0,1] */
    double memory_acc;           /* share of memory rationales with a correct answer, [0,1] */
    double beta;                 /* mean control-variate weight this step */
    double loss;                 /* training loss (nats per token) */
    double eval_acc;             /* latest held-out accuracy of this stage, [0,1]; NAN before the first eval */
    int64_t eval_step;           /* the step eval_acc was measured after (0 = none yet) */
    char stage[32];              /* "warm-up" or the method ("trice", ...); "" = unknown */
    int stage_index, stage_count;/* 1-based; 0 = unknown */
    int64_t step_offset;         /* steps of the earlier stages: step_offset + step is the experiment's global step */
    int64_t tokens;              /* tokens sampled this step (added to a counter) */
    double sample_s, grad_s, reduce_s, optim_s; /* seconds per phase this step (added to counters) */
    double eta_s;                /* estimated seconds left */
} control_progress;

/* Seconds the step took: the sum of its phases (NAN when one is unknown). */
double control_progress_step_seconds(const control_progress *p);
/* The step over all stages of the experiment: step_offset + step. */
int64_t control_progress_global_step(const control_progress *p);
/* eval_acc when it was measured after this very step, else NAN: charts of recent steps
 * show held-out points only where they were measured, not the carried latest value. */
double control_progress_eval_here(const control_progress *p);

#endif
