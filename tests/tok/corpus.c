/* corpus.c - see corpus.h. */
#include "tests/tok/corpus.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/rng.h"

static void add(corpus *c, const char *s, size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->s = realloc(c->s, c->cap * sizeof *c->s);
        c->len = realloc(c->len, c->cap * sizeof *c->len);
        if (!c->s || !c->len) abort();
    }
    c->s[c->n] = malloc(len + 1);
    if (!c->s[c->n]) abort();
    memcpy(c->s[c->n], s, len);
    c->s[c->n][len] = '\0';
    c->len[c->n++] = len;
}

static void add_json_str(corpus *c, json_t *v)
{
    if (json_is_string(v)) add(c, json_string_value(v), json_string_length(v));
}

static size_t add_gsm8k(corpus *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t before = c->n;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        add_json_str(c, json_object_get(j, "question"));
        add_json_str(c, json_object_get(j, "answer"));
        json_decref(j);
    }
    free(line);
    fclose(f);
    return c->n - before;
}

static size_t add_bbh(corpus *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t before = c->n;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0) continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        json_t *j = json_load_file(path, 0, NULL);
        json_t *ex = j ? json_object_get(j, "examples") : NULL;
        size_t i;
        json_t *it;
        json_array_foreach(ex, i, it) add_json_str(c, json_object_get(it, "input"));
        json_decref(j);
    }
    closedir(d);
    return c->n - before;
}

int corpus_add_shared(corpus *c, const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/gsm8k/train.jsonl", dir);
    c->n_gsm8k += add_gsm8k(c, p);
    snprintf(p, sizeof p, "%s/gsm8k/test.jsonl", dir);
    c->n_gsm8k += add_gsm8k(c, p);
    snprintf(p, sizeof p, "%s/bbh", dir);
    c->n_bbh += add_bbh(c, p);
    return c->n_gsm8k + c->n_bbh > 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Code-point ranges to draw from: stable across Unicode 15..17 (nothing in them changed
 * class), so node with a newer ICU gives the same answers. */
static const uint32_t ranges[][2] = {
    {0x20, 0x7e},       /* ASCII */
    {0xa0, 0xff},       /* Latin-1: NBSP, ª µ º (letters), ² ³ ¹ ¼ (numbers), symbols */
    {0x100, 0x24f},     /* Latin extended */
    {0x300, 0x36f},     /* combining diacritics (Mn: "other") */
    {0x391, 0x3c9},     /* Greek */
    {0x410, 0x44f},     /* Cyrillic */
    {0x5d0, 0x5ea},     /* Hebrew */
    {0x620, 0x669},     /* Arabic letters, marks and Arabic-Indic digits */
    {0x900, 0x97f},     /* Devanagari: letters, vowel signs (Mc/Mn), digits */
    {0x1100, 0x1112},   /* Hangul Jamo */
    {0x2000, 0x206f},   /* general punctuation: spaces, ZWJ, line/paragraph separators */
    {0x2150, 0x2188},   /* number forms: fractions, Roman numerals (Nl) */
    {0x3000, 0x303f},   /* CJK symbols: ideographic space, 〇 (Nl), 々 (Lm) */
    {0x3040, 0x30ff},   /* Hiragana, Katakana */
    {0x4e00, 0x9fa5},   /* CJK ideographs */
    {0xac00, 0xd7a3},   /* Hangul syllables */
    {0xfe00, 0xfe0f},   /* variation selectors */
    {0xff01, 0xff5e},   /* fullwidth forms, incl. digits and letters */
    {0x1d400, 0x1d6a5}, /* mathematical alphanumerics (letters, a few unassigned) */
    {0x1f300, 0x1f64f}, /* emoji */
    {0x1f3fb, 0x1f3ff}, /* skin-tone modifiers */
    {0x1f900, 0x1f9ff}, /* supplemental symbols */
};
static const char *const words[] = {
    "the", "The", " a", "Natalia", "sold", " clips", "42", "3.14", "1,000", "$5", "50%", "x^2", "e.g.",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "''", "don't", "I'm", "'", "\"", "\",\"", "\",", ",\"",
    "\n", "\n\n", "\t", "  ", "   ", "\r\n", " \n ", "####", "<<", ">>", "<|endoftext|>", "...", "—", "…",
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "e\xcc\x81", "ñ", "中文", "日本語", "한국어", "Ελληνικά", "русский",
    "עברית", "العربية", "हिन्दी", "١٢٣", "¹²³", "Ⅻ", "½", "０１２", "\xc2\xa0", "\xe3\x80\x80", "\xe2\x80\xa8",
    "\xef\xbb\xbf", "\xc2\x85", "\x1c", "\x0b", "\x0c",
};

void corpus_add_fuzz(corpus *c, uint64_t seed, size_t n)
{
    rng r;
    rng_init(&r, seed, 0x70c, 0);
    const size_t nranges = sizeof ranges / sizeof ranges[0], nwords = sizeof words / sizeof words[0];
    char buf[4096];
    for (size_t k = 0; k < n; k++) {
        size_t len = 0, pieces = 1 + rng_below(&r, 24);
        for (size_t p = 0; p < pieces && len + 64 < sizeof buf; p++) {
            uint64_t kind = rng_below(&r, 10);
            if (kind < 4) {                      /* a word or special sequence */
                const char *w = words[rng_below(&r, nwords)];
                memcpy(buf + len, w, strlen(w));
                len += strlen(w);
            } else if (kind < 8) {               /* a run of code points from one range */
                const uint32_t *rg = ranges[rng_below(&r, nranges)];
                size_t run = 1 + rng_below(&r, 6);
                for (size_t i = 0; i < run; i++) len += put_utf8(buf + len, rg[0] + (uint32_t)rng_below(&r, rg[1] - rg[0] + 1));
            } else if (kind < 9) {               /* a whitespace run */
                static const char ws[] = {' ', ' ', ' ', '\t', '\n', '\r'};
                size_t run = 1 + rng_below(&r, 8);
                for (size_t i = 0; i < run; i++) buf[len++] = ws[rng_below(&r, sizeof ws)];
            } else {                             /* a space before the next piece */
                buf[len++] = ' ';
            }
        }
        add(c, buf, len);
        c->n_fuzz++;
    }
}

void corpus_add_invalid(corpus *c, uint64_t seed, size_t n)
{
    static const char *const bad[] = {"\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                      "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5", "\xff", "\xfe", "\xe2\x82",
                                      "\xf0\x9f\x98", "\xc3", "\xe2\x28\xa1", "\xf8\x88\x80\x80\x80"};
    rng r;
    rng_init(&r, seed, 0xbad, 0);
    corpus tmp = {0};
    corpus_add_fuzz(&tmp, seed, n);
    char buf[8192];
    for (size_t k = 0; k < n; k++) {
        size_t len = 0, at = 0, src = tmp.len[k];
        size_t nbad = 1 + rng_below(&r, 4);
        for (size_t b = 0; b < nbad; b++) {
            size_t cut = at + rng_below(&r, src - at + 1);  /* may split a valid character too */
            memcpy(buf + len, tmp.s[k] + at, cut - at);
            len += cut - at;
            at = cut;
            const char *x = bad[rng_below(&r, sizeof bad / sizeof bad[0])];
            memcpy(buf + len, x, strlen(x));
            len += strlen(x);
        }
        memcpy(buf + len, tmp.s[k] + at, src - at);
        len += src - at;
        add(c, buf, len);
        c->n_invalid++;
    }
    corpus_free(&tmp);
}

void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->s[i]);
    free(c->s);
    free(c->len);
    memset(c, 0, sizeof *c);
}
