/* side_impl.h - the layout of engine_side, for the engine's own files only (side.c,
 * eval.c, side_star.c). Everything else goes through engine.h. */
#ifndef TRICE_ENGINE_SIDE_IMPL_H
#define TRICE_ENGINE_SIDE_IMPL_H

#include "common/engine/engine.h"
#include "common/engine/gplan.h"
#include "common/model/optim.h"
#include "common/train/fixsum.h"

struct engine_side {
    experiment_spec spec;
    task task;                /* whole task (every process loads the same); see engine_task_load */
    tokenizer tok;            /* spec.model.tokenizer: byte or GPT-2 */
    int max_tokens;           /* token positions per sequence: context - prompt_len */
    gpt model;
    int index, nworkers;      /* this side's place in the fleet (shard_owner) */
    int nthreads;             /* TRICE_THREADS (1..ENGINE_MAX_THREADS), default 1 */
    gpt_sampler samplers[ENGINE_MAX_THREADS];   /* one KV cache per thread */
    int gthreads;             /* gradient threads: nthreads, fewer when their buffers would pass 1 GiB */
    gpt gviews[ENGINE_MAX_THREADS - 1];         /* threads 1.. : views of model (own activations, gradients) */
    fixsum *gfix[ENGINE_MAX_THREADS - 1];       /* [n_tunable] their exact gradient sums */
    memory mem;               /* one entry per training example this side owns */

    /* the current step's examples held here (set by engine_side_propose) */
    int n;
    int64_t step;             /* the step being computed (position jitter draws from it) */
    int64_t *ids;             /* [cap] global ids */
    int *mem_idx;             /* [cap] index into mem */
    int K;                    /* proposals per example: particles for rs, else 1 */
    int32_t *prop;            /* [cap * K * max_new] proposal tokens */
    int *prop_len;            /* [cap * K] */
    uint8_t *prop_correct;    /* [cap * K] c(proposal, y) */
    int cap;
    /* the step's whole minibatch (every side's examples; engine_side_set_minibatch) */
    int batch_M;
    int64_t *batch_ids;       /* [cap] */
    int *batch_owner;         /* [cap] the side holding each */
    int *batch_local;         /* [cap] its index among that side's examples (ids, mem_idx) */

    /* the gradient in progress (side_grad.c) */
    int G;                    /* terms per group: engine_group_terms; model and views hold G sequences */
    grad_plan plan;           /* made by engine_side_grad_finish, from every term's length */
    est_coef *gterms;         /* [gcap] the step's term list (ex: minibatch index) */
    int gn, gcap;

    /* scratch */
    int *prompt_tok;          /* [max_tokens] a prompt's tokens (see engine_side_gradient) */
    char *text;               /* [text_cap] decoded text */
    size_t text_cap;          /* max_tokens * the longest token's bytes + 1 */
    fixsum *grad_fix;         /* [n_tunable] this side's groups' gradients, summed exactly */
    size_t n_tunable;         /* all weights (full) or the P x C soft prompt */
    engine_counts counts;     /* since the last engine_side_take_counts */

    /* the optimiser replica (side_optim.c): made on the first update or state push */
    int opt_ready;
    optim_state opt;          /* every side holds the same bits: the same update of the same exact sum */
    optim_group ogroups[GPT_NUM_TENSORS];
    int nogroups;
    optim_hparams hp;
    float *gflt;              /* [n_tunable] the summed gradient as floats, clipped */

    /* the device (side_device.c): dev NULL = everything on the host */
    const gpt_backend *dev;
    int dev_index;
    char dev_name[300];       /* "cuda:N (device name)" */
    gpt dmodel;               /* on dev: the host model's weights, mirrored; G sequences */
    void *dfix;               /* on dev: [n_tunable] fixsum, this step's exact gradient sum */
    int fix_on_device;        /* dfix holds the step's sum, grad_fix does not (yet) */
    float *dgrad;             /* on dev: [n_tunable] the sum as floats, clipped (device update) */
    int dev_update;           /* one side: the optimiser runs on the device (side_device.c) */
    float *dm, *dv;           /* on dev: [n_tunable] the moments when dev_update */
    int dev_stale;            /* the host's copy is newer: 1 the tunable weights (and moments when
                               * dev_update), 2 all weights (a checkpoint load) */
    int host_stale;           /* the device's tunable weights and moments are newer (dev_update) */
};

/* side_device.c: the device from TRICE_DEVICE, else the spec's device (-1: the host); open and close the side's
 * device model; sync: bring the device's copy up to date before use (dev_stale); pull: bring
 * the host's up to date before it is read (host_stale); the model the side computes with; the
 * step's exact sum on the device (begin, add a group, end) and its copy to the host; the
 * optimiser step on the device (dev_update). */
int side_device_choose(const char *spec_device, int *device, tr_error *err);
int side_device_open(engine_side *e, tr_error *err);
void side_device_close(engine_side *e);
int side_device_sync(engine_side *e, tr_error *err);
int side_device_pull(engine_side *e, tr_error *err);
gpt *side_compute_model(engine_side *e);
int side_device_sum_begin(engine_side *e, tr_error *err);
int side_device_sum_add(engine_side *e, const gpt *m, tr_error *err);
int side_device_sum_end(engine_side *e, tr_error *err);
int side_device_pull_sum(engine_side *e, tr_error *err);
int side_device_update(engine_side *e, float lr, double *norm, tr_error *err);

/* side.c's helpers for side_grad.c: fn on each of n items (size bytes apart) at once, item 0
 * on this thread; the monotonic clock in seconds. */
void side_run_parallel(void *(*fn)(void *), void *items, size_t size, int n);
double side_now_s(void);

#endif
