/* schedule.h - which training examples each step uses.
 *
 * The minibatch of step t is a pure function of (seed, training ids, M, t): epochs are
 * seeded shuffles (seed, RNG_PURPOSE_SCHEDULE, epoch) of the sorted training ids, and step t
 * takes positions t*M .. t*M+M-1 of the concatenated epochs. It does not depend on the number
 * of workers, and resuming at step t needs no saved state beyond t itself.
 */
#ifndef TRICE_ENGINE_SCHEDULE_H
#define TRICE_ENGINE_SCHEDULE_H

#include <stdint.h>

#include "common/util/err.h"

typedef struct schedule {
    uint64_t seed;
    int64_t n;          /* training examples */
    int64_t *ids;       /* [n] sorted training ids (owned copy) */
    int64_t *perm;      /* [n] the shuffle of epoch `epoch` */
    int64_t epoch;      /* epoch held in perm (-1: none yet) */
} schedule;

int schedule_init(schedule *s, const int64_t *train_ids, int64_t n, uint64_t seed, tr_error *err);
void schedule_free(schedule *s);
/* out: [M] the example ids of step `step` (M <= n is not required: epochs repeat). */
void schedule_batch(schedule *s, int64_t step, int M, int64_t *out);

#endif
