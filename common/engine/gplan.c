/* gplan.c - groups of gradient terms and their sides (gplan.h). */
#include "common/engine/gplan.h"

#include <stdlib.h>
#include <string.h>

/* Does term a go before term b: longest first, then by index (a total order: one result). */
static int before(const int *len, int a, int b) { return len[a] != len[b] ? len[a] > len[b] : a < b; }

/* A group's cost in padded positions (terms x its first, longest, sequence), plus a fixed part
 * for the work every group does whatever its size: zeroing the gradients and adding them into
 * the exact sum (fixsum.h) pass over every parameter, about what 16 positions of forward and
 * backward cost (tests/bench/bench_fixsum against the main job's gradient phase). */
#define GROUP_FIXED_POSITIONS 16

static int64_t group_cost(const grad_plan *p, const int *len, int g) {
    int lo, hi;
    grad_plan_group(p, g, &lo, &hi);
    return (int64_t)(hi - lo) * len[p->order[lo]] + GROUP_FIXED_POSITIONS;
}

/* Which side computes each group changes no bits (the groups' sums are exact), only how long
 * the step waits for its slowest side. First the largest group to the least loaded side, in
 * turn (ties: lower group, then lower side); then, while it lowers the larger of the two loads,
 * the best single move or swap of groups between the most and the least loaded side. Integers
 * and fixed tie-breaks only: every side computes the same plan. Greedy by group order alone
 * left the main job's two workers 20% apart in padded positions (about 0.02 s of a 0.15 s
 * step spent waiting). */
static int assign_sides(grad_plan *p, const int *len, int64_t *load, tr_error *err) {
    const int ng = p->ngroups, S = p->nsides;
    int64_t *cost = tr_malloc((size_t)(ng ? ng : 1) * sizeof *cost, err);
    int *by = tr_malloc((size_t)(ng ? ng : 1) * sizeof *by, err);
    if (!cost || !by) {
        free(cost); free(by);
        return TR_ENOMEM;
    }
    for (int g = 0; g < ng; g++) cost[g] = group_cost(p, len, g);
    for (int g = 0; g < ng; g++) {   /* by cost, largest first (insertion sort, stable) */
        int j = g;
        for (; j > 0 && cost[by[j - 1]] < cost[g]; j--) by[j] = by[j - 1];
        by[j] = g;
    }
    for (int k = 0; k < ng; k++) {
        int best = 0;
        for (int s = 1; s < S; s++)
            if (load[s] < load[best]) best = s;
        p->side[by[k]] = best;
        load[best] += cost[by[k]];
    }
    for (int iter = 0; S > 1 && iter < 64; iter++) {   /* each pass is O(groups^2); a few usually suffice */
        int a = 0, b = 0;   /* the most and the least loaded side */
        for (int s = 1; s < S; s++) {
            if (load[s] > load[a]) a = s;
            if (load[s] < load[b]) b = s;
        }
        /* moving work d from a to b leaves the two loads |gap - 2d| apart: that helps when
         * 0 < d < gap (the sum of squared loads falls, so this ends), best at d = gap / 2 */
        const int64_t gap = load[a] - load[b];
        int64_t best_d = 0, best_left = gap;   /* the gap |gap - 2d| a change leaves */
        int ga = -1, gb = -1;
        for (int i = 0; i < ng; i++) {
            if (p->side[i] != a) continue;
            for (int j = -1; j < ng; j++) {   /* j = -1: a move; otherwise a swap with b's group j */
                if (j >= 0 && p->side[j] != b) continue;
                int64_t d = cost[i] - (j >= 0 ? cost[j] : 0);
                int64_t left = 2 * d > gap ? 2 * d - gap : gap - 2 * d;
                if (d > 0 && left < best_left) { best_d = d; best_left = left; ga = i; gb = j; }
            }
        }
        if (ga < 0) break;
        p->side[ga] = b;
        if (gb >= 0) p->side[gb] = a;
        load[a] -= best_d;
        load[b] += best_d;
    }
    free(cost);
    free(by);
    return 0;
}

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
    int rc = assign_sides(p, len, load, err);
    free(load);
    if (rc) grad_plan_free(p);
    return rc;
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
