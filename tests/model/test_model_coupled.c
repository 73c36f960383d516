/* Position coupling (GPT_POS_COUPLED, GPT_POS_COUPLED_ALIBI): caller-given position ids in the
 * forward, its backward, the KV-cache decode and the sampler. The reference is the model at
 * its places (for "coupled" the learned-position model, checked against PyTorch in
 * test_model_parity.c): a coupled forward whose token t reads id ids[t] equals a forward at
 * places whose position table has row t := wpe[ids[t]], to the last bit, and the coupled wpe
 * gradient at id j is the sum of that model's rows t with ids[t] = j. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/model/gpt.h"
#include "common/model/sample.h"

static const gpt_config base = {
    .max_seq_len = 24, .vocab_size = 257, .padded_vocab_size = 384,
    .num_layers = 2, .num_heads = 2, .channels = 16,
};

enum { T = 12 };
/* repeated ids (a restatement: tokens 6..9 take the ids of 2..5), then ids after the prompt */
static const int ids[T] = {0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7};

static void make(gpt *g, int position, int max_batch) {
    tr_error err;
    gpt_config c = base;
    c.position = position;
    cr_assert_eq(gpt_init(g, &c, max_batch, 0, &err), 0, "%s", err.msg);
    gpt_init_random(g, 5);
    for (size_t i = 0; i < g->num_params; i++) g->params[i] *= 8.0f;   /* logits that vary a lot */
}

static void sequence(int *tok, int *tgt) {
    for (int t = 0; t < T; t++) tok[t] = (t * 37 + 11) % 257;
    for (int t = 0; t < T; t++) tgt[t] = (t * 53 + 7) % 257;
}

static void check_rearranged_table(int position, int reference) {
    gpt c, l;
    tr_error err;
    make(&c, position, 1);
    make(&l, reference, 1);
    const int C = base.channels;
    float *wc = gpt_param(&c, GPT_T_WPE), *wl = gpt_param(&l, GPT_T_WPE);
    for (int t = 0; t < T; t++) memcpy(wl + (size_t)t * C, wc + (size_t)ids[t] * C, (size_t)C * sizeof(float));
    int tok[T], tgt[T];
    sequence(tok, tgt);
    double lc, ll;
    c.token_positions = ids;
    gpt_zero_grad(&c);
    gpt_zero_grad(&l);
    cr_assert_eq(gpt_forward(&c, tok, tgt, NULL, 1, T, &lc, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_forward(&l, tok, tgt, NULL, 1, T, &ll, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(lc, ll, "coupled loss %.17g, rearranged learned %.17g", lc, ll);
    cr_assert_eq(gpt_backward(&c, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_backward(&l, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    const float *gc = gpt_grad(&c, GPT_T_WPE), *gl = gpt_grad(&l, GPT_T_WPE);
    for (int j = 0; j < base.max_seq_len; j++)
        for (int i = 0; i < C; i++) {
            double want = 0;
            for (int t = 0; t < T; t++) if (ids[t] == j) want += gl[(size_t)t * C + i];
            cr_assert(fabs(gc[(size_t)j * C + i] - want) <= 1e-6 * (1 + fabs(want)), "wpe gradient at id %d: %g, want %g",
                      j, (double)gc[(size_t)j * C + i], want);
        }
    size_t o = c.param_offsets[GPT_T_WPE], n = c.param_sizes[GPT_T_WPE];
    for (size_t i = 0; i < c.num_params; i++)   /* every other gradient is the rearranged model's */
        if (i < o || i >= o + n) cr_assert_eq(c.grads[i], l.grads[i], "gradient %zu", i);
    /* and the ids matter: the same model at its places is another function */
    c.token_positions = NULL;
    double lp;
    cr_assert_eq(gpt_forward(&c, tok, tgt, NULL, 1, T, &lp, NULL, &err), 0, "%s", err.msg);
    cr_assert(fabs(lp - lc) > 1e-3 * fabs(lc), "ids made no difference: %g vs %g", lp, lc);
    gpt_free(&c);
    gpt_free(&l);
}

Test(model_coupled, ids_are_a_rearranged_position_table_forward_and_backward) {
    check_rearranged_table(GPT_POS_COUPLED, GPT_POS_LEARNED);
    check_rearranged_table(GPT_POS_COUPLED_ALIBI, GPT_POS_COUPLED_ALIBI);   /* no ids: the places */
}

/* coupled-alibi is coupled plus ALiBi's distance bias: the same weights and ids give another
 * loss than coupled alone (the ALiBi path itself is checked in test_model_grad.c) */
Test(model_coupled, coupled_alibi_adds_the_distance_bias) {
    gpt a, c;
    tr_error err;
    make(&a, GPT_POS_COUPLED_ALIBI, 1);
    make(&c, GPT_POS_COUPLED, 1);
    int tok[T], tgt[T];
    sequence(tok, tgt);
    a.token_positions = c.token_positions = ids;
    double la, lc;
    cr_assert_eq(gpt_forward(&a, tok, tgt, NULL, 1, T, &la, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_forward(&c, tok, tgt, NULL, 1, T, &lc, NULL, &err), 0, "%s", err.msg);
    cr_assert(fabs(la - lc) > 1e-3 * fabs(lc), "ALiBi made no difference: %g vs %g", la, lc);
    gpt_free(&a);
    gpt_free(&c);
}

Test(model_coupled, ids_are_refused_where_they_would_not_take_effect_or_do_not_fit) {
    gpt l, c;
    tr_error err;
    make(&l, GPT_POS_LEARNED, 1);
    make(&c, GPT_POS_COUPLED, 1);
    int tok[T], tgt[T];
    sequence(tok, tgt);
    l.token_positions = ids;
    cr_assert_eq(gpt_forward(&l, tok, tgt, NULL, 1, T, NULL, NULL, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "learned") && strstr(err.msg, "coupled"), "%s", err.msg);
    int bad[T];
    memcpy(bad, ids, sizeof bad);
    bad[4] = base.max_seq_len;
    c.token_positions = bad;
    cr_assert_eq(gpt_forward(&c, tok, tgt, NULL, 1, T, NULL, NULL, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "position id 24"), "%s", err.msg);
    gpt_free(&l);
    gpt_free(&c);
}

/* The KV cache with ids: prefill at places, then decode_at with the ids, gives the full
 * coupled forward's logits at every position. */
static void check_kv_decode(int position) {
    gpt g;
    gpt_sampler s;
    tr_error err;
    make(&g, position, 1);
    cr_assert_eq(gpt_sampler_init(&s, &g, 1, &err), 0, "%s", err.msg);
    int tok[T], tgt[T];
    sequence(tok, tgt);
    const int plen = 6, Vp = base.padded_vocab_size;   /* ids[0..5] are places */
    g.token_positions = ids;
    cr_assert_eq(gpt_forward(&g, tok, NULL, NULL, 1, T, NULL, NULL, &err), 0, "%s", err.msg);
    g.token_positions = NULL;
    float *full = malloc(sizeof(float) * T * Vp);
    memcpy(full, gpt_logits(&g), sizeof(float) * T * Vp);
    float kv[384];
    const int *pr[1] = {tok};
    int pl[1] = {plen}, slot[1] = {0};
    cr_assert_eq(gpt_sampler_prefill(&s, &g, 1, pr, pl, kv, &err), 0, "%s", err.msg);
    for (int t = plen - 1; t < T; t++) {
        if (t > plen - 1) cr_assert_eq(gpt_sampler_decode_at(&s, &g, 1, slot, &tok[t], &ids[t], kv, &err), 0, "%s", err.msg);
        for (int v = 0; v < base.vocab_size; v++)
            /* float rounding only: the sharpened model's scores are large, and turning and
             * the distance bias each reorder sums (a wrong id moves logits by O(1)) */
            cr_assert(fabsf(kv[v] - full[(size_t)t * Vp + v]) <= 1e-3f * (1.0f + fabsf(full[(size_t)t * Vp + v])),
                      "position %d token %d: kv %g, full %g", t, v, (double)kv[v], (double)full[(size_t)t * Vp + v]);
    }
    /* a position id is only for a coupled model, and must fit */
    gpt l;
    gpt_sampler sl;
    make(&l, GPT_POS_LEARNED, 1);
    cr_assert_eq(gpt_sampler_init(&sl, &l, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sampler_prefill(&sl, &l, 1, pr, pl, kv, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sampler_decode_at(&sl, &l, 1, slot, &tok[plen], &ids[plen], kv, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "learned"), "%s", err.msg);
    cr_assert_eq(gpt_sampler_prefill(&s, &g, 1, pr, pl, kv, &err), 0, "%s", err.msg);
    int far = base.max_seq_len;
    cr_assert_eq(gpt_sampler_decode_at(&s, &g, 1, slot, &tok[plen], &far, kv, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "position id 24"), "%s", err.msg);
    free(full);
    gpt_sampler_free(&sl);
    gpt_free(&l);
    gpt_sampler_free(&s);
    gpt_free(&g);
}

Test(model_coupled, kv_decode_with_ids_equals_the_full_forward) {
    check_kv_decode(GPT_POS_COUPLED);
    check_kv_decode(GPT_POS_COUPLED_ALIBI);
    check_kv_decode(GPT_POS_COUPLED_ROPE);
    check_kv_decode(GPT_POS_COUPLED_ROPE_ALIBI);
}

/* A rule that depends on the token just written and on its index, so that a sampler that
 * passed the wrong index or tokens would number them differently from the forward below. */
static int test_rule(const int *prompt, int prompt_len, const int *gen, int i) {
    (void)prompt;
    return prompt_len / 2 + (gen[i] + 3 * i) % 5;
}

/* gpt_sample with a rule: the reported log-probability of each sample is the full forward's
 * over prompt + sample (+ eot) with the ids the rule gives, and the rule is required by a
 * coupled model and refused by the others. */
static void check_sampler_log_probability(int position) {
    gpt g;
    gpt_sampler s;
    tr_error err;
    make(&g, position, 1);
    for (size_t i = 0; i < g.num_params; i++) g.params[i] *= 0.25f;   /* a spread-out distribution */
    cr_assert_eq(gpt_sampler_init(&s, &g, 2, &err), 0, "%s", err.msg);
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 10;
    static const int p0[] = {72, 101, 108}, p1[] = {1, 2, 3, 4, 5, 6};
    const int *pr[2] = {p0, p1};
    int pl[2] = {3, 6}, toks[2 * 10], lens[2];
    double lp[2];
    rng r0, r1;
    rng_init(&r0, 9, RNG_PURPOSE_TEST, 0);
    rng_init(&r1, 9, RNG_PURPOSE_TEST, 1);
    rng *rs[2] = {&r0, &r1};
    cr_assert_eq(gpt_sample(&s, &g, 2, pr, pl, rs, &o, toks, lens, lp, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "needs a position rule"), "%s", err.msg);
    o.position_fn = test_rule;
    cr_assert_eq(gpt_sample(&s, &g, 2, pr, pl, rs, &o, toks, lens, lp, &err), 0, "%s", err.msg);
    for (int k = 0; k < 2; k++) {
        int seq[20], tg[20], id[20];
        float w[20];
        int n = 0;
        for (int t = 0; t < pl[k]; t++) { id[n] = t; seq[n++] = pr[k][t]; }
        for (int t = 0; t < lens[k]; t++) { seq[n] = toks[k * 10 + t]; id[n++] = test_rule(pr[k], pl[k], toks + k * 10, t); }
        if (lens[k] < o.max_new_tokens) seq[n++] = o.eot;
        for (int t = 0; t + 1 < n; t++) { tg[t] = seq[t + 1]; w[t] = t + 1 >= pl[k] ? 1.0f : 0.0f; }
        double fwd;
        g.token_positions = id;
        cr_assert_eq(gpt_forward(&g, seq, tg, w, 1, n - 1, NULL, &fwd, &err), 0, "%s", err.msg);
        g.token_positions = NULL;
        cr_assert(fabs(fwd - lp[k]) < 1e-3, "sequence %d: sampler log p %g, forward with the ids %g", k, lp[k], fwd);
    }
    gpt l;
    gpt_sampler sl;
    make(&l, GPT_POS_LEARNED, 1);
    cr_assert_eq(gpt_sampler_init(&sl, &l, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sample(&sl, &l, 2, pr, pl, rs, &o, toks, lens, lp, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "does not read position ids"), "%s", err.msg);
    gpt_sampler_free(&sl);
    gpt_free(&l);
    gpt_sampler_free(&s);
    gpt_free(&g);
}

Test(model_coupled, sampler_log_probability_is_the_forward_with_the_rule_ids) {
    check_sampler_log_probability(GPT_POS_COUPLED);
    check_sampler_log_probability(GPT_POS_COUPLED_ROPE);
}
