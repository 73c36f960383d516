/* A model with GPT-2's vocabulary (50,257 padded to 50,304, tied embeddings) against PyTorch
 * (fixtures from tests/model/gen_fixtures.py): llm.c's version 5 (bf16) file, logits and loss;
 * the same through a version 3 (fp32) copy; a shorter context; sampling that stops at
 * <|endoftext|> (50256). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/model/ckpt.h"
#include "common/model/gpt.h"
#include "common/model/sample.h"
#include "common/tok/bpe.h"

static const char *fixture_path(const char *name)
{
    const char *root = getenv("TRICE_SOURCE_ROOT");
    cr_assert_not_null(root, "TRICE_SOURCE_ROOT unset (run through meson test)");
    static char path[4096];
    snprintf(path, sizeof path, "%s/tests/model/fixtures/%s", root, name);
    return path;
}

typedef struct ref {
    char *buf;
    int T, V, Vp;
    const int *tokens, *targets;
    const float *logits;
    double loss;  /* mean over positions */
} ref;

static void load_ref(ref *r)
{
    size_t len;
    tr_error err;
    cr_assert_eq(tr_read_file(fixture_path("gpt2vocab_data.bin"), 1 << 24, &r->buf, &len, &err), 0, "%s", err.msg);
    int32_t h[5];
    memcpy(h, r->buf, sizeof h);
    cr_assert_eq(h[0], 0x32545047, "gpt2vocab_data.bin: bad magic");
    r->T = h[2]; r->V = h[3]; r->Vp = h[4];
    cr_assert_eq(len, 20 + (size_t)r->T * 8 + (size_t)r->T * r->V * 4 + 8);
    const char *p = r->buf + 20;
    r->tokens = (const int *)(const void *)p; p += r->T * 4;
    r->targets = (const int *)(const void *)p; p += r->T * 4;
    r->logits = (const float *)(const void *)p; p += (size_t)r->T * r->V * 4;
    memcpy(&r->loss, p, 8);
}

/* forward over the fixture's tokens; logits and mean loss must match PyTorch's */
static void check_model(gpt *g, const ref *r, const char *what)
{
    tr_error err;
    double loss;
    cr_assert_eq(gpt_forward(g, r->tokens, r->targets, NULL, 1, r->T, &loss, NULL, &err), 0, "%s", err.msg);
    const float *lo = gpt_logits(g);
    double worst = 0;
    for (int t = 0; t < r->T; t++)
        for (int v = 0; v < r->V; v++) {
            double d = fabs((double)lo[(size_t)t * r->Vp + v] - r->logits[(size_t)t * r->V + v]) /
                       (1e-5 + 1e-4 * fabs(r->logits[(size_t)t * r->V + v]));
            if (d > worst) worst = d;
        }
    cr_assert(worst <= 1.0, "%s: logits differ from PyTorch (worst error %.3g of the tolerance)", what, worst);
    cr_assert(fabs(loss / r->T - r->loss) <= 1e-5 * r->loss, "%s: loss %.9g vs PyTorch %.9g", what, loss / r->T, r->loss);
}

Test(model_gpt2vocab, bf16_and_fp32_files_match_pytorch)
{
    ref r;
    load_ref(&r);
    gpt g;
    tr_error err;
    cr_assert_eq(gpt_ckpt_open(&g, fixture_path("gpt2vocab_model.bin"), 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(g.config.vocab_size, BPE_GPT2_VOCAB);
    cr_assert_eq(g.config.padded_vocab_size, 50304);
    cr_assert_eq(r.V, BPE_GPT2_VOCAB);
    /* the fixture's padded rows are not zero: they must not change anything */
    const float *pad = gpt_param(&g, GPT_T_WTE) + (size_t)BPE_GPT2_VOCAB * g.config.channels;
    int nonzero = 0;
    for (int i = 0; i < (50304 - BPE_GPT2_VOCAB) * g.config.channels; i++) nonzero += pad[i] != 0.0f;
    cr_assert_gt(nonzero, 0);
    check_model(&g, &r, "version 5 (bf16)");

    char path[] = "/tmp/trice-gpt2v3-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(gpt_ckpt_save(&g, path, &err), 0, "%s", err.msg);
    gpt g3;
    int version = 0;
    gpt_config c;
    cr_assert_eq(gpt_ckpt_read_config(path, &c, &version, &err), 0, "%s", err.msg);
    cr_assert_eq(version, 3);
    cr_assert_eq(gpt_ckpt_open(&g3, path, 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(g3.params, g.params, g.num_params * sizeof(float)), 0, "fp32 copy differs");
    check_model(&g3, &r, "version 3 (fp32) copy");
    gpt_free(&g3);
    unlink(path);

    /* a shorter context keeps the first position embeddings: same logits */
    gpt gs;
    c = g.config;
    c.max_seq_len = 16;
    cr_assert_eq(gpt_init(&gs, &c, 1, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_ckpt_load(&gs, fixture_path("gpt2vocab_model.bin"), &err), 0, "%s", err.msg);
    check_model(&gs, &r, "context 16 of 96");
    gpt_free(&gs);
    gpt_free(&g);
    free(r.buf);
}

Test(model_gpt2vocab, sampling_stops_at_endoftext)
{
    gpt g;
    tr_error err;
    cr_assert_eq(gpt_ckpt_open(&g, fixture_path("gpt2vocab_model.bin"), 1, 0, &err), 0, "%s", err.msg);
    /* make <|endoftext|> the most likely next token everywhere: the final LayerNorm outputs its
     * bias u, and the tied embedding row of 50256 points along u */
    int C = g.config.channels;
    float *lnfw = gpt_param(&g, GPT_T_LNFW), *lnfb = gpt_param(&g, GPT_T_LNFB);
    float *row = gpt_param(&g, GPT_T_WTE) + (size_t)BPE_GPT2_EOT * C;
    for (int i = 0; i < C; i++) { lnfw[i] = 0; lnfb[i] = 1; row[i] = 10; }
    gpt_sampler s;
    cr_assert_eq(gpt_sampler_init(&s, &g, 2, &err), 0, "%s", err.msg);
    int prompt[] = {15496, 995};
    const int *pp[2] = {prompt, prompt};
    int plen[2] = {2, 2}, out[2 * 8], lens[2];
    double lp[2];
    rng r0, r1;
    rng_init(&r0, 1, 0, 0);
    rng_init(&r1, 1, 0, 1);
    rng *rp[2] = {&r0, &r1};
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 8;
    o.temperature = 0;
    o.eot = BPE_GPT2_EOT;
    cr_assert_eq(gpt_sample(&s, &g, 2, pp, plen, rp, &o, out, lens, lp, &err), 0, "%s", err.msg);
    cr_assert_eq(lens[0], 0, "greedy sampling went on past <|endoftext|> (%d tokens)", lens[0]);
    o.temperature = 1;
    cr_assert_eq(gpt_sample(&s, &g, 2, pp, plen, rp, &o, out, lens, lp, &err), 0, "%s", err.msg);
    cr_assert(lens[0] < 8 && lens[1] < 8, "sampling did not stop at <|endoftext|>");
    o.eot = -1;  /* no stop token: 8 tokens, nearly all 50256 */
    o.temperature = 0;
    cr_assert_eq(gpt_sample(&s, &g, 2, pp, plen, rp, &o, out, lens, lp, &err), 0, "%s", err.msg);
    cr_assert_eq(lens[0], 8);
    cr_assert_eq(out[0], BPE_GPT2_EOT);
    gpt_sampler_free(&s);
    gpt_free(&g);
}
