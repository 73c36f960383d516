/* bpe_load.c - reading GPT-2's tokenizer files, decoding, llm.c's gpt2_tokenizer.bin (see bpe.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/tok/bpe_internal.h"
#include "common/tok/unicode.h"
#include "common/util/afile.h"
#include "trice_config.h"

#define MAX_VOCAB (1 << 24)

const char *bpe_default_dir(void)
{
    const char *d = getenv("TRICE_GPT2_DIR");
    return d && *d ? d : TRICE_SOURCE_ROOT "/data/gpt2";
}

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 bytes get
 * the code points 256.. in byte order. Fills the inverse (code point -> byte, -1 if none). */
static void unicode_to_byte(int inv[324])
{
    for (int i = 0; i < 324; i++) inv[i] = -1;
    int n = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
        inv[printable ? c : 256 + n++] = c;
    }
}

/* A string in the byte alphabet -> bytes (out holds strlen(s)). -1 on a foreign character. */
static long alphabet_bytes(const int inv[324], const char *s, size_t n, unsigned char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int valid;
        i += (size_t)uni_decode((const unsigned char *)s + i, n - i, &cp, &valid);
        if (!valid || cp >= 324 || inv[cp] < 0) return -1;
        out[k++] = (unsigned char)inv[cp];
    }
    return (long)k;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1024;
    while (p < n) p <<= 1;
    return p;
}

int bpe_vocab_find(const bpe *b, const unsigned char *p, size_t n)
{
    for (size_t i = bpe_hash_bytes(p, n) & b->vmask;; i = (i + 1) & b->vmask) {
        int32_t id = b->vmap[i];
        if (id < 0) return -1;
        size_t len = b->off[id + 1] - b->off[id];
        if (len == n && memcmp(b->bytes + b->off[id], p, n) == 0) return id;
    }
}

/* The byte -> id map over the decode table; first id wins for duplicate strings. */
static int build_vmap(bpe *b, tr_error *err)
{
    b->vmask = pow2_at_least(2 * (size_t)b->vocab_size) - 1;
    b->vmap = tr_malloc((b->vmask + 1) * sizeof *b->vmap, err);
    if (!b->vmap) return TR_ENOMEM;
    memset(b->vmap, 0xff, (b->vmask + 1) * sizeof *b->vmap);
    for (int id = 0; id < b->vocab_size; id++) {
        const unsigned char *p = b->bytes + b->off[id];
        size_t n = b->off[id + 1] - b->off[id];
        if (bpe_vocab_find(b, p, n) >= 0) continue;
        size_t i = bpe_hash_bytes(p, n) & b->vmask;
        while (b->vmap[i] >= 0) i = (i + 1) & b->vmask;
        b->vmap[i] = id;
    }
    return 0;
}

static void pair_put(bpe *b, int l, int r, int32_t rank, int32_t merged)
{
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    size_t i = bpe_hash_u64(key) & b->pmask;
    while (b->pmap[i].key != BPE_PAIR_EMPTY && b->pmap[i].key != key) i = (i + 1) & b->pmask;
    b->pmap[i] = (bpe_pair_slot){key, rank, merged};  /* a later line of the same pair wins, as in the references */
}

static int load_encoder(bpe *b, const char *path, const int inv[324], tr_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return TR_FAIL(err, TR_EFORMAT, "%s:%d: %s (expected GPT-2's encoder.json: an object of token -> id)", path,
                       je.line, je.text);
    int rc = 0;
    size_t n = json_is_object(root) ? json_object_size(root) : 0;
    if (n == 0 || n > MAX_VOCAB) {
        json_decref(root);
        return TR_FAIL(err, TR_EFORMAT, "%s: expected a non-empty JSON object of token -> id (at most %d entries)", path,
                       MAX_VOCAB);
    }
    const char **key = tr_calloc(n, sizeof *key, err);
    b->off = tr_calloc(n + 1, sizeof *b->off, err);
    size_t total = 0;
    const char *k;
    json_t *v;
    if (!key || !b->off) rc = TR_ENOMEM;
    json_object_foreach(root, k, v) {
        if (rc) break;
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || (size_t)id >= n) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s: token \"%s\" has id %s; ids must be the integers 0..%zu", path, k,
                         json_is_integer(v) ? "out of range" : "that is not an integer", n - 1);
        } else if (key[id]) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s: id %lld is given to both \"%s\" and \"%s\"", path, (long long)id, key[id], k);
        } else {
            key[id] = k;
            total += strlen(k);
        }
    }
    if (!rc) b->bytes = tr_malloc(total + 1, err);
    if (!rc && !b->bytes) rc = TR_ENOMEM;
    for (size_t id = 0; id < n && !rc; id++) {
        long len = alphabet_bytes(inv, key[id], strlen(key[id]), b->bytes + b->off[id]);
        if (len <= 0)
            rc = TR_FAIL(err, TR_EFORMAT, "%s: token \"%s\" (id %zu) is %s", path, key[id], id,
                         len == 0 ? "empty" : "not written in GPT-2's byte alphabet (bytes_to_unicode)");
        else b->off[id + 1] = b->off[id] + (uint32_t)len;
    }
    if (!rc) {
        b->vocab_size = (int)n;
        b->eot = -1;
        for (size_t id = 0; id < n; id++)
            if (strcmp(key[id], "<|endoftext|>") == 0) b->eot = (int)id;
    }
    free(key);
    json_decref(root);
    return rc;
}

/* One line of vocab.bpe: two tokens separated by whitespace -> their byte strings. */
static int split_merge(const char *line, size_t n, const int inv[324], unsigned char *a, long *la, unsigned char *c, long *lc)
{
    const char *part[3];
    size_t plen[3], np = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && strchr(" \t\r\v\f", line[i])) i++;
        if (i == n) break;
        size_t s = i;
        while (i < n && !strchr(" \t\r\v\f", line[i])) i++;
        if (np == 3) return -1;
        part[np] = line + s;
        plen[np++] = i - s;
    }
    if (np != 2) return -1;
    *la = alphabet_bytes(inv, part[0], plen[0], a);
    *lc = alphabet_bytes(inv, part[1], plen[1], c);
    return *la > 0 && *lc > 0 ? 0 : -1;
}

static int load_merges(bpe *b, const char *path, const int inv[324], bpe_ranks ranks, tr_error *err)
{
    char *text = NULL;
    size_t len = 0;
    TR_TRY(tr_read_file(path, (size_t)256 << 20, &text, &len, err));
    /* like encoder.py and the JavaScript encoder: skip the first line ("#version: 0.2") and
     * what follows the last newline (empty in a well-formed file) */
    size_t nlines = 0;
    for (size_t i = 0; i < len; i++) nlines += text[i] == '\n';
    int rc = 0;
    b->pmask = pow2_at_least(2 * nlines + 64) - 1;
    b->pmap = tr_malloc((b->pmask + 1) * sizeof *b->pmap, err);
    /* scratch for one line: the two parts, their concatenation and the JavaScript key "A,B" */
    unsigned char *buf = tr_malloc(4 * len + 8, err), *a = buf, *c = buf ? buf + len + 1 : NULL,
                  *ab = buf ? buf + 2 * len + 2 : NULL, *key = buf ? buf + 3 * len + 3 : NULL;
    if (!b->pmap || !buf) rc = TR_ENOMEM;
    if (!rc) for (size_t i = 0; i <= b->pmask; i++) b->pmap[i].key = BPE_PAIR_EMPTY;
    const char *p = strchr(text, '\n');
    int32_t rank = 0;
    for (size_t lineno = 2; p && !rc; lineno++) {
        const char *s = p + 1, *e = memchr(s, '\n', len - (size_t)(s - text));
        if (!e) break;
        p = e;
        long la, lc;
        if (split_merge(s, (size_t)(e - s), inv, a, &la, c, &lc) != 0) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s:%zu: expected two tokens in GPT-2's byte alphabet separated by a space", path, lineno);
            break;
        }
        memcpy(ab, a, (size_t)la);
        memcpy(ab + la, c, (size_t)lc);
        int ia = bpe_vocab_find(b, a, (size_t)la), ic = bpe_vocab_find(b, c, (size_t)lc);
        int iab = bpe_vocab_find(b, ab, (size_t)(la + lc));
        if (ia < 0 || ic < 0 || iab < 0) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s:%zu: merge '%.*s' of tokens missing from encoder.json (%s)", path, lineno,
                         (int)(e - s), s, ia < 0 ? "left part" : ic < 0 ? "right part" : "the merged token");
            break;
        }
        if (ranks == BPE_RANKS_OPENAI) {
            pair_put(b, ia, ic, rank, iab);
        } else {
            /* the JavaScript rank table is keyed by "A,B": every split of that string at a
             * comma whose halves are tokens gets this rank (the true split among them). A
             * split whose concatenation is not a token would make the reference emit
             * `undefined`; none exists in GPT-2's files, and such splits are left out. */
            memcpy(key, a, (size_t)la);
            key[la] = ',';
            memcpy(key + la + 1, c, (size_t)lc);
            long lk = la + 1 + lc;
            for (long q = 0; q < lk; q++) {
                if (key[q] != ',') continue;
                int l = bpe_vocab_find(b, key, (size_t)q), r = bpe_vocab_find(b, key + q + 1, (size_t)(lk - q - 1));
                memcpy(ab, key, (size_t)q);  /* the key without this comma: what the pair merges into */
                memcpy(ab + q, key + q + 1, (size_t)(lk - q - 1));
                int m = bpe_vocab_find(b, ab, (size_t)(lk - 1));
                if (l >= 0 && r >= 0 && m >= 0) pair_put(b, l, r, rank, m);
            }
        }
        rank++;
    }
    free(buf);
    free(text);
    return rc;
}

static void reset(bpe *b)
{
    memset(b, 0, sizeof *b);
    b->eot = -1;
}

int bpe_load(bpe *b, const char *encoder_json, const char *vocab_bpe, bpe_ranks ranks, tr_error *err)
{
    reset(b);
    int inv[324];
    unicode_to_byte(inv);
    int rc = load_encoder(b, encoder_json, inv, err);
    if (!rc) rc = build_vmap(b, err);
    if (!rc) rc = load_merges(b, vocab_bpe, inv, ranks, err);
    for (int c = 0; c < 256 && !rc; c++) {
        unsigned char byte = (unsigned char)c;
        b->byte_id[c] = bpe_vocab_find(b, &byte, 1);
        if (b->byte_id[c] < 0)
            rc = TR_FAIL(err, TR_EFORMAT, "%s: byte 0x%02x has no token (a byte-level vocabulary has all 256)", encoder_json, c);
    }
    if (!rc) rc = bpe_cache_init(b, err);
    if (rc) { bpe_free(b); return rc; }
    b->can_encode = 1;
    return 0;
}

int bpe_load_dir(bpe *b, const char *dir, bpe_ranks ranks, tr_error *err)
{
    if (!dir) dir = bpe_default_dir();
    size_t n = strlen(dir) + 32;
    char *enc = tr_malloc(n, err), *voc = tr_malloc(n, err);
    int rc = enc && voc ? 0 : TR_ENOMEM;
    if (!rc) {
        snprintf(enc, n, "%s/encoder.json", dir);
        snprintf(voc, n, "%s/vocab.bpe", dir);
        rc = bpe_load(b, enc, voc, ranks, err);
        if (rc) tr_error_wrap(err, "GPT-2 tokenizer files in %s (set TRICE_GPT2_DIR to the folder holding "
                              "encoder.json and vocab.bpe)", dir);
    }
    free(enc);
    free(voc);
    return rc;
}

void bpe_free(bpe *b)
{
    bpe_cache_free(b);
    free(b->bytes);
    free(b->off);
    free(b->vmap);
    free(b->pmap);
    reset(b);
}

const unsigned char *bpe_token(const bpe *b, int id, size_t *len)
{
    if (id < 0 || id >= b->vocab_size) { *len = 0; return NULL; }
    *len = b->off[id + 1] - b->off[id];
    return b->bytes + b->off[id];
}

size_t bpe_max_token_len(const bpe *b)
{
    size_t m = 0;
    for (int i = 0; i < b->vocab_size; i++)
        if (b->off[i + 1] - b->off[i] > m) m = b->off[i + 1] - b->off[i];
    return m;
}

int bpe_decode(const bpe *b, const int *tokens, size_t n, unsigned char *out, size_t cap, size_t *out_len, tr_error *err)
{
    size_t k = 0;
    *out_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const unsigned char *p = bpe_token(b, tokens[i], &len);
        if (!p)
            return TR_FAIL(err, TR_EINVAL, "token %d at index %zu is out of range (GPT-2 ids are 0..%d)", tokens[i], i,
                           b->vocab_size - 1);
        if (k + len > cap) return TR_FAIL(err, TR_EINVAL, "decoded text exceeds the %zu-byte buffer at index %zu", cap, i);
        memcpy(out + k, p, len);
        k += len;
        *out_len = k;
    }
    return 0;
}

/* ---- llm.c's gpt2_tokenizer.bin ---- */

int bpe_read_llmc(bpe *b, const char *path, tr_error *err)
{
    reset(b);
    char *data = NULL;
    size_t len = 0;
    TR_TRY(tr_read_file(path, (size_t)1 << 30, &data, &len, err));
    const unsigned char *p = (const unsigned char *)data;
    uint32_t hdr[256];
    int rc = 0;
    if (len < sizeof hdr) {
        rc = TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes, shorter than the 1024-byte header of llm.c's tokenizer file", path, len);
        goto out;
    }
    memcpy(hdr, p, sizeof hdr);
    if (hdr[0] != BPE_LLMC_MAGIC || (hdr[1] != 1 && hdr[1] != 2) || hdr[2] == 0 || hdr[2] > MAX_VOCAB) {
        rc = TR_FAIL(err, TR_EFORMAT, "%s: header magic %u version %u vocab %u; expected magic %d, version 1 or 2 and "
                     "1..%d tokens (an llm.c gpt2_tokenizer.bin)", path, hdr[0], hdr[1], hdr[2], BPE_LLMC_MAGIC, MAX_VOCAB);
        goto out;
    }
    size_t n = hdr[2], at = sizeof hdr;
    b->off = tr_calloc(n + 1, sizeof *b->off, err);
    b->bytes = tr_malloc(len, err);
    if (!b->off || !b->bytes) { rc = TR_ENOMEM; goto out; }
    for (size_t i = 0; i < n; i++) {
        if (at >= len || p[at] == 0 || at + 1 + p[at] > len) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s: token %zu of %zu %s at byte %zu", path, i, n,
                         at < len && p[at] == 0 ? "has length 0" : "is truncated", at);
            goto out;
        }
        memcpy(b->bytes + b->off[i], p + at + 1, p[at]);
        b->off[i + 1] = b->off[i] + p[at];
        at += 1 + (size_t)p[at];
    }
    if (at != len) {
        rc = TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes of trailing data after %zu tokens", path, len - at, n);
        goto out;
    }
    b->vocab_size = (int)n;
    /* version 1 has no id for <|endoftext|>; llm.c takes GPT-2's */
    b->eot = hdr[1] == 2 ? (int)hdr[3] : (n == BPE_GPT2_VOCAB ? BPE_GPT2_EOT : -1);
    if (b->eot >= b->vocab_size) {
        rc = TR_FAIL(err, TR_EFORMAT, "%s: end-of-text id %d is outside the %d tokens", path, b->eot, b->vocab_size);
        goto out;
    }
out:
    free(data);
    if (rc) bpe_free(b);
    return rc;
}

int bpe_write_llmc(const bpe *b, const char *path, tr_error *err)
{
    uint32_t hdr[256] = {BPE_LLMC_MAGIC, 2, (uint32_t)b->vocab_size, (uint32_t)(b->eot < 0 ? 0 : b->eot)};
    for (int i = 0; i < b->vocab_size; i++) {
        size_t len = b->off[i + 1] - b->off[i];
        if (len == 0 || len > 255)
            return TR_FAIL(err, TR_EINVAL, "%s: token %d has %zu bytes; llm.c's format holds 1..255", path, i, len);
    }
    afile af;
    TR_TRY(afile_open(&af, path, err));
    int rc = afile_put(&af, hdr, sizeof hdr, err);
    for (int i = 0; i < b->vocab_size && !rc; i++) {
        unsigned char len = (unsigned char)(b->off[i + 1] - b->off[i]);
        rc = afile_put(&af, &len, 1, err);
        if (!rc) rc = afile_put(&af, b->bytes + b->off[i], len, err);
    }
    if (!rc) return afile_commit(&af, err);
    afile_abort(&af);
    return rc;
}
