/* optim.h - AdamW (decoupled weight decay), plain Adam, global-norm clipping, lr schedules.
 *
 * The optimiser owns the moments m and v (one float each per parameter) and the step count;
 * the caller owns parameters and gradients. Parameters are described as groups (offset, count,
 * decay) so weight decay touches only the 2-D weight matrices: gpt_param_groups() gives the
 * GPT-2 grouping (decay on wte, wpe, qkvw, attprojw, fcw, fcprojw, as llm.c and nanoGPT do; none
 * on biases and LayerNorm). A soft prompt is one group without decay: plain Adam.
 *
 * Update (PyTorch's AdamW): t = step + 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + lr * wd * p   (wd only in decay groups).
 */
#ifndef TRICE_MODEL_OPTIM_H
#define TRICE_MODEL_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/model/gpt.h"
#include "common/util/err.h"

typedef struct optim_group {
    size_t offset, count;
    int decay;              /* 1: apply weight decay */
} optim_group;

typedef struct optim_hparams {
    float beta1, beta2, eps, weight_decay;
} optim_hparams;

/* beta1 0.9, beta2 0.95, eps 1e-8, weight decay 0.1 (GPT-2 / llm.c training defaults). */
optim_hparams optim_hparams_default(void);

typedef struct optim_state {
    size_t n;           /* parameters covered */
    float *m, *v;       /* (n) first and second moments */
    int64_t step;       /* updates applied so far */
} optim_state;

int optim_init(optim_state *s, size_t n, tr_error *err);
void optim_free(optim_state *s);

/* One update of params (n) with grads (n) at learning rate lr; groups must lie inside n.
 * Increments s->step. */
int optim_adamw_step(optim_state *s, float *params, const float *grads, const optim_group *groups,
                     int ngroups, float lr, const optim_hparams *hp, tr_error *err);

/* Global L2 norm of grads (n), accumulated in double. If max_norm > 0 and the norm exceeds it,
 * scales grads by max_norm / (norm + 1e-6) (as torch.nn.utils.clip_grad_norm_). Returns the norm
 * before clipping. */
double optim_clip_grad_norm(float *grads, size_t n, double max_norm);
/* The same on a backend's memory (the CPU's gives optim_clip_grad_norm's bits). */
double optim_clip_grad_norm_on(const gpt_backend *be, float *grads, size_t n, double max_norm);

/* The 16 GPT-2 tensors as groups (decay on 2-D weight matrices only). Returns the count (16). */
int gpt_param_groups(const gpt *g, optim_group groups[GPT_NUM_TENSORS]);

typedef enum { OPTIM_SCHED_CONSTANT = 0, OPTIM_SCHED_COSINE = 1 } optim_sched_kind;

typedef struct optim_schedule {
    optim_sched_kind kind;
    float lr;             /* peak learning rate */
    int64_t warmup_steps; /* cosine: linear warm-up from lr/warmup to lr over this many steps */
    int64_t total_steps;  /* cosine: the decay reaches min_lr_ratio * lr at this step */
    float min_lr_ratio;   /* cosine: floor as a fraction of lr */
} optim_schedule;

/* Learning rate for update number step (0-based). Constant: lr. Cosine: lr * (step+1)/warmup
 * during warm-up, then min + (lr - min) * (1 + cos(pi * progress)) / 2, held at min afterwards. */
float optim_lr(const optim_schedule *sc, int64_t step);

#endif
