/* tokenizer.h - byte-level tokenizer: token b (0..255) is byte b, TOK_EOT (256) ends a text.
 * Vocabulary 257, padded to 384 in the model. Encode/decode round-trip any bytes.
 * GPT-2's BPE is common/tok/bpe.h; common/tok/tok.h chooses between the two. */
#ifndef TRICE_MODEL_TOKENIZER_H
#define TRICE_MODEL_TOKENIZER_H

#include <stddef.h>

#include "common/util/err.h"

#define TOK_BYTE_VOCAB 257
#define TOK_EOT 256

/* tokens (len) out: one token per byte. Returns the count (len). */
size_t tok_encode(const void *bytes, size_t len, int *tokens);

/* bytes out (up to n): the bytes of tokens (n); TOK_EOT ends the text (not written).
 * *out_len gets the byte count. Fails on a token outside 0..256. */
int tok_decode(const int *tokens, size_t n, unsigned char *bytes, size_t *out_len, tr_error *err);

#endif
