/* sample.h - batched generation with a KV cache: prefill of ragged prompts, then one-token
 * decode steps for all still-running sequences at once.
 *
 * Reproducibility: sequence i draws only from rngs[i] (one uniform per sampled token, none when
 * greedy), so its tokens do not depend on which other sequences share the batch.
 *
 * Distributions: temperature 1 with no top-k/top-p is the model's own distribution (use it for
 * proposals whose probabilities enter an estimator). Temperature != 1, top_k and top_p CHANGE
 * the proposal distribution; the returned log-probability is always under the distribution
 * actually sampled from (tempered, truncated and renormalised). Greedy (temperature 0) is a
 * point mass, so it reports instead the log-probability under the untempered model (T = 1).
 *
 * Soft prompt: when the model has prompt_len P > 0, the P vectors are prepended to every prompt.
 *
 * Backends: the forward passes run on the model's backend (the KV cache stays in its memory).
 * On a device, greedy and untruncated draws run there too (backend sample_rows), from uniforms
 * drawn on the host from each sequence's stream, one per token as on the CPU, so that only the
 * tokens come back; top-k and top-p draws run on the host from the logits rows.
 */
#ifndef TRICE_MODEL_SAMPLE_H
#define TRICE_MODEL_SAMPLE_H

#include "common/model/gpt.h"
#include "common/util/rng.h"

typedef struct gpt_sample_opts {
    float temperature;   /* 1 = exact model distribution; 0 = greedy */
    int top_k;           /* keep the k most likely tokens; 0 = off */
    float top_p;         /* keep the smallest most-likely set with mass >= top_p; 0 or 1 = off */
    int max_new_tokens;  /* > 0 */
    int eot;             /* end-of-text token id (not returned); -1 = none */
    /* Position coupling, required by a coupled model (gpt_is_coupled) and refused by the others: the
     * position id of generated token i (gen[i], with gen[0..i] written so far) of a sequence
     * whose prompt is prompt[0..prompt_len-1]. Prompt tokens take their place (0..). Ids
     * count like gpt.token_positions (the soft prompt's P is added) and must be in
     * [0, max_seq_len - P). It must be a function of its arguments only (reproducibility). */
    int (*position_fn)(const int *prompt, int prompt_len, const int *gen, int i);
    /* 1: the decode steps' matrix products and every logits row read the weights rounded to
     * bfloat16 (bf16.h; packed at each gpt_sample call, since the weights may have changed),
     * with fp32 sums, in the prompts' prefill too. About twice the decode speed where the
     * CPU has AVX-512 BF16, and half the bytes everywhere, but the draws then come from a
     * slightly different distribution than the fp32 model's: estimators that need exact
     * proposals (TRICE's control variate) become approximate, as with temperature != 1.
     * Rows stay independent of the batch. CPU backend only. */
    int bf16;
} gpt_sample_opts;

/* Defaults: temperature 1, no truncation, 64 new tokens, eot 256 (the byte tokenizer's). */
gpt_sample_opts gpt_sample_opts_default(void);

typedef struct gpt_sampler {
    const gpt_backend *be;    /* the model's backend: its memory holds the cache and the scratch */
    int max_seqs, max_len, C, L, Vp, rows;  /* rows: scratch capacity in positions */
    /* backend memory */
    float *kcache, *vcache;   /* (L, max_seqs, max_len, C) */
    float *x, *ln, *qkv, *atty, *tmp, *fch;  /* (rows, C|3C|4C) scratch */
    float *scores;            /* (num_heads, max_len): kv_attention's scratch */
    float *lastln;            /* (max_seqs, C) final-LayerNorm rows that produce logits */
    float *dlogits;           /* (max_seqs, Vp), only when the backend's memory is not the host's */
    int *d_rowidx;            /* (2 rows + 3 max_seqs) a kv_forward's indices */
    /* host memory */
    int *pos;                 /* (max_seqs) positions filled in each slot, soft prompt included */
    float *logits;            /* (max_seqs, Vp) */
    int *rowidx;              /* (2 rows + 3 max_seqs) */
    int *itmp;                /* (max(rows, max_seqs + Vp)) */
    int *slots_tmp, *start_tmp, *last_tmp, *tok_tmp, *ids_tmp; /* (max_seqs) each */
    double *pwork;            /* (Vp) */
    double *uni;              /* (max_seqs) a decode step's uniforms, for draws on a device */
    int *drawn;               /* (max_seqs) the tokens drawn there */
    double *drawn_lp;         /* (max_seqs) their log-probabilities */
    /* bf16 decoding (gpt_sample_opts.bf16), made on first use */
    uint16_t *wbf16;          /* every linear layer's weights and the LM head, bf16_pack'ed */
    uint32_t *xbf16;          /* (max(max_seqs, max_len), 2C) input rows as bf16 pairs */
    int bf16;                 /* the gpt_sample call in progress decodes with them */
} gpt_sampler;

/* Scratch and KV cache for up to max_seqs sequences of g's config (g is not kept). */
int gpt_sampler_init(gpt_sampler *s, const gpt *g, int max_seqs, tr_error *err);
void gpt_sampler_free(gpt_sampler *s);

/* Prefill: sequence i (0 <= i < n) goes into cache slot i and its prompt prompts[i]
 * (prompt_lens[i] tokens, >= 1) is run through the model after the soft prompt.
 * logits (n, Vp) out: next-token logits after each prompt's last token. */
int gpt_sampler_prefill(gpt_sampler *s, const gpt *g, int n, const int *const *prompts,
                        const int *prompt_lens, float *logits, tr_error *err);

/* Decode one token for each of n slots: tokens[i] is appended to slot slots[i] at its next
 * position. logits (n, Vp) out: next-token logits. */
int gpt_sampler_decode(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *tokens,
                       float *logits, tr_error *err);
/* The same with each token's position id given (ids (n), counted as gpt.token_positions
 * counts them): for a coupled model, whose embedding reads ids[i] instead of the
 * token's place. ids NULL = gpt_sampler_decode. */
int gpt_sampler_decode_at(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *tokens, const int *ids,
                          float *logits, tr_error *err);

/* Draw one token from a logits row (V real entries) under opts; *logp gets its log-probability
 * under the distribution sampled from (see above). work (V doubles) and idx (V ints) are scratch. */
int gpt_sample_token(const float *logits, int V, const gpt_sample_opts *opts, rng *r,
                     double *work, int *idx, double *logp);

/* Generate for n sequences (n <= s->max_seqs): each stops at opts->eot (not returned), at
 * max_new_tokens, or when the context is full.
 *   out_tokens (n, max_new_tokens) out; out_lens (n) out; out_logprob (n) out: the sum of the
 *   generated tokens' log-probabilities (the eot's included when it ended the sequence, since it
 *   was sampled too). */
int gpt_sample(gpt_sampler *s, const gpt *g, int n, const int *const *prompts, const int *prompt_lens,
               rng *const *rngs, const gpt_sample_opts *opts, int *out_tokens, int *out_lens,
               double *out_logprob, tr_error *err);

#endif
