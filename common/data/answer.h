/* answer.h - reading the answer out of a rationale and comparing it with the gold answer.
 *
 * Extraction: the answer follows the FIRST "So the answer is " (or "so the answer is ").
 * A model that rambles on and states another answer later is judged on the first one:
 * everything after it is not part of the rationale's claim. Text with no such marker has
 * no answer (c = 0).
 *
 * Two kinds:
 *   ANSWER_INT   GSM8K normalisation: optional '$', sign, digits with thousands commas
 *                ("1,080" -> "1080", "-007" -> "-7", "+3" -> "3"), a fraction of zeros
 *                dropped ("18.00" -> "18"); words after the number are ignored
 *                ("72 clips." -> "72"). A non-zero fraction stays ("3.5") and so never
 *                equals an integer gold.
 *   ANSWER_TEXT  BBH targets: the text up to the end of the line or a '.' that ends the
 *                sentence ('.' followed by whitespace or the end), trimmed, runs of
 *                whitespace collapsed to one space ("] } ]", "(B)", "Monsters, Inc").
 *                Comparison is exact, except that (a) yes/no/true/false/valid/invalid
 *                compare case-insensitively (BBH uses both "Yes" and "yes"), and (b) an
 *                option gold "(X)" also matches an answer that starts with "(X) " (the
 *                model may copy the option's text after the letter).
 */
#ifndef TRICE_DATA_ANSWER_H
#define TRICE_DATA_ANSWER_H

#include <stddef.h>

typedef enum { ANSWER_TEXT = 0, ANSWER_INT = 1 } answer_kind;

#define ANSWER_MAX 256   /* longest answer the checks handle (bytes, with the NUL) */

/* Answer after the first marker, normalised into out[cap]. Returns 0 when found, 1 when
 * there is no marker or nothing usable after it, 2 when it does not fit in cap. */
int answer_extract(answer_kind kind, const char *generated, char *out, size_t cap);

/* Normalise a bare answer (a gold target). Returns 0, or 1 when s is not a valid answer of
 * this kind (empty; for ANSWER_INT not a whole number), 2 when it does not fit in cap. */
int answer_normalise(answer_kind kind, const char *s, char *out, size_t cap);

/* 1 when the normalised extracted answer matches the normalised gold (rules above). */
int answer_equal(answer_kind kind, const char *extracted, const char *gold);

/* c(z, y) in one call: extract from generated, normalise gold, compare. */
int answer_check(answer_kind kind, const char *generated, const char *gold);

/* 1 when s is an integer under ANSWER_INT normalisation (used to choose a file's kind). */
int answer_is_integer(const char *s);

#endif
