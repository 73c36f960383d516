/* afile.h - atomic file writes: temp file + fsync + rename + fsync of the folder.
 *
 * A reader (or a crash at any instant) sees either the old file or the complete new one,
 * never a partial one. Use afile_write() for a buffer in memory, or the streaming trio
 * afile_open() / afile_put() / afile_commit() for large outputs; afile_abort() removes
 * the temp file.
 */
#ifndef TRICE_UTIL_AFILE_H
#define TRICE_UTIL_AFILE_H

#include <stddef.h>
#include <stdio.h>

#include "common/util/err.h"

typedef struct afile {
    FILE *f;
    char path[4096];
    char tmp[4096 + 32];
    int failed;        /* a put failed; commit will refuse */
} afile;

int afile_open(afile *af, const char *path, tr_error *err);
int afile_put(afile *af, const void *data, size_t len, tr_error *err);
int afile_printf(afile *af, tr_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int afile_commit(afile *af, tr_error *err);
void afile_abort(afile *af);

int afile_write(const char *path, const void *data, size_t len, tr_error *err);

/* fsync the folder that holds path (so that a rename inside it is durable). */
int afile_sync_dir(const char *path, tr_error *err);

/* mkdir -p with mode 0755; existing folders are fine. */
int afile_mkdirs(const char *path, tr_error *err);

#endif
