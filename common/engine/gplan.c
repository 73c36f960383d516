/* gplan.c - groups of gradient terms and their sides (gplan.h). */
#include "common/engine/gplan.h"

#include <stdlib.h>
#include <string.h>

int grad_plan_make(grad_plan *p, const int *owner, int n, int G, int nsides, tr_error *err) {
    memset(p, 0, sizeof *p);
    if (n < 0 || G < 1 || nsides < 1)
        return TR_FAIL(err, TR_EINTERNAL, "gradient plan of %d terms, groups of %d, %d sides", n, G, nsides);
    for (int k = 0; k < n; k++)
        if (owner[k] < 0 || owner[k] >= nsides)
            return TR_FAIL(err, TR_EINTERNAL, "gradient term %d held by side %d of %d", k, owner[k], nsides);
    p->n = n;
    p->G = G;
    p->nsides = nsides;
    p->ngroups = (n + G - 1) / G;
    p->owner = tr_malloc((size_t)(n ? n : 1) * sizeof *p->owner, err);
    p->side = tr_malloc((size_t)(p->ngroups ? p->ngroups : 1) * sizeof *p->side, err);
    int *load = tr_calloc((size_t)nsides, sizeof *load, err), *held = tr_calloc((size_t)nsides, sizeof *held, err);
    if (!p->owner || !p->side || !load || !held) {
        free(load); free(held);
        grad_plan_free(p);
        return TR_ENOMEM;
    }
    memcpy(p->owner, owner, (size_t)n * sizeof *owner);
    const int cap = (p->ngroups + nsides - 1) / nsides;
    for (int g = 0; g < p->ngroups; g++) {
        int lo, hi, best = -1;
        grad_plan_group(p, g, &lo, &hi);
        memset(held, 0, (size_t)nsides * sizeof *held);
        for (int k = lo; k < hi; k++) held[owner[k]]++;
        for (int s = 0; s < nsides; s++)   /* most terms held, among the sides below the cap */
            if (load[s] < cap && held[s] > 0 && (best < 0 || held[s] > held[best])) best = s;
        if (best < 0)   /* every holder is full: the least loaded side (one is below the cap) */
            for (int s = 0; s < nsides; s++)
                if (best < 0 || load[s] < load[best]) best = s;
        p->side[g] = best;
        load[best]++;
    }
    free(load);
    free(held);
    return 0;
}

void grad_plan_free(grad_plan *p) {
    free(p->owner);
    free(p->side);
    memset(p, 0, sizeof *p);
}

void grad_plan_group(const grad_plan *p, int g, int *lo, int *hi) {
    *lo = g * p->G;
    *hi = *lo + p->G < p->n ? *lo + p->G : p->n;
}

int grad_plan_rows(const grad_plan *p, int from, int to) {
    if (from == to) return 0;
    int c = 0;
    for (int k = 0; k < p->n; k++) c += p->owner[k] == from && p->side[k / p->G] == to;
    return c;
}
