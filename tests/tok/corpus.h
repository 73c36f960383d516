/* corpus.h - strings for the tokenizer tests and benchmark: every GSM8K question and answer
 * and every BBH input under ../shared/data (when present), and seeded fuzz. */
#ifndef TRICE_TESTS_TOK_CORPUS_H
#define TRICE_TESTS_TOK_CORPUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct corpus {
    char **s;        /* strings (may hold NUL bytes: use len) */
    size_t *len;
    size_t n, cap;
    size_t n_gsm8k, n_bbh, n_fuzz, n_invalid;
} corpus;

/* Adds GSM8K and BBH strings from dir (TRICE_SHARED_DATA); returns 0 when dir has none. */
int corpus_add_shared(corpus *c, const char *dir);
/* n valid UTF-8 fuzz strings: words, digits, punctuation, contractions, emoji (ZWJ, skin
 * tones), combining marks, CJK, Hangul, other scripts and digits, whitespace runs. */
void corpus_add_fuzz(corpus *c, uint64_t seed, size_t n);
/* n strings with invalid UTF-8 mixed into valid text (stray continuation bytes, overlong
 * forms, surrogates, truncated sequences, bytes above F4). */
void corpus_add_invalid(corpus *c, uint64_t seed, size_t n);
void corpus_free(corpus *c);

#endif
