/* test_tok_parity.c - the GPT-2 encoder against the gpt-3-encoder package's own JavaScript
 * encoder (data/gpt2/Encoder.js run by node) on every GSM8K question and answer and every BBH
 * input in ../shared/data plus 10,000 fuzzed strings; encode then decode gives the original
 * bytes for all of them and for strings with invalid UTF-8. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tok/bpe.h"
#include "common/tok/unicode.h"
#include "tests/tok/corpus.h"

static const char *src_root(void)
{
    const char *r = getenv("TRICE_SOURCE_ROOT");
    return r ? r : ".";
}

static int have_node(void) { return system("node --version >/dev/null 2>&1") == 0; }

/* The JavaScript encoder's ids for strings 0..n-1 of c, or NULL. */
static json_t **js_encode(const corpus *c, size_t n)
{
    char in[] = "/tmp/trice-tok-in-XXXXXX", out[] = "/tmp/trice-tok-out-XXXXXX";
    int fi = mkstemp(in), fo = mkstemp(out);
    cr_assert(fi >= 0 && fo >= 0);
    close(fo);
    FILE *f = fdopen(fi, "w");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_stringn(c->s[i], c->len[i]);
        cr_assert(s, "string %zu is not valid UTF-8", i);
        char *line = json_dumps(s, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        fprintf(f, "%s\n", line);
        free(line);
        json_decref(s);
    }
    fclose(f);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "node '%s/tests/tok/js_encode.js' '%s/data/gpt2' < %s > %s", src_root(), src_root(), in, out);
    int rc = system(cmd);
    unlink(in);
    cr_assert_eq(rc, 0, "node failed: %s", cmd);
    json_t **ids = calloc(n, sizeof *ids);
    f = fopen(out, "r");
    char *line = NULL;
    size_t cap = 0, k = 0;
    while (k < n && getline(&line, &cap, f) > 0) ids[k++] = json_loads(line, 0, NULL);
    free(line);
    fclose(f);
    unlink(out);
    cr_assert_eq(k, n, "node answered %zu of %zu strings", k, n);
    return ids;
}

static int same_ids(const json_t *js, const int *ids, size_t n)
{
    if (!json_is_array(js) || json_array_size(js) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(js, i);
        if (!json_is_integer(v) || json_integer_value(v) != ids[i]) return 0;
    }
    return 1;
}

Test(tok_parity, javascript_encoder_and_round_trip, .timeout = 600)
{
    if (!have_node()) cr_skip_test("node is not installed (deploy/install-deps.sh installs nodejs): JavaScript parity skipped");
    corpus c = {0};
    const char *shared = getenv("TRICE_SHARED_DATA");
    if (!shared || !corpus_add_shared(&c, shared))
        cr_log_warn("../shared/data is absent: GSM8K and BBH strings skipped, fuzzed strings only");
    corpus_add_fuzz(&c, 7, 10000);
    size_t n_valid = c.n;
    corpus_add_invalid(&c, 7, 2000);
    cr_assert_geq(n_valid, 10000);

    bpe js, oa;
    tr_error err = {0};
    cr_assert_eq(bpe_load_dir(&js, NULL, BPE_RANKS_JS, &err), 0, "%s", err.msg);
    cr_assert_eq(bpe_load_dir(&oa, NULL, BPE_RANKS_OPENAI, &err), 0, "%s", err.msg);
    json_t **ref = js_encode(&c, n_valid);

    size_t mismatch = 0, differ = 0, tokens = 0, bytes = 0;
    int *a = NULL, *b = NULL;
    unsigned char *dec = NULL;
    for (size_t i = 0; i < c.n; i++) {
        size_t len = c.len[i];
        a = realloc(a, (len + 1) * sizeof *a);
        b = realloc(b, (len + 1) * sizeof *b);
        dec = realloc(dec, len * 128 + 1);
        size_t na = bpe_encode(&js, c.s[i], len, a), nb = bpe_encode(&oa, c.s[i], len, b);
        tokens += nb;
        bytes += len;
        if (i < n_valid && !same_ids(ref[i], a, na)) {
            if (mismatch++ < 5) {
                char *r = json_dumps(ref[i], JSON_COMPACT);
                cr_log_error("string %zu (%zu bytes) \"%.200s\": JavaScript %.300s, ours differs (%zu tokens, first %d)", i, len,
                             c.s[i], r, na, na ? a[0] : -1);
                free(r);
            }
        }
        /* the two rank rules differ only through the comma-keyed JavaScript table */
        if (na != nb || memcmp(a, b, na * sizeof *a) != 0) {
            differ++;
            cr_expect(memchr(c.s[i], ',', len), "string %zu: the rank rules differ on a string without a comma", i);
        }
        size_t dl = 0;
        cr_assert_eq(bpe_decode(&oa, b, nb, dec, len * 128 + 1, &dl, &err), 0, "%s", err.msg);
        cr_assert(dl == len && memcmp(dec, c.s[i], len) == 0, "string %zu does not round-trip (OpenAI ranks)", i);
        cr_assert_eq(bpe_decode(&js, a, na, dec, len * 128 + 1, &dl, &err), 0, "%s", err.msg);
        cr_assert(dl == len && memcmp(dec, c.s[i], len) == 0, "string %zu does not round-trip (JavaScript ranks)", i);
    }
    cr_log_info("GPT-2 parity: %zu strings to node (%zu GSM8K, %zu BBH, %zu fuzz), %zu mismatches; %zu invalid-UTF-8 "
                "strings round-tripped; %zu bytes -> %zu tokens; OpenAI and JavaScript ranks differ on %zu strings",
                n_valid, c.n_gsm8k, c.n_bbh, c.n_fuzz, mismatch, c.n_invalid, bytes, tokens, differ);
    printf("GPT-2 parity: %zu strings compared with the JavaScript encoder (%zu GSM8K, %zu BBH, %zu fuzz): %zu mismatches; "
           "%zu with invalid UTF-8 round-tripped; OpenAI and JavaScript rank rules differ on %zu\n",
           n_valid, c.n_gsm8k, c.n_bbh, c.n_fuzz, mismatch, c.n_invalid, differ);
    cr_assert_eq(mismatch, 0, "%zu of %zu strings differ from the JavaScript encoder", mismatch, n_valid);
    for (size_t i = 0; i < n_valid; i++) json_decref(ref[i]);
    free(ref);
    free(a);
    free(b);
    free(dec);
    bpe_free(&js);
    bpe_free(&oa);
    corpus_free(&c);
}

/* The residual difference: this build's letter/number tables are Unicode 15.0 (Debian 12's
 * node uses the same); a node with a newer Unicode knows letters and numbers added since, which
 * count as "other" here. Every code point is compared with node's regex classes; the only
 * differences allowed are such additions, and with a Unicode 15.0 node there must be none. */
Test(tok_parity, unicode_classes_against_node, .timeout = 300)
{
    if (!have_node()) cr_skip_test("node is not installed (deploy/install-deps.sh installs nodejs): class comparison skipped");
    char out[] = "/tmp/trice-tok-classes-XXXXXX";
    int fd = mkstemp(out);
    cr_assert(fd >= 0);
    close(fd);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "node '%s/tests/tok/js_classes.js' > %s", src_root(), out);
    cr_assert_eq(system(cmd), 0, "node failed: %s", cmd);
    char *text = NULL;
    size_t len = 0;
    tr_error err = {0};
    cr_assert_eq(tr_read_file(out, 8u << 20, &text, &len, &err), 0, "%s", err.msg);
    unlink(out);
    char *nl = strchr(text, '\n');
    cr_assert(nl && len - (size_t)(nl + 1 - text) >= 0x110000);
    *nl = '\0';
    const char *version = text, *cls = nl + 1;
    size_t newer = 0, other = 0;
    uint32_t first_other = 0;
    char first_ours = '.';
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        char ours = '.';
        if (cp < 0xd800 || cp > 0xdfff) {
            uni_class c = uni_classify(cp);
            ours = c == UNI_LETTER ? 'L' : c == UNI_NUMBER ? 'N' : c == UNI_SPACE ? 'S' : '.';
        }
        if (ours == cls[cp]) continue;
        if (ours == '.' && (cls[cp] == 'L' || cls[cp] == 'N')) newer++;
        else if (other++ == 0) { first_other = cp; first_ours = ours; }
    }
    printf("Unicode classes: node %s; %zu code points are letters/numbers to node and other here (added after 15.0), "
           "%zu other differences\n", version, newer, other);
    cr_log_info("node Unicode %s: %zu newer letters/numbers, %zu other differences", version, newer, other);
    cr_assert_eq(other, 0, "U+%04X: class %c here, %c in node %s", first_other, first_ours, cls[first_other], version);
    if (strncmp(version, "15.0", 4) == 0) cr_assert_eq(newer, 0, "node has Unicode 15.0, as the tables: no difference allowed");
    free(text);
}
