/* tok.h - the tokenizer of a model: byte-level (common/tok/byte.h: 256 bytes + end-of-
 * text, vocabulary 257) or GPT-2's BPE (bpe.h: vocabulary 50,257, end-of-text 50256).
 * The engine, the sampler's stop token and `trice tokenize` go through this one interface,
 * chosen by the spec's model.tokenizer. */
#ifndef TRICE_TOK_TOK_H
#define TRICE_TOK_TOK_H

#include <stddef.h>

#include "common/tok/bpe.h"
#include "common/util/err.h"

typedef enum { TOKENIZER_BYTE = 0, TOKENIZER_GPT2 = 1 } tokenizer_kind;

typedef struct tokenizer {
    tokenizer_kind kind;
    int vocab_size;       /* real tokens: 257 or 50,257 */
    int eot;              /* end-of-text id: 256 or 50256 */
    size_t max_bytes;     /* most bytes one token decodes to */
    bpe *bpe;             /* GPT-2 only (owned) */
} tokenizer;

/* "byte" or "gpt2". */
const char *tokenizer_name(tokenizer_kind k);
/* 0 and *k set for a known name, else TR_EINVAL naming the allowed ones. */
int tokenizer_parse(const char *name, tokenizer_kind *k, tr_error *err);

/* GPT-2 reads its files from bpe_default_dir() ($TRICE_GPT2_DIR or data/gpt2). */
int tokenizer_open(tokenizer *t, tokenizer_kind k, tr_error *err);
void tokenizer_free(tokenizer *t);

/* len bytes -> tokens; out holds len entries. Returns the count. Not thread-safe (GPT-2 caches). */
size_t tokenizer_encode(tokenizer *t, const void *text, size_t len, int *out);
/* Tokens of a NUL-terminated text, or -1 when out of memory. */
long tokenizer_count(tokenizer *t, const char *text);

/* Strict decode (for user input): fails naming the index and the id on an id outside
 * 0..vocab_size-1 or when cap is too small; end-of-text decodes to nothing (byte) or to its
 * text "<|endoftext|>" (GPT-2, like the reference encoder). */
int tokenizer_decode(const tokenizer *t, const int *tok, size_t n, unsigned char *out, size_t cap, size_t *out_len,
                     tr_error *err);
/* Model output -> text: stops at end-of-text, skips ids outside the vocabulary, writes at
 * most cap - 1 bytes and a NUL. */
void tokenizer_decode_text(const tokenizer *t, const int *tok, size_t n, char *out, size_t cap);

#endif
