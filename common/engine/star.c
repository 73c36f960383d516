/* star.c - STaR's outer loop (ALGORITHM.md §6): each of star_iterations iterations collects a
 * data set of correct rationales with the current model (rationalising with hints where it
 * fails), then fine-tunes for `steps` steps on it, starting again from the base model with a
 * fresh optimiser. */
#include <stdlib.h>
#include <string.h>

#include "common/engine/run.h"
#include "common/util/log.h"

struct star_state {
    float *base;      /* [n_tunable] the parameters every iteration restarts from */
    int collected;    /* this process has a schedule over a collection (not so after a resume) */
};

int star_init(run *r, tr_error *err) {
    star_state *st = tr_calloc(1, sizeof *st, err);
    if (!st) return TR_ENOMEM;
    r->star = st;
    if (!(st->base = tr_malloc(r->n_tunable * sizeof(float), err))) return TR_ENOMEM;
    memcpy(st->base, r->tunable, r->n_tunable * sizeof(float));
    return 0;
}

void star_free(run *r) {
    if (!r->star) return;
    free(r->star->base);
    free(r->star);
    r->star = NULL;
}

/* Collect iteration iter's data set and schedule over it; collect < 0 (a resume inside the
 * iteration): the sides' memory already holds it, only list it. */
static int star_collect(run *r, int64_t iter, int collect, tr_error *err) {
    int64_t *valid = NULL;
    int nvalid = 0;
    /* the collection samples from the current model (the sides still hold the last iteration's
     * fine-tune); then the sides get the parameters the iteration starts from and a fresh
     * optimiser (star_batch); after a resume they already hold the checkpoint's */
    TR_TRY(r->f->ops->star_collect(r->f, collect ? (int)iter : -1, &valid, &nvalid, err));
    int rc = collect ? r->f->ops->set_state(r->f, r->tunable, &r->opt, r->n_tunable, err) : 0;
    if (!rc) LOG_I("STaR iteration %lld: %d of %lld training examples have a correct rationale",
                   (long long)iter + 1, nvalid, (long long)r->task.n_train);
    schedule_free(&r->sch);
    if (!rc && nvalid == 0)
        rc = TR_FAIL(err, TR_EINVAL, "STaR iteration %lld kept no rationale: the model never reaches a correct answer, even with hints (hint: warm the model up first: warmup_sft_steps)", (long long)iter + 1);
    if (!rc) rc = schedule_init(&r->sch, valid, nvalid, r->spec->seed + (uint64_t)iter, err);
    free(valid);
    if (!rc) r->star->collected = 1;
    return rc;
}

int star_batch(run *r, int64_t step, int64_t *lr_step, tr_error *err) {
    const int64_t iter = step / r->spec->steps, in_iter = step % r->spec->steps;
    *lr_step = in_iter;   /* each iteration's fine-tune has its own learning-rate schedule */
    if (in_iter == 0) {   /* a new outer iteration: fine-tune from the base model (pushed to the sides by star_collect) */
        memcpy(r->tunable, r->star->base, r->n_tunable * sizeof(float));
        memset(r->opt.m, 0, r->n_tunable * sizeof(float));
        memset(r->opt.v, 0, r->n_tunable * sizeof(float));
        r->opt.step = 0;
    }
    if (in_iter == 0 || !r->star->collected) TR_TRY(star_collect(r, iter, in_iter == 0, err));
    schedule_batch(&r->sch, in_iter, r->M, r->ids);
    return 0;
}
