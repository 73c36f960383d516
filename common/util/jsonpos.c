#include "common/util/jsonpos.h"

#include <string.h>

/* Scanner state shared by the recursive helpers. */
typedef struct { const char *p; int line; } scan;

static void skip_ws(scan *s) {
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r') {
        if (*s->p == '\n') s->line++;
        s->p++;
    }
}

/* Skip a string starting at '"'; copies up to cap-1 raw bytes of its body into out if non-NULL. */
static int skip_string(scan *s, char *out, size_t cap) {
    if (*s->p != '"') return -1;
    s->p++;
    size_t n = 0;
    while (*s->p && *s->p != '"') {
        if (*s->p == '\\' && s->p[1]) { if (out && n + 1 < cap) out[n++] = s->p[1]; s->p += 2; continue; }
        if (*s->p == '\n') s->line++;
        if (out && n + 1 < cap) out[n++] = *s->p;
        s->p++;
    }
    if (out) out[n] = '\0';
    if (*s->p != '"') return -1;
    s->p++;
    return 0;
}

static int skip_value(scan *s, int depth);

static int skip_container(scan *s, char open, char close, int depth) {
    if (depth > 64) return -1;
    s->p++; /* open */
    for (;;) {
        skip_ws(s);
        if (*s->p == close) { s->p++; return 0; }
        if (*s->p == '\0') return -1;
        if (open == '{') {
            if (skip_string(s, NULL, 0)) return -1;
            skip_ws(s);
            if (*s->p != ':') return -1;
            s->p++;
        }
        if (skip_value(s, depth + 1)) return -1;
        skip_ws(s);
        if (*s->p == ',') s->p++;
        else if (*s->p != close) return -1;
    }
}

static int skip_value(scan *s, int depth) {
    skip_ws(s);
    switch (*s->p) {
    case '"': return skip_string(s, NULL, 0);
    case '{': return skip_container(s, '{', '}', depth);
    case '[': return skip_container(s, '[', ']', depth);
    case '\0': return -1;
    default:
        while (*s->p && !strchr(",}] \t\r\n", *s->p)) s->p++;
        return 0;
    }
}

int jsonpos_key_line(const char *text, const char *path) {
    scan s = {text, 1};
    skip_ws(&s);
    if (*s.p != '{') return 0;
    if (!path || !*path) return s.line;
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t seglen = dot ? (size_t)(dot - seg) : strlen(seg);
        /* scan the object at s.p for key seg */
        s.p++;
        int found = 0;
        for (;;) {
            skip_ws(&s);
            if (*s.p != '"') return 0;
            int key_line = s.line;
            char key[256];
            if (skip_string(&s, key, sizeof key)) return 0;
            skip_ws(&s);
            if (*s.p != ':') return 0;
            s.p++;
            if (strlen(key) == seglen && strncmp(key, seg, seglen) == 0) {
                if (!dot) return key_line;
                skip_ws(&s);
                if (*s.p != '{') return key_line;
                found = 1;
                break;
            }
            if (skip_value(&s, 0)) return 0;
            skip_ws(&s);
            if (*s.p == ',') { s.p++; continue; }
            return 0;
        }
        if (!found) return 0;
        seg = dot + 1;
    }
}
