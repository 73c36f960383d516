/* gen_internal.h - the per-task generator functions behind gen_make (internal). */
#ifndef TRICE_DATA_GEN_INTERNAL_H
#define TRICE_DATA_GEN_INTERNAL_H

#include "common/data/sbuf.h"
#include "common/util/rng.h"

/* Each writes one example (question, rationale, bare answer) into the cleared buffers,
 * drawing only from r. difficulty is already validated. Returns 0, or nonzero when it
 * could not meet its constraints (a bug: the dispatcher reports it). */
typedef int (*gen_fn)(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans);

int gen_arith(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans);
int gen_bool(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans);
int gen_dyck(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans);
int gen_nav(rng *r, int difficulty, sbuf *q, sbuf *rat, sbuf *ans);

/* Uniform integer in [lo, hi]. */
static inline int gen_range(rng *r, int lo, int hi) {
    return lo + (int)rng_below(r, (uint64_t)(hi - lo + 1));
}

#endif
