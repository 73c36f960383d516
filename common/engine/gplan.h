/* gplan.h - the step's gradient terms cut into batched groups, and the side computing each.
 *
 * A group's make-up is a function of the step's term list alone (the coordinator's order,
 * fixed by the seed and the estimator, never by W or the thread count): group g is terms
 * [g*G, min((g+1)*G, n)), G = engine_group_terms(spec). Its gradient is one forward/backward
 * over those G sequences padded to the longest, so its float bits are the same wherever it
 * runs; the groups' gradients are then summed exactly (fixsum.h), so the step's gradient does
 * not depend on W either.
 *
 * Which side computes a group may depend on W and the shards: the side holding most of its
 * terms (fewest rationales to ship), as long as that side has fewer than ceil(ngroups /
 * nsides) groups, else the least loaded side (lowest index on ties). A term whose rationale
 * is held by another side travels to the computing side as a msg_row record (msg.h).
 */
#ifndef TRICE_ENGINE_GPLAN_H
#define TRICE_ENGINE_GPLAN_H

#include "common/util/err.h"

typedef struct grad_plan {
    int n, G, ngroups, nsides;
    int *owner;    /* [n] the side holding term k's rationale */
    int *side;     /* [ngroups] the side computing group g */
} grad_plan;

/* owner: [n] each term's holding side in [0, nsides); G >= 1. Free with grad_plan_free. */
int grad_plan_make(grad_plan *p, const int *owner, int n, int G, int nsides, tr_error *err);
void grad_plan_free(grad_plan *p);   /* a zeroed plan is fine */

/* Group g's terms: [*lo, *hi). */
void grad_plan_group(const grad_plan *p, int g, int *lo, int *hi);
/* Rows side `from` holds for groups side `to` computes (0 when from == to). */
int grad_plan_rows(const grad_plan *p, int from, int to);

#endif
