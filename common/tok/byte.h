/* byte.h - byte-level tokenizer: token b (0..255) is byte b, TOK_EOT (256) ends a text.
 * Vocabulary 257, padded to 384 in the model. Encode/decode round-trip any bytes.
 * GPT-2's BPE is bpe.h; tok.h chooses between the two and decodes byte-level ids only
 * through tok_decode_bytes (the one byte-level decoder). */
#ifndef TRICE_TOK_BYTE_H
#define TRICE_TOK_BYTE_H

#include <stddef.h>

#include "common/util/err.h"

#define TOK_BYTE_VOCAB 257
#define TOK_EOT 256

/* tokens (len) out: one token per byte. Returns the count (len). */
size_t tok_encode(const void *bytes, size_t len, int *tokens);

/* How tok_decode_bytes treats end-of-text, ids outside 0..256 and a full buffer. */
enum {
    TOK_STOP_AT_EOT  = 1u << 0,  /* TOK_EOT ends the text; otherwise it decodes to nothing and decoding goes on */
    TOK_SKIP_INVALID = 1u << 1,  /* skip ids outside 0..256 (model output); otherwise TR_EINVAL naming the id and its index */
    TOK_TRUNCATE     = 1u << 2,  /* stop quietly when out is full; otherwise TR_EINVAL */
};

/* The bytes of tokens (n) into out (cap bytes), as flags say; *out_len gets the byte count
 * (on an error, the bytes written before it). */
int tok_decode_bytes(const int *tokens, size_t n, unsigned flags, unsigned char *out, size_t cap, size_t *out_len,
                     tr_error *err);

/* bytes out (holds n): the bytes of tokens (n); TOK_EOT ends the text (not written).
 * *out_len gets the byte count. Fails on a token outside 0..256. */
int tok_decode(const int *tokens, size_t n, unsigned char *bytes, size_t *out_len, tr_error *err);

#endif
