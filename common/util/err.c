#include "common/util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *basename_of(const char *path) {
    /* keep paths relative to the source tree: "common/util/err.c", not the build machine's */
    const char *keys[] = {"common/", "coordinator/", "worker/", "tests/", "proto/"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *p = strstr(path, keys[i]);
        if (p) return p;
    }
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int tr_error_set(tr_error *err, int code, const char *file, int line, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    snprintf(err->where, sizeof err->where, "%s:%d", basename_of(file), line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int tr_error_wrap(tr_error *err, const char *fmt, ...) {
    if (!err) return TR_EINTERNAL;
    char prefix[TR_ERRMSG_MAX], old[TR_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* prefix + ": " + old, truncated to the buffer (explicitly, so the compiler sees the bounds) */
    size_t np = strnlen(prefix, sizeof err->msg - 3), no = strnlen(old, sizeof old);
    memcpy(err->msg, prefix, np);
    memcpy(err->msg + np, ": ", 2);
    size_t room = sizeof err->msg - np - 3;
    if (no > room) no = room;
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = '\0';
    return err->code;
}

void tr_error_clear(tr_error *err) {
    if (!err) return;
    err->code = TR_OK;
    err->msg[0] = '\0';
    err->where[0] = '\0';
}

const char *tr_code_name(int code) {
    static const char *names[TR_NCODES] = {
        "ok", "invalid argument", "out of memory", "I/O error", "bad format",
        "MPI error", "bad state", "not found", "cancelled", "unauthenticated", "internal error",
    };
    if (code < 0 || code >= TR_NCODES) return "unknown error";
    return names[code];
}

void *tr_malloc_at(size_t n, tr_error *err, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) tr_error_set(err, TR_ENOMEM, file, line, "malloc of %zu bytes failed (hint: lower batch size or model size)", n);
    return p;
}

void *tr_calloc_at(size_t count, size_t size, tr_error *err, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) tr_error_set(err, TR_ENOMEM, file, line, "calloc of %zu x %zu bytes failed (hint: lower batch size or model size)", count, size);
    return p;
}

void *tr_realloc_at(void *p, size_t n, tr_error *err, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) tr_error_set(err, TR_ENOMEM, file, line, "realloc to %zu bytes failed", n);
    return q;
}

char *tr_strdup_at(const char *s, tr_error *err, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = tr_malloc_at(n, err, file, line);
    if (p) memcpy(p, s, n);
    return p;
}

int tr_fopen_at(FILE **out, const char *path, const char *mode, tr_error *err, const char *file, int line) {
    *out = fopen(path, mode);
    if (!*out)
        return tr_error_set(err, errno == ENOENT ? TR_ENOTFOUND : TR_EIO, file, line,
                            "cannot open '%s' (mode %s): %s (hint: check the path and permissions)",
                            path, mode, strerror(errno));
    return 0;
}

int tr_fread_at(void *buf, size_t size, size_t n, FILE *f, const char *path, tr_error *err, const char *file, int line) {
    size_t got = fread(buf, size, n, f);
    if (got != n) {
        if (ferror(f))
            return tr_error_set(err, TR_EIO, file, line, "read error on '%s': %s", path, strerror(errno));
        return tr_error_set(err, TR_EFORMAT, file, line,
                            "'%s' is truncated: wanted %zu items of %zu bytes, got %zu (hint: the file may be incomplete or corrupt)",
                            path, n, size, got);
    }
    return 0;
}

int tr_fwrite_at(const void *buf, size_t size, size_t n, FILE *f, const char *path, tr_error *err, const char *file, int line) {
    if (fwrite(buf, size, n, f) != n)
        return tr_error_set(err, TR_EIO, file, line, "write error on '%s': %s (hint: is the disk full?)", path, strerror(errno));
    return 0;
}

int tr_read_file(const char *path, size_t limit, char **out, size_t *len, tr_error *err) {
    *out = NULL;
    FILE *f;
    TR_TRY(tr_fopen(&f, path, "rb", err));
    size_t cap = 4096, n = 0;
    char *buf = tr_malloc(cap, err);
    if (!buf) { fclose(f); return TR_ENOMEM; }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= limit) {
                free(buf); fclose(f);
                return TR_FAIL(err, TR_EINVAL, "'%s' is larger than the %zu-byte limit", path, limit);
            }
            size_t ncap = cap * 2 > limit ? limit : cap * 2;
            char *nb = tr_realloc(buf, ncap, err);
            if (!nb) { free(buf); fclose(f); return TR_ENOMEM; }
            buf = nb; cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf); fclose(f);
                return TR_FAIL(err, TR_EIO, "read error on '%s': %s", path, strerror(errno));
            }
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return 0;
}
