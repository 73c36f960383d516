/* side_impl.h - the layout of engine_side, for the engine's own files only (side.c,
 * eval.c, side_star.c). Everything else goes through engine.h. */
#ifndef TRICE_ENGINE_SIDE_IMPL_H
#define TRICE_ENGINE_SIDE_IMPL_H

#include "common/engine/engine.h"

struct engine_side {
    experiment_spec spec;
    task task;                /* whole task (every process loads the same); see engine_task_load */
    tokenizer tok;            /* spec.model.tokenizer: byte or GPT-2 */
    int max_tokens;           /* token positions per sequence: context - prompt_len */
    gpt model;
    int nthreads;             /* TRICE_THREADS (1..ENGINE_MAX_THREADS), default 1 */
    gpt_sampler samplers[ENGINE_MAX_THREADS];   /* one KV cache per thread */
    int gthreads;             /* gradient threads: nthreads, fewer when their buffers would pass 1 GiB */
    gpt gviews[ENGINE_MAX_THREADS - 1];         /* threads 1.. : views of model (own activations, gradients) */
    double *gsums[ENGINE_MAX_THREADS - 1];      /* [n_tunable] their gradient sums */
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

    /* scratch */
    int *prompt_tok;          /* [max_tokens] a prompt's tokens (see engine_side_gradient) */
    char *text;               /* [text_cap] decoded text */
    size_t text_cap;          /* max_tokens * the longest token's bytes + 1 */
    double *grad_sum;         /* [n_tunable] the step's gradient, accumulated in double */
    size_t n_tunable;         /* all weights (full) or the P x C soft prompt */
    engine_counts counts;     /* since the last engine_side_take_counts */
};

#endif
