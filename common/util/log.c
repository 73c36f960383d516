#include "common/util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_mutex_t mu;
    int rank;
    char role[16];
    log_level level;
    FILE *file;
    FILE *tee;
} g_log = {PTHREAD_MUTEX_INITIALIZER, -1, "", LOG_INFO, NULL, NULL};

void log_init(int rank, const char *role, log_level level) {
    pthread_mutex_lock(&g_log.mu);
    g_log.rank = rank;
    snprintf(g_log.role, sizeof g_log.role, "%s", role ? role : "");
    g_log.level = level;
    pthread_mutex_unlock(&g_log.mu);
}

int log_open_file(const char *path, tr_error *err) {
    FILE *f;
    TR_TRY(tr_fopen(&f, path, "a", err));
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&g_log.mu);
    if (g_log.file) fclose(g_log.file);
    g_log.file = f;
    pthread_mutex_unlock(&g_log.mu);
    return 0;
}

void log_close_file(void) {
    pthread_mutex_lock(&g_log.mu);
    if (g_log.file) fclose(g_log.file);
    g_log.file = NULL;
    pthread_mutex_unlock(&g_log.mu);
}

int log_tee_open(const char *path, tr_error *err) {
    FILE *f;
    TR_TRY(tr_fopen(&f, path, "a", err));
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&g_log.mu);
    if (g_log.tee) fclose(g_log.tee);
    g_log.tee = f;
    pthread_mutex_unlock(&g_log.mu);
    return 0;
}

void log_tee_close(void) {
    pthread_mutex_lock(&g_log.mu);
    if (g_log.tee) fclose(g_log.tee);
    g_log.tee = NULL;
    pthread_mutex_unlock(&g_log.mu);
}

void log_set_level(log_level level) { g_log.level = level; }
log_level log_get_level(void) { return g_log.level; }

int log_parse_level(const char *s, log_level *out, tr_error *err) {
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i <= LOG_OFF; i++)
        if (strcmp(s, names[i]) == 0) { *out = (log_level)i; return 0; }
    return TR_FAIL(err, TR_EINVAL, "unknown log level '%s' (allowed: debug, info, warn, error, off)", s);
}

void log_write(log_level level, const char *fmt, ...) {
    if (level < g_log.level || level >= LOG_OFF) return;
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    char who[48] = "";
    if (g_log.rank >= 0) snprintf(who, sizeof who, " [rank %d%s%s]", g_log.rank, g_log.role[0] ? " " : "", g_log.role);
    else if (g_log.role[0]) snprintf(who, sizeof who, " [%s]", g_log.role);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ%s %s ", ts.tv_nsec / 1000000, who, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&g_log.mu);
    fwrite(line, 1, (size_t)n, stderr);
    fflush(stderr);
    if (g_log.file) fwrite(line, 1, (size_t)n, g_log.file);
    if (g_log.tee) fwrite(line, 1, (size_t)n, g_log.tee);
    pthread_mutex_unlock(&g_log.mu);
}

void log_error_origin(const tr_error *err) {
    if (err && err->where[0]) log_write(LOG_DEBUG, "error raised at %s: %s", err->where, err->msg);
}
