/* gplan.c - groups of gradient terms and their sides (gplan.h). */
#include "common/engine/gplan.h"

#include <stdlib.h>
#include <string.h>

/* Does term a go before term b: longest first, then by index (a total order: one result). */
static int before(const int *len, int a, int b) { return len[a] != len[b] ? len[a] > len[b] : a < b; }

int grad_plan_make(grad_plan *p, const int *len, int n, int G, int nsides, tr_error *err) {
    memset(p, 0, sizeof *p);
    if (n < 0 || G < 1 || nsides < 1)
        return TR_FAIL(err, TR_EINTERNAL, "gradient plan of %d terms, groups of %d, %d sides", n, G, nsides);
    for (int k = 0; k < n; k++)
        if (len[k] < 1) return TR_FAIL(err, TR_EINTERNAL, "gradient term %d has a sequence of %d positions", k, len[k]);
    p->n = n;
    p->G = G;
    p->nsides = nsides;
    p->ngroups = (n + G - 1) / G;
    p->order = tr_malloc((size_t)(n ? n : 1) * sizeof *p->order, err);
    p->side = tr_malloc((size_t)(p->ngroups ? p->ngroups : 1) * sizeof *p->side, err);
    int64_t *load = tr_calloc((size_t)nsides, sizeof *load, err);
    if (!p->order || !p->side || !load) {
        free(load);
        grad_plan_free(p);
        return TR_ENOMEM;
    }
    for (int k = 0; k < n; k++) {   /* insertion sort: a step has tens to hundreds of terms */
        int j = k;
        for (; j > 0 && before(len, k, p->order[j - 1]); j--) p->order[j] = p->order[j - 1];
        p->order[j] = k;
    }
    for (int g = 0; g < p->ngroups; g++) {
        int lo, hi, best = 0;
        grad_plan_group(p, g, &lo, &hi);
        for (int s = 1; s < nsides; s++)
            if (load[s] < load[best]) best = s;
        p->side[g] = best;
        load[best] += (int64_t)(hi - lo) * len[p->order[lo]];   /* padded to its first (longest) term */
    }
    free(load);
    return 0;
}

void grad_plan_free(grad_plan *p) {
    free(p->order);
    free(p->side);
    memset(p, 0, sizeof *p);
}

void grad_plan_group(const grad_plan *p, int g, int *lo, int *hi) {
    *lo = g * p->G;
    *hi = *lo + p->G < p->n ? *lo + p->G : p->n;
}
