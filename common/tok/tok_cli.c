/* tok_cli.c - `trice tokenize [--tokenizer byte|gpt2] [--file F] [--decode]` (see tok_cli.h).
 * Encoding prints, for each input line, its token ids separated by spaces; decoding reads
 * such lines and prints their text. A line is the bytes before '\n' (a '\r' stays part of
 * it); one output line per input line. */
#include "common/tok/tok_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tok/tok.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: trice tokenize [--tokenizer byte|gpt2] [--file F] [--decode] [--llmc-file T] [--export-llmc T]\n"
               "  --tokenizer K     byte (257 ids: bytes and end-of-text 256) or gpt2 (GPT-2 BPE, 50,257 ids;\n"
               "                    the default; files from $TRICE_GPT2_DIR or the source tree's data/gpt2)\n"
               "  --file F          read lines from F instead of standard input\n"
               "  --decode          read lines of ids separated by spaces, print their text\n"
               "  --llmc-file T     decode with llm.c's gpt2_tokenizer.bin T (decoding only)\n"
               "  --export-llmc T   write the GPT-2 decoding table as llm.c's gpt2_tokenizer.bin and exit\n"
               "Each input line gives one output line. Exit status: 0 ok, 1 bad input, 2 usage.\n");
}

/* One line of ids -> text on out. Errors name the line, the word and what is allowed. */
static int decode_line(const tokenizer *t, const char *line, size_t lineno, const char *src, int **ids, size_t *cap,
                       unsigned char **buf, size_t *bcap)
{
    size_t n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
        char *end;
        errno = 0;
        long v = strtol(w, &end, 10);
        if (end != p || errno) {
            fprintf(stderr, "trice tokenize: %s:%zu: '%.*s' is not a token id (ids are integers 0..%d)\n", src, lineno,
                    (int)(p - w), w, t->vocab_size - 1);
            return 1;
        }
        if (v < 0 || v >= t->vocab_size) {
            fprintf(stderr, "trice tokenize: %s:%zu: token %ld is out of range (%s ids are 0..%d)\n", src, lineno, v,
                    tokenizer_name(t->kind), t->vocab_size - 1);
            return 1;
        }
        if (n == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            int *tmp = realloc(*ids, *cap * sizeof **ids);
            if (!tmp) { fprintf(stderr, "trice tokenize: out of memory\n"); return 1; }
            *ids = tmp;
        }
        (*ids)[n++] = (int)v;
    }
    size_t need = n * t->max_bytes + 1, len = 0;
    if (need > *bcap) {
        unsigned char *tmp = realloc(*buf, need);
        if (!tmp) { fprintf(stderr, "trice tokenize: out of memory\n"); return 1; }
        *buf = tmp;
        *bcap = need;
    }
    tr_error err = {0};
    if (tokenizer_decode(t, *ids, n, *buf, *bcap, &len, &err)) {
        fprintf(stderr, "trice tokenize: %s:%zu: %s\n", src, lineno, err.msg);
        return 1;
    }
    fwrite(*buf, 1, len, stdout);
    putchar('\n');
    return 0;
}

static void encode_line(tokenizer *t, const char *line, size_t len, int **ids, size_t *cap)
{
    if (len + 1 > *cap) {
        *cap = len + 1;
        free(*ids);
        *ids = malloc(*cap * sizeof **ids);
        if (!*ids) { fprintf(stderr, "trice tokenize: out of memory\n"); exit(1); }
    }
    size_t n = tokenizer_encode(t, line, len, *ids);
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (*ids)[i]);
    putchar('\n');
}

int tok_cli_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tokenizer", required_argument, NULL, 't'}, {"file", required_argument, NULL, 'f'},
        {"decode", no_argument, NULL, 'd'}, {"llmc-file", required_argument, NULL, 'l'},
        {"export-llmc", required_argument, NULL, 'x'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *file = NULL, *llmc = NULL, *export_path = NULL;
    tokenizer_kind kind = TOKENIZER_GPT2;
    int decode = 0, c;
    tr_error err = {0};
    optind = 0;  /* GNU getopt: start over (the caller may have parsed its own options) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (tokenizer_parse(optarg, &kind, &err)) { fprintf(stderr, "trice tokenize: --tokenizer: %s\n", err.msg); return 2; }
            break;
        case 'f': file = optarg; break;
        case 'd': decode = 1; break;
        case 'l': llmc = optarg; break;
        case 'x': export_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "trice tokenize: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "trice tokenize: unexpected argument '%s'\n", argv[optind]); usage(stderr); return 2; }
    if (llmc && (!decode || kind != TOKENIZER_GPT2)) {
        fprintf(stderr, "trice tokenize: --llmc-file has no merges, so it decodes only (add --decode; tokenizer gpt2)\n");
        return 2;
    }
    tokenizer t;
    if (llmc) {
        memset(&t, 0, sizeof t);
        t.kind = TOKENIZER_GPT2;
        t.bpe = calloc(1, sizeof *t.bpe);
        if (!t.bpe || bpe_read_llmc(t.bpe, llmc, &err)) {
            fprintf(stderr, "trice tokenize: %s\n", t.bpe ? err.msg : "out of memory");
            free(t.bpe);
            return 1;
        }
        t.vocab_size = t.bpe->vocab_size;
        t.eot = t.bpe->eot;
        t.max_bytes = bpe_max_token_len(t.bpe);
    } else if (tokenizer_open(&t, kind, &err)) {
        fprintf(stderr, "trice tokenize: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (export_path) {
        if (kind != TOKENIZER_GPT2) { fprintf(stderr, "trice tokenize: --export-llmc writes GPT-2's table (use --tokenizer gpt2)\n"); rc = 2; }
        else if (bpe_write_llmc(t.bpe, export_path, &err)) { fprintf(stderr, "trice tokenize: %s\n", err.msg); rc = 1; }
        else fprintf(stderr, "trice tokenize: wrote %s (%d tokens, end-of-text %d)\n", export_path, t.vocab_size, t.eot);
        tokenizer_free(&t);
        return rc;
    }
    FILE *in = stdin;
    if (file && !(in = fopen(file, "rb"))) {
        fprintf(stderr, "trice tokenize: --file %s: %s\n", file, strerror(errno));
        tokenizer_free(&t);
        return 1;
    }
    char *line = NULL;
    size_t lcap = 0, icap = 0, bcap = 0, lineno = 0;
    int *ids = NULL;
    unsigned char *buf = NULL;
    ssize_t got;
    while (!rc && (got = getline(&line, &lcap, in)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (decode) rc = decode_line(&t, line, lineno, file ? file : "<stdin>", &ids, &icap, &buf, &bcap);
        else encode_line(&t, line, len, &ids, &icap);
    }
    if (!rc && ferror(in)) { fprintf(stderr, "trice tokenize: reading %s failed\n", file ? file : "<stdin>"); rc = 1; }
    if (fflush(stdout) != 0) rc = 1;
    free(line);
    free(ids);
    free(buf);
    if (file) fclose(in);
    tokenizer_free(&t);
    return rc;
}
