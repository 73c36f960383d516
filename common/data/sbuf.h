/* sbuf.h - a growable NUL-terminated string buffer (internal to common/data).
 *
 * Generators and prompt builders append many small pieces; checking every append for
 * failure would bury the logic, so an sbuf remembers its first allocation failure
 * (oom = 1) and sbuf_finish() reports it once.
 */
#ifndef TRICE_DATA_SBUF_H
#define TRICE_DATA_SBUF_H

#include <stddef.h>

#include "common/util/err.h"

typedef struct sbuf {
    char *s;      /* always NUL-terminated while oom == 0 (owned) */
    size_t len;
    size_t cap;
    int oom;      /* 1 after an allocation failed; later appends do nothing */
} sbuf;

void sbuf_init(sbuf *b);
void sbuf_free(sbuf *b);
void sbuf_clear(sbuf *b);
void sbuf_putn(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_putc(sbuf *b, char c);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the string to the caller (*out, caller frees) and reset b. Returns 0 or TR_ENOMEM. */
int sbuf_finish(sbuf *b, char **out, tr_error *err);

#endif
