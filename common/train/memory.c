/* memory.c - rationale memory and its versioned, checksummed byte format; see memory.h. */
#include "common/train/memory.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/afile.h"

#define HDR_BYTES 40u          /* magic 8 + version 4 + flags 4 + 3 x u64 */
#define ENTRY_FIXED 16u        /* id 8 + len 4 + valid 1 + pad 3 */
#define TRAILER_BYTES 8u
#define FILE_LIMIT ((size_t)1 << 34)  /* 16 GiB: refuses nonsense, not any real memory */

/* ---- little-endian helpers (the format is fixed-endian, whatever the host) ---- */

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- the in-memory state ---- */

typedef struct id_idx {
    int64_t id;
    int idx;
} id_idx;

static int cmp_id_idx(const void *x, const void *y) {
    int64_t a = ((const id_idx *)x)->id, b = ((const id_idx *)y)->id;
    return (a > b) - (a < b);
}

int memory_init(memory *mem, int n, const int64_t *ids, tr_error *err) {
    memset(mem, 0, sizeof *mem);
    if (n < 0) return TR_FAIL(err, TR_EINVAL, "memory_init: negative entry count %d", n);
    size_t cnt = n > 0 ? (size_t)n : 1;
    mem->ids = tr_malloc(cnt * sizeof *mem->ids, err);
    mem->tok = tr_calloc(cnt, sizeof *mem->tok, err);
    mem->len = tr_calloc(cnt, sizeof *mem->len, err);
    mem->cap = tr_calloc(cnt, sizeof *mem->cap, err);
    mem->valid = tr_calloc(cnt, sizeof *mem->valid, err);
    mem->order = tr_malloc(cnt * sizeof *mem->order, err);
    if (!mem->ids || !mem->tok || !mem->len || !mem->cap || !mem->valid || !mem->order) {
        memory_free(mem);
        return TR_ENOMEM;
    }
    mem->n = n;
    /* sort (id, index) pairs rather than indices so no global comparison context is needed */
    id_idx *pairs = tr_malloc(cnt * sizeof *pairs, err);
    if (!pairs) {
        memory_free(mem);
        return TR_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        mem->ids[i] = ids[i];
        pairs[i] = (id_idx){.id = ids[i], .idx = i};
    }
    qsort(pairs, (size_t)n, sizeof *pairs, cmp_id_idx);
    for (int i = 0; i < n; i++) mem->order[i] = pairs[i].idx;
    free(pairs);
    for (int i = 1; i < n; i++) {
        if (mem->ids[mem->order[i]] == mem->ids[mem->order[i - 1]]) {
            int64_t dup = mem->ids[mem->order[i]];
            memory_free(mem);
            return TR_FAIL(err, TR_EINVAL, "memory_init: example id %lld appears twice (ids must be unique)",
                           (long long)dup);
        }
    }
    return 0;
}

void memory_free(memory *mem) {
    if (mem->tok)
        for (int i = 0; i < mem->n; i++) free(mem->tok[i]);
    free(mem->ids);
    free(mem->tok);
    free(mem->len);
    free(mem->cap);
    free(mem->valid);
    free(mem->order);
    memset(mem, 0, sizeof *mem);
}

int memory_find(const memory *mem, int64_t id) {
    int lo = 0, hi = mem->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int64_t v = mem->ids[mem->order[mid]];
        if (v == id) return mem->order[mid];
        if (v < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int check_idx(const memory *mem, int idx, const char *fn, tr_error *err) {
    if (idx < 0 || idx >= mem->n)
        return TR_FAIL(err, TR_EINVAL, "%s: index %d out of range (memory holds %d entries)", fn, idx, mem->n);
    return 0;
}

int memory_set(memory *mem, int idx, const int32_t *tokens, int len, int valid, tr_error *err) {
    TR_TRY(check_idx(mem, idx, "memory_set", err));
    if (len < 0 || len > MEMORY_MAX_LEN)
        return TR_FAIL(err, TR_EINVAL, "memory_set: rationale length %d for example %lld (allowed 0..%d)",
                       len, (long long)mem->ids[idx], MEMORY_MAX_LEN);
    if (len > mem->cap[idx]) {
        int32_t *t = tr_realloc(mem->tok[idx], (size_t)len * sizeof *t, err);
        if (!t) return TR_ENOMEM;
        mem->tok[idx] = t;
        mem->cap[idx] = len;
    }
    if (len) memcpy(mem->tok[idx], tokens, (size_t)len * sizeof *tokens);
    mem->len[idx] = len;
    mem->valid[idx] = valid != 0;
    return 0;
}

int memory_update(memory *mem, int idx, const int32_t *tokens, int len, int accepted,
                  int *replaced, tr_error *err) {
    if (replaced) *replaced = 0;
    TR_TRY(check_idx(mem, idx, "memory_update", err));
    /* independence MH with the model as proposal and the posterior as target: accept exactly
     * when the proposal is correct; a wrong proposal must never become the memory */
    if (!accepted) return 0;
    TR_TRY(memory_set(mem, idx, tokens, len, 1, err));
    if (replaced) *replaced = 1;
    return 0;
}

const int32_t *memory_tokens(const memory *mem, int idx, int *len) {
    if (idx < 0 || idx >= mem->n) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = mem->len[idx];
    return mem->tok[idx];
}

int memory_valid(const memory *mem, int idx) {
    return idx >= 0 && idx < mem->n && mem->valid[idx];
}

int memory_count_valid(const memory *mem) {
    int c = 0;
    for (int i = 0; i < mem->n; i++) c += mem->valid[i];
    return c;
}

/* ---- serialisation ---- */

int memory_serialize(const memory *mem, uint8_t **buf, size_t *len, tr_error *err) {
    *buf = NULL;
    *len = 0;
    uint64_t ntok = 0;
    for (int i = 0; i < mem->n; i++) ntok += (uint64_t)mem->len[i];
    size_t total = HDR_BYTES + (size_t)mem->n * ENTRY_FIXED + (size_t)ntok * 4 + TRAILER_BYTES;
    uint8_t *b = tr_malloc(total, err);
    if (!b) return TR_ENOMEM;
    memcpy(b, MEMORY_MAGIC, 8);
    put_u32(b + 8, MEMORY_VERSION);
    put_u32(b + 12, 0);
    put_u64(b + 16, (uint64_t)mem->n);
    put_u64(b + 24, ntok);
    put_u64(b + 32, (uint64_t)total);
    uint8_t *p = b + HDR_BYTES;
    for (int i = 0; i < mem->n; i++) {
        put_u64(p, (uint64_t)mem->ids[i]);
        put_u32(p + 8, (uint32_t)mem->len[i]);
        p[12] = mem->valid[i];
        p[13] = p[14] = p[15] = 0;
        p += ENTRY_FIXED;
        for (int t = 0; t < mem->len[i]; t++, p += 4) put_u32(p, (uint32_t)mem->tok[i][t]);
    }
    put_u64(p, fnv1a64(b, (size_t)(p - b)));
    *buf = b;
    *len = total;
    return 0;
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Structural walk of a buffer; fills ids_out ([n_entries], may be NULL) with the ids in order. */
static int walk(const uint8_t *buf, size_t len, const char *what, uint64_t *n_entries,
                int64_t *ids_out, tr_error *err) {
    if (!what) what = "memory buffer";
    if (len < HDR_BYTES + TRAILER_BYTES)
        return TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes is too short for a memory file (header alone is %u bytes; truncated?)",
                       what, len, HDR_BYTES + TRAILER_BYTES);
    if (memcmp(buf, MEMORY_MAGIC, 8) != 0)
        return TR_FAIL(err, TR_EFORMAT, "%s: bad magic (expected \"%s\"; not a TRICE memory file)", what, MEMORY_MAGIC);
    uint32_t ver = get_u32(buf + 8), flags = get_u32(buf + 12);
    if (ver != MEMORY_VERSION)
        return TR_FAIL(err, TR_EFORMAT, "%s: format version %u, this build reads version %u", what, ver, MEMORY_VERSION);
    if (flags != 0)
        return TR_FAIL(err, TR_EFORMAT, "%s: unknown flags 0x%x (expected 0)", what, flags);
    uint64_t n = get_u64(buf + 16), ntok = get_u64(buf + 24), total = get_u64(buf + 32);
    if (total != len)
        return TR_FAIL(err, TR_EFORMAT, "%s: header says %llu bytes but %zu are present (truncated or padded)",
                       what, (unsigned long long)total, len);
    /* sizes from the header must be consistent before any of them is used to index */
    if (n > (len - HDR_BYTES - TRAILER_BYTES) / ENTRY_FIXED || ntok > len / 4 ||
        HDR_BYTES + n * ENTRY_FIXED + ntok * 4 + TRAILER_BYTES != len)
        return TR_FAIL(err, TR_EFORMAT, "%s: header counts (%llu entries, %llu tokens) do not match the size %zu",
                       what, (unsigned long long)n, (unsigned long long)ntok, len);
    uint64_t sum = fnv1a64(buf, len - TRAILER_BYTES), want = get_u64(buf + len - TRAILER_BYTES);
    if (sum != want)
        return TR_FAIL(err, TR_EFORMAT, "%s: checksum mismatch (stored %016llx, computed %016llx; the file is corrupt)",
                       what, (unsigned long long)want, (unsigned long long)sum);
    const uint8_t *p = buf + HDR_BYTES, *end = buf + len - TRAILER_BYTES;
    uint64_t seen_tok = 0;
    for (uint64_t e = 0; e < n; e++) {
        if ((size_t)(end - p) < ENTRY_FIXED)
            return TR_FAIL(err, TR_EFORMAT, "%s: entry %llu runs past the end", what, (unsigned long long)e);
        int64_t id = (int64_t)get_u64(p);
        uint32_t l = get_u32(p + 8);
        if (p[12] > 1 || p[13] || p[14] || p[15])
            return TR_FAIL(err, TR_EFORMAT, "%s: entry %llu (id %lld): bad valid/pad bytes %u %u %u %u",
                           what, (unsigned long long)e, (long long)id, p[12], p[13], p[14], p[15]);
        if (l > MEMORY_MAX_LEN || (size_t)(end - p - ENTRY_FIXED) / 4 < l)
            return TR_FAIL(err, TR_EFORMAT, "%s: entry %llu (id %lld): length %u exceeds the buffer or the limit %d",
                           what, (unsigned long long)e, (long long)id, l, MEMORY_MAX_LEN);
        p += ENTRY_FIXED;
        for (uint32_t t = 0; t < l; t++, p += 4) {
            if ((int32_t)get_u32(p) < 0)
                return TR_FAIL(err, TR_EFORMAT, "%s: entry %llu (id %lld): negative token id %d at position %u",
                               what, (unsigned long long)e, (long long)id, (int32_t)get_u32(p), t);
        }
        seen_tok += l;
        if (ids_out) ids_out[e] = id;
    }
    if (p != end || seen_tok != ntok)
        return TR_FAIL(err, TR_EFORMAT, "%s: entries hold %llu tokens, header says %llu",
                       what, (unsigned long long)seen_tok, (unsigned long long)ntok);
    if (n_entries) *n_entries = n;
    return 0;
}

/* Full check including unique ids. *ids_sorted (may be NULL) receives the sorted ids (owned). */
static int check_full(const uint8_t *buf, size_t len, const char *what, uint64_t *n_entries,
                      int64_t **ids_sorted, tr_error *err) {
    if (ids_sorted) *ids_sorted = NULL;
    uint64_t n = 0;
    TR_TRY(walk(buf, len, what, &n, NULL, err));
    int64_t *ids = tr_malloc((n ? n : 1) * sizeof *ids, err);
    if (!ids) return TR_ENOMEM;
    walk(buf, len, what, NULL, ids, err);
    qsort(ids, n, sizeof *ids, cmp_i64);
    for (uint64_t i = 1; i < n; i++) {
        if (ids[i] == ids[i - 1]) {
            int64_t dup = ids[i];
            free(ids);
            return TR_FAIL(err, TR_EFORMAT, "%s: example id %lld appears twice", what ? what : "memory buffer",
                           (long long)dup);
        }
    }
    if (n_entries) *n_entries = n;
    if (ids_sorted) *ids_sorted = ids;
    else free(ids);
    return 0;
}

int memory_check_buffer(const uint8_t *buf, size_t len, const char *what, uint64_t *n_entries,
                        tr_error *err) {
    return check_full(buf, len, what, n_entries, NULL, err);
}

int memory_deserialize_merge(memory *mem, const uint8_t *buf, size_t len, const char *what,
                             int *n_taken, tr_error *err) {
    if (n_taken) *n_taken = 0;
    uint64_t n = 0;
    TR_TRY(check_full(buf, len, what, &n, NULL, err));
    /* the buffer is known good: now apply it. memory_set can only fail on allocation, which
     * leaves earlier entries applied; the caller treats that as fatal anyway */
    const uint8_t *p = buf + HDR_BYTES;
    int taken = 0;
    int32_t *tmp = NULL;
    size_t tmp_cap = 0;
    for (uint64_t e = 0; e < n; e++) {
        int64_t id = (int64_t)get_u64(p);
        uint32_t l = get_u32(p + 8);
        int valid = p[12];
        p += ENTRY_FIXED;
        int idx = memory_find(mem, id);
        if (idx >= 0) {
            if (l > tmp_cap) {
                int32_t *t = tr_realloc(tmp, (size_t)l * sizeof *t, err);
                if (!t) { free(tmp); return TR_ENOMEM; }
                tmp = t;
                tmp_cap = l;
            }
            for (uint32_t t = 0; t < l; t++) tmp[t] = (int32_t)get_u32(p + 4 * (size_t)t);
            int rc = memory_set(mem, idx, tmp, (int)l, valid, err);
            if (rc) { free(tmp); return rc; }
            taken++;
        }
        p += 4 * (size_t)l;
    }
    free(tmp);
    if (n_taken) *n_taken = taken;
    return 0;
}

static int cmp_ent_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;  /* id is each entry's first field */
    return (x > y) - (x < y);
}

int memory_concat(const uint8_t *const *bufs, const size_t *lens, int nbuf, uint8_t **out,
                  size_t *out_len, tr_error *err) {
    *out = NULL;
    *out_len = 0;
    uint64_t n = 0, ntok = 0;
    size_t body = 0;
    for (int b = 0; b < nbuf; b++) {
        char what[48];
        snprintf(what, sizeof what, "memory buffer %d of %d", b, nbuf);
        uint64_t nb = 0;
        TR_TRY(check_full(bufs[b], lens[b], what, &nb, NULL, err));
        n += nb;
        ntok += get_u64(bufs[b] + 24);
        body += lens[b] - HDR_BYTES - TRAILER_BYTES;
    }
    size_t total = HDR_BYTES + body + TRAILER_BYTES;
    uint8_t *o = tr_malloc(total, err);
    if (!o) return TR_ENOMEM;
    memcpy(o, MEMORY_MAGIC, 8);
    put_u32(o + 8, MEMORY_VERSION);
    put_u32(o + 12, 0);
    put_u64(o + 16, n);
    put_u64(o + 24, ntok);
    put_u64(o + 32, (uint64_t)total);
    /* entries sorted by id, so that the gathered memory (and a checkpoint) has the same
     * bytes whatever the number of workers and the shard layout */
    typedef struct { int64_t id; const uint8_t *p; size_t len; } ent;
    ent *es = tr_malloc((size_t)(n ? n : 1) * sizeof *es, err);
    if (!es) { free(o); return TR_ENOMEM; }
    size_t k = 0;
    for (int b = 0; b < nbuf; b++) {
        const uint8_t *p = bufs[b] + HDR_BYTES, *end = bufs[b] + lens[b] - TRAILER_BYTES;
        while (p < end) {
            size_t el = 16 + 4 * (size_t)get_u32(p + 8);
            es[k++] = (ent){(int64_t)get_u64(p), p, el};
            p += el;
        }
    }
    qsort(es, k, sizeof *es, cmp_ent_id);
    size_t off = HDR_BYTES;
    for (size_t i = 0; i < k; i++) {
        memcpy(o + off, es[i].p, es[i].len);
        off += es[i].len;
    }
    free(es);
    put_u64(o + off, fnv1a64(o, off));
    /* an id held by two workers means the sharding was wrong: refuse to write it */
    int rc = check_full(o, total, "gathered memory", NULL, NULL, err);
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    *out_len = total;
    return 0;
}

int memory_file_write(const char *path, const uint8_t *buf, size_t len, tr_error *err) {
    TR_TRY(check_full(buf, len, path, NULL, NULL, err));
    return afile_write(path, buf, len, err);
}

int memory_file_read(const char *path, uint8_t **buf, size_t *len, tr_error *err) {
    *buf = NULL;
    *len = 0;
    char *data = NULL;
    size_t n = 0;
    TR_TRY(tr_read_file(path, FILE_LIMIT, &data, &n, err));
    int rc = check_full((const uint8_t *)data, n, path, NULL, NULL, err);
    if (rc) {
        free(data);
        return rc;
    }
    *buf = (uint8_t *)data;
    *len = n;
    return 0;
}

int memory_save(const memory *mem, const char *path, tr_error *err) {
    uint8_t *buf;
    size_t len;
    TR_TRY(memory_serialize(mem, &buf, &len, err));
    int rc = afile_write(path, buf, len, err);
    free(buf);
    return rc;
}

int memory_load(memory *mem, const char *path, int *n_taken, tr_error *err) {
    uint8_t *buf;
    size_t len;
    TR_TRY(memory_file_read(path, &buf, &len, err));
    int rc = memory_deserialize_merge(mem, buf, len, path, n_taken, err);
    free(buf);
    return rc;
}
