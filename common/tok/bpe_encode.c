/* bpe_encode.c - GPT-2 encoding: the pre-tokenisation regex by hand, then rank-ordered
 * merges per piece, with a cache of pieces seen before (see bpe.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/tok/bpe_internal.h"
#include "common/tok/unicode.h"

/* ---- pre-tokenisation ----
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Alternatives are tried in order at each position and the first that matches wins; the
 * runs are greedy. The only backtracking that changes a match is \s+(?!\S): a whitespace
 * run followed by a non-space gives its last character to the next piece (" world"). */

static uni_class class_at(const unsigned char *s, size_t n, size_t i, int *len)
{
    uint32_t cp;
    int valid;
    *len = uni_decode(s + i, n - i, &cp, &valid);
    return valid ? uni_classify(cp) : UNI_OTHER;
}

/* End of the run of class c that starts at i; *last gets the start of its last character. */
static size_t run_end(const unsigned char *s, size_t n, size_t i, uni_class c, size_t *last)
{
    while (i < n) {
        int len;
        if (class_at(s, n, i, &len) != c) break;
        *last = i;
        i += (size_t)len;
    }
    return i;
}

static size_t next_piece(const unsigned char *s, size_t n, size_t i)
{
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char c = s[i + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return i + 2;
        if (i + 2 < n && ((c == 'r' && s[i + 2] == 'e') || (c == 'v' && s[i + 2] == 'e') || (c == 'l' && s[i + 2] == 'l')))
            return i + 3;
    }
    size_t last = i;
    int l0;
    uni_class c0 = class_at(s, n, i, &l0);
    if (s[i] == ' ' && i + 1 < n) {  /* " ?" then a run of letters, numbers or others */
        int l1;
        uni_class c1 = class_at(s, n, i + 1, &l1);
        if (c1 != UNI_SPACE) return run_end(s, n, i + 1 + (size_t)l1, c1, &last);
    }
    if (c0 != UNI_SPACE) return run_end(s, n, i + (size_t)l0, c0, &last);
    last = i;
    size_t j = run_end(s, n, i + (size_t)l0, UNI_SPACE, &last);
    if (j == n) return n;             /* \s+(?!\S) at the end of the text */
    return last > i ? last : j;       /* \s+(?!\S) without the last character, else \s+ */
}

/* ---- the piece cache ---- */

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_off, key_len, tok_off, tok_n;
} cache_entry;

struct bpe_cache {
    uint32_t *slot;          /* 1 + entry index, 0 = empty; mask + 1 slots */
    size_t mask;
    cache_entry *ent;
    size_t n_ent, cap_ent;
    unsigned char *keys;
    size_t keys_used, keys_cap;
    int *toks;
    size_t toks_used, toks_cap;
};

#define CACHE_SLOTS (1u << 17)
#define CACHE_ENTRIES (1u << 16)
#define CACHE_KEY_BYTES (4u << 20)
#define CACHE_MAX_PIECE 256   /* longer pieces are rare; they are not cached */

int bpe_cache_init(bpe *b, tr_error *err)
{
    bpe_cache *c = tr_calloc(1, sizeof *c, err);
    if (!c) return TR_ENOMEM;
    b->cache = c;
    c->mask = CACHE_SLOTS - 1;
    c->cap_ent = CACHE_ENTRIES;
    c->keys_cap = CACHE_KEY_BYTES;
    c->toks_cap = CACHE_KEY_BYTES;  /* a piece never has more tokens than bytes */
    c->slot = tr_calloc(CACHE_SLOTS, sizeof *c->slot, err);
    c->ent = tr_malloc(c->cap_ent * sizeof *c->ent, err);
    c->keys = tr_malloc(c->keys_cap, err);
    c->toks = tr_malloc(c->toks_cap * sizeof *c->toks, err);
    return c->slot && c->ent && c->keys && c->toks ? 0 : TR_ENOMEM;
}

void bpe_cache_free(bpe *b)
{
    bpe_cache *c = b->cache;
    if (!c) return;
    free(c->slot);
    free(c->ent);
    free(c->keys);
    free(c->toks);
    free(c);
    b->cache = NULL;
}

static const cache_entry *cache_get(const bpe_cache *c, const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = h & c->mask;; i = (i + 1) & c->mask) {
        uint32_t e = c->slot[i];
        if (!e) return NULL;
        const cache_entry *x = &c->ent[e - 1];
        if (x->hash == h && x->key_len == n && memcmp(c->keys + x->key_off, p, n) == 0) return x;
    }
}

static void cache_put(bpe_cache *c, const unsigned char *p, size_t n, uint64_t h, const int *tok, size_t nt)
{
    if (c->n_ent == c->cap_ent || c->keys_used + n > c->keys_cap || c->toks_used + nt > c->toks_cap) {
        memset(c->slot, 0, (c->mask + 1) * sizeof *c->slot);  /* full: start over */
        c->n_ent = c->keys_used = c->toks_used = 0;
    }
    cache_entry *x = &c->ent[c->n_ent];
    *x = (cache_entry){h, (uint32_t)c->keys_used, (uint32_t)n, (uint32_t)c->toks_used, (uint32_t)nt};
    memcpy(c->keys + c->keys_used, p, n);
    memcpy(c->toks + c->toks_used, tok, nt * sizeof *tok);
    c->keys_used += n;
    c->toks_used += nt;
    size_t i = h & c->mask;
    while (c->slot[i]) i = (i + 1) & c->mask;
    c->slot[i] = (uint32_t)++c->n_ent;
}

/* ---- merges ---- */

/* The symbols of one piece, merged in rank order: each round takes the pair of lowest rank
 * (on equal ranks the rightmost, which only the JavaScript rule can produce) and merges
 * every occurrence of it left to right, as encoder.py's bpe() does. Returns the count. */
static size_t merge(const bpe *b, int *w, size_t m)
{
    while (m > 1) {
        int32_t best = INT32_MAX, merged = -1, r, mg;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (bpe_pair_find(b, w[i], w[i + 1], &r, &mg) && r <= best) { best = r; merged = mg; at = i; }
        if (merged < 0) break;
        const int first = w[at], second = w[at + 1];
        size_t k = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && w[i] == first && w[i + 1] == second) { w[k++] = merged; i += 2; }
            else w[k++] = w[i++];
        }
        m = k;
    }
    return m;
}

static size_t encode_piece(bpe *b, const unsigned char *p, size_t n, int *out)
{
    if (n == 1) { out[0] = b->byte_id[p[0]]; return 1; }
    uint64_t h = 0;
    if (n <= CACHE_MAX_PIECE) {
        h = bpe_hash_bytes(p, n);
        const cache_entry *x = cache_get(b->cache, p, n, h);
        if (x) {
            memcpy(out, b->cache->toks + x->tok_off, x->tok_n * sizeof *out);
            return x->tok_n;
        }
    }
    /* out has room for n tokens: merge there in place */
    for (size_t i = 0; i < n; i++) out[i] = b->byte_id[p[i]];
    size_t m = merge(b, out, n);
    if (n <= CACHE_MAX_PIECE) cache_put(b->cache, p, n, h, out, m);
    return m;
}

size_t bpe_encode(bpe *b, const void *text, size_t len, int *out)
{
    const unsigned char *s = text;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        size_t e = next_piece(s, len, i);
        k += encode_piece(b, s + i, e - i, out + k);
        i = e;
    }
    return k;
}
