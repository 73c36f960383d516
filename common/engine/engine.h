/* engine.h - the example side of a TRICE step: what runs where the examples live.
 *
 * ALGORITHM.md §4-6 split in two (DESIGN.md "One training step"):
 *   example side (this file; a worker, or the single process): holds a shard of the training
 *     examples, their rationale memory and a model replica; proposes, checks, accepts, and
 *     computes the gradient of the terms it is told to differentiate; evaluates held-out items;
 *   coordinator side (common/engine/trainer.c with common/train/estimator.h): beta,
 *     weights, resampling; the optimiser step runs on every side (engine_side_update) on the
 *     gradient the sides sum among themselves.
 * Between them travel the records of common/comm/msg.h: minibatch ids, (a_i, mask_i) per
 * example, (minibatch index, which rationale, coefficient) terms, and between sides the
 * rationales of terms computed elsewhere (msg_row). common/engine/dispatch.h
 * serves those operations on a side; a single-process run (fleet_local.c) calls it with one
 * side owning every example, a worker calls it for its shard.
 *
 * Random streams (common/engine/streams.h): the proposals for example id at step t depend
 * neither on which worker holds the example nor on the batch it is sampled in, and resuming
 * at step t needs no saved generator state.
 */
#ifndef TRICE_ENGINE_ENGINE_H
#define TRICE_ENGINE_ENGINE_H

#include <stdint.h>
#include <stdio.h>

#include "common/data/task.h"
#include "common/engine/counts.h"
#include "common/engine/ckptshard.h"
#include "common/model/gpt.h"
#include "common/model/optim.h"
#include "common/model/sample.h"
#include "common/tok/tok.h"
#include "common/spec/spec.h"
#include "common/train/estimator.h"
#include "common/train/fixsum.h"
#include "common/train/memory.h"

#define ENGINE_MAX_SAMPLE 64  /* sequences sampled at once */
#define ENGINE_MAX_THREADS 16 /* sampling and gradient threads per side (TRICE_THREADS, default 1) */

/* An example side: a shard of the training examples, their rationale memory, a model replica
 * and the current step's proposals. Opaque: what the fleets need of it is below, and
 * common/engine/dispatch.h serves a fleet operation on it (side_impl.h, for the engine's own
 * files, has the layout). */
typedef struct engine_side engine_side;

/* Load the spec's task and drop examples whose rationale prompt (or, for direct, prompt and
 * target) cannot fit the context with max_new_tokens to spare, identically in every process.
 * Logs how many were dropped; the caller decides whether what is left is enough
 * (engine_require_fit). */
int engine_task_load(const experiment_spec *spec, task *out, tr_error *err);
/* TR_EINVAL naming the context and the token limit when fewer than 1 training (train = 1) or
 * held-out (train = 0) example is left after engine_task_load. */
int engine_require_fit(const experiment_spec *spec, const task *t, int train, tr_error *err);

/* *out: a new side that owns the training ids with shard_owner(seed, id, nworkers) == index
 * (0-based), or every training id when nworkers = 1; its model is engine_model_from_spec's.
 * Free with engine_side_free. */
int engine_side_init(engine_side **out, const experiment_spec *spec, int index, int nworkers, tr_error *err);
void engine_side_free(engine_side *e);   /* NULL is fine */

/* Fill the memory of every owned example per spec->memory_init (hint, sample, given).
 * *n_valid gets the number of valid entries. */
int engine_side_memory_init(engine_side *e, int *n_valid, tr_error *err);

/* The spec the side runs (a checkpoint's model shape filled in) and its task after the fit
 * filter (engine_task_load). */
const experiment_spec *engine_side_spec(const engine_side *e);
const task *engine_side_task(const engine_side *e);
/* The side's model replica (read only: the fleet changes it through engine_side_tunable). */
const gpt *engine_side_model(const engine_side *e);
/* Proposals per example: the particles for rs, else 1. */
int engine_side_particles(const engine_side *e);
/* The tunable parameters (all weights, or the P x C soft prompt): [*n] floats that
 * engine_side_update changes in place and engine_side_state_set replaces. */
float *engine_side_tunable(engine_side *e, size_t *n);
/* The last gradient's exact sum over the groups computed here: [*n] (n = the tunable count). */
const fixsum *engine_side_grad(engine_side *e, size_t *n);
/* Per particle of the last engine_side_propose, whether its answer was right: [n * K], example-major. */
const uint8_t *engine_side_correct(const engine_side *e);
/* The training ids whose memory is valid, in memory order: *ids malloc'ed ([*n], may be 0). */
int engine_side_valid_ids(const engine_side *e, int64_t **ids, int *n, tr_error *err);
/* The memory of this side (memory.h format; caller frees), and merging such a buffer in:
 * the side keeps the entries it owns (*taken, may be NULL, counts them). */
int engine_side_memory_save(const engine_side *e, uint8_t **buf, size_t *len, tr_error *err);
int engine_side_memory_merge(engine_side *e, const uint8_t *buf, size_t len, int *taken, tr_error *err);
/* Examples in the memory (owned training examples). */
int engine_side_memory_size(const engine_side *e);

/* For `trice eval`: load a soft prompt (ckptdir_prompt_load) into the model, and hold out the
 * first n of every example (eval then train ids; n <= 0: all) instead of the split's. */
int engine_side_load_prompt(engine_side *e, const char *path, tr_error *err);
/* Where the side computes: "cpu", or "cuda:N (device name)" (TRICE_DEVICE, side_device.c). */
const char *engine_side_device(const engine_side *e);
/* --device VALUE of the programs: checks VALUE (cpu, cuda, cuda:N, auto) and sets TRICE_DEVICE
 * for the sides this process makes; a bad value leaves it as it was and says what is allowed. */
int engine_device_set(const char *value, tr_error *err);
/* What this process's sides will compute on, for the worker's registration: "cpu-openblas",
 * "cuda:N (name)", or "cuda:N unusable: why" (the side then fails to start, saying so). */
void engine_device_describe(char *buf, size_t n);
int engine_side_hold_out_all(engine_side *e, int64_t n, tr_error *err);

/* Propose for the step's examples held here (ids: [n], every one owned): K samples each at the
 * spec's temperature, check, and (trice, trice-nocv) the MCMC update. Outputs per example:
 * a[n] = accepted (rs: number of correct particles, capped at 255), mask[n] = memory valid
 * after the update. sft/direct: no sampling; a = 0 and mask = 1 (sft: memory valid).
 * Per-particle outcomes: engine_side_correct. */
int engine_side_propose(engine_side *e, int64_t step, const int64_t *ids, int n, uint8_t *a, uint8_t *mask,
                        tr_error *err);

/* The whole minibatch of the step (ids[M], every side's examples, in the coordinator's order):
 * term lists index it. A side of a fleet of several gets it with every OP_PROPOSE, before
 * engine_side_propose; a side that holds every example takes engine_side_propose's ids. */
int engine_side_set_minibatch(engine_side *e, const int64_t *ids, int M, tr_error *err);

/* Gradient of loss = -sum_k coef_k log p(rationale_k | x_k) over the step's whole term list
 * terms[n] (ex: minibatch index; which: EST_MEMORY / EST_PROPOSAL, the particle for rs, 0 for
 * sft/direct), in the coordinator's order, which does not depend on W.
 *
 * Why batched groups, summed in fixed point: one backward pass per term at batch 1 runs sgemm
 * far below its batched rate, but a batched float gradient depends on what else is in the
 * batch, and float sums depend on their order, and Adam turns such noise on near-zero
 * gradients into full-size updates, so runs with different W would drift apart. So the make-up
 * of each batch is fixed by the term list and the terms' lengths alone (gplan.h: runs of
 * G = engine_group_terms terms in order of length, padded to the longest), which gives a
 * group's float gradient the same bits on any worker and thread, and the groups' gradients
 * are added exactly in 128-bit fixed point
 * (fixsum.h), whose sum does not depend on the order or on how the groups are split over
 * threads, workers or MPI's reduction. The loss is kept per group and summed in group order.
 *
 * Three phases, so that a fleet can move rationales between sides in the middle:
 *   begin   the term list;
 *   rows    msg_row records of every term whose example is held here (*len may be 0; *buf
 *           malloc'ed), for every other side: each side then has every term's sequence, plans
 *           the groups from their lengths and computes its share, so any side can compute any
 *           group (a few kilobytes per step, against megabytes of gradient);
 *   finish  the plan, then one forward/backward per group this side computes, rationales
 *           held elsewhere from in[s] (in_len[s] bytes, side s's rows; in may be NULL with one
 *           side); the sum in engine_side_grad; group_loss[ceil(n / G)] gets each computed
 *           group's loss, 0 for the others'. A non-finite gradient (or one beyond fixsum's
 *           range) fails naming the step and the group.
 * engine_side_gradient: the three for a side that holds every example; *loss summed. */
int engine_side_grad_begin(engine_side *e, const est_coef *terms, int n, tr_error *err);
int engine_side_grad_rows(engine_side *e, uint8_t **buf, size_t *len, tr_error *err);
int engine_side_grad_finish(engine_side *e, const uint8_t *const *in, const size_t *in_len, double *group_loss,
                            tr_error *err);
int engine_side_gradient(engine_side *e, const est_coef *terms, int nterms, double *loss, tr_error *err);
/* The optimiser step on the side (side_optim.c): sum[n_tunable] is the fleet's exact gradient
 * sum (the same bits on every side: an all-reduce of engine_side_grad_sum's buffers, or this
 * side's own with one side); it becomes floats, is clipped to spec.optim.grad_clip (*norm:
 * the norm before clipping) and AdamW (plain Adam for a soft prompt) updates the tunable
 * parameters with the side's replica of the optimiser state. Every side applies the same
 * update, so all keep the same parameters without the coordinator sending any. */
fixsum *engine_side_grad_sum(engine_side *e, size_t *n);
int engine_side_update(engine_side *e, const fixsum *sum, float lr, double *norm, tr_error *err);
/* The tunable parameters and the optimiser replica ([*n] each; what a checkpoint writes), and
 * their replacement (a STaR restart, a resume). */
int engine_side_state_get(engine_side *e, const float **params, const optim_state **opt, size_t *n, tr_error *err);
int engine_side_state_set(engine_side *e, const float *params, const float *m, const float *v, int64_t step, size_t n,
                          tr_error *err);
/* The side's part of a sharded checkpoint in the step folder dir (side_ckpt.c, ckptshard.h):
 * side index of W writes its optimiser shard, side 0 also model.bin and, for a soft prompt,
 * prompt.bin; files (room for ENGINE_CKPT_FILES) get what was written, *n how many. */
#define ENGINE_CKPT_FILES 3
int engine_side_ckpt_write(engine_side *e, const char *dir, int index, int W, ckpt_file *files, int *n, tr_error *err);
/* Resume from the files a manifest names (files[n], any W): verify each (size, checksum),
 * then load the parameters and the whole optimiser state from every shard. err names the
 * file at fault; a file found damaged leaves the side as it was (the checks come first). */
int engine_side_ckpt_read(engine_side *e, const char *dir, const ckpt_file *files, int n, tr_error *err);
/* The transport's worker-to-worker traffic of an op (engine_counts.peer_*). */
void engine_side_count_peer(engine_side *e, int64_t bytes, double xfer_s, double wait_s);

/* Groups of the last gradient; terms per group for a spec (1024 positions / the context's
 * tokens: at most 16 terms, at least 1). */
int engine_side_grad_groups(const engine_side *e);
int engine_group_terms(const experiment_spec *spec);

/* Held-out evaluation of ids[n]: greedy accuracy and, with maj_k > 0, maj@k (majority answer
 * of k samples at temperature 1 from (seed, RNG_PURPOSE_EVAL, id)). Adds to *correct and
 * *maj_correct. per_example (may be NULL) gets one JSON line per example. */
int engine_side_eval(engine_side *e, const int64_t *ids, int n, int maj_k, int *correct, int *maj_correct,
                     FILE *per_example, tr_error *err);

/* Ids of held-out examples this side evaluates: the same shard rule as training. */
int engine_side_eval_ids(const engine_side *e, int index, int nworkers, int64_t **ids, int *n, tr_error *err);

/* STaR collection for outer iteration iter: for every owned training example, sample one
 * rationale from the current model (spec temperature; 0 = greedy); when it is wrong, sample
 * with the hinted prompt (rationalisation); the memory becomes the correct one or is marked
 * invalid. *n_valid gets the number of examples kept. iter < 0 only counts (after a resume). */
int engine_side_star_collect(engine_side *e, int iter, int *n_valid, tr_error *err);

/* Sample one continuation for each of n prompt texts, prompt i with its own stream rngs[i]
 * (so results do not depend on the batch), in chunks of the sampler's capacity.
 * truncate: apply the spec's top_k/top_p (proposals); evaluation samples untruncated.
 * out: [n * max_new_tokens] tokens (eot not included), lens: [n]; *timer += wall seconds. */
int engine_side_sample(engine_side *e, char *const *prompts, int n, rng *rngs, float temperature, int truncate,
                       int32_t *out, int *lens, double *timer, tr_error *err);

/* Counters since the last call, then reset. */
engine_counts engine_side_take_counts(engine_side *e);

/* text -> at most cap tokens of t; returns the count, or -1 when they do not fit (or no memory). */
int engine_encode(tokenizer *t, const char *text, int *out, int cap);
/* tokens -> text (stops at end-of-text, ids outside the vocabulary dropped), NUL-terminated,
 * at most cap-1 bytes. */
void engine_decode(const tokenizer *t, const int32_t *tok, int n, char *out, size_t cap);

/* The spec's model (out: gpt_init'ed; gpt_free it): a fresh GPT-2 of model.layers/heads/channels
 * drawn from the seed, or model.init loaded (the first model.context positions of it), plus
 * prompt_len soft-prompt vectors when tunable is prompt, with activations for max_batch
 * sequences per forward pass. Every process builds it this way, so the trainer's master copy
 * and every side start equal. TR_EINVAL when model.init's vocabulary or context does not fit
 * the spec. */
int engine_model_from_spec(const experiment_spec *spec, int max_batch, gpt *out, tr_error *err);

/* model.position <-> gpt_config.position (gpt_position_kind), both ways. */
int spec_position_to_gpt(spec_position p);
spec_position spec_position_from_gpt(int position);

/* The vocabulary of the spec's tokenizer (257 or 50,257), known without loading it. */
int engine_vocab_size(const experiment_spec *spec);
/* A checkpoint's config (read from path) against the spec's tokenizer: the vocabulary must
 * be the tokenizer's and the padded vocabulary llm.c's (a multiple of 128, less than 128
 * above it). TR_EINVAL naming the file, both sides and the fix. */
int engine_check_vocab(const experiment_spec *spec, const char *path, const gpt_config *c, tr_error *err);

#endif
