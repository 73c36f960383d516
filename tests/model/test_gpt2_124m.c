/* GPT-2 124M's shape with GPT-2's vocabulary, from a random-weight llm.c file written here:
 * it loads (at a context of 128 of its 1024), samples GPT-2 tokens from an encoded prompt, and
 * two soft-prompt Adam steps lower the loss of a target while the weights stay as they were;
 * peak RSS stays within 1.3x the model's and sampler's buffers. A separate meson test (it
 * writes 500 MB to /tmp and takes tens of seconds). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "common/model/optim.h"
#include "common/tok/tok.h"
#include "tests/model/gpt2_124m.h"

Test(gpt2_124m, loads_samples_and_tunes_a_soft_prompt, .timeout = 900)
{
    char path[] = "/tmp/trice-gpt2-124m-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    tr_error err = {0};
    cr_assert_eq(gpt2_124m_write(path, 124, &err), 0, "%s", err.msg);
    gpt_config c;
    int version;
    cr_assert_eq(gpt_ckpt_read_config(path, &c, &version, &err), 0, "%s", err.msg);
    cr_assert(c.vocab_size == 50257 && c.padded_vocab_size == 50304 && c.channels == 768 && c.num_layers == 12);

    const int P = 8, CTX = 128;
    c.max_seq_len = CTX;
    gpt g;
    cr_assert_eq(gpt_init(&g, &c, 1, P, &err), 0, "%s", err.msg);
    gpt_init_random(&g, 5);  /* the soft prompt's initial draw; the weights come from the file */
    cr_assert_eq(gpt_ckpt_load(&g, path, &err), 0, "%s", err.msg);
    unlink(path);
    /* GPT-2 124M with the padded vocabulary has 124,475,904; the position table here holds 128 of 1024 rows */
    cr_assert_eq(g.num_params, (size_t)124475904 - (size_t)(1024 - CTX) * 768, "%zu parameters", g.num_params);

    tokenizer tok;
    cr_assert_eq(tokenizer_open(&tok, TOKENIZER_GPT2, &err), 0, "%s", err.msg);
    const char *q = "Q: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                    "How many clips did Natalia sell altogether in April and May?\nA: Let's think step by step.\n";
    const char *a = "Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether. So the answer is 72.";
    int qt[256], at[256];
    int nq = (int)tokenizer_encode(&tok, q, strlen(q), qt), na = (int)tokenizer_encode(&tok, a, strlen(a), at);
    cr_assert(nq + na + 1 <= CTX - P, "%d + %d tokens", nq, na);

    /* sampling: 4 sequences, GPT-2 ids only, decodable */
    gpt_sampler s;
    cr_assert_eq(gpt_sampler_init(&s, &g, 4, &err), 0, "%s", err.msg);
    const int *pp[4] = {qt, qt, qt, qt};
    int pl[4] = {nq, nq, nq, nq}, out[4 * 16], lens[4];
    double lp[4];
    rng rs[4];
    rng *rp[4];
    for (int i = 0; i < 4; i++) { rng_init(&rs[i], 9, 1, (uint64_t)i); rp[i] = &rs[i]; }
    gpt_sample_opts o = gpt_sample_opts_default();
    o.max_new_tokens = 16;
    o.eot = tok.eot;
    cr_assert_eq(gpt_sample(&s, &g, 4, pp, pl, rp, &o, out, lens, lp, &err), 0, "%s", err.msg);
    int produced = 0;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < lens[i]; k++) {
            cr_assert(out[i * 16 + k] >= 0 && out[i * 16 + k] < 50256, "sampled id %d", out[i * 16 + k]);
            produced++;
        }
    cr_assert_gt(produced, 0);
    char text[16 * 128 + 1];
    tokenizer_decode_text(&tok, out, (size_t)lens[0], text, sizeof text);

    /* two soft-prompt steps on the rationale: the loss falls, the weights do not move */
    int T = nq + na, tokens[256], targets[256];
    float w[256];
    for (int t = 0; t < T; t++) {
        tokens[t] = t < nq ? qt[t] : at[t - nq];
        targets[t] = t + 1 < nq ? qt[t + 1] : t + 1 - nq < na ? at[t + 1 - nq] : tok.eot;
        w[t] = t + 1 >= nq ? 1.0f : 0.0f;
    }
    double sum0 = 0;
    for (size_t i = 0; i < g.num_params; i += 997) sum0 += g.params[i];
    optim_state st;
    size_t np = (size_t)P * (size_t)c.channels;
    cr_assert_eq(optim_init(&st, np, &err), 0);
    optim_group grp = {0, np, 0};
    optim_hparams hp = optim_hparams_default();
    double loss[3];
    for (int k = 0; k < 3; k++) {
        gpt_zero_grad(&g);
        cr_assert_eq(gpt_forward(&g, tokens, targets, w, 1, T, &loss[k], NULL, &err), 0, "%s", err.msg);
        if (k == 2) break;
        cr_assert_eq(gpt_backward(&g, GPT_GRAD_PROMPT, &err), 0, "%s", err.msg);
        cr_assert_eq(optim_adamw_step(&st, g.prompt, g.prompt_grad, &grp, 1, 1e-2f, &hp, &err), 0, "%s", err.msg);
    }
    double sum1 = 0;
    for (size_t i = 0; i < g.num_params; i += 997) sum1 += g.params[i];
    cr_assert(loss[2] < loss[0], "soft-prompt steps did not lower the loss: %.6f -> %.6f -> %.6f", loss[0], loss[1], loss[2]);
    cr_assert_eq(sum0, sum1, "soft-prompt steps changed the weights");

    double rss = peak_rss_bytes(), bufs = model_buffer_bytes(&g) + sampler_buffer_bytes(&s) + 8.0 * (double)np;
    printf("124M shape: %zu params, sample \"%.60s...\", loss %.4f -> %.4f -> %.4f, peak RSS %.0f MB, buffers %.0f MB (%.2fx)\n",
           g.num_params, text, loss[0], loss[1], loss[2], rss / 1048576, bufs / 1048576, rss / bufs);
    cr_assert_leq(rss, 1.3 * bufs, "peak RSS %.0f MB exceeds 1.3x the %.0f MB of buffers", rss / 1048576, bufs / 1048576);
    optim_free(&st);
    gpt_sampler_free(&s);
    tokenizer_free(&tok);
    gpt_free(&g);
}
