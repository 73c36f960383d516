/* Finite-difference checks of gpt_backward: every parameter tensor, and the soft-prompt path. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/gpt.h"
#include "common/util/rng.h"

#define B 2
#define T 5

static const gpt_config tiny = {
    .max_seq_len = 8, .vocab_size = 11, .padded_vocab_size = 128,
    .num_layers = 2, .num_heads = 2, .channels = 8,
};

static int toks[B * T], tgts[B * T];
static float wts[B * T];

static void make_batch(int V)
{
    rng r;
    rng_init(&r, 3, RNG_PURPOSE_TEST, 0);
    for (int i = 0; i < B * T; i++) {
        toks[i] = (int)rng_below(&r, (uint64_t)V);
        tgts[i] = (int)rng_below(&r, (uint64_t)V);
        /* mixed signs and zeros, like estimator coefficients with masked prompt positions */
        wts[i] = (i % 4 == 0) ? 0.0f : (float)(rng_uniform(&r) * 2.0 - 0.6);
    }
}

static double loss_of(gpt *g)
{
    double loss;
    tr_error err;
    cr_assert_eq(gpt_forward(g, toks, tgts, wts, B, T, &loss, NULL, &err), 0, "%s", err.msg);
    return loss;
}

/* Larger weights than GPT-2's init so that every path carries a gradient that finite
 * differences can resolve in float32. */
static void init_big(gpt *g)
{
    gpt_init_random(g, 7);
    rng r;
    rng_init(&r, 8, RNG_PURPOSE_TEST, 1);
    for (size_t i = 0; i < g->num_params; i++) g->params[i] += 0.3f * (float)rng_normal(&r);
    for (int i = 0; i < g->prompt_len * g->config.channels; i++) g->prompt[i] = 0.5f * (float)rng_normal(&r);
}

/* Compare analytic gradient ga (n) against central differences on p (n), at `count` entries
 * including the largest-magnitude one. */
static void check_entries(gpt *g, float *p, const float *ga, size_t n, const char *name, int count)
{
    size_t imax = 0;
    for (size_t i = 0; i < n; i++) if (fabsf(ga[i]) > fabsf(ga[imax])) imax = i;
    rng r;
    rng_init(&r, 11, RNG_PURPOSE_TEST, n);
    double maxabs = 0;
    for (size_t i = 0; i < n; i++) if (fabs(ga[i]) > maxabs) maxabs = fabs(ga[i]);
    cr_assert(maxabs > 1e-4, "%s: gradient is all (near) zero (max %g): nothing flows to it", name, maxabs);
    for (int k = 0; k < count; k++) {
        size_t i = k == 0 ? imax : (size_t)rng_below(&r, n);
        float old = p[i];
        const float h = 1e-2f;
        p[i] = old + h;
        double lp = loss_of(g);
        p[i] = old - h;
        double lm = loss_of(g);
        p[i] = old;
        double num = (lp - lm) / (2.0 * h);
        double diff = fabs(num - ga[i]);
        cr_assert(diff <= 2e-2 * fabs(num) + 2e-3 * maxabs + 1e-4,
                  "%s[%zu]: analytic %.6g, numeric %.6g (tensor max |g| %.3g)", name, i, (double)ga[i], num, maxabs);
    }
}

static const char *names[GPT_NUM_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

/* A model of config c with P prompt vectors (init_big) and the analytic full gradient of the
 * test batch's loss, copied out (the caller frees it; finite differences overwrite g->grads). */
static float *grad_of_new_model(gpt *g, const gpt_config *c, int P)
{
    tr_error err;
    cr_assert_eq(gpt_init(g, c, B, P, &err), 0, "%s", err.msg);
    init_big(g);
    make_batch(c->vocab_size);
    gpt_zero_grad(g);
    loss_of(g);
    cr_assert_eq(gpt_backward(g, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    float *ga = malloc(g->num_params * sizeof(float));
    memcpy(ga, g->grads, g->num_params * sizeof(float));
    return ga;
}

/* A model without position embeddings (ALiBi, none): wpe's gradient is exactly zero and every
 * other tensor (wte's real rows) matches finite differences. */
static void check_without_wpe(gpt *g, const float *ga, const char *label)
{
    for (int t = 0; t < GPT_NUM_TENSORS; t++) {
        size_t n = g->param_sizes[t];
        if (t == GPT_T_WPE) {
            for (size_t i = 0; i < n; i++) cr_assert_eq(ga[g->param_offsets[t] + i], 0.0f, "%s wpe grad %zu", label, i);
            continue;
        }
        if (t == GPT_T_WTE) n = (size_t)g->config.vocab_size * g->config.channels;
        check_entries(g, gpt_param(g, t), ga + g->param_offsets[t], n, names[t], 8);
    }
}

Test(model_grad, every_tensor_matches_finite_differences)
{
    gpt g;
    float *ga = grad_of_new_model(&g, &tiny, 0);
    for (int t = 0; t < GPT_NUM_TENSORS; t++) {
        size_t n = g.param_sizes[t];
        if (t == GPT_T_WTE) n = (size_t)tiny.vocab_size * tiny.channels; /* padded rows: zero grad */
        if (t == GPT_T_WPE) n = (size_t)T * tiny.channels;               /* positions used */
        check_entries(&g, gpt_param(&g, t), ga + g.param_offsets[t], n, names[t], 12);
    }
    /* the padded vocabulary rows and unused positions receive exactly zero */
    const float *dwte = ga + g.param_offsets[GPT_T_WTE];
    for (size_t i = (size_t)tiny.vocab_size * tiny.channels; i < g.param_sizes[GPT_T_WTE]; i++)
        cr_assert_eq(dwte[i], 0.0f);
    free(ga);
    gpt_free(&g);
}

/* ALiBi: every trained tensor (wpe is unused: its gradient is exactly zero), with and without a
 * soft prompt; the distance bias is a constant, so this checks that nothing else changed. */
Test(model_grad, alibi_matches_finite_differences)
{
    gpt_config a = tiny;
    a.position = 1;
    for (int P = 0; P <= 2; P += 2) {
        gpt g;
        float *ga = grad_of_new_model(&g, &a, P);
        check_without_wpe(&g, ga, "ALiBi");
        if (P) {
            size_t n = (size_t)P * a.channels;
            memcpy(ga, g.prompt_grad, n * sizeof(float));
            check_entries(&g, g.prompt, ga, n, "prompt(ALiBi)", 8);
        }
        /* the distance bias changes the function: the same weights give another loss */
        double with = loss_of(&g);
        g.config.position = 0;
        double without = loss_of(&g);
        cr_assert(fabs(with - without) > 1e-3 * fabs(without), "ALiBi made no difference: %g vs %g", with, without);
        free(ga);
        gpt_free(&g);
    }
}

/* No position encoding (NoPE): every trained tensor against finite differences, wpe's gradient
 * exactly zero. Independent reference: it is the learned-position model (checked against
 * PyTorch in test_model_parity.c) with wpe all zero, to the last bit, loss and gradients. */
Test(model_grad, no_position_encoding_matches_finite_differences_and_zero_wpe)
{
    gpt_config a = tiny;
    a.position = GPT_POS_NONE;
    gpt g;
    float *ga = grad_of_new_model(&g, &a, 0);
    check_without_wpe(&g, ga, "NoPE");
    double none = loss_of(&g);
    /* the same weights as a learned-position model with wpe zero: the same loss and gradient */
    gpt_config l = tiny;
    gpt h;
    float *gl = grad_of_new_model(&h, &l, 0);
    memcpy(h.params, g.params, g.num_params * sizeof(float));
    memset(gpt_param(&h, GPT_T_WPE), 0, h.param_sizes[GPT_T_WPE] * sizeof(float));  /* init_big filled it */
    tr_error err;
    gpt_zero_grad(&h);
    double loss = loss_of(&h);
    cr_assert_eq(gpt_backward(&h, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    cr_assert_eq(loss, none, "NoPE loss %.17g, learned with zero wpe %.17g", none, loss);
    const float *dh = h.grads;
    for (int t = 0; t < GPT_NUM_TENSORS; t++) {
        if (t == GPT_T_WPE) continue;   /* learned positions train wpe; NoPE leaves it */
        size_t o = g.param_offsets[t];
        cr_assert_eq(memcmp(ga + o, dh + o, g.param_sizes[t] * sizeof(float)), 0, "%s gradient differs", names[t]);
    }
    /* and a model with position embeddings is another function: NoPE really drops them */
    for (size_t i = 0; i < h.param_sizes[GPT_T_WPE]; i++) gpt_param(&h, GPT_T_WPE)[i] = 0.5f * (float)((i * 7) % 5) - 1.0f;
    cr_assert(fabs(loss_of(&h) - none) > 1e-3 * fabs(none), "position embeddings made no difference");
    free(gl);
    free(ga);
    gpt_free(&h);
    gpt_free(&g);
}

Test(model_grad, soft_prompt_matches_finite_differences_and_skips_weights)
{
    gpt g;
    tr_error err;
    cr_assert_eq(gpt_init(&g, &tiny, B, 3, &err), 0, "%s", err.msg);
    init_big(&g);
    make_batch(tiny.vocab_size);
    gpt_zero_grad(&g);
    loss_of(&g);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_PROMPT, &err), 0, "%s", err.msg);
    for (size_t i = 0; i < g.num_params; i++)
        cr_assert_eq(g.grads[i], 0.0f, "prompt-only backward wrote weight gradient %zu", i);
    size_t n = (size_t)g.prompt_len * tiny.channels;
    float *ga = malloc(n * sizeof(float));
    memcpy(ga, g.prompt_grad, n * sizeof(float));
    check_entries(&g, g.prompt, ga, n, "prompt", 24);

    /* full mode gives the same prompt gradient plus weight gradients */
    gpt_zero_grad(&g);
    loss_of(&g);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    for (size_t i = 0; i < n; i++) cr_assert_float_eq(g.prompt_grad[i], ga[i], 1e-5f * (1 + fabsf(ga[i])));
    float *ga2 = malloc(g.num_params * sizeof(float));
    memcpy(ga2, g.grads, g.num_params * sizeof(float));
    check_entries(&g, gpt_param(&g, GPT_T_QKVW), ga2 + g.param_offsets[GPT_T_QKVW],
                  g.param_sizes[GPT_T_QKVW], "qkvw(with prompt)", 8);
    check_entries(&g, gpt_param(&g, GPT_T_WPE), ga2 + g.param_offsets[GPT_T_WPE],
                  (size_t)(3 + T) * tiny.channels, "wpe(with prompt)", 8);
    free(ga2);
    free(ga);
    gpt_free(&g);
}

Test(model_grad, backward_accumulates_and_needs_forward)
{
    gpt g;
    tr_error err;
    cr_assert_eq(gpt_init(&g, &tiny, B, 0, &err), 0, "%s", err.msg);
    init_big(&g);
    make_batch(tiny.vocab_size);
    gpt_zero_grad(&g);
    loss_of(&g);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), TR_ESTATE, "second backward without forward accepted");
    cr_assert(strstr(err.msg, "forward") != NULL, "%s", err.msg);
    float *once = malloc(g.num_params * sizeof(float));
    memcpy(once, g.grads, g.num_params * sizeof(float));
    loss_of(&g);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0);
    for (size_t i = 0; i < g.num_params; i++)
        cr_assert_float_eq(g.grads[i], 2.0f * once[i], 1e-5f * (1 + fabsf(once[i])), "grad %zu", i);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_PROMPT, &err), TR_ESTATE);
    free(once);
    gpt_free(&g);
}

/* logprob[b] sums log p(target) where weight != 0; loss is the plain weighted sum; right
 * padding of a shorter sequence does not change its log-probability. */
Test(model_grad, logprob_and_loss_semantics_with_ragged_padding)
{
    gpt g;
    tr_error err;
    cr_assert_eq(gpt_init(&g, &tiny, B, 0, &err), 0, "%s", err.msg);
    init_big(&g);
    int tk[B * T] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    int tg[B * T] = {2, 3, 4, 5, 6, 7, 8, 9, 10, 0};
    float w1[B * T] = {0, 1, 1, 0, 0, 1, 1, 1, 1, 1}; /* seq 0: 3 real tokens + 2 padding */
    double loss, lp[B];
    cr_assert_eq(gpt_forward(&g, tk, tg, w1, B, T, &loss, lp, &err), 0, "%s", err.msg);
    const float *logits = gpt_logits(&g);
    double want[B] = {0, 0};
    for (int i = 0; i < B * T; i++) {
        const float *row = logits + (size_t)i * tiny.padded_vocab_size;
        double s = 0;
        for (int v = 0; v < tiny.vocab_size; v++) s += exp(row[v]);
        if (w1[i] != 0) want[i / T] += row[tg[i]] - log(s);
    }
    cr_assert_float_eq(lp[0], want[0], 1e-4);
    cr_assert_float_eq(lp[1], want[1], 1e-4);
    cr_assert_float_eq(loss, -(want[0] + want[1]), 1e-4, "unit weights: loss is -sum logprob");
    /* change the padding tokens of sequence 0: its logprob is unchanged */
    tk[3] = 9; tk[4] = 0;
    double lp2[B];
    cr_assert_eq(gpt_forward(&g, tk, tg, w1, B, T, &loss, lp2, &err), 0);
    cr_assert_float_eq(lp2[0], lp[0], 1e-6);
    /* bad token ids are rejected with the position */
    tk[7] = tiny.vocab_size;
    cr_assert_eq(gpt_forward(&g, tk, tg, w1, B, T, &loss, lp2, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "sequence 1 position 2") != NULL, "%s", err.msg);
    gpt_free(&g);
}

/* Position jitter: a forward at offset k equals a forward at offset 0 of a model whose
 * position table is shifted by k rows, and the backward puts the position gradient in rows
 * k..k+T-1 (the rest of the table untouched); the other gradients are the shifted model's. */
Test(grad, position_offset_is_a_shift_of_the_position_table)
{
    tr_error err;
    gpt a, b;
    const int k = 3;   /* T + k = max_seq_len */
    cr_assert_eq(gpt_init(&a, &tiny, B, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_init(&b, &tiny, B, 0, &err), 0, "%s", err.msg);
    init_big(&a);
    memcpy(b.params, a.params, a.num_params * sizeof(float));
    const int C = tiny.channels;
    float *wpa = gpt_param(&a, GPT_T_WPE), *wpb = gpt_param(&b, GPT_T_WPE);
    memcpy(wpb, wpa + (size_t)k * C, (size_t)T * C * sizeof(float));
    make_batch(tiny.vocab_size);
    a.pos_offset = k;
    gpt_zero_grad(&a);
    gpt_zero_grad(&b);
    double la = loss_of(&a), lb = loss_of(&b);
    cr_assert_eq(la, lb, "loss at offset %d: %.9g, shifted table: %.9g", k, la, lb);
    cr_assert_eq(gpt_backward(&a, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_backward(&b, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    float *ga = gpt_grad(&a, GPT_T_WPE), *gb = gpt_grad(&b, GPT_T_WPE);
    for (int t = 0; t < tiny.max_seq_len; t++)
        for (int i = 0; i < C; i++) {
            float want = (t >= k && t < k + T) ? gb[(size_t)(t - k) * C + i] : 0.0f;
            cr_assert_eq(ga[(size_t)t * C + i], want, "position-gradient row %d", t);
        }
    size_t wpe_off = a.param_offsets[GPT_T_WPE], wpe_n = a.param_sizes[GPT_T_WPE];
    for (size_t i = 0; i < a.num_params; i++)
        if (i < wpe_off || i >= wpe_off + wpe_n) cr_assert_eq(a.grads[i], b.grads[i], "gradient %zu", i);
    /* an offset that runs past the context is refused */
    a.pos_offset = k + 1;
    double l;
    cr_assert_neq(gpt_forward(&a, toks, tgts, wts, B, T, &l, NULL, &err), 0);
    cr_assert(strstr(err.msg, "offset"), "%s", err.msg);
    gpt_free(&a);
    gpt_free(&b);
}

/* row_offsets: a ragged batch whose sequences sit at their own offsets (the engine's batched
 * term gradients with position jitter) gives the loss and gradients of the sequences run one
 * at a time at those offsets, also when a shifted row's padding runs past the context. */
Test(grad, per_row_offsets_match_one_sequence_at_a_time)
{
    tr_error err;
    gpt g, one;
    cr_assert_eq(gpt_init(&g, &tiny, B, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_init(&one, &tiny, 1, 0, &err), 0, "%s", err.msg);
    init_big(&g);
    memcpy(one.params, g.params, g.num_params * sizeof(float));
    make_batch(tiny.vocab_size);
    const int len[B] = {3, T}, off[B] = {5, 2};   /* row 0: 5 + 3 = 8 = max_seq_len; its padding runs past */
    float w[B * T];
    for (int i = 0; i < B * T; i++) w[i] = i % T < len[i / T] ? wts[i] : 0.0f;
    g.row_offsets = off;
    gpt_zero_grad(&g);
    double lb;
    cr_assert_eq(gpt_forward(&g, toks, tgts, w, B, T, &lb, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    gpt_zero_grad(&one);
    double lsum = 0;
    for (int b = 0; b < B; b++) {
        double l;
        one.pos_offset = off[b];
        cr_assert_eq(gpt_forward(&one, toks + b * T, tgts + b * T, w + b * T, 1, len[b], &l, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_backward(&one, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
        lsum += l;
    }
    cr_assert_float_eq(lb, lsum, 1e-5 * (1 + fabs(lsum)), "batched loss %.9g, one at a time %.9g", lb, lsum);
    float gmax = 0;
    for (size_t i = 0; i < g.num_params; i++) gmax = fmaxf(gmax, fabsf(one.grads[i]));
    cr_assert_gt(gmax, 0);
    for (size_t i = 0; i < g.num_params; i++)
        cr_assert_float_eq(g.grads[i], one.grads[i], 1e-5f * gmax, "gradient %zu: %g vs %g", i, g.grads[i], one.grads[i]);
    /* the position rows no sequence used carry no gradient: rows 0, 1 (row 7 is both rows' last) */
    const float *gp = gpt_grad(&g, GPT_T_WPE);
    for (int i = 0; i < 2 * tiny.channels; i++) cr_assert_eq(gp[i], 0.0f, "position row %d", i / tiny.channels);
    /* an offset that leaves no position is refused, naming the sequence */
    const int bad[B] = {0, tiny.max_seq_len};
    g.row_offsets = bad;
    cr_assert_neq(gpt_forward(&g, toks, tgts, w, B, T, &lb, NULL, &err), 0);
    cr_assert(strstr(err.msg, "sequence 1") && strstr(err.msg, "offset"), "%s", err.msg);
    gpt_free(&g);
    gpt_free(&one);
}

/* coupled-rope: every trained tensor against finite differences with repeated position ids
 * (a restatement), wpe unused; the loss depends on the ids' differences only (RoPE's defining
 * property: all ids shifted by 5 give the same loss up to float rounding), and the rotation
 * is a real change: the same weights without it (NoPE) give another loss. */
static void check_coupled_rope(int position)
{
    static const int ids[B * T] = {0, 1, 2, 1, 2, 0, 1, 2, 3, 4};
    gpt_config a = tiny;
    a.position = position;
    gpt g;
    tr_error err;
    cr_assert_eq(gpt_init(&g, &a, B, 0, &err), 0, "%s", err.msg);
    init_big(&g);
    make_batch(a.vocab_size);
    g.token_positions = ids;
    gpt_zero_grad(&g);
    double loss = loss_of(&g);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    float *ga = malloc(g.num_params * sizeof(float));
    memcpy(ga, g.grads, g.num_params * sizeof(float));
    check_without_wpe(&g, ga, "coupled-rope");
    int shifted[B * T];
    for (int i = 0; i < B * T; i++) shifted[i] = ids[i] + 1;
    g.token_positions = shifted;
    g.pos_offset = 2;   /* and the row shift on top: +3 in all */
    double ls = loss_of(&g);
    cr_assert(fabs(ls - loss) <= 1e-5 * fabs(loss), "ids shifted by 3: loss %.9g, unshifted %.9g", ls, loss);
    g.pos_offset = 0;
    g.token_positions = NULL;
    g.config.position = position == GPT_POS_COUPLED_ROPE ? GPT_POS_NONE : GPT_POS_ALIBI;   /* the same without turning */
    double none = loss_of(&g);
    cr_assert(fabs(none - loss) > 1e-3 * fabs(loss), "the rotation made no difference: %g vs %g", none, loss);
    free(ga);
    gpt_free(&g);
}

Test(model_grad, coupled_rope_matches_finite_differences_and_sees_id_differences_only)
{
    check_coupled_rope(GPT_POS_COUPLED_ROPE);
}

/* with ALiBi's bias on places as well: still only the ids' differences (the bias reads places,
 * which a shift of the ids leaves alone, and pos_offset moves all places together) */
Test(model_grad, coupled_rope_alibi_matches_finite_differences)
{
    check_coupled_rope(GPT_POS_COUPLED_ROPE_ALIBI);
}

/* gpt.bf16: the linear layers multiply bf16-rounded operands. The loss and every gradient stay
 * close to fp32's (not equal: the rounding is real), and the weights train. */
Test(model_grad, bf16_products_stay_close_to_fp32)
{
    gpt g;
    tr_error err;
    make_batch(tiny.vocab_size);
    cr_assert_eq(gpt_init(&g, &tiny, B, 0, &err), 0, "%s", err.msg);
    gpt_init_random(&g, 9);
    double l32 = loss_of(&g);
    gpt_zero_grad(&g);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    float *g32 = malloc(g.num_params * sizeof(float));
    memcpy(g32, g.grads, g.num_params * sizeof(float));
    g.bf16 = 1;
    double l16 = loss_of(&g);
    gpt_zero_grad(&g);
    cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    cr_assert(fabs(l16 - l32) <= 1e-2 * fabs(l32), "loss: bf16 %.6g, fp32 %.6g", l16, l32);
    cr_assert(l16 != l32, "bf16 gave fp32's loss bit for bit: the bf16 products were not used");
    double dot = 0, n32 = 0, n16 = 0, diff = 0;
    for (size_t i = 0; i < g.num_params; i++) {
        dot += (double)g32[i] * g.grads[i];
        n32 += (double)g32[i] * g32[i];
        n16 += (double)g.grads[i] * g.grads[i];
        diff += ((double)g32[i] - g.grads[i]) * ((double)g32[i] - g.grads[i]);
    }
    cr_assert(sqrt(diff / n32) < 2e-2, "gradient: relative difference %.3g from fp32", sqrt(diff / n32));
    cr_assert(dot / sqrt(n32 * n16) > 0.999, "gradient: cosine %.6f with fp32's", dot / sqrt(n32 * n16));
    free(g32);
    gpt_free(&g);
}
