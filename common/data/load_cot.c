/* load_cot.c - BIG-Bench Hard 3-shot chain-of-thought prompt files; format in load.h. */
#include "common/data/load.h"

#include <stdlib.h>
#include <string.h>

#define COT_A "\nA: Let's think step by step."   /* then a newline, or a space (sports_understanding) */

static int line_of(const char *text, const char *p) {
    int line = 1;
    for (const char *c = text; c < p; c++) line += *c == '\n';
    return line;
}

static char *dup_range(const char *s, size_t n, tr_error *err) {
    char *d = tr_malloc(n + 1, err);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void cot_prompt_free(cot_prompt *c) {
    if (!c) return;
    free(c->description);
    task_examples_free(c->ex, c->n);
    free(c->ex);
    memset(c, 0, sizeof *c);
}

static int parse(const char *text, const char *source, cot_prompt *out, tr_error *err);

int load_cot_text(const char *text, size_t len, const char *source, cot_prompt *out, tr_error *err) {
    memset(out, 0, sizeof *out);
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *c = text; c < nul; c++) line += *c == '\n';
        return TR_FAIL(err, TR_EFORMAT, "%s:%d: NUL byte in a text file", source, line);
    }
    char *copy = dup_range(text, len, err);   /* the parser below wants a terminated string */
    if (!copy) return TR_ENOMEM;
    int rc = parse(copy, source, out, err);
    free(copy);
    return rc;
}

static int parse(const char *text, const char *source, cot_prompt *out, tr_error *err) {
    const char *sep = strstr(text, "\n-----\n");
    if (!sep) return TR_FAIL(err, TR_EFORMAT, "%s:1: expected the canary line and then a line \"-----\"", source);
    /* the description runs to the first exemplar; usually one line, but a file may add a
     * paragraph of background (snarks does) */
    const char *desc = sep + 7;
    const char *first = strstr(desc, "\n\nQ: ");
    if (!first)
        return TR_FAIL(err, TR_EFORMAT, "%s:%d: expected a description, a blank line, then exemplars starting \"Q: \"",
                       source, line_of(text, desc));
    int rc = 0;
    if (!(out->description = dup_range(desc, (size_t)(first - desc), err))) return TR_ENOMEM;
    const char *p = first + 2;
    int cap = 0;
    while (*p) {
        int line = line_of(text, p);
        if (strncmp(p, "Q: ", 3) != 0) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s:%d: exemplar %lld does not start with \"Q: \"", source, line, (long long)out->n + 1);
            break;
        }
        const char *next = strstr(p, "\n\nQ: ");
        const char *end = next ? next : p + strlen(p);
        const char *a = strstr(p, COT_A);
        if (!a || a > end) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s:%d: exemplar %lld has no line \"A: Let's think step by step.\"", source, line, (long long)out->n + 1);
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 4;
            task_example *nv = tr_realloc(out->ex, (size_t)cap * sizeof *nv, err);
            if (!nv) { rc = TR_ENOMEM; break; }
            out->ex = nv;
        }
        task_example *e = &out->ex[out->n++];
        memset(e, 0, sizeof *e);
        e->id = out->n - 1;
        const char *r = a + strlen(COT_A);
        if (r < end && (*r == '\n' || *r == ' ')) r++;
        if (r > end) r = end;   /* the A line runs into the next exemplar: an empty rationale (fuzz crash) */
        size_t rl = (size_t)(end - r);
        while (rl > 0 && (r[rl - 1] == '\n' || r[rl - 1] == ' ')) rl--;
        if (!(e->question = dup_range(p + 3, (size_t)(a - p - 3), err)) || !(e->rationale = dup_range(r, rl, err))) {
            rc = TR_ENOMEM;
            break;
        }
        char ans[ANSWER_MAX];
        if (answer_extract(ANSWER_TEXT, e->rationale, ans, sizeof ans) != 0) {
            rc = TR_FAIL(err, TR_EFORMAT, "%s:%d: exemplar %lld has no \"So the answer is X.\"", source, line, (long long)out->n);
            break;
        }
        if (!(e->answer = tr_strdup(ans, err))) { rc = TR_ENOMEM; break; }
        p = next ? next + 2 : end;
    }
    if (rc == 0 && out->n == 0) rc = TR_FAIL(err, TR_EFORMAT, "%s: no exemplars after the description", source);
    if (rc) cot_prompt_free(out);
    return rc;
}

int load_cot_file(const char *path, cot_prompt *out, tr_error *err) {
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    TR_TRY(tr_read_file(path, LOAD_FILE_LIMIT, &text, &len, err));
    int rc = load_cot_text(text, len, path, out, err);
    free(text);
    return rc;
}
