/* couple.h - the position rule of a "coupled" model (model.position "coupled", gpt.h's
 * GPT_POS_COUPLED): each token's position id, from the tokens up to and including it.
 *
 * Why: a model that learned to restate questions of at most n items restates a longer one
 * with n items, because its copy head finds "the k-th item" by place (session 20's
 * arithmetic measurements). Position coupling (Cho et al. 2024) gives a restated token the
 * position id of the question token it restates, so that the next token to copy is always
 * the one whose id is one more, at any length whose ids training covered (position jitter
 * covers them all).
 *
 * The rule ("restate"), on byte tokens:
 *   - prompt token t has id t (its place);
 *   - generated tokens up to and including the first '=' restate the question: token i has
 *     the id of the question's byte i, q + i, where q is the place just after the prompt's
 *     last "Q: " (0 if it has none);
 *   - after that '=', token i has id plen + (i - k - 1), k being the '=''s index: the ids
 *     continue after the prompt as if the restatement took no room.
 * So every id is at most the token's place, and a sequence that fits the context fits its
 * ids. The generators whose rationales begin by restating the question with " = "
 * (boolean_expressions; arithmetic's whole-question format) couple exactly; for other
 * tasks the rule is still well defined, only not aligned with anything.
 */
#ifndef TRICE_DATA_COUPLE_H
#define TRICE_DATA_COUPLE_H

/* The id of generated token i (gen[0..i] written) after a prompt of prompt_len tokens. The
 * signature is gpt_sample_opts.position_fn's; ctx is unused (NULL). */
int couple_position(const void *ctx, const int *prompt, int prompt_len, const int *gen, int i);

/* Ids of a whole sequence's first n tokens, prompt (prompt_len tokens) then generated ones
 * (seq[prompt_len..n-1]), into ids (n): what a forward over seq[0..n-1] takes. */
void couple_positions(const int *seq, int prompt_len, int n, int *ids);

#endif
