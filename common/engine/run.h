/* run.h - the training loop's state and its method strategies, for the loop's own files
 * (trainer.c, trainer_stage.c, trainer_report.c, method.c, star.c, probe.c). Everything else goes through trainer.h. */
#ifndef TRICE_ENGINE_RUN_H
#define TRICE_ENGINE_RUN_H

#include "common/engine/schedule.h"
#include "common/engine/trainer.h"
#include "common/model/ckpt.h"
#include "common/model/optim.h"
#include "common/engine/ckptdir.h"
#include "common/util/path.h"

typedef struct run run;
typedef struct star_state star_state;

/* What differs between the methods of ALGORITHM.md §4-6 as the loop sees it. */
typedef struct method_strategy {
    int proposes;       /* samples proposals every step (trice, trice-nocv, rs): the zero-accept watch */
    int needs_memory;   /* learns only from valid memory: refuse an empty one (trice, trice-nocv, sft) */
    /* Steps of the whole stage. */
    int64_t (*total_steps)(const experiment_spec *s);
    /* The minibatch of step into r->ids, and the step the learning-rate schedule is at. */
    int (*batch)(run *r, int64_t step, int64_t *lr_step, tr_error *err);
    /* The coefficient list of step into r->coefs from the proposals' outcome (r->a, r->mask,
     * r->correct); *st the step's statistics. Returns the count, or -1 with err set. */
    int (*coefs)(run *r, int64_t step, est_stats *st, tr_error *err);
} method_strategy;

const method_strategy *method_strategy_of(spec_method m);

/* Everything the loop owns; freed in one place (trainer.c, run_free). */
struct run {
    const experiment_spec *spec;
    const method_strategy *method;
    const char *out_dir;
    fleet *f;
    const trainer_hooks *hooks;
    gpt master;                 /* the model as the spec builds it (every side's start): the sides hold and
                                 * update the live parameters (fleet.h, step) and write them to
                                 * checkpoints themselves; this copy is the STaR base, and takes the
                                 * final model back from the last checkpoint to write it at the top */
    float *tunable;             /* master.params or master.prompt */
    size_t n_tunable;
    float *grads;               /* [n_tunable] the variance probe's gradients */
    optim_state opt;            /* pushed to the sides at a STaR restart (and for a checkpoint from
                                 * before manifests, read into here) */
    char last_ckpt[PATH_BUF];   /* the folder of the last checkpoint written */
    optim_schedule sched;
    task task;                  /* for the training ids */
    schedule sch;
    metrics_log log;
    ckptdir_extras x;              /* step, tokens, before-accuracies, star iteration */
    star_state *star;           /* STaR's outer loop (star.c); NULL for the other methods */
    int M, K;
    int64_t total_steps;
    uint8_t *a, *mask, *correct;
    double *beta;
    est_term *terms;
    int *counts;
    est_coef *coefs;
    int64_t *ids;
};

/* The loop's clock: monotonic seconds (trainer.c). */
double run_now_s(void);

/* Evaluation, checkpoints and the ends of a stage (trainer_stage.c). */
/* Held-out evaluation; writes per-example lines to out_dir/<name> when name is given;
 * *secs (may be NULL) gets its wall time. */
int run_eval(run *r, const char *name, double *acc, double *maj, double *secs, tr_error *err);
/* A checkpoint after steps_done steps; the checkpointed hook hears of it. */
int run_checkpoint(run *r, int64_t steps_done, tr_error *err);
/* Continue from the newest usable checkpoint: parameters, optimiser, memory, metrics cut to it. */
int run_resume(run *r, tr_error *err);
/* A fresh stage: fill the memory, refuse an empty one, evaluate before training, and remove
 * the metrics log mpath. */
int run_start(run *r, const char *mpath, tr_error *err);
/* A stage that ran out: evaluate after, checkpoint, and the final model (and soft prompt) at
 * the top of the folder. */
int run_finish(run *r, int64_t step, trainer_result *res, tr_error *err);

/* What the loop tracks across steps for the progress lines (trainer_report.c). */
typedef struct run_progress {
    double t_start, tok_run, last_eval;
    int64_t steps_run, zero_run;
    metrics_phases ph_sum;
    int ph_n;
} run_progress;
/* After step (steps done: step), before its evaluation: count it, watch for zero acceptance. */
void run_progress_step(run_progress *p, const run *r, const metrics_row *row, int64_t step);
/* After its metrics line: the progress line and hook, and every 25 steps (or the last) the phases. */
void run_progress_report(run_progress *p, const run *r, const metrics_row *row, int last);

/* STaR's outer loop (star.c): the base parameters every iteration restarts from, and the
 * schedule over the examples the last collection kept. */
int star_init(run *r, tr_error *err);
void star_free(run *r);
int star_batch(run *r, int64_t step, int64_t *lr_step, tr_error *err);

/* The variance of the gradient estimators at the current parameters (probe.c). */
int run_probe(run *r, int64_t step, double *var_cv, double *var_nocv, tr_error *err);

#endif
