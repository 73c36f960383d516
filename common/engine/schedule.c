#include "common/engine/schedule.h"

#include <stdlib.h>
#include <string.h>

#include "common/engine/streams.h"

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int schedule_init(schedule *s, const int64_t *train_ids, int64_t n, uint64_t seed, tr_error *err) {
    memset(s, 0, sizeof *s);
    if (n < 1) return TR_FAIL(err, TR_EINVAL, "the training split is empty: nothing to schedule");
    s->seed = seed;
    s->n = n;
    s->epoch = -1;
    s->ids = tr_malloc((size_t)n * sizeof *s->ids, err);
    s->perm = tr_malloc((size_t)n * sizeof *s->perm, err);
    if (!s->ids || !s->perm) { schedule_free(s); return TR_ENOMEM; }
    memcpy(s->ids, train_ids, (size_t)n * sizeof *s->ids);
    qsort(s->ids, (size_t)n, sizeof *s->ids, cmp_i64);
    return 0;
}

void schedule_free(schedule *s) {
    free(s->ids);
    free(s->perm);
    memset(s, 0, sizeof *s);
}

static void load_epoch(schedule *s, int64_t e) {
    if (s->epoch == e) return;
    memcpy(s->perm, s->ids, (size_t)s->n * sizeof *s->perm);
    rng r;
    stream_schedule(&r, s->seed, e);
    rng_shuffle_i64(&r, s->perm, (size_t)s->n);
    s->epoch = e;
}

void schedule_batch(schedule *s, int64_t step, int M, int64_t *out) {
    for (int i = 0; i < M; i++) {
        int64_t pos = step * M + i;
        load_epoch(s, pos / s->n);
        out[i] = s->perm[pos % s->n];
    }
}
