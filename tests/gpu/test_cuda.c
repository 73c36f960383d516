/* The CUDA backend against the CPU backend: logits, log-probabilities, gradients (full and
 * soft prompt), AdamW, KV-cache decoding and sampled tokens; and the GPU's own guarantees
 * (bit-identical reruns, a sequence's tokens independent of its batch).
 *
 * Tolerances (fp32 on both sides; the GPU sums in other orders and uses its own expf/tanhf):
 *   logits                               |gpu - cpu| <= 1e-4 max(1, max |cpu row|): 1e-4 relative to
 *                                        the row's scale (an entry near 0 has no scale of its own)
 *   loss, per-sequence log-probabilities |gpu - cpu| <= 1e-4 (1 + |cpu|)
 *   gradients, per tensor                max |gpu - cpu| <= 2e-3 max |cpu| + 1e-7
 *   parameters after 3 AdamW steps       |gpu - cpu| <= 1e-5 (1 + |cpu|)
 * Without a CUDA device (or in a build without the backend) every test skips and says why. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/gpt.h"
#include "common/model/optim.h"
#include "common/model/sample.h"
#include "common/util/rng.h"

static const gpt_backend *cuda_or_skip(void)
{
    char why[256] = "";
    const gpt_backend *be = gpt_backend_cuda(0, why, sizeof why);
    if (!be) cr_skip_test("no CUDA backend to test: %s", why);
    return be;
}

/* C 48 with 3 heads: head size 16 and ALiBi's non-power-of-two slope branch */
static gpt_config test_config(int alibi)
{
    gpt_config c = {.max_seq_len = 64, .vocab_size = 257, .padded_vocab_size = 384, .num_layers = 2,
                    .num_heads = 3, .channels = 48, .position = alibi};
    return c;
}

/* A CPU model with sharpened random weights (logits that vary a lot) and the same weights on
 * the GPU. */
static void make_pair(gpt *cpu, gpt *gpu, const gpt_backend *be, int alibi, int P, int max_batch)
{
    tr_error err;
    gpt_config c = test_config(alibi);
    cr_assert_eq(gpt_init(cpu, &c, max_batch, P, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_init_on(gpu, &c, max_batch, P, be, &err), 0, "%s", err.msg);
    gpt_init_random(cpu, 7);
    for (size_t i = 0; i < cpu->num_params; i++) cpu->params[i] *= 6.0f;
    for (int i = 0; i < P * c.channels; i++) cpu->prompt[i] *= 20.0f;
    cr_assert_eq(be->to_device(gpu->params, cpu->params, cpu->num_params * sizeof(float)), 0);
    if (P) cr_assert_eq(be->to_device(gpu->prompt, cpu->prompt, (size_t)P * c.channels * sizeof(float)), 0);
}

/* the logits rows of a batch, each against its own scale (see the tolerances above) */
static void assert_rows_close(const float *gpu, const float *cpu, size_t rows, int V, int Vp, const char *what)
{
    for (size_t r = 0; r < rows; r++) {
        const float *a = gpu + r * Vp, *b = cpu + r * Vp;
        double scale = 1.0;
        for (int v = 0; v < V; v++) scale = fmax(scale, fabs(b[v]));
        for (int v = 0; v < V; v++)
            cr_assert(fabs((double)a[v] - b[v]) <= 1e-4 * scale, "%s: row %zu token %d: GPU %.8g vs CPU %.8g (row scale "
                      "%.4g, tolerance %.3g)", what, r, v, (double)a[v], (double)b[v], scale, 1e-4 * scale);
    }
}

static void assert_close(const float *a, const float *b, size_t n, double atol, double rtol, const char *what)
{
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (!(r <= worst)) { worst = r; wi = i; }
    }
    cr_assert(worst <= 1.0, "%s[%zu]: GPU %.8g vs CPU %.8g (atol %g, rtol %g)", what, wi, (double)a[wi],
              (double)b[wi], atol, rtol);
}

enum { B = 3, T = 37 };

static void batch(int *tok, int *tgt, float *w)
{
    for (int i = 0; i < B * T; i++) {
        tok[i] = (i * 31 + 7) % 257;
        tgt[i] = (i * 17 + 3) % 257;
        w[i] = (i % T) < 5 ? 0.0f : 1.0f;  /* a prompt-like prefix without loss */
    }
}

static void check_forward_backward(int alibi, int P, int offset)
{
    const gpt_backend *be = cuda_or_skip();
    gpt c, d;
    tr_error err;
    make_pair(&c, &d, be, alibi, P, B);
    c.pos_offset = d.pos_offset = offset;
    int tok[B * T], tgt[B * T];
    float w[B * T];
    batch(tok, tgt, w);
    double lc, ld, lpc[B], lpd[B];
    cr_assert_eq(gpt_forward(&c, tok, tgt, w, B, T, &lc, lpc, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_forward(&d, tok, tgt, w, B, T, &ld, lpd, &err), 0, "%s", err.msg);
    size_t nl = (size_t)B * T * c.config.padded_vocab_size;
    float *logits = malloc(nl * sizeof(float));
    memcpy(logits, gpt_logits(&c), nl * sizeof(float));
    const float *dl = gpt_logits(&d);
    cr_assert_not_null(dl);
    assert_rows_close(dl, logits, (size_t)B * T, c.config.vocab_size, c.config.padded_vocab_size, "logits");
    cr_assert(fabs(ld - lc) <= 1e-4 * (1 + fabs(lc)), "loss GPU %.9g vs CPU %.9g", ld, lc);
    for (int b = 0; b < B; b++)
        cr_assert(fabs(lpd[b] - lpc[b]) <= 1e-4 * (1 + fabs(lpc[b])), "logprob[%d] GPU %.9g vs CPU %.9g", b,
                  lpd[b], lpc[b]);

    gpt_zero_grad(&c);
    gpt_zero_grad(&d);
    cr_assert_eq(gpt_backward(&c, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_backward(&d, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
    float *dg = malloc(c.num_params * sizeof(float));
    cr_assert_eq(be->to_host(dg, d.grads, c.num_params * sizeof(float)), 0);
    static const char *names[GPT_NUM_TENSORS] = {"wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw",
                                                 "attprojb", "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb",
                                                 "lnfw", "lnfb"};
    for (int i = 0; i < GPT_NUM_TENSORS; i++) {
        const float *gc = gpt_grad(&c, i), *gd = dg + c.param_offsets[i];
        double mx = 0;
        for (size_t k = 0; k < c.param_sizes[i]; k++) mx = fmax(mx, fabs(gc[k]));
        if (i == GPT_T_WPE && alibi) {
            for (size_t k = 0; k < c.param_sizes[i]; k++) cr_assert_eq(gd[k], 0.0f, "ALiBi: wpe's gradient must be 0");
            continue;
        }
        assert_close(gd, gc, c.param_sizes[i], 2e-3 * mx + 1e-7, 0.0, names[i]);
    }
    if (P) {
        float pg[64 * 48];
        size_t pn = (size_t)P * c.config.channels;
        cr_assert_eq(be->to_host(pg, d.prompt_grad, pn * sizeof(float)), 0);
        double mx = 0;
        for (size_t k = 0; k < pn; k++) mx = fmax(mx, fabs(c.prompt_grad[k]));
        assert_close(pg, c.prompt_grad, pn, 2e-3 * mx + 1e-7, 0.0, "prompt_grad");

        /* prompt-only mode: the same prompt gradient, no weight gradients */
        gpt_zero_grad(&c);
        gpt_zero_grad(&d);
        cr_assert_eq(gpt_forward(&c, tok, tgt, w, B, T, NULL, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_forward(&d, tok, tgt, w, B, T, NULL, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_backward(&c, GPT_GRAD_PROMPT, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_backward(&d, GPT_GRAD_PROMPT, &err), 0, "%s", err.msg);
        cr_assert_eq(be->to_host(pg, d.prompt_grad, pn * sizeof(float)), 0);
        assert_close(pg, c.prompt_grad, pn, 2e-3 * mx + 1e-7, 0.0, "prompt_grad (prompt-only mode)");
        cr_assert_eq(be->to_host(dg, d.grads, c.num_params * sizeof(float)), 0);
        for (size_t k = 0; k < c.num_params; k++) cr_assert_eq(dg[k], 0.0f, "prompt-only mode wrote grads[%zu]", k);
    }
    free(dg);
    free(logits);
    gpt_free(&c);
    gpt_free(&d);
}

Test(cuda, learned_positions_match_cpu) { check_forward_backward(0, 0, 0); }
Test(cuda, learned_positions_with_offset_match_cpu) { check_forward_backward(0, 0, 9); }
Test(cuda, alibi_matches_cpu) { check_forward_backward(1, 0, 0); }
Test(cuda, soft_prompt_matches_cpu) { check_forward_backward(0, 4, 0); }
Test(cuda, soft_prompt_with_alibi_matches_cpu) { check_forward_backward(1, 4, 0); }

Test(cuda, full_context_matches_cpu)
{
    const gpt_backend *be = cuda_or_skip();
    gpt c, d;
    tr_error err;
    make_pair(&c, &d, be, 1, 0, 2);
    int Tm = c.config.max_seq_len, tok[2 * 64], tgt[2 * 64];
    for (int i = 0; i < 2 * Tm; i++) { tok[i] = (i * 13) % 257; tgt[i] = (i * 5 + 1) % 257; }
    double lc, ld;
    cr_assert_eq(gpt_forward(&c, tok, tgt, NULL, 2, Tm, &lc, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_forward(&d, tok, tgt, NULL, 2, Tm, &ld, NULL, &err), 0, "%s", err.msg);
    cr_assert(fabs(ld - lc) <= 1e-4 * (1 + fabs(lc)), "loss GPU %.9g vs CPU %.9g", ld, lc);
    gpt_free(&c);
    gpt_free(&d);
}

/* the GPU backend (or a skip), a learned-position pair and the test batch */
static const gpt_backend *pair_and_batch(gpt *c, gpt *d, int *tok, int *tgt, float *w)
{
    const gpt_backend *be = cuda_or_skip();
    make_pair(c, d, be, 0, 0, B);
    batch(tok, tgt, w);
    return be;
}

Test(cuda, reruns_are_bit_identical)
{
    gpt c, d;
    tr_error err;
    int tok[B * T], tgt[B * T];
    float w[B * T];
    const gpt_backend *be = pair_and_batch(&c, &d, tok, tgt, w);
    float *g1 = malloc(c.num_params * sizeof(float)), *g2 = malloc(c.num_params * sizeof(float));
    double l1, l2;
    for (int run = 0; run < 2; run++) {
        gpt_zero_grad(&d);
        cr_assert_eq(gpt_forward(&d, tok, tgt, w, B, T, run ? &l2 : &l1, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_backward(&d, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
        cr_assert_eq(be->to_host(run ? g2 : g1, d.grads, c.num_params * sizeof(float)), 0);
    }
    cr_assert_eq(l1, l2, "loss %.17g then %.17g", l1, l2);
    cr_assert_eq(memcmp(g1, g2, c.num_params * sizeof(float)), 0, "two identical backward passes differ");
    free(g1);
    free(g2);
    gpt_free(&c);
    gpt_free(&d);
}

Test(cuda, adamw_matches_cpu)
{
    gpt c, d;
    tr_error err;
    int tok[B * T], tgt[B * T];
    float w[B * T];
    const gpt_backend *be = pair_and_batch(&c, &d, tok, tgt, w);
    size_t n = c.num_params;
    optim_state s;
    cr_assert_eq(optim_init(&s, n, &err), 0, "%s", err.msg);
    float *dm = be->alloc(n * sizeof(float)), *dv = be->alloc(n * sizeof(float));
    cr_assert(dm && dv);
    optim_group groups[GPT_NUM_TENSORS];
    int ng = gpt_param_groups(&c, groups);
    optim_hparams hp = optim_hparams_default();
    for (int step = 0; step < 3; step++) {
        gpt_zero_grad(&c);
        cr_assert_eq(gpt_forward(&c, tok, tgt, w, B, T, NULL, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_backward(&c, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
        /* the same gradient on both sides, so that only the update is compared */
        cr_assert_eq(be->to_device(d.grads, c.grads, n * sizeof(float)), 0);
        float lr = 1e-3f, b1 = hp.beta1, b2 = hp.beta2;
        float bc1 = 1.0f - powf(b1, (float)(step + 1)), bc2 = 1.0f - powf(b2, (float)(step + 1));
        for (int k = 0; k < ng; k++) {
            size_t o = groups[k].offset;
            be->adamw(d.params + o, dm + o, dv + o, d.grads + o, groups[k].count, lr, b1, b2, bc1, bc2, hp.eps,
                      groups[k].decay ? hp.weight_decay : 0.0f);
        }
        cr_assert_eq(optim_adamw_step(&s, c.params, c.grads, groups, ng, lr, &hp, &err), 0, "%s", err.msg);
    }
    float *dp = malloc(n * sizeof(float));
    cr_assert_eq(be->to_host(dp, d.params, n * sizeof(float)), 0);
    assert_close(dp, c.params, n, 1e-5, 1e-5, "params after 3 AdamW steps");
    free(dp);
    be->free(dm);
    be->free(dv);
    optim_free(&s);
    gpt_free(&c);
    gpt_free(&d);
}

/* A model trained a little on the CPU (a fixed pattern), so that its next-token distributions
 * are peaked, as a trained checkpoint's are; copied to the GPU. */
static void make_trained_pair(gpt *c, gpt *d, const gpt_backend *be, int alibi)
{
    tr_error err;
    gpt_config cf = test_config(alibi);
    enum { TB = 8, TT = 40 };
    cr_assert_eq(gpt_init(c, &cf, TB, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_init_on(d, &cf, TB, 0, be, &err), 0, "%s", err.msg);
    gpt_init_random(c, 3);
    optim_state s;
    cr_assert_eq(optim_init(&s, c->num_params, &err), 0, "%s", err.msg);
    optim_group groups[GPT_NUM_TENSORS];
    int ng = gpt_param_groups(c, groups);
    optim_hparams hp = optim_hparams_default();
    int tok[TB * TT], tgt[TB * TT];
    rng r;
    rng_init(&r, 11, RNG_PURPOSE_TEST, 0);
    for (int step = 0; step < 150; step++) {
        for (int b = 0; b < TB; b++) {
            int x = (int)(rng_uniform(&r) * 40), stride = 1 + b % 3;
            for (int t = 0; t < TT; t++) {  /* letters counting up with a per-row stride */
                tok[b * TT + t] = 'a' + (x + t * stride) % 26;
                tgt[b * TT + t] = 'a' + (x + (t + 1) * stride) % 26;
            }
        }
        gpt_zero_grad(c);
        cr_assert_eq(gpt_forward(c, tok, tgt, NULL, TB, TT, NULL, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_backward(c, GPT_GRAD_FULL, &err), 0, "%s", err.msg);
        cr_assert_eq(optim_adamw_step(&s, c->params, c->grads, groups, ng, 3e-3f, &hp, &err), 0, "%s", err.msg);
    }
    optim_free(&s);
    cr_assert_eq(be->to_device(d->params, c->params, c->num_params * sizeof(float)), 0);
}

enum { NS = 8, NEW = 40 };

static void prompts_for(int plen[NS], int buf[NS][6], const int *ptrs[NS])
{
    for (int i = 0; i < NS; i++) {
        plen[i] = 2 + i % 4;
        for (int t = 0; t < plen[i]; t++) buf[i][t] = 'a' + (i * 3 + t * (1 + i % 3)) % 26;
        ptrs[i] = buf[i];
    }
}

/* Greedy decoding step by step on both backends, feeding both the CPU's token: the logits
 * agree at every step, and so does the argmax unless the CPU's top two are within tolerance. */
static void check_greedy(int alibi)
{
    const gpt_backend *be = cuda_or_skip();
    gpt c, d;
    tr_error err;
    make_trained_pair(&c, &d, be, alibi);
    gpt_sampler sc, sd;
    cr_assert_eq(gpt_sampler_init(&sc, &c, NS, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sampler_init(&sd, &d, NS, &err), 0, "%s", err.msg);
    int plen[NS], buf[NS][6];
    const int *pr[NS];
    prompts_for(plen, buf, pr);
    int V = c.config.vocab_size, Vp = c.config.padded_vocab_size;
    float *lc = malloc((size_t)NS * Vp * sizeof(float)), *ld = malloc((size_t)NS * Vp * sizeof(float));
    cr_assert_eq(gpt_sampler_prefill(&sc, &c, NS, pr, plen, lc, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sampler_prefill(&sd, &d, NS, pr, plen, ld, &err), 0, "%s", err.msg);
    int slots[NS], toks[NS], near_ties = 0;
    for (int step = 0; step < NEW; step++) {
        for (int i = 0; i < NS; i++) {
            const float *a = lc + (size_t)i * Vp, *b = ld + (size_t)i * Vp;
            assert_rows_close(b, a, 1, V, Vp, "decode logits");
            int ac = 0, ad = 0;
            float second = -INFINITY;
            for (int v = 1; v < V; v++) { if (a[v] > a[ac]) ac = v; if (b[v] > b[ad]) ad = v; }
            for (int v = 0; v < V; v++) if (v != ac && a[v] > second) second = a[v];
            if (a[ac] - second < 1e-4f * (1.0f + fabsf(a[ac]))) near_ties++;
            else cr_assert_eq(ad, ac, "sequence %d step %d: GPU argmax %d, CPU %d", i, step, ad, ac);
            slots[i] = i;
            toks[i] = ac;
        }
        cr_assert_eq(gpt_sampler_decode(&sc, &c, NS, slots, toks, lc, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_sampler_decode(&sd, &d, NS, slots, toks, ld, &err), 0, "%s", err.msg);
    }
    cr_log_info("greedy: %d near-ties in %d steps", near_ties, NS * NEW);
    free(lc);
    free(ld);
    gpt_sampler_free(&sc);
    gpt_sampler_free(&sd);
    gpt_free(&c);
    gpt_free(&d);
}

Test(cuda, greedy_decoding_matches_cpu) { check_greedy(0); }
Test(cuda, greedy_decoding_matches_cpu_alibi) { check_greedy(1); }

/* Sampling with the same per-sequence streams: the same tokens. A token could differ only
 * where the stream's uniform falls within rounding of a CDF boundary; with a peaked model and
 * 8 x 40 tokens that is rare, so at most one sequence of eight may differ. Greedy and plain
 * sampling draw on the GPU (sample_rows), top-k and top-p on the host. */
static void check_sampled(float temperature, int top_k, float top_p)
{
    const gpt_backend *be = cuda_or_skip();
    gpt c, d;
    tr_error err;
    make_trained_pair(&c, &d, be, 1);
    gpt_sampler sc, sd;
    cr_assert_eq(gpt_sampler_init(&sc, &c, NS, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sampler_init(&sd, &d, NS, &err), 0, "%s", err.msg);
    int plen[NS], buf[NS][6];
    const int *pr[NS];
    prompts_for(plen, buf, pr);
    gpt_sample_opts o = gpt_sample_opts_default();
    o.temperature = temperature;
    o.top_k = top_k;
    o.top_p = top_p;
    o.max_new_tokens = NEW;
    o.eot = -1;
    rng rc[NS], rd[NS];
    rng *pc[NS], *pd[NS];
    for (int i = 0; i < NS; i++) {
        rng_init(&rc[i], 5, RNG_PURPOSE_PROPOSAL, (uint64_t)i);
        rd[i] = rc[i];
        pc[i] = &rc[i];
        pd[i] = &rd[i];
    }
    int tc[NS * NEW], td[NS * NEW], nc[NS], nd[NS];
    double lpc[NS], lpd[NS];
    cr_assert_eq(gpt_sample(&sc, &c, NS, pr, plen, pc, &o, tc, nc, lpc, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sample(&sd, &d, NS, pr, plen, pd, &o, td, nd, lpd, &err), 0, "%s", err.msg);
    int same = 0;
    for (int i = 0; i < NS; i++) {
        int eq = nc[i] == nd[i] && memcmp(tc + i * NEW, td + i * NEW, (size_t)nc[i] * sizeof(int)) == 0;
        if (eq) {
            same++;
            cr_assert(fabs(lpd[i] - lpc[i]) <= 1e-3 * (1 + fabs(lpc[i])), "sequence %d: log-probability GPU %.9g, "
                      "CPU %.9g", i, lpd[i], lpc[i]);
        }
    }
    cr_log_info("sampled (T %g, top_k %d, top_p %g): %d of %d sequences identical", (double)temperature, top_k,
                (double)top_p, same, NS);
    cr_assert(same >= NS - 1, "only %d of %d sampled sequences are the same on GPU and CPU", same, NS);
    gpt_sampler_free(&sc);
    gpt_sampler_free(&sd);
    gpt_free(&c);
    gpt_free(&d);
}

Test(cuda, sampled_tokens_match_cpu) { check_sampled(1.0f, 0, 0.0f); }
Test(cuda, top_k_tokens_match_cpu) { check_sampled(1.0f, 5, 0.0f); }
Test(cuda, top_p_tokens_match_cpu) { check_sampled(0.8f, 0, 0.9f); }

/* A sequence decoded alone and inside a batch of eight gives the same bits on the GPU. */
Test(cuda, batch_make_up_does_not_change_logits)
{
    const gpt_backend *be = cuda_or_skip();
    gpt c, d;
    tr_error err;
    make_trained_pair(&c, &d, be, 0);
    gpt_sampler s1, s8;
    cr_assert_eq(gpt_sampler_init(&s1, &d, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sampler_init(&s8, &d, NS, &err), 0, "%s", err.msg);
    int plen[NS], buf[NS][6];
    const int *pr[NS];
    prompts_for(plen, buf, pr);
    int Vp = c.config.padded_vocab_size;
    float *l1 = malloc((size_t)Vp * sizeof(float)), *l8 = malloc((size_t)NS * Vp * sizeof(float));
    int k = 5;  /* the sequence under test: slot 0 alone, slot k in the batch */
    cr_assert_eq(gpt_sampler_prefill(&s1, &d, 1, &pr[k], &plen[k], l1, &err), 0, "%s", err.msg);
    cr_assert_eq(gpt_sampler_prefill(&s8, &d, NS, pr, plen, l8, &err), 0, "%s", err.msg);
    for (int step = 0; step < 20; step++) {
        cr_assert_eq(memcmp(l1, l8 + (size_t)k * Vp, (size_t)Vp * sizeof(float)), 0,
                     "step %d: the logits of a sequence depend on its batch", step);
        int slot0 = 0, tok0 = 'a' + step % 26, slots[NS], toks[NS];
        for (int i = 0; i < NS; i++) { slots[i] = i; toks[i] = i == k ? tok0 : 'a' + (i * 7 + step) % 26; }
        cr_assert_eq(gpt_sampler_decode(&s1, &d, 1, &slot0, &tok0, l1, &err), 0, "%s", err.msg);
        cr_assert_eq(gpt_sampler_decode(&s8, &d, NS, slots, toks, l8, &err), 0, "%s", err.msg);
    }
    free(l1);
    free(l8);
    gpt_sampler_free(&s1);
    gpt_sampler_free(&s8);
    gpt_free(&c);
    gpt_free(&d);
}

Test(cuda, bad_device_number_is_refused_with_a_reason)
{
    cuda_or_skip();
    char why[256] = "";
    cr_assert_null(gpt_backend_cuda(999, why, sizeof why));
    cr_assert(strstr(why, "999") != NULL, "reason: %s", why);
}

/* The optimiser's inputs on the device: exact sums bit for bit (integer arithmetic in the
 * host's format), their rounding to floats, the sum of squares and the clip's scale. */
Test(cuda, exact_sums_and_norm_match_cpu)
{
    const gpt_backend *be = cuda_or_skip();
    const gpt_backend *cpu = gpt_backend_cpu();
    enum { N = 100003 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    rng r;
    rng_init(&r, 17, RNG_PURPOSE_TEST, 0);
    for (int i = 0; i < N; i++) {  /* every scale a gradient has, zeros and subnormals included */
        double u = rng_uniform(&r) - 0.5;
        x[i] = (float)(u * ldexp(1.0, (int)(rng_uniform(&r) * 80) - 60));
        y[i] = (float)(rng_normal(&r) * 1e-3);
    }
    x[0] = 0.0f; x[1] = -0.0f; x[2] = 1e-44f; x[3] = -3e-39f; x[4] = 2.1e9f; x[5] = -1.5e9f;
    size_t fb = (size_t)N * 16;
    unsigned char *hacc = calloc(1, fb), *dback = malloc(fb);
    void *dacc = be->alloc(fb);
    float *dx = be->alloc(N * sizeof(float));
    cr_assert(hacc && dback && dacc && dx);
    for (int pass = 0; pass < 2; pass++) {
        const float *v = pass ? y : x;
        cr_assert_eq(be->to_device(dx, v, N * sizeof(float)), 0);
        cr_assert_eq(cpu->fix_add(hacc, v, N), 0);
        cr_assert_eq(be->fix_add(dacc, dx, N), 0);
    }
    cr_assert_eq(be->to_host(dback, dacc, fb), 0);
    cr_assert_eq(memcmp(hacc, dback, fb), 0, "the device's exact sums differ from the host's");
    float *hf = malloc(N * sizeof(float)), *df = malloc(N * sizeof(float));
    cpu->fix_to_floats(hf, hacc, N);
    be->fix_to_floats(dx, dacc, N);
    cr_assert_eq(be->to_host(df, dx, N * sizeof(float)), 0);
    int exact = 0;
    for (int i = 0; i < N; i++) {
        exact += memcmp(&hf[i], &df[i], sizeof(float)) == 0;
        cr_assert(fabsf(hf[i] - df[i]) <= 1.2e-7f * fabsf(hf[i]) + 1e-45f, "entry %d: host %.9g, device %.9g", i,
                  (double)hf[i], (double)df[i]);
    }
    cr_log_info("fix_to_floats: %d of %d entries bit-identical", exact, N);
    double hs = cpu->sumsq(hf, N), ds = be->sumsq(dx, N);
    cr_assert(fabs(ds - hs) <= 1e-12 * hs, "sum of squares: host %.17g, device %.17g", hs, ds);
    /* scaling: one rounded product per entry, the same bits on both sides for the same input */
    cpu->scale(df, N, 0.37f);
    be->scale(dx, N, 0.37f);
    cr_assert_eq(be->to_host(hf, dx, N * sizeof(float)), 0);
    cr_assert_eq(memcmp(hf, df, N * sizeof(float)), 0, "scaling on the device differs from the host's");
    /* a non-finite entry is refused */
    x[7] = NAN;
    cr_assert_eq(be->to_device(dx, x, N * sizeof(float)), 0);
    cr_assert_neq(be->fix_add(dacc, dx, N), 0, "a NaN entry was not reported");
    free(x); free(y); free(hacc); free(dback); free(hf); free(df);
    be->free(dacc);
    be->free(dx);
}

/* greedy decoding through gpt_sample: on the GPU the argmax is taken there */
Test(cuda, greedy_tokens_match_cpu) { check_sampled(0.0f, 0, 0.0f); }
