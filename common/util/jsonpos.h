/* jsonpos.h - find where a key sits in JSON source text, for error messages.
 *
 * JSON libraries report positions only for syntax errors; a spec error such as
 * "train.steps must be >= 1" is more useful with "line 7". This scanner walks the text
 * (strings, escapes, nesting) and returns the line of the key at a dotted path
 * ("optim.lr"), or of the top-level object when the path is empty.
 */
#ifndef TRICE_UTIL_JSONPOS_H
#define TRICE_UTIL_JSONPOS_H

/* Returns the 1-based line of the key, or 0 when it is not found. */
int jsonpos_key_line(const char *text, const char *dotted_path);

#endif
