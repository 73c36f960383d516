/* suggest.h - "did you mean": the closest of a few known words to a mistyped one.
 *
 * Used by the command-line parsers (options, subcommands) and by the spec parser
 * (unknown fields). Distance is Levenshtein on bytes; a candidate is offered only when
 * it is close enough to be a plausible typo, so an unrelated word gets no suggestion.
 */
#ifndef TRICE_UTIL_SUGGEST_H
#define TRICE_UTIL_SUGGEST_H

#include <stddef.h>

/* Edit distance between a and b (insertions, deletions, substitutions); words longer
 * than 63 bytes compare as far apart. */
int suggest_distance(const char *a, const char *b);

/* Index of the candidate closest to word, or -1 when none is within
 * max(2, strlen(word) / 3) edits (or word is a prefix of exactly the one candidate).
 * cands[n] may contain NULLs, which are skipped; n < 0 means cands is NULL-terminated. */
int suggest_closest(const char *word, const char *const *cands, int n);

#endif
