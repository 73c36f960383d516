/* gplan.h - the step's gradient terms cut into batched groups, and the side computing each.
 *
 * A group's make-up is a function of the step's term list and the terms' sequence lengths
 * alone (both fixed by the seed and the estimator, never by W or the thread count): the terms
 * sorted by length (longest first, ties by their index in the list), cut into runs of G =
 * engine_group_terms(spec). Sorting keeps the padding to a group's longest sequence small.
 * Its gradient is one forward/backward over those sequences, so its float bits are the same
 * wherever it runs; the groups' gradients are then summed exactly (fixsum.h), so the step's
 * gradient does not depend on W either.
 *
 * Which side computes a group depends on W and changes no bits: the groups are spread so that
 * the sides' work (padded positions, plus a fixed part per group) is about equal, largest group
 * first, then improved by moves and swaps (gplan.c). Every side has every term's rationale
 * (the sides swap them as msg_row records before planning), so any side can compute any group.
 */
#ifndef TRICE_ENGINE_GPLAN_H
#define TRICE_ENGINE_GPLAN_H

#include "common/util/err.h"

typedef struct grad_plan {
    int n, G, ngroups, nsides;
    int *order;    /* [n] term indices, group by group: group g is order[g*G .. min((g+1)*G, n)) */
    int *side;     /* [ngroups] the side computing group g */
} grad_plan;

/* len: [n] each term's sequence length (positions); G >= 1. Free with grad_plan_free. */
int grad_plan_make(grad_plan *p, const int *len, int n, int G, int nsides, tr_error *err);
void grad_plan_free(grad_plan *p);   /* a zeroed plan is fine */

/* Group g's terms: order[*lo .. *hi). */
void grad_plan_group(const grad_plan *p, int g, int *lo, int *hi);

#endif
