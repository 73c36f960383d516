/* side_optim.c - the optimiser step on an example side (engine.h, engine_side_update).
 *
 * Why here and not at the coordinator: the exact gradient sum (fixsum.h) is all-reduced among
 * the workers, so every side holds the same bits of it; every side then runs the same
 * clip + AdamW on the same parameters with the same replicated state, and all keep the same
 * bits without any parameter traffic. The coordinator (rank 0) sees neither gradients nor
 * parameters per step, nor at a checkpoint: the sides write and read those themselves
 * (side_ckpt.c); it pushes the state only at a STaR restart (engine_side_state_set). The hyper-parameters
 * come from the spec, cast as the trainer always cast them, so the bits match a
 * single-process run's.
 */
#include <stdlib.h>
#include <string.h>

#include "common/engine/side_impl.h"

/* The replica's buffers, on first use: `trice eval` and the coordinator's probe never pay for them. */
static int optim_ready(engine_side *e, tr_error *err) {
    if (e->opt_ready) return 0;
    const experiment_spec *s = &e->spec;
    TR_TRY(optim_init(&e->opt, e->n_tunable, err));
    if (!(e->gflt = tr_malloc((e->n_tunable ? e->n_tunable : 1) * sizeof *e->gflt, err))) return TR_ENOMEM;
    if (s->tunable == TUNABLE_PROMPT) {
        e->ogroups[0] = (optim_group){0, e->n_tunable, 0};   /* soft prompt: plain Adam */
        e->nogroups = 1;
    } else {
        e->nogroups = gpt_param_groups(&e->model, e->ogroups);
    }
    e->hp = (optim_hparams){(float)s->optim.beta1, (float)s->optim.beta2, (float)s->optim.eps,
                            (float)s->optim.weight_decay};
    e->opt_ready = 1;
    return 0;
}

fixsum *engine_side_grad_sum(engine_side *e, size_t *n) {
    *n = e->n_tunable;
    return e->grad_fix;
}

int engine_side_update(engine_side *e, const fixsum *sum, float lr, double *norm, tr_error *err) {
    TR_TRY(optim_ready(e, err));
    double t0 = side_now_s();
    if (e->dev_update && sum == e->grad_fix && e->fix_on_device) {   /* one side: all on the device */
        int rc = side_device_update(e, lr, norm, err);
        e->counts.update_s += side_now_s() - t0;
        return rc;
    }
    TR_TRY(side_device_pull(e, err));   /* the host's replica must be the newest */
    size_t n;
    float *p = engine_side_tunable(e, &n);
    fixsum_to_floats(sum, e->gflt, n);
    *norm = optim_clip_grad_norm(e->gflt, n, e->spec.optim.grad_clip);
    int rc = optim_adamw_step(&e->opt, p, e->gflt, e->ogroups, e->nogroups, lr, &e->hp, err);
    if (e->dev_stale < 1) e->dev_stale = 1;   /* the device copy follows before its next use */
    e->counts.update_s += side_now_s() - t0;
    return rc;
}

int engine_side_state_get(engine_side *e, const float **params, const optim_state **opt, size_t *n, tr_error *err) {
    TR_TRY(optim_ready(e, err));   /* before the first update: zero moments, step 0 */
    TR_TRY(side_device_pull(e, err));
    *params = engine_side_tunable(e, n);
    *opt = &e->opt;
    return 0;
}

int engine_side_state_set(engine_side *e, const float *params, const float *m, const float *v, int64_t step, size_t n,
                          tr_error *err) {
    if (n != e->n_tunable)
        return TR_FAIL(err, TR_EINTERNAL, "a state of %zu parameters for a side with %zu (versions differ?)", n, e->n_tunable);
    TR_TRY(optim_ready(e, err));
    size_t k;
    float *p = engine_side_tunable(e, &k);
    if (p != params) memcpy(p, params, n * sizeof *p);
    e->host_stale = 0;   /* replaced whole: the device's newer copy (if any) is superseded */
    if (e->dev_stale < 1) e->dev_stale = 1;
    memcpy(e->opt.m, m, n * sizeof *m);
    memcpy(e->opt.v, v, n * sizeof *v);
    e->opt.step = step;
    return 0;
}

void engine_side_count_peer(engine_side *e, int64_t bytes, double xfer_s, double wait_s) {
    e->counts.peer_bytes += bytes;
    e->counts.peer_s += xfer_s;
    e->counts.wait_s += wait_s;
}
