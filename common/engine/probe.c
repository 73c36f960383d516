/* probe.c - the variance probe of the gradient estimators (spec variance_probe). */
#include <stdlib.h>
#include <string.h>

#include "common/engine/run.h"
#include "common/engine/streams.h"

/* The variance of the gradient estimators at the current parameters, measured on the model
 * itself (ALGORITHM.md §9 does it on a toy): R independent proposal draws for the next
 * minibatch, each starting from the same memory; for each draw both the control-variate and
 * the basic estimate (no subsampling, so that only the control variate differs); the trace
 * of each estimate's covariance over the draws. The memory is restored afterwards and the
 * probe's samples do not count against the training budget. */
int run_probe(run *r, int64_t step, double *var_cv, double *var_nocv, tr_error *err) {
    const int R = r->spec->variance_probe, M = r->M;
    const size_t n = r->n_tunable;
    uint8_t *snap = NULL;
    size_t snaplen = 0;
    TR_TRY(r->f->ops->memory_gather(r->f, &snap, &snaplen, err));
    double *sum = tr_calloc(2 * n, sizeof *sum, err);
    if (!sum) { free(snap); return TR_ENOMEM; }
    double sq[2] = {0, 0};
    int rc = 0;
    schedule_batch(&r->sch, step, M, r->ids);
    for (int k = 0; k < R && !rc; k++) {
        int64_t pstep = stream_probe_step(step, k);  /* streams no training step uses */
        rc = r->f->ops->propose(r->f, pstep, r->ids, M, r->a, r->mask, NULL, err);
        for (int cv = 1; cv >= 0 && !rc; cv--) {
            est_beta(r->a, r->mask, M, r->beta);
            int S = est_terms(r->a, r->mask, cv ? r->beta : NULL, M, cv, r->terms);
            int nc = est_coefs_systematic(r->terms, 2 * M, 0, S, 0.0, r->counts, r->coefs);
            double loss;
            if (nc > 0) rc = r->f->ops->gradient(r->f, r->coefs, nc, r->grads, n, &loss, err);
            else memset(r->grads, 0, n * sizeof *r->grads);
            double *acc = sum + (cv ? 0 : n), nrm = 0;
            for (size_t i = 0; i < n && !rc; i++) { acc[i] += r->grads[i]; nrm += (double)r->grads[i] * r->grads[i]; }
            sq[cv ? 0 : 1] += nrm;
        }
        if (!rc) rc = r->f->ops->memory_scatter(r->f, snap, snaplen, err);
    }
    for (int j = 0; j < 2 && !rc; j++) {
        double m2 = 0;
        for (size_t i = 0; i < n; i++) m2 += (sum[j * n + i] / R) * (sum[j * n + i] / R);
        double v = (sq[j] - R * m2) / (R - 1);
        *(j == 0 ? var_cv : var_nocv) = v > 0 ? v : 0;
    }
    fleet_counts c;
    if (!rc) rc = r->f->ops->take_counts(r->f, &c, err);
    free(sum);
    free(snap);
    return rc;
}

