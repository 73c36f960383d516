/* path.c - see path.h. */
#include "common/util/path.h"

#include <stdarg.h>
#include <stdio.h>

int path_fmt(char *out, size_t cap, tr_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0) return TR_FAIL(err, TR_EINVAL, "cannot format a path from '%s'", fmt);
    if ((size_t)n >= cap)
        return TR_FAIL(err, TR_EINVAL, "path '%.60s...' is %d bytes; the limit is %zu (shorten the folder names)", out, n, cap - 1);
    return 0;
}
