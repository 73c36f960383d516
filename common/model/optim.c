/* optim.c - AdamW, clipping and schedules (see optim.h). */
#include "common/model/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


optim_hparams optim_hparams_default(void)
{
    optim_hparams h = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    return h;
}

int optim_init(optim_state *s, size_t n, tr_error *err)
{
    memset(s, 0, sizeof *s);
    if (!(s->m = tr_calloc(n ? n : 1, sizeof(float), err)) || !(s->v = tr_calloc(n ? n : 1, sizeof(float), err))) {
        optim_free(s);
        return TR_ENOMEM;
    }
    s->n = n;
    return 0;
}

void optim_free(optim_state *s)
{
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

int optim_adamw_step(optim_state *s, float *params, const float *grads, const optim_group *groups,
                     int ngroups, float lr, const optim_hparams *hp, tr_error *err)
{
    for (int k = 0; k < ngroups; k++)
        if (groups[k].offset > s->n || groups[k].count > s->n - groups[k].offset)
            return TR_FAIL(err, TR_EINVAL, "optim_adamw_step: group %d [%zu, +%zu) outside the %zu parameters",
                           k, groups[k].offset, groups[k].count, s->n);
    const gpt_backend *be = gpt_backend_cpu();  /* m, v and the arrays are host memory */
    int64_t t = s->step + 1;
    float b1 = hp->beta1, b2 = hp->beta2;
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    for (int k = 0; k < ngroups; k++) {
        float wd = groups[k].decay ? hp->weight_decay : 0.0f;
        size_t o = groups[k].offset;
        be->adamw(params + o, s->m + o, s->v + o, grads + o, groups[k].count, lr, b1, b2, bc1, bc2,
                  hp->eps, wd);
    }
    s->step = t;
    return 0;
}

double optim_clip_grad_norm(float *grads, size_t n, double max_norm)
{
    return optim_clip_grad_norm_on(gpt_backend_cpu(), grads, n, max_norm);
}

double optim_clip_grad_norm_on(const gpt_backend *be, float *grads, size_t n, double max_norm)
{
    double norm = sqrt(be->sumsq(grads, n));
    if (max_norm > 0.0 && norm > max_norm) be->scale(grads, n, (float)(max_norm / (norm + 1e-6)));
    return norm;
}

int gpt_param_groups(const gpt *g, optim_group groups[GPT_NUM_TENSORS])
{
    for (int i = 0; i < GPT_NUM_TENSORS; i++) {
        groups[i].offset = g->param_offsets[i];
        groups[i].count = g->param_sizes[i];
        groups[i].decay = i == GPT_T_WTE || i == GPT_T_WPE || i == GPT_T_QKVW || i == GPT_T_ATTPROJW ||
                          i == GPT_T_FCW || i == GPT_T_FCPROJW;
    }
    return GPT_NUM_TENSORS;
}

float optim_lr(const optim_schedule *sc, int64_t step)
{
    if (sc->kind == OPTIM_SCHED_CONSTANT) return sc->lr;
    if (step < sc->warmup_steps) return sc->lr * (float)(step + 1) / (float)sc->warmup_steps;
    float min_lr = sc->lr * sc->min_lr_ratio;
    int64_t span = sc->total_steps - sc->warmup_steps;
    if (span <= 0 || step >= sc->total_steps) return min_lr;
    double progress = (double)(step - sc->warmup_steps) / (double)span;
    return min_lr + (sc->lr - min_lr) * (float)(0.5 * (1.0 + cos(M_PI * progress)));
}
