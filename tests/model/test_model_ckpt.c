/* Model and training-state files: round trips, resume bit-identical, llm.c versions 1/3/5,
 * and rejection of damaged files with messages that say what is wrong. Also the tokenizer. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/model/ckpt.h"
#include "common/model/gpt.h"
#include "common/model/optim.h"
#include "common/tok/byte.h"
#include "common/util/rng.h"

static const gpt_config cfg = {.max_seq_len = 8, .vocab_size = 257, .num_layers = 2, .num_heads = 2, .channels = 8};

static char dir[64];
static void mkdir_tmp(void)
{
    strcpy(dir, "/tmp/trice_ckpt_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}
static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
static void path_of(char *out, const char *name) { snprintf(out, 256, "%s/%s", dir, name); }

TestSuite(model_ckpt, .init = mkdir_tmp, .fini = rm_tmp);

Test(model_ckpt, save_load_round_trip_is_bit_identical)
{
    gpt a, b;
    tr_error err;
    char p[256];
    path_of(p, "m.bin");
    cr_assert_eq(gpt_init(&a, &cfg, 1, 0, &err), 0, "%s", err.msg);
    gpt_init_random(&a, 4);
    cr_assert_eq(gpt_ckpt_save(&a, p, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_ckpt_open(&b, p, 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(b.config.padded_vocab_size, 384);
    cr_assert_eq(memcmp(a.params, b.params, a.num_params * sizeof(float)), 0);
    int v;
    gpt_config c;
    cr_assert_eq(gpt_ckpt_read_config(p, &c, &v, &err), 0);
    cr_assert_eq(v, 3);
    gpt_free(&a);
    gpt_free(&b);
}

/* One training step with batches drawn from r. */
static void train_step(gpt *g, optim_state *s, rng *r)
{
    int tok[2 * 7], tgt[2 * 7];
    for (int i = 0; i < 14; i++) { tok[i] = (int)rng_below(r, 257); tgt[i] = (int)rng_below(r, 257); }
    tr_error err;
    optim_group gr[GPT_NUM_TENSORS];
    gpt_param_groups(g, gr);
    optim_hparams hp = optim_hparams_default();
    gpt_zero_grad(g);
    cr_assert_eq(gpt_forward(g, tok, tgt, NULL, 2, 7, NULL, NULL, &err), 0);
    cr_assert_eq(gpt_backward(g, GPT_GRAD_FULL, &err), 0);
    optim_clip_grad_norm(g->grads, g->num_params, 1.0);
    cr_assert_eq(optim_adamw_step(s, g->params, g->grads, gr, GPT_NUM_TENSORS, 1e-3f, &hp, &err), 0);
}

Test(model_ckpt, save_load_continue_equals_uninterrupted)
{
    tr_error err;
    char pm[256], ps[256];
    path_of(pm, "m.bin");
    path_of(ps, "state.bin");
    gpt a;
    optim_state sa;
    rng ra;
    cr_assert_eq(gpt_init(&a, &cfg, 2, 0, &err), 0);
    gpt_init_random(&a, 2);
    cr_assert_eq(optim_init(&sa, a.num_params, &err), 0);
    rng_init(&ra, 5, RNG_PURPOSE_SCHEDULE, 0);
    train_step(&a, &sa, &ra);
    train_step(&a, &sa, &ra);
    uint8_t rb[RNG_STATE_BYTES];
    rng_save(&ra, rb);
    const char extra[] = "memory blob";
    cr_assert_eq(gpt_ckpt_save(&a, pm, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_state_save(ps, &sa, rb, 1, extra, sizeof extra, &err), 0, "%s", err.msg);
    train_step(&a, &sa, &ra);
    train_step(&a, &sa, &ra);

    gpt b;
    optim_state sb;
    rng rr;
    cr_assert_eq(gpt_ckpt_open(&b, pm, 2, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(optim_init(&sb, b.num_params, &err), 0);
    uint8_t *rbl;
    void *ex;
    size_t nr, el;
    cr_assert_eq(gpt_state_load(ps, &sb, &rbl, &nr, &ex, &el, &err), 0, "%s", err.msg);
    cr_assert_eq(sb.step, 2);
    cr_assert_eq(nr, 1);
    cr_assert_eq(el, sizeof extra);
    cr_assert_str_eq(ex, extra);
    cr_assert_eq(rng_restore(&rr, rbl, &err), 0);
    train_step(&b, &sb, &rr);
    train_step(&b, &sb, &rr);
    cr_assert_eq(memcmp(a.params, b.params, a.num_params * sizeof(float)), 0, "resumed run diverged");
    cr_assert_eq(memcmp(sa.m, sb.m, sa.n * sizeof(float)), 0);
    cr_assert_eq(memcmp(sa.v, sb.v, sa.n * sizeof(float)), 0);
    free(rbl);
    free(ex);
    optim_free(&sa);
    optim_free(&sb);
    gpt_free(&a);
    gpt_free(&b);
}

static void write_file(const char *p, const void *d, size_t n)
{
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(d, 1, n, f), n);
    fclose(f);
}

/* Versions 1 (fp32, unpadded) and 5 (bf16) written the way llm.c writes them. */
Test(model_ckpt, reads_llmc_versions_1_and_5)
{
    gpt a, b;
    tr_error err;
    char p[256];
    path_of(p, "old.bin");
    cr_assert_eq(gpt_init(&a, &cfg, 1, 0, &err), 0);
    gpt_init_random(&a, 9);
    size_t C = 8, wreal = 257 * C, rest = a.num_params - a.param_offsets[GPT_T_WPE];
    int32_t hdr[256] = {GPT_CKPT_MAGIC, 1, 8, 257, 2, 2, 8};
    size_t n1 = 1024 + (wreal + rest) * 4;
    char *buf = malloc(n1);
    memcpy(buf, hdr, 1024);
    memcpy(buf + 1024, a.params, wreal * 4);
    memcpy(buf + 1024 + wreal * 4, gpt_param(&a, GPT_T_WPE), rest * 4);
    write_file(p, buf, n1);
    cr_assert_eq(gpt_ckpt_open(&b, p, 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(a.params, b.params, a.num_params * 4), 0, "version 1 load differs");
    gpt_free(&b);
    free(buf);

    hdr[1] = 5;
    hdr[7] = 384;
    size_t n5 = 1024 + a.num_params * 2;
    buf = malloc(n5);
    memcpy(buf, hdr, 1024);
    uint16_t *h = (uint16_t *)(void *)(buf + 1024);
    for (size_t i = 0; i < a.num_params; i++) {
        uint32_t bits;
        memcpy(&bits, &a.params[i], 4);
        h[i] = (uint16_t)(bits >> 16); /* truncation: what we expect back exactly */
        bits &= 0xffff0000u;
        memcpy(&a.params[i], &bits, 4);
    }
    write_file(p, buf, n5);
    cr_assert_eq(gpt_ckpt_open(&b, p, 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(a.params, b.params, a.num_params * 4), 0, "version 5 load differs");
    gpt_free(&b);
    free(buf);
    gpt_free(&a);
}

static void expect_rejected(const char *p, const char *what)
{
    gpt b;
    tr_error err;
    int rc = gpt_ckpt_open(&b, p, 1, 0, &err);
    cr_assert_neq(rc, 0, "damaged file (%s) accepted", what);
    cr_assert(strstr(err.msg, what) != NULL, "message '%s' does not say '%s'", err.msg, what);
    cr_assert(strstr(err.msg, p) != NULL, "message '%s' does not name the file", err.msg);
}

Test(model_ckpt, damaged_model_files_rejected_with_reason)
{
    gpt a;
    tr_error err;
    char p[256], q[256];
    path_of(p, "m.bin");
    path_of(q, "bad.bin");
    cr_assert_eq(gpt_init(&a, &cfg, 1, 0, &err), 0);
    gpt_init_random(&a, 4);
    cr_assert_eq(gpt_ckpt_save(&a, p, &err), 0);
    char *buf;
    size_t len;
    cr_assert_eq(tr_read_file(p, 1 << 24, &buf, &len, &err), 0);

    write_file(q, buf, len - 4);
    expect_rejected(q, "truncated");
    write_file(q, buf, 100);
    expect_rejected(q, "truncated");
    write_file(q, buf, len + 4);
    expect_rejected(q, "trailing data");
    int32_t bad = 12345;
    memcpy(buf, &bad, 4);
    write_file(q, buf, len);
    expect_rejected(q, "bad magic");
    bad = GPT_CKPT_MAGIC;
    memcpy(buf, &bad, 4);
    bad = 4;
    memcpy(buf + 4, &bad, 4);
    write_file(q, buf, len);
    expect_rejected(q, "unsupported version 4");
    bad = 3;
    memcpy(buf + 4, &bad, 4);
    bad = 3; /* channels 8 -> 3: not divisible by 2 heads */
    memcpy(buf + 24, &bad, 4);
    write_file(q, buf, len);
    expect_rejected(q, "not divisible");
    /* a valid file of another shape does not load into this model */
    gpt_config other = cfg;
    other.channels = 16;
    gpt c;
    cr_assert_eq(gpt_init(&c, &other, 1, 0, &err), 0);
    cr_assert_neq(gpt_ckpt_load(&c, p, &err), 0);
    cr_assert(strstr(err.msg, "differs") != NULL, "%s", err.msg);
    gpt_free(&c);
    free(buf);
    gpt_free(&a);
}

/* The position encoding travels in header slot 8; a model of the other kind does not load it,
 * and an unknown value is refused naming it. */
Test(model_ckpt, alibi_flag_round_trips_and_is_checked)
{
    gpt a, b;
    tr_error err;
    char p[256], q[256];
    path_of(p, "alibi.bin");
    path_of(q, "bad.bin");
    gpt_config ca = cfg;
    ca.position = 1;
    cr_assert_eq(gpt_init(&a, &ca, 1, 0, &err), 0, "%s", err.msg);
    gpt_init_random(&a, 4);
    const float *wpe = gpt_param(&a, GPT_T_WPE);
    for (size_t i = 0; i < a.param_sizes[GPT_T_WPE]; i++) cr_assert_eq(wpe[i], 0.0f, "ALiBi wpe initialised");
    cr_assert_eq(gpt_ckpt_save(&a, p, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_ckpt_open(&b, p, 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(b.config.position, 1);
    cr_assert_eq(memcmp(a.params, b.params, a.num_params * sizeof(float)), 0);
    gpt_free(&b);
    cr_assert_eq(gpt_init(&b, &cfg, 1, 0, &err), 0);
    cr_assert_neq(gpt_ckpt_load(&b, p, &err), 0, "an ALiBi file loaded into a learned-position model");
    cr_assert(strstr(err.msg, "positions alibi") != NULL && strstr(err.msg, "positions learned") != NULL, "%s", err.msg);
    gpt_free(&b);
    char *buf;
    size_t len;
    cr_assert_eq(tr_read_file(p, 1 << 24, &buf, &len, &err), 0);
    int32_t bad = 7;
    memcpy(buf + 4 * GPT_CKPT_HDR_POSITION, &bad, 4);
    write_file(q, buf, len);
    gpt_config c;
    int v;
    cr_assert_neq(gpt_ckpt_read_config(q, &c, &v, &err), 0);
    cr_assert(strstr(err.msg, "bad.bin") && strstr(err.msg, "position encoding 7"), "%s", err.msg);
    free(buf);
    gpt_free(&a);
    /* no position encoding (2) round-trips too, and is told apart from ALiBi by name */
    ca.position = GPT_POS_NONE;
    cr_assert_eq(gpt_init(&a, &ca, 1, 0, &err), 0, "%s", err.msg);
    gpt_init_random(&a, 4);
    cr_assert_eq(gpt_ckpt_save(&a, q, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_ckpt_read_config(q, &c, &v, &err), 0, "%s", err.msg);
    cr_assert_eq(c.position, GPT_POS_NONE);
    ca.position = GPT_POS_ALIBI;
    cr_assert_eq(gpt_init(&b, &ca, 1, 0, &err), 0);
    cr_assert_neq(gpt_ckpt_load(&b, q, &err), 0, "a NoPE file loaded into an ALiBi model");
    cr_assert(strstr(err.msg, "positions none") != NULL && strstr(err.msg, "positions alibi") != NULL, "%s", err.msg);
    gpt_free(&b);
    gpt_free(&a);
}

Test(model_ckpt, damaged_state_files_rejected_with_reason)
{
    tr_error err;
    char p[256], q[256];
    path_of(p, "s.bin");
    path_of(q, "bad.bin");
    optim_state s;
    cr_assert_eq(optim_init(&s, 100, &err), 0);
    for (int i = 0; i < 100; i++) { s.m[i] = (float)i; s.v[i] = (float)(i * i); }
    s.step = 7;
    cr_assert_eq(gpt_state_save(p, &s, NULL, 0, NULL, 0, &err), 0, "%s", err.msg);
    char *buf;
    size_t len;
    cr_assert_eq(tr_read_file(p, 1 << 20, &buf, &len, &err), 0);
    uint8_t *rb;
    void *ex;
    size_t nr, el;
    struct { size_t cut; int flip; int magic; const char *what; } cases[] = {
        {len - 1, -1, 0, "truncated"}, {10, -1, 0, "truncated"}, {len, 200, 0, "checksum"},
        {len, -1, 1, "bad magic"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *c = malloc(len);
        memcpy(c, buf, len);
        if (cases[k].flip >= 0) c[cases[k].flip] ^= 0x10;
        if (cases[k].magic) c[0] ^= 0x01;
        write_file(q, c, cases[k].cut);
        optim_state t;
        cr_assert_eq(optim_init(&t, 100, &err), 0);
        cr_assert_neq(gpt_state_load(q, &t, &rb, &nr, &ex, &el, &err), 0, "case %zu accepted", k);
        cr_assert(strstr(err.msg, cases[k].what) != NULL, "case %zu: '%s' lacks '%s'", k, err.msg, cases[k].what);
        optim_free(&t);
        free(c);
    }
    optim_state t;
    cr_assert_eq(optim_init(&t, 99, &err), 0);
    cr_assert_neq(gpt_state_load(p, &t, &rb, &nr, &ex, &el, &err), 0);
    cr_assert(strstr(err.msg, "100 parameters") != NULL, "%s", err.msg);
    optim_free(&t);
    free(buf);
    optim_free(&s);
}

Test(model_ckpt, tokenizer_round_trips_every_byte)
{
    unsigned char in[512], out[512];
    int tok[513];
    for (int i = 0; i < 512; i++) in[i] = (unsigned char)(i * 7 + 3);
    cr_assert_eq(tok_encode(in, 512, tok), 512u);
    for (int i = 0; i < 512; i++) cr_assert(tok[i] >= 0 && tok[i] < 256);
    tok[512] = TOK_EOT;
    size_t n;
    tr_error err;
    cr_assert_eq(tok_decode(tok, 513, out, &n, &err), 0);
    cr_assert_eq(n, 512u);
    cr_assert_eq(memcmp(in, out, 512), 0);
    tok[5] = 300;
    cr_assert_eq(tok_decode(tok, 513, out, &n, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "index 5") != NULL, "%s", err.msg);
}
