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
 * The rule ("columns"), on byte tokens:
 *   - prompt token t has id t (its place);
 *   - generated tokens up to and including the first '=' restate the question: token i has
 *     the id of the question's byte i, q + i, where q is the place just after the prompt's
 *     last "Q: " (0 if it has none);
 *   - after each '=' the columns start again: the token right after it has id q - 1 (the
 *     place of the space before the question; 0 when q is 0) and the next ones q, q + 1, ... So every
 *     " = "-separated line is numbered like the question, column by column, and a format
 *     that keeps each character of a line in its column (reduced spans padded) couples
 *     every copied character to the one above it.
 * Every id is at most the token's place, so a sequence that fits the context fits its ids.
 * The rule is the same for every task and for sampling and training; where a rationale
 * does not restate the question it is well defined, only not aligned with anything.
 */
#ifndef TRICE_DATA_COUPLE_H
#define TRICE_DATA_COUPLE_H

/* The id of generated token i (gen[0..i] written) after a prompt of prompt_len tokens. The
 * signature is gpt_sample_opts.position_fn's. */
int couple_position(const int *prompt, int prompt_len, const int *gen, int i);

/* Ids of a whole sequence's first n tokens, prompt (prompt_len tokens) then generated ones
 * (seq[prompt_len..n-1]), into ids (n): what a forward over seq[0..n-1] takes. */
void couple_positions(const int *seq, int prompt_len, int n, int *ids);

#endif
