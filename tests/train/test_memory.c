/* Rationale memory: the MCMC update rule, serialisation, gather/re-shard, corrupt input. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/train/memory.h"
#include "common/util/rng.h"

static void fill(memory *m, uint64_t seed) {
    rng r;
    rng_init(&r, seed, RNG_PURPOSE_TEST, 0);
    for (int i = 0; i < m->n; i++) {
        int len = (int)rng_below(&r, 12); /* some empty */
        int32_t tok[16];
        for (int t = 0; t < len; t++) tok[t] = (int32_t)rng_below(&r, 50257);
        cr_assert_eq(memory_set(m, i, tok, len, (int)rng_below(&r, 2), NULL), 0);
    }
}

static void assert_same_entry(const memory *a, int ia, const memory *b, int ib) {
    int la, lb;
    const int32_t *ta = memory_tokens(a, ia, &la), *tb = memory_tokens(b, ib, &lb);
    cr_assert_eq(la, lb, "id %lld: length %d vs %d", (long long)a->ids[ia], la, lb);
    if (la) cr_assert_eq(memcmp(ta, tb, (size_t)la * 4), 0, "id %lld: tokens differ", (long long)a->ids[ia]);
    cr_assert_eq(memory_valid(a, ia), memory_valid(b, ib), "id %lld: valid flag differs", (long long)a->ids[ia]);
}

Test(memory, wrong_proposal_never_replaces_memory) {
    int64_t ids[] = {100, 7, 42};
    memory m;
    cr_assert_eq(memory_init(&m, 3, ids, NULL), 0);
    int32_t good[] = {5, 6, 7}, wrong[] = {9, 9, 9, 9}, better[] = {1, 2};
    int replaced;
    /* initialisation (hint) stored a rationale that turned out wrong: invalid */
    cr_assert_eq(memory_set(&m, 1, wrong, 4, 0, NULL), 0);
    cr_assert_eq(memory_valid(&m, 1), 0);
    cr_assert_eq(memory_update(&m, 0, good, 3, 1, &replaced, NULL), 0);
    cr_assert_eq(replaced, 1);
    cr_assert_eq(memory_update(&m, 0, wrong, 4, 0, &replaced, NULL), 0);
    cr_assert_eq(replaced, 0, "a rejected proposal replaced the memory");
    int len;
    const int32_t *t = memory_tokens(&m, 0, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(t, good, sizeof good), 0);
    cr_assert_eq(memory_valid(&m, 0), 1);
    /* a wrong proposal does not replace an invalid memory either */
    cr_assert_eq(memory_update(&m, 1, wrong, 3, 0, &replaced, NULL), 0);
    cr_assert_eq(memory_valid(&m, 1), 0);
    /* a correct one does */
    cr_assert_eq(memory_update(&m, 0, better, 2, 1, &replaced, NULL), 0);
    t = memory_tokens(&m, 0, &len);
    cr_assert_eq(len, 2);
    cr_assert_eq(t[1], 2);
    cr_assert_eq(memory_count_valid(&m), 1);
    tr_error err;
    cr_assert_eq(memory_update(&m, 3, good, 3, 1, NULL, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "index 3") != NULL, "%s", err.msg);
    memory_free(&m);
}

Test(memory, find_by_id_and_duplicate_ids) {
    int64_t ids[] = {100, 7, 42, -3};
    memory m;
    cr_assert_eq(memory_init(&m, 4, ids, NULL), 0);
    cr_assert_eq(memory_find(&m, 42), 2);
    cr_assert_eq(memory_find(&m, -3), 3);
    cr_assert_eq(memory_find(&m, 8), -1);
    memory_free(&m);
    int64_t dup[] = {1, 2, 1};
    tr_error err;
    cr_assert_eq(memory_init(&m, 3, dup, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "id 1 appears twice") != NULL, "%s", err.msg);
}

Test(memory, serialize_round_trip) {
    int64_t ids[50];
    for (int i = 0; i < 50; i++) ids[i] = 1000 + 3 * i;
    memory a, b;
    cr_assert_eq(memory_init(&a, 50, ids, NULL), 0);
    fill(&a, 1);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(memory_serialize(&a, &buf, &len, NULL), 0);
    /* b holds the same ids in another order: entries go by id, not position */
    int64_t rev[50];
    for (int i = 0; i < 50; i++) rev[i] = ids[49 - i];
    cr_assert_eq(memory_init(&b, 50, rev, NULL), 0);
    int taken;
    cr_assert_eq(memory_deserialize_merge(&b, buf, len, "test", &taken, NULL), 0);
    cr_assert_eq(taken, 50);
    for (int i = 0; i < 50; i++) assert_same_entry(&a, i, &b, 49 - i);
    free(buf);
    memory_free(&a);
    memory_free(&b);
}

/* W = 3 workers each hold a shard (id mod 3); gather into one file; resume with W = 2 (shards
 * by id mod 2): every example's rationale and flag come back. */
Test(memory, gather_and_reshard_with_a_different_worker_count) {
    enum { N = 60 };
    memory full;
    int64_t all[N];
    for (int i = 0; i < N; i++) all[i] = 5000 + i * 7;
    cr_assert_eq(memory_init(&full, N, all, NULL), 0);
    fill(&full, 2);

    memory w3[3];
    uint8_t *bufs[3];
    size_t lens[3];
    for (int w = 0; w < 3; w++) {
        int64_t ids[N];
        int n = 0;
        for (int i = 0; i < N; i++) if (all[i] % 3 == w) ids[n++] = all[i];
        cr_assert_eq(memory_init(&w3[w], n, ids, NULL), 0);
        for (int k = 0; k < n; k++) {
            int src = memory_find(&full, ids[k]), len;
            const int32_t *t = memory_tokens(&full, src, &len);
            cr_assert_eq(memory_set(&w3[w], k, t, len, memory_valid(&full, src), NULL), 0);
        }
        cr_assert_eq(memory_serialize(&w3[w], &bufs[w], &lens[w], NULL), 0);
    }
    uint8_t *gathered;
    size_t glen;
    cr_assert_eq(memory_concat((const uint8_t *const *)bufs, lens, 3, &gathered, &glen, NULL), 0);
    char dir[] = "/tmp/trice_mem_XXXXXX", path[64];
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/memory.bin", dir);
    cr_assert_eq(memory_file_write(path, gathered, glen, NULL), 0);

    int total = 0;
    for (int w = 0; w < 2; w++) {
        int64_t ids[N];
        int n = 0;
        for (int i = 0; i < N; i++) if (all[i] % 2 == w) ids[n++] = all[i];
        memory m;
        cr_assert_eq(memory_init(&m, n, ids, NULL), 0);
        int taken;
        tr_error err;
        cr_assert_eq(memory_load(&m, path, &taken, &err), 0, "%s", err.msg);
        cr_assert_eq(taken, n, "worker %d of 2 got %d of its %d entries", w, taken, n);
        for (int k = 0; k < n; k++) assert_same_entry(&full, memory_find(&full, ids[k]), &m, k);
        total += taken;
        memory_free(&m);
    }
    cr_assert_eq(total, N);

    /* an id held by two workers is a sharding bug: the gather refuses it */
    const uint8_t *twice[2] = {bufs[0], bufs[0]};
    size_t tl[2] = {lens[0], lens[0]};
    uint8_t *bad;
    size_t blen;
    tr_error err;
    cr_assert_eq(memory_concat(twice, tl, 2, &bad, &blen, &err), TR_EFORMAT);
    cr_assert(strstr(err.msg, "appears twice") != NULL, "%s", err.msg);

    for (int w = 0; w < 3; w++) { free(bufs[w]); memory_free(&w3[w]); }
    free(gathered);
    memory_free(&full);
    unlink(path);
    rmdir(dir);
}

Test(memory, corrupt_buffers_rejected_and_memory_untouched) {
    int64_t ids[] = {1, 2, 3, 4};
    memory a;
    cr_assert_eq(memory_init(&a, 4, ids, NULL), 0);
    fill(&a, 3);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(memory_serialize(&a, &buf, &len, NULL), 0);
    memory target;
    cr_assert_eq(memory_init(&target, 4, ids, NULL), 0);
    int32_t mark[] = {77};
    for (int i = 0; i < 4; i++) memory_set(&target, i, mark, 1, 1, NULL);
    tr_error err;

    /* every truncation is rejected */
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(memory_deserialize_merge(&target, buf, cut, "cut", NULL, &err), TR_EFORMAT, "length %zu accepted", cut);
    cr_assert(strstr(err.msg, "cut") != NULL, "message should name the source: %s", err.msg);
    /* every single-byte flip is rejected (magic, version, counts, ids, tokens or checksum) */
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, buf, len);
        copy[i] ^= 0x10;
        cr_assert_neq(memory_deserialize_merge(&target, copy, len, "flip", NULL, &err), 0, "flip at byte %zu accepted", i);
    }
    memcpy(copy, buf, len);
    memcpy(copy, "NOTAMEM!", 8);
    cr_assert_eq(memory_check_buffer(copy, len, "x.bin", NULL, &err), TR_EFORMAT);
    cr_assert(strstr(err.msg, "magic") != NULL, "%s", err.msg);
    /* an extra byte is rejected too */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    cr_assert_eq(memory_deserialize_merge(&target, longer, len + 1, "long", NULL, &err), TR_EFORMAT);
    /* and the target memory is exactly as before */
    for (int i = 0; i < 4; i++) {
        int l;
        const int32_t *t = memory_tokens(&target, i, &l);
        cr_assert(l == 1 && t[0] == 77, "entry %d changed by a rejected buffer", i);
    }
    /* a corrupt file gives a clear error naming the file */
    char dir[] = "/tmp/trice_mem_XXXXXX", path[64];
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/memory.bin", dir);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len / 2, f);
    fclose(f);
    uint8_t *rb;
    size_t rl;
    cr_assert_eq(memory_file_read(path, &rb, &rl, &err), TR_EFORMAT);
    cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_assert_eq(memory_load(&target, "/nonexistent/memory.bin", NULL, &err), TR_ENOTFOUND);
    cr_assert(strstr(err.msg, "/nonexistent/memory.bin") != NULL, "%s", err.msg);
    unlink(path);
    rmdir(dir);
    free(copy);
    free(longer);
    free(buf);
    memory_free(&a);
    memory_free(&target);
}

Test(memory, merge_skips_ids_of_other_shards) {
    int64_t ids[] = {10, 20, 30};
    memory a, b;
    cr_assert_eq(memory_init(&a, 3, ids, NULL), 0);
    fill(&a, 4);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(memory_serialize(&a, &buf, &len, NULL), 0);
    int64_t mine[] = {20, 99};
    cr_assert_eq(memory_init(&b, 2, mine, NULL), 0);
    int taken;
    cr_assert_eq(memory_deserialize_merge(&b, buf, len, "buf", &taken, NULL), 0);
    cr_assert_eq(taken, 1);
    assert_same_entry(&a, 1, &b, 0);
    int l;
    memory_tokens(&b, 1, &l);
    cr_assert_eq(l, 0);
    cr_assert_eq(memory_valid(&b, 1), 0, "an id absent from the file stays empty and invalid");
    free(buf);
    memory_free(&a);
    memory_free(&b);
}
