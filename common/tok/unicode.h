/* unicode.h - the character classes of GPT-2's pre-tokenisation regex, on UTF-8 bytes.
 *
 * The regex (as in the reference JavaScript encoder, flag /u):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * needs three classes of code point: letters (\p{L}), numbers (\p{N}) and JavaScript's \s;
 * everything else is "other". \p{L} and \p{N} come from unicode_tab.c, generated from
 * Unicode 15.0.0 (gen_unicode.py); \s is ECMAScript's WhiteSpace + LineTerminator set, which
 * differs from Python's (it has U+FEFF, lacks U+001C..U+001F and U+0085).
 * Bytes that are not valid UTF-8 (stray continuation bytes, overlong forms, surrogates,
 * code points above U+10FFFF, truncated sequences) are taken one at a time as "other":
 * the JavaScript encoder cannot receive them, and this keeps every byte string encodable.
 */
#ifndef TRICE_TOK_UNICODE_H
#define TRICE_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { UNI_OTHER = 0, UNI_LETTER, UNI_NUMBER, UNI_SPACE } uni_class;

/* Decode the code point at s[0..n-1] (n >= 1): *cp gets it (or the byte, when invalid) and
 * the return value is its length in bytes (1..4); *valid is 0 for an invalid byte. */
int uni_decode(const unsigned char *s, size_t n, uint32_t *cp, int *valid);

/* The class of a valid code point. */
uni_class uni_classify(uint32_t cp);

/* Generated tables (unicode_tab.c). */
extern const uint32_t uni_letter_ranges[][2];
extern const size_t uni_letter_nranges;
extern const uint32_t uni_number_ranges[][2];
extern const size_t uni_number_nranges;

#endif
