/* byte.c - the byte-level tokenizer (see byte.h). */
#include "common/tok/byte.h"

size_t tok_encode(const void *bytes, size_t len, int *tokens)
{
    const unsigned char *b = bytes;
    for (size_t i = 0; i < len; i++) tokens[i] = b[i];
    return len;
}

int tok_decode_bytes(const int *tokens, size_t n, unsigned flags, unsigned char *out, size_t cap, size_t *out_len,
                     tr_error *err)
{
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int t = tokens[i];
        if (t == TOK_EOT) {
            if (flags & TOK_STOP_AT_EOT) break;
            continue;
        }
        if (t < 0 || t > 255) {
            if (flags & TOK_SKIP_INVALID) continue;
            rc = TR_FAIL(err, TR_EINVAL, "token %d at index %zu is not a byte-level id (0..%d: bytes, and end-of-text %d)",
                         t, i, TOK_BYTE_VOCAB - 1, TOK_EOT);
        } else if (k == cap) {
            if (flags & TOK_TRUNCATE) break;
            rc = TR_FAIL(err, TR_EINVAL, "decoded text exceeds the %zu-byte buffer at index %zu", cap, i);
        } else {
            out[k++] = (unsigned char)t;
        }
    }
    *out_len = k;
    return rc;
}

int tok_decode(const int *tokens, size_t n, unsigned char *bytes, size_t *out_len, tr_error *err)
{
    return tok_decode_bytes(tokens, n, TOK_STOP_AT_EOT, bytes, n, out_len, err);
}
