/* gpt.h - a GPT-2-architecture transformer: parameters, forward with per-position loss
 * weights, backward, and the optional soft prompt.
 *
 * Architecture (GPT-2 exactly, unless config.position): learned position embeddings,
 * pre-LayerNorm (eps 1e-5, with bias), fused QKV with bias, causal multi-head attention, GELU (tanh form), MLP 4C, final
 * LayerNorm, LM head tied to the token embeddings, vocabulary padded to padded_vocab_size
 * (a multiple of 128; the padded rows are never predicted).
 *
 * Memory: one flat buffer per role, cut by offsets from one size table:
 *   params, grads        num_params floats, the 16 tensors in llm.c's order (GPT_T_*), so that
 *                        llm.c checkpoints load and save byte-compatibly (see ckpt.h);
 *   acts                 activations for max_batch x max_seq_len positions;
 *   dacts                backward scratch (per-layer, reused across layers);
 *   prompt, prompt_grad  P x C soft-prompt vectors (only when prompt_len > 0).
 * Adam moments live in the optimiser (optim.h), owned by whoever steps. Batch size and length
 * vary per call up to the maxima without reallocation.
 *
 * Soft prompt: with prompt_len P > 0, every sequence is laid out as
 *   positions 0..P-1:      prompt[p] + wpe[p]
 *   positions P..P+T-1:    wte[token[t]] + wpe[P+t]
 * so T <= max_seq_len - P. Logits, targets and weights refer to the T token positions only.
 *
 * Not thread-safe: one gpt is used by one thread at a time (BLAS may use several inside).
 */
#ifndef TRICE_MODEL_GPT_H
#define TRICE_MODEL_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/model/backend.h"
#include "common/util/err.h"

typedef struct gpt_config {
    int max_seq_len;       /* context length, positions incl. the soft prompt */
    int vocab_size;        /* real tokens (257 for the byte tokenizer) */
    int padded_vocab_size; /* vocab_size rounded up to a multiple of 128 (0 in gpt_init = derive) */
    int num_layers;
    int num_heads;
    int channels;
    int position;          /* gpt_position_kind: how attention knows where a token is (below) */
} gpt_config;

/* gpt_config.position. With ALIBI and NONE, wpe is kept for the file layout, zero and never
 * trained. */
typedef enum {
    GPT_POS_LEARNED = 0, /* learned position embeddings added to the input (GPT-2) */
    GPT_POS_ALIBI = 1,   /* ALiBi: a per-head penalty on the query-key distance in attention.
                          * Relative positions let a model copy and count past the lengths it
                          * was trained on. */
    GPT_POS_NONE = 2,    /* no position information at all ("NoPE", Kazemnejad et al. 2023):
                          * the causal mask alone lets the model infer order; reported to
                          * carry copying over to longer inputs better than relative schemes */
    GPT_POS_COUPLED = 3, /* learned position embeddings indexed by caller-given position ids
                          * (gpt.token_positions, gpt_sample_opts.position_fn) rather than by
                          * place: position coupling (Cho et al. 2024), where a restated token
                          * takes the id of the token it restates, so a copy head only has to
                          * find "my id + 1", at any length that training covered */
    GPT_POS_COUPLED_ALIBI = 4, /* both: coupled ids for the embeddings, and ALiBi's distance
                                * bias in attention (reductions that copy from the line just
                                * above find it by distance) */
    GPT_POS_COUPLED_ROPE = 5,  /* coupled ids turn queries and keys (RoPE, rope.h) instead of
                                * adding embeddings: attention sees id differences only, so
                                * "one id after mine" is one pattern at every id. CPU only */
    GPT_POS_COUPLED_ROPE_ALIBI = 6, /* both: ids turn queries and keys, ALiBi's bias on places
                                     * tells the line just above from the ones before it
                                     * (they share the ids of a column). CPU only */
    GPT_POS_COUNT
} gpt_position_kind;

/* Whether the model adds learned position embeddings (wpe): learned, coupled, coupled-alibi. */
static inline int gpt_has_wpe(const gpt_config *c) {
    return c->position == GPT_POS_LEARNED || c->position == GPT_POS_COUPLED || c->position == GPT_POS_COUPLED_ALIBI;
}
/* Whether attention adds ALiBi's distance bias. */
static inline int gpt_has_alibi(const gpt_config *c) {
    return c->position == GPT_POS_ALIBI || c->position == GPT_POS_COUPLED_ALIBI || c->position == GPT_POS_COUPLED_ROPE_ALIBI;
}
/* Whether queries and keys are turned by their position ids (RoPE, rope.h). */
static inline int gpt_has_rope(const gpt_config *c) {
    return c->position == GPT_POS_COUPLED_ROPE || c->position == GPT_POS_COUPLED_ROPE_ALIBI;
}
/* Whether positions are caller-given ids (gpt.token_positions, gpt_sample_opts.position_fn). */
static inline int gpt_is_coupled(const gpt_config *c) {
    return c->position == GPT_POS_COUPLED || c->position == GPT_POS_COUPLED_ALIBI || gpt_has_rope(c);
}

/* "learned", "alibi", "none", "coupled", "coupled-alibi", "coupled-rope", "coupled-rope-alibi", or "unknown" for a value outside the enum */
const char *gpt_position_name(int position);

/* llm.c's 16 parameter tensors, in file order. */
enum {
    GPT_T_WTE = 0,  /* (Vp, C) token embeddings, also the LM head */
    GPT_T_WPE,      /* (maxT, C) */
    GPT_T_LN1W,     /* (L, C) */
    GPT_T_LN1B,     /* (L, C) */
    GPT_T_QKVW,     /* (L, 3C, C) */
    GPT_T_QKVB,     /* (L, 3C) */
    GPT_T_ATTPROJW, /* (L, C, C) */
    GPT_T_ATTPROJB, /* (L, C) */
    GPT_T_LN2W,     /* (L, C) */
    GPT_T_LN2B,     /* (L, C) */
    GPT_T_FCW,      /* (L, 4C, C) */
    GPT_T_FCB,      /* (L, 4C) */
    GPT_T_FCPROJW,  /* (L, C, 4C) */
    GPT_T_FCPROJB,  /* (L, C) */
    GPT_T_LNFW,     /* (C) */
    GPT_T_LNFB,     /* (C) */
    GPT_NUM_TENSORS
};

/* What gpt_backward computes. */
typedef enum {
    GPT_GRAD_FULL = 0,   /* gradients of all 16 parameter tensors (and the prompt when P > 0) */
    GPT_GRAD_PROMPT = 1, /* only the soft-prompt gradient: weight-gradient GEMMs are skipped */
} gpt_grad_mode;

typedef struct gpt_acts gpt_acts; /* activation views for the current (B, T); see gpt.c */

/* Per-row inputs of a forward and backward, built on the host and copied to the backend
 * (d_* are the backend's memory; for the CPU backend the copies are plain memcpy). */
typedef struct gpt_io {
    int *rowtok, *rowpos;          /* (N) each row's token (0 at prompt rows) and position */
    int *group, *count;            /* host scratch: rows grouped by key; counts per key */
    double *lp;                    /* (N) log p(target) of each token row */
    float *hlogits;                /* host copy for gpt_logits when the backend is not the host's */
    int *d_rowtok, *d_rowpos, *d_targets;
    float *d_weights;
    double *d_lp;
    int *d_group[3];               /* order|starts|keys for wte, wpe and the soft prompt */
} gpt_io;

typedef struct gpt {
    gpt_config config;
    int max_batch;
    int prompt_len;                       /* P */
    const gpt_backend *be;                /* whose memory params, grads, acts, dacts and the
                                           * prompt live in (gpt_init_on); host arrays below */
    int bf16;                             /* 1: gpt_forward and gpt_backward multiply the linear
                                           * layers' operands rounded to bfloat16, with fp32 sums
                                           * (bf16.h), on a host backend; 0 (gpt_init): fp32.
                                           * Parameters, gradients and everything else stay fp32 */

    size_t param_sizes[GPT_NUM_TENSORS];  /* floats per tensor */
    size_t param_offsets[GPT_NUM_TENSORS];
    size_t num_params;
    float *params;                        /* (num_params) */
    float *grads;                         /* (num_params), accumulated by gpt_backward */

    float *prompt;                        /* (P, C) or NULL */
    float *prompt_grad;                   /* (P, C) or NULL, accumulated by gpt_backward */

    float *acts;                          /* activation buffer, num_acts floats */
    size_t num_acts;
    float *dacts;                         /* backward scratch, num_dacts floats */
    size_t num_dacts;
    float *rope;                          /* (max_seq_len, hs) host: each id's RoPE cos and sin
                                           * (rope.h), for the coupled-rope kinds; else NULL */
    float *weights;                       /* (max_batch * max_seq_len) the last forward's loss weights
                                           * (1 where the caller gave none); io holds its other inputs */

    int pos_offset;                       /* first position index of the next forward, normally 0. A
                                           * shift k > 0 puts the sequence at positions k..k+P+T-1
                                           * (k + P + T <= max_seq_len): position jitter in supervised
                                           * training, so every position embedding is trained and the
                                           * model cannot lean on absolute positions (length
                                           * generalisation). Sampling always starts at 0. */
    const int *row_offsets;               /* (B) or NULL: per-sequence shifts for the next forward
                                           * instead of pos_offset, for a batch of sequences that
                                           * each sit at their own offset. Row b's real positions
                                           * must fit (row_offsets[b] + P + its length <= max_seq_len);
                                           * right padding that would run past the context reuses
                                           * the last position embedding (weight 0: no effect on
                                           * the loss or the real positions' gradients). */

    const int *token_positions;           /* (B, T) or NULL: each token's position id for the next
                                           * forward, counted from the first token (0) as the plain
                                           * index t would be; the row's shift (pos_offset or
                                           * row_offsets) and the soft prompt's P are added. NULL =
                                           * t. Read only by a coupled model (an error otherwise,
                                           * so that a caller cannot believe it took effect). Ids
                                           * must be >= 0 and fit like t does. */

    /* state of the last forward */
    int B, T;                             /* T = token positions (excluding the prompt) */
    int *fwd_offsets;                     /* (max_batch) each row's shift in the last forward (its
                                           * backward uses them) */
    int have_targets;                     /* the last forward had targets: backward allowed */
    int logits_valid;                     /* logits hold the forward's values (backward overwrites) */
    int borrowed;                         /* params and prompt belong to another gpt (gpt_init_view) */
    gpt_io io;
} gpt;

/* Allocate everything for batches of up to max_batch sequences and prompt_len soft-prompt
 * vectors (0 = none). config->padded_vocab_size 0 means round vocab_size up to 128.
 * Parameters start at zero; call gpt_init_random or load a checkpoint. */
int gpt_init(gpt *g, const gpt_config *config, int max_batch, int prompt_len, tr_error *err);
/* The same on a given backend (gpt_init uses the CPU's). With a device backend, params, grads,
 * prompt and prompt_grad are device memory: move them with be->to_device / be->to_host. */
int gpt_init_on(gpt *g, const gpt_config *config, int max_batch, int prompt_len, const gpt_backend *be,
                tr_error *err);
void gpt_free(gpt *g);

/* A second model over src's weights, for another thread: v shares src->params and src->prompt
 * (read-only while v runs; gpt_free(v) leaves them alone) and owns its activations and
 * gradients, for batches of up to max_batch sequences. src must outlive v. */
int gpt_init_view(gpt *v, const gpt *src, int max_batch, tr_error *err);

/* GPT-2 initialisation from the stream (seed, RNG_PURPOSE_INIT_WEIGHTS, 0): weights normal(0,
 * 0.02), residual projections (attproj, fcproj) normal(0, 0.02/sqrt(2L)), biases 0, LayerNorm
 * weights 1, padded vocabulary rows 0; soft-prompt vectors normal(0, 0.02). Drawn on the host for
 * every backend (the same bits), so it fails only for want of host memory or in the upload. */
int gpt_init_random(gpt *g, uint64_t seed);

size_t gpt_num_params(const gpt *g);
/* Pointer to tensor i (GPT_T_*) inside params (or grads). */
float *gpt_param(const gpt *g, int i);
float *gpt_grad(const gpt *g, int i);

/* Forward over B sequences of T token positions (B <= max_batch, T <= max_seq_len - P).
 *   tokens   (B, T) input token ids in [0, vocab_size)
 *   targets  (B, T) next-token ids in [0, vocab_size), or NULL for logits only
 *   weights  (B, T) per-position loss weight (0 = position ignored: prompts, padding); NULL = all 1
 *   loss     out: -sum_{b,t} weights[b,t] * log p(targets[b,t])  (a plain weighted sum; NULL ok)
 *   logprob  out (B): sum over positions with weights != 0 of log p(target)  (NULL ok)
 * Ragged batches: right-pad with any valid token and weight 0; causal attention makes the
 * padding invisible to earlier positions. */
int gpt_forward(gpt *g, const int *tokens, const int *targets, const float *weights, int B, int T,
                double *loss, double *logprob, tr_error *err);

/* Logits of the last forward, (B, T, padded_vocab_size) row-major; entries >= vocab_size are
 * meaningless. NULL after gpt_backward (which reuses the buffer). */
const float *gpt_logits(const gpt *g);

/* Backward of the last forward's loss (which must have had targets). Accumulates into grads
 * (and prompt_grad); call gpt_zero_grad first when a fresh gradient is wanted, so several
 * micro-batches can be summed. mode GPT_GRAD_PROMPT needs prompt_len > 0. */
int gpt_backward(gpt *g, gpt_grad_mode mode, tr_error *err);
void gpt_zero_grad(gpt *g);

/* The config that llm.c's GPT-2 files use for a vocabulary: padded to a multiple of 128. */
int gpt_padded_vocab(int vocab_size);

/* Check a config: positive sizes, channels divisible by heads, padded >= vocab. */
int gpt_config_check(const gpt_config *c, tr_error *err);

#endif
