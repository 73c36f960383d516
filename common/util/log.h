/* log.h - leveled, timestamped logging with an MPI-rank prefix.
 *
 * Lines look like: "2026-11-26T06:30:01.123Z [rank 0] INFO  coordinator: world has 3 workers"
 * They go to stderr and, if log_open_file() was called, also to that file.
 * Thread-safe (one mutex); a line is written with a single fwrite.
 */
#ifndef TRICE_UTIL_LOG_H
#define TRICE_UTIL_LOG_H

#include "common/util/err.h"

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

/* rank < 0 means "not an MPI process" (no rank prefix); role is a short name such as "coord". */
void log_init(int rank, const char *role, log_level level);
int log_open_file(const char *path, tr_error *err);
void log_close_file(void);
/* Also append every line to path until log_tee_close() (an experiment's own log.txt, which
 * `trice logs ID` prints). One tee at a time; opening another replaces it. */
int log_tee_open(const char *path, tr_error *err);
void log_tee_close(void);
void log_set_level(log_level level);
log_level log_get_level(void);
/* Parse "debug", "info", "warn", "error", "off". Returns 0 or TR_EINVAL. */
int log_parse_level(const char *s, log_level *out, tr_error *err);

/* Debug log of where an error was raised ("common/spec/spec.c:150"); the message a user
 * reads carries no source location. */
void log_error_origin(const tr_error *err);

void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_D(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define LOG_I(...) log_write(LOG_INFO, __VA_ARGS__)
#define LOG_W(...) log_write(LOG_WARN, __VA_ARGS__)
#define LOG_E(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
