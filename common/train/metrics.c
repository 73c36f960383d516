/* metrics.c - metrics.jsonl writer and crash-tolerant readers; see metrics.h. */
#include "common/train/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util/afile.h"
#include "common/util/log.h"

#define METRICS_FILE_LIMIT ((size_t)1 << 32)

/* JSON has no NaN/inf; jansson refuses them, so write null. */
static json_t *num(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *metrics_row_json(const metrics_row *r) {
    json_t *o = json_object();
    json_t *ph = json_object();
    if (!o || !ph) {
        json_decref(o);
        json_decref(ph);
        return NULL;
    }
    int bad = 0;
    bad |= json_object_set_new(o, "step", json_integer(r->step));
    bad |= json_object_set_new(o, "proposal_acc", num(r->proposal_acc));
    bad |= json_object_set_new(o, "memory_acc", num(r->memory_acc));
    bad |= json_object_set_new(o, "beta_mean", num(r->beta_mean));
    bad |= json_object_set_new(o, "nonzero_terms", json_integer(r->nonzero_terms));
    bad |= json_object_set_new(o, "L", json_integer(r->L));
    bad |= json_object_set_new(o, "loss", num(r->loss));
    bad |= json_object_set_new(o, "grad_norm", num(r->grad_norm));
    bad |= json_object_set_new(o, "tokens_sampled", json_integer(r->tokens_sampled));
    bad |= json_object_set_new(o, "tokens_trained", json_integer(r->tokens_trained));
    bad |= json_object_set_new(o, "bytes_moved", json_integer(r->bytes_moved));
    bad |= json_object_set_new(o, "bytes_worker", json_integer(r->bytes_worker));
    char digest[17];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)r->sample_digest);
    bad |= json_object_set_new(o, "sample_digest", json_string(digest));
    bad |= json_object_set_new(ph, "sample", num(r->phases.sample));
    bad |= json_object_set_new(ph, "check", num(r->phases.check));
    bad |= json_object_set_new(ph, "gradient", num(r->phases.gradient));
    bad |= json_object_set_new(ph, "comm", num(r->phases.comm));
    bad |= json_object_set_new(ph, "update", num(r->phases.update));
    bad |= json_object_set_new(ph, "resample", num(r->phases.resample));
    bad |= json_object_set_new(ph, "reduce", num(r->phases.reduce));
    bad |= json_object_set_new(ph, "wait", num(r->phases.wait));
    bad |= json_object_set_new(ph, "broadcast", num(r->phases.broadcast));
    bad |= json_object_set_new(ph, "eval", num(r->phases.eval));
    bad |= json_object_set_new(ph, "total", num(r->phases.total));
    bad |= json_object_set_new(o, "phases", ph);
    if (r->has_eval) bad |= json_object_set_new(o, "eval_acc", num(r->eval_acc));
    if (r->has_maj) {
        bad |= json_object_set_new(o, "maj_acc", num(r->maj_acc));
        bad |= json_object_set_new(o, "maj_k", json_integer(r->maj_k));
    }
    if (r->has_var) {
        bad |= json_object_set_new(o, "var_cv", num(r->var_cv));
        bad |= json_object_set_new(o, "var_nocv", num(r->var_nocv));
    }
    bad |= json_object_set_new(o, "lr", num(r->lr));
    bad |= json_object_set_new(o, "time", num(r->time));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static double get_num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : (json_is_null(v) ? NAN : 0.0);
}

static int64_t get_int(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int metrics_row_parse(const json_t *o, metrics_row *r, tr_error *err) {
    memset(r, 0, sizeof *r);
    if (!json_is_object(o)) return TR_FAIL(err, TR_EFORMAT, "metrics line is not a JSON object");
    const json_t *st = json_object_get(o, "step");
    if (!json_is_integer(st) || json_integer_value(st) < 0)
        return TR_FAIL(err, TR_EFORMAT, "metrics line: field 'step' missing or not a non-negative integer");
    r->step = (int64_t)json_integer_value(st);
    r->proposal_acc = get_num(o, "proposal_acc");
    r->memory_acc = get_num(o, "memory_acc");
    r->beta_mean = get_num(o, "beta_mean");
    r->nonzero_terms = get_int(o, "nonzero_terms");
    r->L = get_int(o, "L");
    r->loss = get_num(o, "loss");
    r->grad_norm = get_num(o, "grad_norm");
    r->tokens_sampled = get_int(o, "tokens_sampled");
    r->tokens_trained = get_int(o, "tokens_trained");   /* absent before session 24: 0 */
    r->bytes_moved = get_int(o, "bytes_moved");   /* absent in logs written before it existed: 0 */
    r->bytes_worker = get_int(o, "bytes_worker");
    const char *digest = json_string_value(json_object_get(o, "sample_digest"));
    r->sample_digest = digest ? strtoull(digest, NULL, 16) : 0;
    const json_t *ph = json_object_get(o, "phases");
    if (json_is_object(ph)) {
        r->phases.sample = get_num(ph, "sample");
        r->phases.check = get_num(ph, "check");
        r->phases.gradient = get_num(ph, "gradient");
        r->phases.comm = get_num(ph, "comm");
        r->phases.update = get_num(ph, "update");
        r->phases.resample = get_num(ph, "resample");
        r->phases.reduce = get_num(ph, "reduce");
        r->phases.wait = get_num(ph, "wait");
        r->phases.broadcast = get_num(ph, "broadcast");
        r->phases.eval = get_num(ph, "eval");
        r->phases.total = get_num(ph, "total");
    }
    if (json_object_get(o, "eval_acc")) {
        r->has_eval = 1;
        r->eval_acc = get_num(o, "eval_acc");
    }
    if (json_object_get(o, "maj_acc")) {
        r->has_maj = 1;
        r->maj_acc = get_num(o, "maj_acc");
        r->maj_k = get_int(o, "maj_k");
    }
    if (json_object_get(o, "var_cv")) {
        r->has_var = 1;
        r->var_cv = get_num(o, "var_cv");
        r->var_nocv = get_num(o, "var_nocv");
    }
    r->lr = get_num(o, "lr");
    r->time = get_num(o, "time");
    return 0;
}

/* Cut a torn tail (bytes after the last newline) so that the next line starts clean. */
static int drop_torn_tail(int fd, const char *path, tr_error *err) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return TR_FAIL(err, TR_EIO, "stat '%s': %s", path, strerror(errno));
    off_t end = sb.st_size, pos = end;
    char c = '\n';
    while (pos > 0) {
        if (pread(fd, &c, 1, pos - 1) != 1) return TR_FAIL(err, TR_EIO, "read '%s': %s", path, strerror(errno));
        if (c == '\n') break;
        pos--;
    }
    if (pos == end) return 0;
    LOG_W("metrics: dropping a torn last line (%lld bytes) of '%s'", (long long)(end - pos), path);
    if (ftruncate(fd, pos) != 0)
        return TR_FAIL(err, TR_EIO, "truncate '%s' to %lld bytes: %s", path, (long long)pos, strerror(errno));
    return 0;
}

int metrics_open(metrics_log *log, const char *path, tr_error *err) {
    memset(log, 0, sizeof *log);
    if (strlen(path) >= sizeof log->path)
        return TR_FAIL(err, TR_EINVAL, "metrics path too long (%zu bytes)", strlen(path));
    snprintf(log->path, sizeof log->path, "%s", path);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return TR_FAIL(err, TR_EIO, "cannot open '%s' for appending: %s", path, strerror(errno));
    int rc = drop_torn_tail(fd, path, err);
    if (rc) {
        close(fd);
        return rc;
    }
    log->f = fdopen(fd, "a");
    if (!log->f) {
        close(fd);
        return TR_FAIL(err, TR_EIO, "fdopen '%s': %s", path, strerror(errno));
    }
    return 0;
}

int metrics_append(metrics_log *log, const metrics_row *row, tr_error *err) {
    if (!log->f) return TR_FAIL(err, TR_ESTATE, "metrics_append on a closed log");
    json_t *o = metrics_row_json(row);
    if (!o) return TR_FAIL(err, TR_ENOMEM, "metrics: cannot build the JSON of step %lld", (long long)row->step);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return TR_FAIL(err, TR_ENOMEM, "metrics: cannot serialise step %lld", (long long)row->step);
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return TR_FAIL(err, TR_ENOMEM, "metrics: out of memory for a %zu-byte line", n + 2);
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    /* one fwrite + fflush: the line reaches the kernel whole or (on a crash) as a tail that the
     * readers drop */
    int rc = 0;
    if (fwrite(line, 1, n + 1, log->f) != n + 1 || fflush(log->f) != 0)
        rc = TR_FAIL(err, TR_EIO, "write to '%s' failed: %s (hint: is the disk full?)", log->path, strerror(errno));
    free(line);
    return rc;
}

void metrics_close(metrics_log *log) {
    if (log->f) fclose(log->f);
    log->f = NULL;
}

/* Walk the complete lines of text; for each parsable one call fn. An unparsable line is
 * tolerated only when it is the last complete line (a crash mid-write); bytes after the last
 * newline are never complete. */
typedef int (*line_fn)(const char *line, size_t len, const metrics_row *row, void *ctx, tr_error *err);

static int for_each_line(const char *path, const char *text, size_t n, line_fn fn, void *ctx,
                         tr_error *err) {
    size_t pos = 0;
    int lineno = 0;
    while (pos < n) {
        const char *nl = memchr(text + pos, '\n', n - pos);
        if (!nl) break; /* torn tail */
        size_t len = (size_t)(nl - (text + pos));
        lineno++;
        const char *line = text + pos;
        size_t next = pos + len + 1;
        int is_last = next >= n;
        if (len > 0) {
            json_error_t jerr;
            json_t *o = json_loadb(line, len, 0, &jerr);
            metrics_row row;
            tr_error perr;
            if (!o || metrics_row_parse(o, &row, &perr) != 0) {
                json_decref(o);
                if (!is_last)
                    return TR_FAIL(err, TR_EFORMAT, "%s:%d: not a valid metrics line (%s); only a torn last line is tolerated",
                                   path, lineno, o ? perr.msg : jerr.text);
            } else {
                json_decref(o);
                TR_TRY(fn(line, len, &row, ctx, err));
            }
        }
        pos = next;
    }
    return 0;
}

static int read_text(const char *path, char **text, size_t *n, tr_error *err) {
    *text = NULL;
    *n = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    return tr_read_file(path, METRICS_FILE_LIMIT, text, n, err);
}

static int max_step_fn(const char *line, size_t len, const metrics_row *row, void *ctx, tr_error *err) {
    int64_t *m = ctx;
    if (row->step > *m) *m = row->step;
    return 0;
}

int metrics_read_last_step(const char *path, int64_t *step, tr_error *err) {
    *step = -1;
    char *text;
    size_t n;
    TR_TRY(read_text(path, &text, &n, err));
    if (!text) return 0;
    int rc = for_each_line(path, text, n, max_step_fn, step, err);
    free(text);
    return rc;
}

typedef struct keep_ctx {
    afile *af;
    int64_t max_step;
    int kept;
} keep_ctx;

static int keep_fn(const char *line, size_t len, const metrics_row *row, void *vctx, tr_error *err) {
    keep_ctx *c = vctx;
    if (row->step > c->max_step) return 0;
    TR_TRY(afile_put(c->af, line, len, err));
    TR_TRY(afile_put(c->af, "\n", 1, err));
    c->kept++;
    return 0;
}

int metrics_truncate_to_step(const char *path, int64_t max_step, int *kept, tr_error *err) {
    if (kept) *kept = 0;
    char *text;
    size_t n;
    TR_TRY(read_text(path, &text, &n, err));
    if (!text) return 0;
    afile af;
    int rc = afile_open(&af, path, err);
    if (rc) {
        free(text);
        return rc;
    }
    keep_ctx c = {.af = &af, .max_step = max_step, .kept = 0};
    rc = for_each_line(path, text, n, keep_fn, &c, err);
    free(text);
    if (rc) {
        afile_abort(&af);
        return rc;
    }
    TR_TRY(afile_commit(&af, err));
    if (kept) *kept = c.kept;
    return 0;
}
