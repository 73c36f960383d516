/* AdamW, clipping, schedules, and that a few steps actually train the model. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/model/gpt.h"
#include "common/model/optim.h"

Test(model_optim, adamw_step_matches_formula_and_decays_only_weights)
{
    optim_state s;
    tr_error err;
    cr_assert_eq(optim_init(&s, 4, &err), 0);
    float p[4] = {1.0f, -2.0f, 0.5f, 3.0f}, g[4] = {0.1f, -0.3f, 0.2f, 0.0f};
    optim_group groups[2] = {{0, 2, 1}, {2, 2, 0}};
    optim_hparams hp = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    double m[4] = {0}, v[4] = {0}, ref[4];
    for (int i = 0; i < 4; i++) ref[i] = p[i];
    float lr = 0.01f;
    for (int t = 1; t <= 3; t++) {
        cr_assert_eq(optim_adamw_step(&s, p, g, groups, 2, lr, &hp, &err), 0);
        for (int i = 0; i < 4; i++) {
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.95 * v[i] + 0.05 * (double)g[i] * g[i];
            double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.95, t));
            double wd = i < 2 ? 0.1 : 0.0;
            ref[i] -= lr * (mh / (sqrt(vh) + 1e-8) + wd * ref[i]);
        }
    }
    cr_assert_eq(s.step, 3);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(p[i], ref[i], 1e-6, "param %d: %g vs %g", i, (double)p[i], ref[i]);
    /* zero gradient and no decay: parameter unchanged */
    cr_assert_float_eq(p[3], 3.0f, 1e-7);
    groups[1].count = 3;
    cr_assert_eq(optim_adamw_step(&s, p, g, groups, 2, lr, &hp, &err), TR_EINVAL, "out-of-range group accepted");
    optim_free(&s);
}

Test(model_optim, clip_returns_norm_and_scales_only_above_max)
{
    float g[2] = {3.0f, 4.0f};
    cr_assert_float_eq(optim_clip_grad_norm(g, 2, 10.0), 5.0, 1e-9);
    cr_assert_eq(g[0], 3.0f);
    cr_assert_float_eq(optim_clip_grad_norm(g, 2, 1.0), 5.0, 1e-9);
    cr_assert_float_eq(sqrt(g[0] * g[0] + g[1] * g[1]), 1.0, 1e-5);
    cr_assert_float_eq(g[0] / g[1], 0.75, 1e-6, "clipping changed the direction");
}

Test(model_optim, schedules)
{
    optim_schedule c = {.kind = OPTIM_SCHED_CONSTANT, .lr = 3e-4f};
    cr_assert_eq(optim_lr(&c, 0), 3e-4f);
    cr_assert_eq(optim_lr(&c, 100000), 3e-4f);
    optim_schedule k = {.kind = OPTIM_SCHED_COSINE, .lr = 1.0f, .warmup_steps = 10, .total_steps = 110, .min_lr_ratio = 0.1f};
    cr_assert_float_eq(optim_lr(&k, 0), 0.1f, 1e-7);
    cr_assert_float_eq(optim_lr(&k, 9), 1.0f, 1e-7);
    cr_assert_float_eq(optim_lr(&k, 10), 1.0f, 1e-6);
    cr_assert_float_eq(optim_lr(&k, 60), 0.55f, 1e-6, "midpoint is halfway between peak and floor");
    cr_assert_float_eq(optim_lr(&k, 110), 0.1f, 1e-7);
    cr_assert_float_eq(optim_lr(&k, 500), 0.1f, 1e-7);
    for (int64_t t = 10; t < 110; t++) cr_assert_leq(optim_lr(&k, t + 1), optim_lr(&k, t));
}

Test(model_optim, param_groups_decay_weight_matrices_only)
{
    gpt_config cfg = {.max_seq_len = 8, .vocab_size = 20, .num_layers = 1, .num_heads = 1, .channels = 4};
    gpt g;
    tr_error err;
    cr_assert_eq(gpt_init(&g, &cfg, 1, 0, &err), 0, "%s", err.msg);
    optim_group gr[GPT_NUM_TENSORS];
    cr_assert_eq(gpt_param_groups(&g, gr), GPT_NUM_TENSORS);
    size_t total = 0;
    for (int i = 0; i < GPT_NUM_TENSORS; i++) {
        total += gr[i].count;
        int is_matrix = i == GPT_T_WTE || i == GPT_T_WPE || i == GPT_T_QKVW || i == GPT_T_ATTPROJW ||
                        i == GPT_T_FCW || i == GPT_T_FCPROJW;
        cr_assert_eq(gr[i].decay, is_matrix, "tensor %d", i);
    }
    cr_assert_eq(total, gpt_num_params(&g));
    gpt_free(&g);
}

/* A few AdamW steps on one batch lower its loss a lot: the pieces fit together. */
Test(model_optim, training_lowers_loss)
{
    gpt_config cfg = {.max_seq_len = 16, .vocab_size = 257, .num_layers = 2, .num_heads = 2, .channels = 32};
    gpt g;
    optim_state s;
    tr_error err;
    cr_assert_eq(gpt_init(&g, &cfg, 2, 0, &err), 0, "%s", err.msg);
    gpt_init_random(&g, 1);
    cr_assert_eq(optim_init(&s, g.num_params, &err), 0);
    const char *text = "hello world, hello world, hello";
    int tok[2 * 15], tgt[2 * 15];
    for (int i = 0; i < 30; i++) { tok[i] = (unsigned char)text[i % 15]; tgt[i] = (unsigned char)text[i % 15 + 1]; }
    optim_group gr[GPT_NUM_TENSORS];
    gpt_param_groups(&g, gr);
    optim_hparams hp = optim_hparams_default();
    double first = 0, loss = 0;
    for (int step = 0; step < 30; step++) {
        gpt_zero_grad(&g);
        cr_assert_eq(gpt_forward(&g, tok, tgt, NULL, 2, 15, &loss, NULL, &err), 0);
        if (step == 0) first = loss;
        cr_assert_eq(gpt_backward(&g, GPT_GRAD_FULL, &err), 0);
        optim_clip_grad_norm(g.grads, g.num_params, 1.0);
        cr_assert_eq(optim_adamw_step(&s, g.params, g.grads, gr, GPT_NUM_TENSORS, 1e-2f, &hp, &err), 0);
    }
    cr_assert_lt(loss, 0.3 * first, "loss %g after 30 steps, started at %g", loss, first);
    optim_free(&s);
    gpt_free(&g);
}
