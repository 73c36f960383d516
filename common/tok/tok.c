/* tok.c - one interface over the byte-level and the GPT-2 tokenizers (see tok.h). */
#include "common/tok/tok.h"

#include <stdlib.h>
#include <string.h>

#include "common/tok/byte.h"

static const char *const names[] = {"byte", "gpt2"};

const char *tokenizer_name(tokenizer_kind k) { return (unsigned)k < 2 ? names[k] : "?"; }

int tokenizer_parse(const char *name, tokenizer_kind *k, tr_error *err)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(name, names[i]) == 0) { *k = (tokenizer_kind)i; return 0; }
    return TR_FAIL(err, TR_EINVAL, "unknown tokenizer '%s' (allowed: byte, gpt2)", name);
}

int tokenizer_open(tokenizer *t, tokenizer_kind k, tr_error *err)
{
    memset(t, 0, sizeof *t);
    t->kind = k;
    if (k == TOKENIZER_BYTE) {
        t->vocab_size = TOK_BYTE_VOCAB;
        t->eot = TOK_EOT;
        t->max_bytes = 1;
        return 0;
    }
    if (k != TOKENIZER_GPT2) return TR_FAIL(err, TR_EINVAL, "unknown tokenizer kind %d", (int)k);
    t->bpe = tr_calloc(1, sizeof *t->bpe, err);
    if (!t->bpe) return TR_ENOMEM;
    int rc = bpe_load_dir(t->bpe, NULL, BPE_RANKS_OPENAI, err);
    if (!rc && (t->bpe->vocab_size != BPE_GPT2_VOCAB || t->bpe->eot != BPE_GPT2_EOT))
        rc = TR_FAIL(err, TR_EFORMAT, "%s: %d tokens with end-of-text %d; GPT-2's files have %d with <|endoftext|> = %d",
                     bpe_default_dir(), t->bpe->vocab_size, t->bpe->eot, BPE_GPT2_VOCAB, BPE_GPT2_EOT);
    if (rc) { tokenizer_free(t); return rc; }
    t->vocab_size = t->bpe->vocab_size;
    t->eot = t->bpe->eot;
    t->max_bytes = bpe_max_token_len(t->bpe);
    return 0;
}

void tokenizer_free(tokenizer *t)
{
    if (t->bpe) { bpe_free(t->bpe); free(t->bpe); }
    memset(t, 0, sizeof *t);
}

size_t tokenizer_encode(tokenizer *t, const void *text, size_t len, int *out)
{
    if (t->kind == TOKENIZER_GPT2) return bpe_encode(t->bpe, text, len, out);
    return tok_encode(text, len, out);
}

long tokenizer_count(tokenizer *t, const char *text)
{
    size_t len = strlen(text);
    if (t->kind == TOKENIZER_BYTE) return (long)len;
    int *tmp = malloc((len ? len : 1) * sizeof *tmp);
    if (!tmp) return -1;
    long n = (long)bpe_encode(t->bpe, text, len, tmp);
    free(tmp);
    return n;
}

int tokenizer_decode(const tokenizer *t, const int *tok, size_t n, unsigned char *out, size_t cap, size_t *out_len,
                     tr_error *err)
{
    if (t->kind == TOKENIZER_GPT2) return bpe_decode(t->bpe, tok, n, out, cap, out_len, err);
    return tok_decode_bytes(tok, n, 0, out, cap, out_len, err);   /* strict; end-of-text decodes to nothing */
}

void tokenizer_decode_text(const tokenizer *t, const int *tok, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    if (cap && t->kind == TOKENIZER_BYTE) {
        (void)tok_decode_bytes(tok, n, TOK_STOP_AT_EOT | TOK_SKIP_INVALID | TOK_TRUNCATE, (unsigned char *)out, cap - 1, &k, NULL);
        out[k] = '\0';
        return;
    }
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        if (tok[i] == t->eot) break;
        size_t len;
        const unsigned char *p = bpe_token(t->bpe, tok[i], &len);
        if (len > cap - 1 - k) len = cap - 1 - k;
        if (p) memcpy(out + k, p, len);
        k += len;
    }
    if (cap) out[k] = '\0';
}
