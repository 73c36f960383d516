/* bpe_internal.h - what bpe_load.c and bpe_encode.c share (not a public interface). */
#ifndef TRICE_TOK_BPE_INTERNAL_H
#define TRICE_TOK_BPE_INTERNAL_H

#include "common/tok/bpe.h"

struct bpe_pair_slot {
    uint64_t key;        /* (left << 32) | right, left and right ids; BPE_PAIR_EMPTY when free */
    int32_t rank, merged;
};
#define BPE_PAIR_EMPTY UINT64_MAX

static inline uint64_t bpe_hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= UINT64_C(0x100000001b3); }
    return h;
}

static inline uint64_t bpe_hash_u64(uint64_t x)
{
    x ^= x >> 33; x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33; x *= UINT64_C(0xc4ceb9fe1a85ec53);
    return x ^ (x >> 33);
}

/* The id of the byte string p[0..n), or -1. */
int bpe_vocab_find(const bpe *b, const unsigned char *p, size_t n);

/* The rank and merged id of the pair (l, r); 0 when it is not a merge. */
static inline int bpe_pair_find(const bpe *b, int l, int r, int32_t *rank, int32_t *merged)
{
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    for (size_t i = bpe_hash_u64(key) & b->pmask;; i = (i + 1) & b->pmask) {
        const bpe_pair_slot *s = &b->pmap[i];
        if (s->key == key) { *rank = s->rank; *merged = s->merged; return 1; }
        if (s->key == BPE_PAIR_EMPTY) return 0;
    }
}

int bpe_cache_init(bpe *b, tr_error *err);
void bpe_cache_free(bpe *b);

#endif
