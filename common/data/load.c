/* load.c - GSM8K, BBH and generic JSONL readers; formats in load.h. */
#include "common/data/load.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/sbuf.h"

/* ---- growable example array ---- */

typedef struct exvec { task_example *v; int64_t n, cap; } exvec;

static task_example *exvec_push(exvec *a, tr_error *err) {
    if (a->n == a->cap) {
        int64_t ncap = a->cap ? a->cap * 2 : 64;
        task_example *nv = tr_realloc(a->v, (size_t)ncap * sizeof *nv, err);
        if (!nv) return NULL;
        a->v = nv;
        a->cap = ncap;
    }
    task_example *e = &a->v[a->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static int exvec_fail(exvec *a, int rc) {
    task_examples_free(a->v, a->n);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
    return rc;
}

static void exvec_done(exvec *a, task_example **out, int64_t *n) {
    *out = a->v;
    *n = a->n;
}

/* Trimmed copy of s. */
static char *dup_trim(const char *s, tr_error *err) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    char *d = tr_malloc(n + 1, err);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Call fn on every non-blank line of text (line numbers from 1). */
typedef int (*line_fn)(json_t *obj, const char *source, int line, int64_t id, exvec *a, tr_error *err);

static int each_jsonl(const char *text, size_t len, const char *source, int64_t id_base,
                      line_fn fn, exvec *a, tr_error *err) {
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - start) : len - pos;
        pos += ll + (nl ? 1 : 0);
        int blank = 1;
        for (size_t i = 0; i < ll && blank; i++) blank = start[i] == ' ' || start[i] == '\t' || start[i] == '\r';
        if (blank) continue;
        json_error_t jerr;
        json_t *obj = json_loadb(start, ll, 0, &jerr);
        if (!obj)
            return TR_FAIL(err, TR_EFORMAT, "%s:%d: not valid JSON: %s (column %d)", source, line, jerr.text, jerr.column);
        if (!json_is_object(obj)) {
            json_decref(obj);
            return TR_FAIL(err, TR_EFORMAT, "%s:%d: expected a JSON object per line", source, line);
        }
        int rc = fn(obj, source, line, id_base + line - 1, a, err);
        json_decref(obj);
        if (rc) return rc;
    }
    return 0;
}

static const char *get_str(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- GSM8K ---- */

static int gsm8k_line(json_t *obj, const char *source, int line, int64_t id, exvec *a, tr_error *err) {
    const char *q = get_str(obj, "question"), *ans = get_str(obj, "answer");
    if (!q) return TR_FAIL(err, TR_EFORMAT, "%s:%d: missing string field \"question\"", source, line);
    if (!ans) return TR_FAIL(err, TR_EFORMAT, "%s:%d: missing string field \"answer\"", source, line);
    const char *mark = NULL;
    for (const char *p = strstr(ans, "####"); p; p = strstr(p + 1, "####")) mark = p;
    if (!mark)
        return TR_FAIL(err, TR_EFORMAT, "%s:%d: field \"answer\" has no final line \"#### N\"", source, line);
    char gold[ANSWER_MAX];
    const char *g = mark + 4;
    while (*g == ' ') g++;
    size_t gl = 0;
    while (g[gl] && g[gl] != '\n') gl++;
    char raw[ANSWER_MAX];
    if (gl >= sizeof raw || (memcpy(raw, g, gl), raw[gl] = '\0', answer_normalise(ANSWER_INT, raw, gold, sizeof gold) != 0))
        return TR_FAIL(err, TR_EFORMAT, "%s:%d: \"#### %.*s\" is not a whole number (expected e.g. \"#### 1,080\" or \"#### -7\")",
                       source, line, (int)(gl > 40 ? 40 : gl), g);

    /* rationale: reasoning lines without <<...>> annotations, then the answer sentence */
    sbuf r;
    sbuf_init(&r);
    const char *p = ans;
    while (p < mark) {
        const char *open = strstr(p, "<<");
        if (open && open < mark) {
            const char *close = strstr(open + 2, ">>");
            if (close && close < mark) {
                sbuf_putn(&r, p, (size_t)(open - p));
                p = close + 2;
                continue;
            }
        }
        sbuf_putn(&r, p, (size_t)(mark - p));
        p = mark;
    }
    while (r.len > 0 && isspace((unsigned char)r.s[r.len - 1])) r.s[--r.len] = '\0';
    if (r.len > 0) sbuf_putc(&r, ' ');
    sbuf_printf(&r, "So the answer is %s.", gold);

    task_example *e = exvec_push(a, err);
    if (!e) { sbuf_free(&r); return TR_ENOMEM; }
    e->id = id;
    int rc = sbuf_finish(&r, &e->rationale, err);
    if (rc) return rc;
    if (!(e->question = dup_trim(q, err)) || !(e->answer = tr_strdup(gold, err))) return TR_ENOMEM;
    return 0;
}

int load_gsm8k_text(const char *text, size_t len, const char *source, int64_t id_base,
                    task_example **out, int64_t *n, tr_error *err) {
    exvec a = {0};
    *out = NULL; *n = 0;
    int rc = each_jsonl(text, len, source, id_base, gsm8k_line, &a, err);
    if (rc) return exvec_fail(&a, rc);
    if (a.n == 0) return exvec_fail(&a, TR_FAIL(err, TR_EFORMAT, "%s: no records (expected one JSON object per line)", source));
    exvec_done(&a, out, n);
    return 0;
}

/* ---- generic JSONL ---- */

static int jsonl_line(json_t *obj, const char *source, int line, int64_t id, exvec *a, tr_error *err) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "question") && strcmp(key, "answer") && strcmp(key, "rationale"))
            return TR_FAIL(err, TR_EFORMAT, "%s:%d: unknown field \"%s\" (allowed: question, answer, rationale)", source, line, key);
    }
    const char *q = get_str(obj, "question");
    if (!q) return TR_FAIL(err, TR_EFORMAT, "%s:%d: missing string field \"question\"", source, line);
    json_t *av = json_object_get(obj, "answer");
    char num[32];
    const char *ans = NULL;
    if (json_is_string(av)) ans = json_string_value(av);
    else if (json_is_integer(av)) { snprintf(num, sizeof num, "%lld", (long long)json_integer_value(av)); ans = num; }
    if (!ans) return TR_FAIL(err, TR_EFORMAT, "%s:%d: field \"answer\" is missing or not a string/integer", source, line);
    json_t *rv = json_object_get(obj, "rationale");
    if (rv && !json_is_string(rv) && !json_is_null(rv))
        return TR_FAIL(err, TR_EFORMAT, "%s:%d: field \"rationale\" must be a string or null", source, line);
    task_example *e = exvec_push(a, err);
    if (!e) return TR_ENOMEM;
    e->id = id;
    if (!(e->question = dup_trim(q, err)) || !(e->answer = dup_trim(ans, err))) return TR_ENOMEM;
    if (json_is_string(rv) && !(e->rationale = dup_trim(json_string_value(rv), err))) return TR_ENOMEM;
    if (e->question[0] == '\0') return TR_FAIL(err, TR_EFORMAT, "%s:%d: field \"question\" is empty", source, line);
    if (e->answer[0] == '\0') return TR_FAIL(err, TR_EFORMAT, "%s:%d: field \"answer\" is empty", source, line);
    return 0;
}

int load_jsonl_text(const char *text, size_t len, const char *source, int64_t id_base,
                    task_example **out, int64_t *n, tr_error *err) {
    exvec a = {0};
    *out = NULL; *n = 0;
    int rc = each_jsonl(text, len, source, id_base, jsonl_line, &a, err);
    if (rc) return exvec_fail(&a, rc);
    if (a.n == 0) return exvec_fail(&a, TR_FAIL(err, TR_EFORMAT, "%s: no records (expected one JSON object per line)", source));
    exvec_done(&a, out, n);
    return 0;
}

/* ---- BBH task JSON ---- */

int load_bbh_text(const char *text, size_t len, const char *source, int64_t id_base,
                  task_example **out, int64_t *n, tr_error *err) {
    exvec a = {0};
    *out = NULL; *n = 0;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root)
        return TR_FAIL(err, TR_EFORMAT, "%s:%d: not valid JSON: %s (column %d)", source, jerr.line, jerr.text, jerr.column);
    int rc = 0;
    json_t *exs = json_object_get(root, "examples");
    if (!json_is_object(root) || !json_is_array(exs)) {
        rc = TR_FAIL(err, TR_EFORMAT, "%s: expected an object with an array \"examples\" (BIG-Bench Hard task file)", source);
        goto done;
    }
    size_t count = json_array_size(exs);
    if (count == 0) { rc = TR_FAIL(err, TR_EFORMAT, "%s: \"examples\" is empty", source); goto done; }
    for (size_t i = 0; i < count; i++) {
        json_t *x = json_array_get(exs, i);
        const char *in = json_is_object(x) ? get_str(x, "input") : NULL;
        const char *tg = json_is_object(x) ? get_str(x, "target") : NULL;
        if (!in || !tg) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s: examples[%zu]: needs string fields \"input\" and \"target\"", source, i);
            goto done;
        }
        task_example *e = exvec_push(&a, err);
        if (!e) { rc = TR_ENOMEM; goto done; }
        e->id = id_base + (int64_t)i;
        if (!(e->question = dup_trim(in, err)) || !(e->answer = dup_trim(tg, err))) { rc = TR_ENOMEM; goto done; }
        if (e->answer[0] == '\0') { rc = TR_FAIL(err, TR_EFORMAT, "%s: examples[%zu]: \"target\" is empty", source, i); goto done; }
    }
done:
    json_decref(root);
    if (rc) return exvec_fail(&a, rc);
    exvec_done(&a, out, n);
    return 0;
}

/* ---- files ---- */

typedef int (*text_fn)(const char *, size_t, const char *, int64_t, task_example **, int64_t *, tr_error *);

static int from_file(text_fn fn, const char *path, int64_t id_base, task_example **out, int64_t *n, tr_error *err) {
    *out = NULL; *n = 0;
    char *text;
    size_t len;
    TR_TRY(tr_read_file(path, LOAD_FILE_LIMIT, &text, &len, err));
    int rc = fn(text, len, path, id_base, out, n, err);
    free(text);
    return rc;
}

int load_gsm8k_file(const char *path, int64_t id_base, task_example **out, int64_t *n, tr_error *err) {
    return from_file(load_gsm8k_text, path, id_base, out, n, err);
}
int load_bbh_file(const char *path, int64_t id_base, task_example **out, int64_t *n, tr_error *err) {
    return from_file(load_bbh_text, path, id_base, out, n, err);
}
int load_jsonl_file(const char *path, int64_t id_base, task_example **out, int64_t *n, tr_error *err) {
    return from_file(load_jsonl_text, path, id_base, out, n, err);
}
