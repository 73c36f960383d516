/* test_tok_bpe.c - GPT-2 BPE: known ids, decoding, the two rank rules, llm.c's tokenizer file,
 * the Unicode classes, bad files, and the byte|gpt2 tokenizer interface. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tok/bpe.h"
#include "common/tok/tok.h"
#include "common/tok/unicode.h"

static bpe B;
static void load(void)
{
    tr_error err = {0};
    cr_assert_eq(bpe_load_dir(&B, NULL, BPE_RANKS_OPENAI, &err), 0, "%s", err.msg);
}
static void unload(void) { bpe_free(&B); }

static size_t enc(const char *s, int *out) { return bpe_encode(&B, s, strlen(s), out); }

#define EXPECT_IDS(text, ...)                                                                      \
    do {                                                                                           \
        const int want_[] = {__VA_ARGS__};                                                         \
        int got_[256];                                                                             \
        size_t n_ = enc(text, got_);                                                               \
        cr_assert_eq(n_, sizeof want_ / sizeof want_[0], "%s: %zu tokens", text, n_);              \
        for (size_t i_ = 0; i_ < n_; i_++) cr_assert_eq(got_[i_], want_[i_], "%s: token %zu", text, i_); \
    } while (0)

/* Ids from the reference encoders (OpenAI's encoder.py / tiktoken "gpt2"). */
Test(tok_bpe, known_ids, .init = load, .fini = unload)
{
    cr_assert_eq(B.vocab_size, BPE_GPT2_VOCAB);
    cr_assert_eq(B.eot, BPE_GPT2_EOT);
    EXPECT_IDS("Hello world", 15496, 995);
    EXPECT_IDS("I've got 123,456 apples!!  and   spaces ", 40, 1053, 1392, 17031, 11, 29228, 22514, 3228, 220, 290, 220,
               220, 9029, 220);
    /* <|endoftext|> in text is text: never the special id */
    EXPECT_IDS("<|endoftext|>", 27, 91, 437, 1659, 5239, 91, 29);
    int none[1];
    cr_assert_eq(enc("", none), 0);
}

Test(tok_bpe, pretokenisation_rules, .init = load, .fini = unload)
{
    int a[64], b[64];
    /* a whitespace run gives its last space to the next word: "a  b" = "a", " ", " b" */
    size_t n = enc("a  b", a);
    cr_assert_eq(n, 3);
    cr_assert_eq(a[1], 220);
    cr_assert_eq(a[2], enc(" b", b) == 1 ? b[0] : -1);
    /* contractions split off; an uppercase one does not */
    cr_assert_eq(enc("don't", a), 2);
    cr_assert_eq(enc("'s", b), 1);
    cr_assert_eq(a[1], enc("'t", b) == 1 ? b[0] : -1);
}

Test(tok_bpe, decode_and_errors, .init = load, .fini = unload)
{
    const char *text = "Natalia sold clips to 48 of her friends in April 😀, e\xcc\x81t\xc3\xa9!\n\n";
    int t[256];
    size_t n = enc(text, t);
    unsigned char out[1024];
    size_t len = 0;
    tr_error err = {0};
    cr_assert_eq(bpe_decode(&B, t, n, out, sizeof out, &len, &err), 0, "%s", err.msg);
    cr_assert(len == strlen(text) && memcmp(out, text, len) == 0);
    int bad[] = {15496, 50257};
    cr_assert_neq(bpe_decode(&B, bad, 2, out, sizeof out, &len, &err), 0);
    cr_assert(strstr(err.msg, "50257") && strstr(err.msg, "index 1"), "%s", err.msg);
    int neg[] = {-3};
    cr_assert_neq(bpe_decode(&B, neg, 1, out, sizeof out, &len, &err), 0);
    cr_assert(strstr(err.msg, "-3"), "%s", err.msg);
    int eot[] = {BPE_GPT2_EOT};
    cr_assert_eq(bpe_decode(&B, eot, 1, out, sizeof out, &len, &err), 0);
    cr_assert(len == 13 && memcmp(out, "<|endoftext|>", 13) == 0);
}

/* The JavaScript rank table keyed by "A,B" also gives ('",', '"') the rank of ('"', ',"'),
 * and so for 10 more comma pairs. Every string of up to 5 of the characters those pairs are
 * made of (and a space) encodes the same under both rules and decodes to its bytes: the
 * lower-ranked true merges always come first. */
Test(tok_bpe, rank_rules_agree_on_comma_strings, .init = load, .fini = unload)
{
    bpe js;
    tr_error err = {0};
    cr_assert_eq(bpe_load_dir(&js, NULL, BPE_RANKS_JS, &err), 0, "%s", err.msg);
    static const char pieces[] = "\",}])'.[ ";
    const size_t np = sizeof pieces - 1;
    size_t checked = 0;
    for (size_t len = 2; len <= 5; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++) total *= np;
        for (size_t code = 0; code < total; code++) {
            char s[8];
            size_t c = code;
            for (size_t i = 0; i < len; i++, c /= np) s[i] = pieces[c % np];
            if (!memchr(s, ',', len)) continue;
            int a[8], b[8];
            size_t na = bpe_encode(&js, s, len, a), nb = bpe_encode(&B, s, len, b);
            cr_assert(na == nb && memcmp(a, b, na * sizeof *a) == 0, "rules differ on \"%.*s\"", (int)len, s);
            unsigned char o[64];
            size_t l;
            cr_assert_eq(bpe_decode(&js, a, na, o, sizeof o, &l, &err), 0);
            cr_assert(l == len && memcmp(o, s, l) == 0);
            checked++;
        }
    }
    cr_assert_gt(checked, 10000);
    bpe_free(&js);
}

Test(tok_bpe, llmc_tokenizer_file, .init = load, .fini = unload)
{
    char path[] = "/tmp/trice-gpt2tok-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    tr_error err = {0};
    cr_assert_eq(bpe_write_llmc(&B, path, &err), 0, "%s", err.msg);
    bpe d;
    cr_assert_eq(bpe_read_llmc(&d, path, &err), 0, "%s", err.msg);
    cr_assert_eq(d.vocab_size, BPE_GPT2_VOCAB);
    cr_assert_eq(d.eot, BPE_GPT2_EOT);
    cr_assert_eq(d.can_encode, 0);
    for (int i = 0; i < d.vocab_size; i++) {
        size_t l1, l2;
        const unsigned char *p1 = bpe_token(&B, i, &l1), *p2 = bpe_token(&d, i, &l2);
        cr_assert(l1 == l2 && memcmp(p1, p2, l1) == 0, "token %d differs after the round trip", i);
    }
    bpe_free(&d);
    /* truncated: named as such */
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(path, size - 3), 0);
    cr_assert_neq(bpe_read_llmc(&d, path, &err), 0);
    cr_assert(strstr(err.msg, "truncated") && strstr(err.msg, path), "%s", err.msg);
    /* not a tokenizer file */
    f = fopen(path, "wb");
    unsigned hdr[256] = {20240326, 3};
    fwrite(hdr, sizeof hdr, 1, f);
    fclose(f);
    cr_assert_neq(bpe_read_llmc(&d, path, &err), 0);
    cr_assert(strstr(err.msg, "magic 20240326") && strstr(err.msg, "20240328"), "%s", err.msg);
    unlink(path);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(tok_bpe, bad_files_are_named)
{
    char dir[] = "/tmp/trice-bpe-XXXXXX";
    cr_assert(mkdtemp(dir));
    char enc_p[256], voc_p[256];
    snprintf(enc_p, sizeof enc_p, "%s/encoder.json", dir);
    snprintf(voc_p, sizeof voc_p, "%s/vocab.bpe", dir);
    bpe b;
    tr_error err = {0};
    cr_assert_neq(bpe_load(&b, enc_p, voc_p, BPE_RANKS_OPENAI, &err), 0);
    cr_assert(strstr(err.msg, enc_p), "%s", err.msg);
    /* a vocabulary of the 256 bytes plus "ab"; a merge line naming an unknown token */
    char *j = malloc(1 << 16);
    size_t k = (size_t)sprintf(j, "{");
    int inv_n = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
        unsigned cp = printable ? (unsigned)c : 256u + (unsigned)inv_n++;
        k += (size_t)sprintf(j + k, "\"\\u%04x\": %d, ", cp, c);
    }
    sprintf(j + k, "\"ab\": 256}");
    write_file(enc_p, j);
    free(j);
    write_file(voc_p, "#version: 0.2\na b\nab zz\n");
    cr_assert_neq(bpe_load(&b, enc_p, voc_p, BPE_RANKS_OPENAI, &err), 0);
    cr_assert(strstr(err.msg, "vocab.bpe:3") && strstr(err.msg, "ab zz"), "%s", err.msg);
    write_file(voc_p, "#version: 0.2\na b c\n");
    cr_assert_neq(bpe_load(&b, enc_p, voc_p, BPE_RANKS_OPENAI, &err), 0);
    cr_assert(strstr(err.msg, "vocab.bpe:2") && strstr(err.msg, "two tokens"), "%s", err.msg);
    write_file(voc_p, "#version: 0.2\na b\n");
    cr_assert_eq(bpe_load(&b, enc_p, voc_p, BPE_RANKS_OPENAI, &err), 0, "%s", err.msg);
    int t[8];
    cr_assert_eq(bpe_encode(&b, "cab", 3, t), 2);
    cr_assert_eq(t[1], 256);
    bpe_free(&b);
    write_file(enc_p, "{\"a\": 0, \"b\": 0}");
    cr_assert_neq(bpe_load(&b, enc_p, voc_p, BPE_RANKS_OPENAI, &err), 0);
    cr_assert(strstr(err.msg, "id 0 is given to both"), "%s", err.msg);
    unlink(enc_p);
    unlink(voc_p);
    rmdir(dir);
}

Test(tok_unicode, classes_follow_javascript)
{
    cr_assert_eq(uni_classify('a'), UNI_LETTER);
    cr_assert_eq(uni_classify(0xaa), UNI_LETTER);     /* ª Lo */
    cr_assert_eq(uni_classify(0x4e2d), UNI_LETTER);   /* 中 */
    cr_assert_eq(uni_classify(0x0660), UNI_NUMBER);   /* Arabic-Indic zero */
    cr_assert_eq(uni_classify(0x00b2), UNI_NUMBER);   /* ² No */
    cr_assert_eq(uni_classify(0x216b), UNI_NUMBER);   /* Ⅻ Nl */
    cr_assert_eq(uni_classify(0x0301), UNI_OTHER);    /* combining acute: Mn */
    cr_assert_eq(uni_classify(0x1f600), UNI_OTHER);   /* emoji */
    cr_assert_eq(uni_classify(0xfeff), UNI_SPACE);    /* JavaScript \s has ZWNBSP ... */
    cr_assert_eq(uni_classify(0x2028), UNI_SPACE);
    cr_assert_eq(uni_classify(0x3000), UNI_SPACE);
    cr_assert_eq(uni_classify(0x0085), UNI_OTHER);    /* ... and not NEL or the separators 1C..1F */
    cr_assert_eq(uni_classify(0x1c), UNI_OTHER);
    cr_assert_eq(uni_classify(0x200b), UNI_OTHER);    /* zero-width space is Cf */
    uint32_t cp;
    int valid;
    cr_assert_eq(uni_decode((const unsigned char *)"\xc0\xaf", 2, &cp, &valid), 1);
    cr_assert_eq(valid, 0);
    cr_assert_eq(uni_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp, &valid), 1);
    cr_assert_eq(valid, 0);
    cr_assert_eq(uni_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp, &valid), 4);
    cr_assert(valid && cp == 0x1f600);
    cr_assert_eq(uni_decode((const unsigned char *)"\xf0\x9f\x98", 3, &cp, &valid), 1);
    cr_assert_eq(valid, 0);
}

Test(tok_interface, byte_and_gpt2)
{
    tokenizer t;
    tr_error err = {0};
    tokenizer_kind k;
    cr_assert_neq(tokenizer_parse("bpe", &k, &err), 0);
    cr_assert(strstr(err.msg, "'bpe'") && strstr(err.msg, "byte, gpt2"), "%s", err.msg);
    cr_assert_eq(tokenizer_open(&t, TOKENIZER_BYTE, &err), 0);
    int ids[8];
    cr_assert_eq(tokenizer_encode(&t, "hé", 3, ids), 3);
    cr_assert_eq(t.vocab_size, 257);
    cr_assert_eq(t.eot, 256);
    int bad[] = {104, 257};
    unsigned char out[16];
    size_t n;
    cr_assert_neq(tokenizer_decode(&t, bad, 2, out, sizeof out, &n, &err), 0);
    cr_assert(strstr(err.msg, "257") && strstr(err.msg, "0..256"), "%s", err.msg);
    tokenizer_free(&t);
    cr_assert_eq(tokenizer_open(&t, TOKENIZER_GPT2, &err), 0, "%s", err.msg);
    cr_assert_eq(t.vocab_size, 50257);
    cr_assert_eq(t.eot, 50256);
    cr_assert_eq(tokenizer_count(&t, "Hello world"), 2);
    int gen[] = {15496, 995, 50256, 15496};
    char text[64];
    tokenizer_decode_text(&t, gen, 4, text, sizeof text);
    cr_assert_str_eq(text, "Hello world");
    tokenizer_decode_text(&t, gen, 2, text, 8);  /* truncated to the buffer */
    cr_assert_str_eq(text, "Hello w");
    tokenizer_free(&t);
}
