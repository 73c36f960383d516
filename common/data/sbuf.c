/* sbuf.c - growable string buffer; see sbuf.h. */
#include "common/data/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_init(sbuf *b) { memset(b, 0, sizeof *b); }

void sbuf_free(sbuf *b) { free(b->s); sbuf_init(b); }

void sbuf_clear(sbuf *b) {
    b->len = 0;
    if (b->s) b->s[0] = '\0';
}

static int sbuf_reserve(sbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < b->len + extra + 1) ncap *= 2;
    char *ns = realloc(b->s, ncap);
    if (!ns) { b->oom = 1; return -1; }
    b->s = ns;
    b->cap = ncap;
    return 0;
}

void sbuf_putn(sbuf *b, const char *s, size_t n) {
    if (sbuf_reserve(b, n) != 0) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sbuf_puts(sbuf *b, const char *s) { sbuf_putn(b, s, strlen(s)); }

void sbuf_putc(sbuf *b, char c) { sbuf_putn(b, &c, 1); }

void sbuf_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if (sbuf_reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int sbuf_finish(sbuf *b, char **out, tr_error *err) {
    *out = NULL;
    if (!b->oom && sbuf_reserve(b, 0) != 0) b->oom = 1;
    if (b->oom) {
        sbuf_free(b);
        return TR_FAIL(err, TR_ENOMEM, "out of memory building a string");
    }
    *out = b->s;
    sbuf_init(b);
    return 0;
}
