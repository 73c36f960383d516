/* Parity with PyTorch (fixtures from tests/model/gen_fixtures.py, computed in float64):
 * logits, weighted loss, per-sequence log-probabilities, every gradient, and parameters after
 * 3 clipped AdamW steps. Tolerances are for float32 against a float64 reference. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/ckpt.h"
#include "common/model/gpt.h"
#include "common/model/optim.h"

static char *fixture(const char *name, size_t *len)
{
    const char *root = getenv("TRICE_SOURCE_ROOT");
    cr_assert_not_null(root, "TRICE_SOURCE_ROOT unset (run through meson test)");
    static char path[4096];
    snprintf(path, sizeof path, "%s/tests/model/fixtures/%s", root, name);
    char *buf = NULL;
    tr_error err;
    if (len) cr_assert_eq(tr_read_file(path, 1 << 24, &buf, len, &err), 0, "%s", err.msg);
    return len ? buf : path;
}

/* max |a-b| / (atol + rtol |b|) over n, reported with the worst index */
static void assert_close(const float *a, const float *b, size_t n, double atol, double rtol, const char *what)
{
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (r > worst) { worst = r; wi = i; }
    }
    cr_assert(worst <= 1.0, "%s[%zu]: C %.8g vs PyTorch %.8g (atol %g, rtol %g)", what, wi, (double)a[wi],
              (double)b[wi], atol, rtol);
}

/* data_name, model_name: a fixture pair; alibi: the position encoding the model file must declare */
static void check_parity(const char *data_name, const char *model_name, int alibi)
{
    size_t len;
    char *d = fixture(data_name, &len);
    int32_t h[8];
    memcpy(h, d, sizeof h);
    cr_assert_eq(h[0], 0x50415259, "%s: bad magic", data_name);
    cr_assert_eq(h[1], 1);
    int B = h[2], T = h[3], V = h[4], Vp = h[5], np = h[6], steps = h[7];
    size_t NT = (size_t)B * T;
    size_t want = 32 + NT * 12 + NT * V * 4 + 8 + (size_t)B * 8 + (size_t)np * 4 + (size_t)steps * 8 + (size_t)np * 4;
    cr_assert_eq(len, want, "%s: %zu bytes, expected %zu", data_name, len, want);
    const char *p = d + 32;
    const int *tokens = (const int *)(const void *)p; p += NT * 4;
    const int *targets = (const int *)(const void *)p; p += NT * 4;
    const float *weights = (const float *)(const void *)p; p += NT * 4;
    const float *logits = (const float *)(const void *)p; p += NT * V * 4;
    double loss_ref, lp_ref[8], norms[8];
    memcpy(&loss_ref, p, 8); p += 8;
    memcpy(lp_ref, p, (size_t)B * 8); p += (size_t)B * 8;
    const float *grads = (const float *)(const void *)p; p += (size_t)np * 4;
    memcpy(norms, p, (size_t)steps * 8); p += (size_t)steps * 8;
    const float *after = (const float *)(const void *)p;

    gpt g;
    tr_error err;
    cr_assert_eq(gpt_ckpt_open(&g, fixture(model_name, NULL), B, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(g.config.position, alibi, "%s declares positions %d", model_name, g.config.position);
    cr_assert_eq(g.config.padded_vocab_size, Vp);
    cr_assert_eq((int)g.num_params, np);

    double loss, lp[8];
    gpt_zero_grad(&g);
    cr_assert_eq(gpt_forward(&g, tokens, targets, weights, B, T, &loss, lp, &err), 0, "%s", err.msg);
    const float *lo = gpt_logits(&g);
    float *lr = malloc(NT * V * sizeof(float));
    for (size_t i = 0; i < NT; i++) memcpy(lr + i * V, lo + i * Vp, (size_t)V * sizeof(float));
    assert_close(lr, logits, NT * V, 1e-5, 1e-4, "logits");
    free(lr);
    cr_assert(fabs(loss - loss_ref) <= 1e-4 * fabs(loss_ref), "loss %.9g vs %.9g", loss, loss_ref);
    for (int b = 0; b < B; b++)
        cr_assert(fabs(lp[b] - lp_ref[b]) <= 1e-4 * fabs(lp_ref[b]), "logprob[%d] %.9g vs %.9g", b, lp[b], lp_ref[b]);

    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    static const char *names[GPT_NUM_TENSORS] = {"wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw",
        "attprojb", "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};
    for (int t = 0; t < GPT_NUM_TENSORS; t++) {
        const float *ref = grads + g.param_offsets[t];
        double mx = 0;
        for (size_t i = 0; i < g.param_sizes[t]; i++) if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
        /* absolute floor relative to the tensor's largest gradient: float32 cancellation */
        assert_close(gpt_grad(&g, t), ref, g.param_sizes[t], 1e-4 * mx + 1e-6, 1e-3, names[t]);
    }

    optim_state s;
    cr_assert_eq(optim_init(&s, g.num_params, &err), 0);
    optim_group gr[GPT_NUM_TENSORS];
    gpt_param_groups(&g, gr);
    optim_hparams hp = optim_hparams_default();
    for (int k = 0; k < steps; k++) {
        gpt_zero_grad(&g);
        cr_assert_eq(gpt_forward(&g, tokens, targets, weights, B, T, NULL, NULL, &err), 0);
        cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0);
        double norm = optim_clip_grad_norm(g.grads, g.num_params, 1.0);
        cr_assert(fabs(norm - norms[k]) <= 1e-4 * norms[k], "step %d grad norm %.9g vs %.9g", k, norm, norms[k]);
        cr_assert_eq(optim_adamw_step(&s, g.params, g.grads, gr, GPT_NUM_TENSORS, 1e-2f, &hp, &err), 0);
    }
    /* The key bias has a gradient of exactly zero in exact arithmetic (softmax ignores a
     * constant added to a row of scores); float rounding leaves ~1e-8 noise that Adam's
     * normalisation turns into steps of up to lr. So: it may move at most steps * lr, and
     * everything else must match. lr 1e-2: 2e-4 absolute is 2% of one step's size. */
    int C = g.config.channels;
    float *mine = malloc(g.num_params * sizeof(float));
    memcpy(mine, g.params, g.num_params * sizeof(float));
    for (int l = 0; l < g.config.num_layers; l++) {
        size_t o = g.param_offsets[GPT_T_QKVB] + (size_t)l * 3 * C + C;
        for (int i = 0; i < C; i++) {
            cr_assert(fabsf(mine[o + i] - after[o + i]) <= 2.0f * steps * 1e-2f, "key bias moved too far");
            mine[o + i] = after[o + i];
        }
    }
    assert_close(mine, after, g.num_params, 2e-4, 1e-4, "params after AdamW");
    free(mine);
    optim_free(&s);
    gpt_free(&g);
    free(d);
}

Test(model_parity, matches_pytorch)
{
    check_parity("parity_data.bin", "parity_model.bin", 0);
}

/* ALiBi instead of learned positions, with six heads (the slopes' non-power-of-two branch) */
Test(model_parity, alibi_matches_pytorch)
{
    check_parity("parity_alibi_data.bin", "parity_alibi_model.bin", 1);
}
