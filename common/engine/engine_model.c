/* engine_model.c - the spec's model and tokenizer vocabulary, built the same way in every process. */
#include "common/engine/engine.h"

#include "common/model/ckpt.h"
#include "common/tok/byte.h"

int engine_vocab_size(const experiment_spec *spec) {
    return spec->model.tokenizer == SPEC_TOKENIZER_GPT2 ? BPE_GPT2_VOCAB : TOK_BYTE_VOCAB;
}

int engine_check_vocab(const experiment_spec *spec, const char *path, const gpt_config *c, tr_error *err) {
    int want = engine_vocab_size(spec);
    const char *name = spec->model.tokenizer == SPEC_TOKENIZER_GPT2 ? "gpt2" : "byte";
    if (c->vocab_size != want)
        return TR_FAIL(err, TR_EINVAL, "model.init '%s' has a vocabulary of %d tokens (padded %d), but model.tokenizer '%s' "
                       "has %d (%s)", path, c->vocab_size, c->padded_vocab_size, name, want,
                       c->vocab_size == BPE_GPT2_VOCAB ? "set model.tokenizer to \"gpt2\" for a GPT-2 checkpoint"
                       : c->vocab_size == TOK_BYTE_VOCAB ? "set model.tokenizer to \"byte\" for a byte-level checkpoint"
                       : "no tokenizer here has that vocabulary");
    if (c->padded_vocab_size != gpt_padded_vocab(c->vocab_size))
        return TR_FAIL(err, TR_EINVAL, "model.init '%s': padded vocabulary %d is inconsistent with its vocabulary of %d "
                       "(llm.c pads to the next multiple of 128: %d)", path, c->padded_vocab_size, c->vocab_size,
                       gpt_padded_vocab(c->vocab_size));
    return 0;
}

int spec_position_to_gpt(spec_position p) {
    switch (p) {
    case SPEC_POSITION_ALIBI: return GPT_POS_ALIBI;
    case SPEC_POSITION_NONE: return GPT_POS_NONE;
    case SPEC_POSITION_COUPLED: return GPT_POS_COUPLED;
    case SPEC_POSITION_COUPLED_ALIBI: return GPT_POS_COUPLED_ALIBI;
    case SPEC_POSITION_COUPLED_ROPE: return GPT_POS_COUPLED_ROPE;
    case SPEC_POSITION_COUPLED_ROPE_ALIBI: return GPT_POS_COUPLED_ROPE_ALIBI;
    default: return GPT_POS_LEARNED;
    }
}

spec_position spec_position_from_gpt(int position) {
    switch (position) {
    case GPT_POS_ALIBI: return SPEC_POSITION_ALIBI;
    case GPT_POS_NONE: return SPEC_POSITION_NONE;
    case GPT_POS_COUPLED: return SPEC_POSITION_COUPLED;
    case GPT_POS_COUPLED_ALIBI: return SPEC_POSITION_COUPLED_ALIBI;
    case GPT_POS_COUPLED_ROPE: return SPEC_POSITION_COUPLED_ROPE;
    case GPT_POS_COUPLED_ROPE_ALIBI: return SPEC_POSITION_COUPLED_ROPE_ALIBI;
    default: return SPEC_POSITION_LEARNED;
    }
}

int engine_model_from_spec(const experiment_spec *spec, int max_batch, gpt *out, tr_error *err) {
    gpt_config cfg = {.max_seq_len = spec->model.context, .vocab_size = engine_vocab_size(spec), .padded_vocab_size = 0,
                      .num_layers = spec->model.layers, .num_heads = spec->model.heads, .channels = spec->model.channels,
                      .position = spec_position_to_gpt(spec->model.position)};
    const char *init = spec->model.init;
    if (init[0]) {
        int version = 0;
        TR_TRY(gpt_ckpt_read_config(init, &cfg, &version, err));
        TR_TRY(engine_check_vocab(spec, init, &cfg, err));
        if (cfg.max_seq_len < spec->model.context)
            return TR_FAIL(err, TR_EINVAL, "model.init '%s' has context %d, the spec asks for %d", init, cfg.max_seq_len, spec->model.context);
        cfg.max_seq_len = spec->model.context;  /* the first positions of a longer one (gpt_ckpt_load) */
    }
    /* activations for max_batch sequences (a gradient group, engine_side_gradient); sampling
     * has its own KV-cache buffers */
    TR_TRY(gpt_init(out, &cfg, max_batch, spec->tunable == TUNABLE_PROMPT ? spec->prompt_len : 0, err));
    /* drawn even when a checkpoint follows: the soft prompt (not in the checkpoint) comes from it */
    gpt_init_random(out, spec->seed);
    out->bf16 = spec->train_bf16;   /* gradients' products in bf16 (gpt.h); views copy it */
    int rc = init[0] ? gpt_ckpt_load(out, init, err) : 0;
    if (rc) gpt_free(out);
    return rc;
}
