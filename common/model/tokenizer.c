/* tokenizer.c - the byte-level tokenizer (see tokenizer.h). */
#include "common/model/tokenizer.h"

size_t tok_encode(const void *bytes, size_t len, int *tokens)
{
    const unsigned char *b = bytes;
    for (size_t i = 0; i < len; i++) tokens[i] = b[i];
    return len;
}

int tok_decode(const int *tokens, size_t n, unsigned char *bytes, size_t *out_len, tr_error *err)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] == TOK_EOT) break;
        if (tokens[i] < 0 || tokens[i] > 255) {
            *out_len = k;
            return TR_FAIL(err, TR_EINVAL, "tok_decode: token %d at index %zu is not a byte token (0..255) "
                           "or end-of-text (%d)", tokens[i], i, TOK_EOT);
        }
        bytes[k++] = (unsigned char)tokens[i];
    }
    *out_len = k;
    return 0;
}
