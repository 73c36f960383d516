/* err.h - error codes and messages for library code.
 *
 * Convention (every module follows it): a library function returns 0 on success
 * or a positive TR_E* code on failure, and fills the caller's tr_error with a
 * message for people, "what went wrong (hint: what to do)", and separately the
 * source location that raised it ("common/spec/spec.c:150"), which belongs in
 * debug logs only (log_error_origin in log.h), never in what a user reads.
 * Library code never exits; only main() decides that. A NULL tr_error* is
 * allowed and means "caller does not want the message".
 */
#ifndef TRICE_UTIL_ERR_H
#define TRICE_UTIL_ERR_H

#include <stddef.h>
#include <stdio.h>

enum {
    TR_OK = 0,
    TR_EINVAL,     /* bad argument or bad input data */
    TR_ENOMEM,     /* allocation failed */
    TR_EIO,        /* file or socket I/O failed */
    TR_EFORMAT,    /* a file or message is malformed (magic, version, size) */
    TR_EMPI,       /* an MPI call failed or a peer vanished */
    TR_ESTATE,     /* call not allowed in the current state */
    TR_ENOTFOUND,  /* unknown id, missing file */
    TR_ECANCELED,  /* stopped on request (signal, cancel) */
    TR_EAUTH,      /* missing or wrong token */
    TR_EINTERNAL,  /* a bug: an invariant did not hold */
    TR_NCODES
};

#define TR_ERRMSG_MAX 2048  /* room for every problem of a spec at once */

typedef struct tr_error {
    int code;
    char msg[TR_ERRMSG_MAX];
    char where[96];   /* "file:line" of the TR_FAIL that set it; "" when unknown */
} tr_error;

/* Set err (if non-NULL) to code, msg = <fmt> and where = "file:line". Returns code. */
int tr_error_set(tr_error *err, int code, const char *file, int line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prefix an existing message with context ("loading x: <old msg>"). Returns err->code. */
int tr_error_wrap(tr_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void tr_error_clear(tr_error *err);
const char *tr_code_name(int code);

#define TR_FAIL(err, code, ...) tr_error_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate: if expr returns non-zero, return it (the message is already set). */
#define TR_TRY(expr) do { int tr_rc_ = (expr); if (tr_rc_ != 0) return tr_rc_; } while (0)

/* Checked allocation: returns NULL and fills err with the size and call site. */
void *tr_malloc_at(size_t n, tr_error *err, const char *file, int line);
void *tr_calloc_at(size_t count, size_t size, tr_error *err, const char *file, int line);
void *tr_realloc_at(void *p, size_t n, tr_error *err, const char *file, int line);
char *tr_strdup_at(const char *s, tr_error *err, const char *file, int line);
#define tr_malloc(n, err)        tr_malloc_at((n), (err), __FILE__, __LINE__)
#define tr_calloc(c, s, err)     tr_calloc_at((c), (s), (err), __FILE__, __LINE__)
#define tr_realloc(p, n, err)    tr_realloc_at((p), (n), (err), __FILE__, __LINE__)
#define tr_strdup(s, err)        tr_strdup_at((s), (err), __FILE__, __LINE__)

/* Checked stdio: each returns 0 or TR_EIO with path, errno text and call site. */
int tr_fopen_at(FILE **out, const char *path, const char *mode, tr_error *err, const char *file, int line);
int tr_fread_at(void *buf, size_t size, size_t n, FILE *f, const char *path, tr_error *err, const char *file, int line);
int tr_fwrite_at(const void *buf, size_t size, size_t n, FILE *f, const char *path, tr_error *err, const char *file, int line);
#define tr_fopen(out, path, mode, err)   tr_fopen_at((out), (path), (mode), (err), __FILE__, __LINE__)
#define tr_fread(b, s, n, f, path, err)  tr_fread_at((b), (s), (n), (f), (path), (err), __FILE__, __LINE__)
#define tr_fwrite(b, s, n, f, path, err) tr_fwrite_at((b), (s), (n), (f), (path), (err), __FILE__, __LINE__)

/* Read a whole file into a NUL-terminated buffer (caller frees). Limit guards memory. */
int tr_read_file(const char *path, size_t limit, char **out, size_t *len, tr_error *err);

#endif
