/* path.h - building file paths into fixed buffers, with truncation checked.
 *
 * PATH_BUF is the size of a buffer that holds any path the system can open: PATH_MAX
 * (4096 on Linux, the kernel's limit for one path argument) bytes, NUL included. Use it
 * for every path buffer instead of a guessed size, and build the path with path_fmt, which
 * fails (TR_EINVAL naming the start of the path) instead of cutting it: a cut path names
 * another file, so writing to it would be a silent bug.
 */
#ifndef TRICE_UTIL_PATH_H
#define TRICE_UTIL_PATH_H

#include <limits.h>
#include <stddef.h>

#include "common/util/err.h"

#define PATH_BUF PATH_MAX

/* printf into out (cap bytes). 0 when it fits; TR_EINVAL (out then holds the cut text) when
 * the path needs cap bytes or more. */
int path_fmt(char *out, size_t cap, tr_error *err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
