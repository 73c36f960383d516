/* KV-cache decode versus full forward, and the sampler's reproducibility and log-probabilities. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/model/gpt.h"
#include "common/model/sample.h"
#include "common/util/rng.h"

static const gpt_config cfg = {
    .max_seq_len = 24, .vocab_size = 257, .padded_vocab_size = 384,
    .num_layers = 2, .num_heads = 2, .channels = 16,
};

static void make_model_alibi(gpt *g, int P, int alibi)
{
    tr_error err;
    gpt_config c = cfg;
    c.position = alibi;
    cr_assert_eq(gpt_init(g, &c, 4, P, &err), 0, "%s", err.msg);
    gpt_init_random(g, 5);
    /* sharpen the random model so that logits vary a lot between positions */
    for (size_t i = 0; i < g->num_params; i++) g->params[i] *= 8.0f;
    for (int i = 0; i < P * cfg.channels; i++) g->prompt[i] *= 20.0f;
}

static void make_model(gpt *g, int P) { make_model_alibi(g, P, 0); }

static void check_kv_matches_full(int P, int alibi)
{
    gpt g;
    gpt_sampler s;
    tr_error err;
    make_model_alibi(&g, P, alibi);
    cr_assert_eq(gpt_sampler_init(&s, &g, 3, &err), 0, "%s", err.msg);
    enum { T = 14 };
    int seqs[3][T];
    int plen[3] = {4, 1, 9}; /* ragged prompts */
    for (int b = 0; b < 3; b++) for (int t = 0; t < T; t++) seqs[b][t] = (b * 37 + t * 11 + 5) % 257;
    int Tmax = cfg.max_seq_len - P < T ? cfg.max_seq_len - P : T;
    cr_assert_eq(gpt_forward(&g, &seqs[0][0], NULL, NULL, 3, Tmax, NULL, NULL, &err), 0, "%s", err.msg);
    const int Vp = cfg.padded_vocab_size;
    float *full = malloc(sizeof(float) * 3 * Tmax * Vp);
    memcpy(full, gpt_logits(&g), sizeof(float) * 3 * Tmax * Vp);
    const int *prompts[3] = {seqs[0], seqs[1], seqs[2]};
    float kv[3 * 384];
    cr_assert_eq(gpt_sampler_prefill(&s, &g, 3, prompts, plen, kv, &err), 0, "%s", err.msg);
    int pos[3] = {plen[0], plen[1], plen[2]};
    for (int step = 0;; step++) {
        for (int b = 0; b < 3; b++) {
            if (pos[b] > Tmax) continue;
            const float *want = full + ((size_t)b * Tmax + pos[b] - 1) * Vp;
            for (int v = 0; v < cfg.vocab_size; v++)
                cr_assert(fabsf(kv[b * Vp + v] - want[v]) <= 1e-4f * (1.0f + fabsf(want[v])),
                          "P=%d seq %d position %d token %d: kv %g, full %g", P, b, pos[b] - 1, v,
                          (double)kv[b * Vp + v], (double)want[v]);
        }
        /* decode the next true token of every sequence that still has one */
        int slots[3], toks[3], n = 0;
        for (int b = 0; b < 3; b++)
            if (pos[b] < Tmax) { slots[n] = b; toks[n] = seqs[b][pos[b]]; n++; }
        if (n == 0) break;
        float out[3 * 384];
        cr_assert_eq(gpt_sampler_decode(&s, &g, n, slots, toks, out, &err), 0, "%s", err.msg);
        for (int k = 0; k < n; k++) {
            memcpy(kv + slots[k] * Vp, out + k * Vp, sizeof(float) * Vp);
            pos[slots[k]]++;
        }
        for (int b = 0; b < 3; b++) {
            int found = 0;
            for (int k = 0; k < n; k++) found |= slots[k] == b;
            if (!found) pos[b] = Tmax + 1; /* done */
        }
    }
    free(full);
    gpt_sampler_free(&s);
    gpt_free(&g);
}

Test(model_sample, kv_decode_logits_equal_full_forward) { check_kv_matches_full(0, 0); }
Test(model_sample, kv_decode_logits_equal_full_forward_with_soft_prompt) { check_kv_matches_full(3, 0); }
Test(model_sample, alibi_kv_decode_logits_equal_full_forward) { check_kv_matches_full(0, 1); }
Test(model_sample, alibi_kv_decode_logits_equal_full_forward_with_soft_prompt) { check_kv_matches_full(3, 1); }
Test(model_sample, nope_kv_decode_logits_equal_full_forward) { check_kv_matches_full(0, GPT_POS_NONE); }
Test(model_sample, nope_kv_decode_logits_equal_full_forward_with_soft_prompt) { check_kv_matches_full(3, GPT_POS_NONE); }

static void run_sample(gpt *g, gpt_sampler *s, int n, const int *ids, const gpt_sample_opts *o,
                       int *toks, int *lens, double *lp)
{
    static const int p0[] = {72, 101, 108}, p1[] = {10}, p2[] = {1, 2, 3, 4, 5, 6}, p3[] = {200, 201};
    const int *all[4] = {p0, p1, p2, p3};
    int alll[4] = {3, 1, 6, 2};
    const int *pr[4];
    int pl[4];
    rng streams[4];
    rng *rs[4];
    for (int k = 0; k < n; k++) {
        pr[k] = all[ids[k]];
        pl[k] = alll[ids[k]];
        rng_init(&streams[k], 77, RNG_PURPOSE_PROPOSAL, (uint64_t)ids[k]);
        rs[k] = &streams[k];
    }
    tr_error err;
    cr_assert_eq(gpt_sample(s, g, n, pr, pl, rs, o, toks, lens, lp, &err), 0, "%s", err.msg);
}

/* Sequence 2 drawn in a batch of 4, alone, and in a batch of 2: the same tokens and, bit for bit,
 * the same log-probability. Decode computes every row alone and prefill one sequence at a
 * time, so nothing depends on the batch (the number of workers). */
static void check_batch_independence(gpt *g, gpt_sampler *s, const gpt_sample_opts *o)
{
    int ids4[4] = {0, 1, 2, 3}, ids1[1] = {2}, ids2[2] = {3, 2};
    int t4[4 * 12], l4[4], t1[12], l1[1], t2[2 * 12], l2[2];
    double lp4[4], lp1[1], lp2[2];
    run_sample(g, s, 4, ids4, o, t4, l4, lp4);
    run_sample(g, s, 1, ids1, o, t1, l1, lp1);
    run_sample(g, s, 2, ids2, o, t2, l2, lp2);
    cr_assert_gt(l4[2], 2, "sequence 2 is almost empty (%d tokens)", l4[2]);
    cr_assert_eq(l1[0], l4[2]);
    cr_assert_eq(l2[1], l4[2]);
    cr_assert_eq(memcmp(t1, t4 + 2 * 12, sizeof(int) * (size_t)l1[0]), 0);
    cr_assert_eq(memcmp(t2 + 12, t4 + 2 * 12, sizeof(int) * (size_t)l1[0]), 0);
    cr_assert_eq(lp1[0], lp4[2], "alone %.17g, in a batch of 4 %.17g", lp1[0], lp4[2]);
    cr_assert_eq(lp2[1], lp4[2], "in a batch of 2 %.17g, in a batch of 4 %.17g", lp2[1], lp4[2]);
}

/* A flatter model (longer samples) and its sampler for 4 sequences. */
static void make_flat(gpt *g, gpt_sampler *s)
{
    tr_error err;
    make_model(g, 0);
    for (size_t i = 0; i < g->num_params; i++) g->params[i] *= 0.25f;
    cr_assert_eq(gpt_sampler_init(s, g, 4, &err), 0, "%s", err.msg);
}

Test(model_sample, reproducible_and_independent_of_batch_composition)
{
    gpt g;
    gpt_sampler s;
    make_flat(&g, &s);
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 12;
    int ids4[4] = {0, 1, 2, 3};
    int t4[4 * 12], l4[4], t4b[4 * 12], l4b[4];
    double lp4[4], lp4b[4];
    run_sample(&g, &s, 4, ids4, &o, t4, l4, lp4);
    run_sample(&g, &s, 4, ids4, &o, t4b, l4b, lp4b);
    int total = 0;
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(l4[k], l4b[k]);
        cr_assert_eq(memcmp(t4 + k * 12, t4b + k * 12, sizeof(int) * (size_t)l4[k]), 0);
        cr_assert_eq(lp4[k], lp4b[k]);
        total += l4[k];
    }
    cr_assert_gt(total, 8, "samples are almost empty (%d tokens)", total);
    check_batch_independence(&g, &s, &o);
    gpt_sampler_free(&s);
    gpt_free(&g);
}

/* At temperature 1 the reported log-probability is the model's: the full forward over
 * prompt + sample (+ eot when it ended the sample) gives the same sum. Also with a soft prompt. */
static void check_logprob_matches_forward(int P)
{
    gpt g;
    gpt_sampler s;
    tr_error err;
    make_model(&g, P);
    for (size_t i = 0; i < g.num_params; i++) g.params[i] *= 0.25f;
    cr_assert_eq(gpt_sampler_init(&s, &g, 4, &err), 0, "%s", err.msg);
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 10;
    int ids[2] = {0, 2};
    int toks[2 * 10], lens[2];
    double lp[2];
    run_sample(&g, &s, 2, ids, &o, toks, lens, lp);
    static const int p0[] = {72, 101, 108}, p2[] = {1, 2, 3, 4, 5, 6};
    const int *pr[2] = {p0, p2};
    int pl[2] = {3, 6};
    for (int k = 0; k < 2; k++) {
        int seq[20], tg[20];
        float w[20];
        int n = 0;
        for (int t = 0; t < pl[k]; t++) seq[n++] = pr[k][t];
        for (int t = 0; t < lens[k]; t++) seq[n++] = toks[k * 10 + t];
        int ended = lens[k] < o.max_new_tokens;
        if (ended) seq[n++] = o.eot;
        for (int t = 0; t + 1 < n; t++) { tg[t] = seq[t + 1]; w[t] = t + 1 >= pl[k] ? 1.0f : 0.0f; }
        double fwd;
        cr_assert_eq(gpt_forward(&g, seq, tg, w, 1, n - 1, NULL, &fwd, &err), 0, "%s", err.msg);
        cr_assert(fabs(fwd - lp[k]) < 1e-3, "P=%d seq %d: sampler logprob %g, forward %g", P, k, lp[k], fwd);
    }
    gpt_sampler_free(&s);
    gpt_free(&g);
}

Test(model_sample, logprob_equals_forward_logprob) { check_logprob_matches_forward(0); }
Test(model_sample, logprob_equals_forward_logprob_with_soft_prompt) { check_logprob_matches_forward(2); }

Test(model_sample, greedy_and_top_k_one_agree_with_argmax)
{
    gpt g;
    gpt_sampler s;
    tr_error err;
    make_model(&g, 0);
    cr_assert_eq(gpt_sampler_init(&s, &g, 4, &err), 0, "%s", err.msg);
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 6;
    o.eot = -1;
    o.temperature = 0.0f;
    int ids[1] = {0}, tg[6], tk[6], lg[1], lk[1];
    double lpg[1], lpk[1];
    run_sample(&g, &s, 1, ids, &o, tg, lg, lpg);
    o.temperature = 1.0f;
    o.top_k = 1;
    run_sample(&g, &s, 1, ids, &o, tk, lk, lpk);
    cr_assert_eq(lg[0], 6);
    cr_assert_eq(memcmp(tg, tk, sizeof tg), 0, "top_k=1 differs from greedy");
    cr_assert_float_eq(lpk[0], 0.0, 1e-9, "top_k=1 is a point mass: log-prob 0");
    cr_assert_lt(lpg[0], 0.0, "greedy reports the model's log-prob");
    /* each greedy token is the argmax of the full forward's logits */
    int seq[9] = {72, 101, 108};
    for (int t = 0; t < 6; t++) seq[3 + t] = tg[t];
    cr_assert_eq(gpt_forward(&g, seq, NULL, NULL, 1, 8, NULL, NULL, &err), 0);
    const float *lo = gpt_logits(&g);
    for (int t = 2; t < 8; t++) {
        int best = 0;
        for (int v = 1; v < cfg.vocab_size; v++) if (lo[t * 384 + v] > lo[t * 384 + best]) best = v;
        cr_assert_eq(seq[t + 1], best, "position %d", t);
    }
    gpt_sampler_free(&s);
    gpt_free(&g);
}

/* Token frequencies follow the (tempered, truncated) distribution the log-prob describes. */
Test(model_sample, token_frequencies_follow_reported_distribution)
{
    float logits[5] = {0.0f, 1.0f, 2.0f, -1.0f, 0.5f};
    double work[5];
    int idx[5];
    gpt_sample_opts cases[3] = {gpt_sample_opts_default(), gpt_sample_opts_default(), gpt_sample_opts_default()};
    cases[1].temperature = 0.5f;
    cases[2].top_k = 3;
    cases[2].top_p = 0.7f; /* top-3 is {2,1,4}; nucleus 0.7 keeps {2,1} (0.56 + 0.21) */
    for (int c = 0; c < 3; c++) {
        rng r;
        rng_init(&r, 9, RNG_PURPOSE_TEST, (uint64_t)c);
        int counts[5] = {0};
        double lps[5] = {0};
        const int n = 40000;
        for (int i = 0; i < n; i++) {
            double lp;
            int tkn = gpt_sample_token(logits, 5, &cases[c], &r, work, idx, &lp);
            counts[tkn]++;
            lps[tkn] = lp;
        }
        for (int v = 0; v < 5; v++) {
            double p = counts[v] ? exp(lps[v]) : 0.0;
            double f = (double)counts[v] / n;
            cr_assert(fabs(f - p) < 5 * sqrt(0.25 / n) + 1e-9, "case %d token %d: frequency %g, reported p %g", c, v, f, p);
        }
        if (c == 2) cr_assert(counts[0] == 0 && counts[3] == 0 && counts[4] == 0, "top-k/top-p kept a token it should drop");
    }
}

/* bf16 decoding (gpt_sample_opts.bf16): still bit for bit the same whatever the batch. */
Test(model_sample, bf16_decoding_is_independent_of_batch_composition)
{
    gpt g;
    gpt_sampler s;
    make_flat(&g, &s);
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 12;
    o.bf16 = 1;
    check_batch_independence(&g, &s, &o);
    gpt_sampler_free(&s);
    gpt_free(&g);
}

/* bf16 decoding draws from nearly the fp32 model's distribution: the fp32 forward over each
 * drawn sequence gives nearly the log-probability the sampler reports (rounding the weights
 * and inputs moves each logit by about 2^-8 of its size), but not the same bits (the path is
 * used). The weights are packed at every call: after the model changes, the draws follow it. */
static double bf16_gap(gpt *g, gpt_sampler *s, int *differs)
{
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 10;
    o.bf16 = 1;
    int ids[2] = {0, 2};
    int toks[2 * 10], lens[2];
    double lp[2], worst = 0.0;
    run_sample(g, s, 2, ids, &o, toks, lens, lp);
    static const int p0[] = {72, 101, 108}, p2[] = {1, 2, 3, 4, 5, 6};
    const int *pr[2] = {p0, p2};
    int pl[2] = {3, 6};
    tr_error err;
    for (int k = 0; k < 2; k++) {
        int seq[20], tg[20];
        float w[20];
        int n = 0;
        for (int t = 0; t < pl[k]; t++) seq[n++] = pr[k][t];
        for (int t = 0; t < lens[k]; t++) seq[n++] = toks[k * 10 + t];
        if (lens[k] < o.max_new_tokens) seq[n++] = o.eot;
        for (int t = 0; t + 1 < n; t++) { tg[t] = seq[t + 1]; w[t] = t + 1 >= pl[k] ? 1.0f : 0.0f; }
        double fwd;
        cr_assert_eq(gpt_forward(g, seq, tg, w, 1, n - 1, NULL, &fwd, &err), 0, "%s", err.msg);
        double gap = fabs(fwd - lp[k]) / (n - pl[k]);
        if (gap > worst) worst = gap;
        *differs += fwd != lp[k];
    }
    return worst;
}

Test(model_sample, bf16_logprob_is_close_to_the_fp32_forward_and_follows_weight_changes)
{
    gpt g;
    gpt_sampler s;
    make_flat(&g, &s);
    int differs = 0;
    double gap = bf16_gap(&g, &s, &differs);
    cr_assert(gap < 0.03, "bf16 draws: %.4g nats per token from the fp32 model's log-probability", gap);
    /* a changed model: a stale packed copy would report the old model's log-probabilities */
    for (size_t i = 0; i < g.num_params; i++) g.params[i] *= 1.5f;
    gap = bf16_gap(&g, &s, &differs);
    cr_assert(gap < 0.03, "after the weights changed: %.4g nats per token (stale bf16 weights?)", gap);
    cr_assert_gt(differs, 0, "bf16 decoding gave the fp32 bits for every sequence: the bf16 path was not used");
    gpt_sampler_free(&s);
    gpt_free(&g);
}
