/* shard.c - which worker owns an example. */
#include "common/data/task.h"

#include "common/util/rng.h"

int shard_owner(uint64_t seed, int64_t id, int nworkers) {
    if (nworkers <= 1) return 0;
    rng r;
    rng_init(&r, seed, RNG_PURPOSE_SHARD, (uint64_t)id);
    return (int)rng_below(&r, (uint64_t)nworkers);
}
