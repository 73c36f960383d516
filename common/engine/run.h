/* run.h - the training loop's state and its method strategies, for the loop's own files
 * (trainer.c, method.c, star.c, probe.c). Everything else goes through trainer.h. */
#ifndef TRICE_ENGINE_RUN_H
#define TRICE_ENGINE_RUN_H

#include "common/engine/schedule.h"
#include "common/engine/trainer.h"
#include "common/model/ckpt.h"
#include "common/model/optim.h"
#include "common/engine/ckptdir.h"

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
    gpt master;                 /* authoritative parameters (and soft prompt) */
    float *tunable;             /* master.params or master.prompt */
    size_t n_tunable;
    float *grads;               /* [n_tunable] summed gradient */
    optim_state opt;
    optim_group groups[GPT_NUM_TENSORS];
    int ngroups;
    optim_hparams hp;
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

/* STaR's outer loop (star.c): the base parameters every iteration restarts from, and the
 * schedule over the examples the last collection kept. */
int star_init(run *r, tr_error *err);
void star_free(run *r);
int star_batch(run *r, int64_t step, int64_t *lr_step, tr_error *err);

/* The variance of the gradient estimators at the current parameters (probe.c). */
int run_probe(run *r, int64_t step, double *var_cv, double *var_nocv, tr_error *err);

#endif
