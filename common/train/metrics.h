/* metrics.h - the per-step training log, metrics.jsonl (ALGORITHM.md section 7).
 *
 * One JSON object per line, one line per step, written with a single fwrite and flushed, in
 * append mode: a crash loses at most the line being written. Such a torn last line is what a
 * resume must expect, so the readers here skip any line that does not parse (only the last
 * line can legitimately be torn; a bad line elsewhere is reported as corruption), and
 * metrics_truncate_to_step() rewrites the file (atomically) to the complete lines with
 * step <= the checkpoint's step before a resumed run appends again.
 *
 * Line fields: step, proposal_acc, memory_acc, beta_mean, nonzero_terms, L, loss, grad_norm,
 * tokens_sampled, tokens_trained, bytes_moved, bytes_worker, sample_digest (16 hex digits), phases {sample, check, gradient, comm,
 * update, resample, reduce, wait, broadcast, eval, total} (seconds), lr, time (seconds since the Unix epoch) and, only on steps
 * that measured them, eval_acc and maj_acc (+ maj_k).
 * A non-finite number is written as null (JSON has no NaN).
 */
#ifndef TRICE_TRAIN_METRICS_H
#define TRICE_TRAIN_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/util/err.h"

typedef struct metrics_phases {
    double sample, check, gradient, comm, update;   /* seconds spent in each phase */
    double resample;   /* beta, weights and systematic resampling (coordinator) */
    double reduce;     /* the workers' gradient all-reduce once all arrived (part of comm; the slowest worker's) */
    double wait;       /* the wait before it for the slowest worker's gradient (not comm) */
    double broadcast;  /* parameter and optimiser state pushed from rank 0 (part of comm; resume, STaR restarts) */
    double eval;       /* held-out evaluation */
    double total;      /* wall time of the whole step */
} metrics_phases;

typedef struct metrics_row {
    int64_t step;
    double proposal_acc;     /* mean a_i */
    double memory_acc;       /* mean mask_i */
    double beta_mean;
    int64_t nonzero_terms;
    int64_t L;               /* subsampling budget (0 = all terms) */
    double loss;
    double grad_norm;
    int64_t tokens_sampled;
    int64_t tokens_trained;  /* positions of the step's gradient passes, all workers, padding excluded */
    int64_t bytes_moved;     /* bytes through rank 0: the coordinator sent and received in the step (0 without MPI) */
    int64_t bytes_worker;    /* bytes the busiest worker sent and received to and from other workers (0 with one) */
    uint64_t sample_digest;   /* engine_counts.sample_digest; written as 16 hex digits */
    metrics_phases phases;
    int has_eval;            /* eval_acc present */
    double eval_acc;
    int has_maj;             /* maj_acc / maj_k present */
    double maj_acc;
    int64_t maj_k;
    int has_var;             /* var_cv / var_nocv present (variance probe) */
    double var_cv;           /* trace of the covariance of the control-variate gradient estimate */
    double var_nocv;         /* the same for the basic (no control variate) estimate */
    double lr;
    double time;             /* seconds since the Unix epoch */
} metrics_row;

typedef struct metrics_log {
    FILE *f;
    char path[4096];
} metrics_log;

/* Open (create if needed) path for appending. */
int metrics_open(metrics_log *log, const char *path, tr_error *err);
/* Append one line and flush it. */
int metrics_append(metrics_log *log, const metrics_row *row, tr_error *err);
void metrics_close(metrics_log *log);

/* JSON form of a row (new reference; NULL on allocation failure) and its inverse.
 * metrics_row_parse requires step and accepts missing optional fields (left 0 / has_* = 0). */
json_t *metrics_row_json(const metrics_row *row);
int metrics_row_parse(const json_t *obj, metrics_row *row, tr_error *err);

/* Largest step among the complete, parsable lines of path (*step = -1 if none; a missing file
 * counts as empty). A torn last line is skipped; an unparsable line before the last is
 * TR_EFORMAT naming the line number. */
int metrics_read_last_step(const char *path, int64_t *step, tr_error *err);

/* Rewrite path atomically keeping only complete lines whose step <= max_step, so that the lines
 * a crashed run wrote after its last checkpoint disappear on resume. A missing file is fine.
 * *kept (may be NULL) gets the number of lines kept. */
int metrics_truncate_to_step(const char *path, int64_t max_step, int *kept, tr_error *err);

#endif
