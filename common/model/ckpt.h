/* ckpt.h - model and training-state files.
 *
 * Model: llm.c's GPT-2 checkpoint. A header of 256 int32 (little-endian):
 *   [0] magic 20240326, [1] version, [2] max_seq_len, [3] vocab_size, [4] num_layers,
 *   [5] num_heads, [6] channels, [7] padded_vocab_size (versions 3 and 5),
 *   [8] this project's: position encoding (0 learned, as llm.c writes; 1 ALiBi; 2 none), rest 0;
 * then the 16 tensors in gpt.h's order. Version 3: fp32 with the padded vocabulary (what we
 * write); version 5: bf16, padded; version 1: fp32 without padding (wte has vocab_size rows).
 * The soft prompt is not part of this format (put it in the training state's extras).
 *
 * Training state (this project's): header of 8 little-endian 64-bit words
 *   magic "TRSTATE1" (0x3145544154535254), version 1, step, n (moment count), n_rng,
 *   extra_len, FNV-1a 64 checksum of the payload, reserved 0;
 * payload: m (n fp32), v (n fp32), n_rng RNG states of RNG_STATE_BYTES each, extra bytes.
 * Both kinds are written atomically (afile) and validated on load: magic, version, exact size
 * (and the checksum for the state), with messages naming the file and what is wrong.
 */
#ifndef TRICE_MODEL_CKPT_H
#define TRICE_MODEL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/model/gpt.h"
#include "common/model/optim.h"
#include "common/util/err.h"

#define GPT_CKPT_MAGIC 20240326
#define GPT_CKPT_HDR_POSITION 8     /* header slot of gpt_config.position (llm.c leaves it 0) */
#define GPT_STATE_MAGIC UINT64_C(0x3145544154535254)
#define GPT_STATE_VERSION 1

/* Read and validate a checkpoint's header and size; fills *config (padded vocab derived for
 * version 1) and *version. */
int gpt_ckpt_read_config(const char *path, gpt_config *config, int *version, tr_error *err);

/* Load parameters into g, whose config must match the file's, except that g may have a
 * shorter context (max_seq_len): it gets the first position embeddings (a model saved from
 * g then has that context). Fine-tuning at 256 positions need not hold the activations and
 * KV caches of GPT-2's 1024. */
int gpt_ckpt_load(gpt *g, const char *path, tr_error *err);

/* gpt_ckpt_read_config + gpt_init + gpt_ckpt_load. On failure g is left freed. */
int gpt_ckpt_open(gpt *g, const char *path, int max_batch, int prompt_len, tr_error *err);

/* Write g's parameters as version 3 (fp32, padded vocabulary), atomically. */
int gpt_ckpt_save(const gpt *g, const char *path, tr_error *err);

/* Training state: optimiser moments and step, n_rng saved RNG states (rng_save bytes,
 * n_rng * RNG_STATE_BYTES), and caller extras. */
int gpt_state_save(const char *path, const optim_state *opt, const uint8_t *rng_bytes, size_t n_rng,
                   const void *extra, size_t extra_len, tr_error *err);

/* Load into opt (already optim_init'ed with the same n); *rng_bytes and *extra are malloc'ed
 * (caller frees; NULL when empty). */
int gpt_state_load(const char *path, optim_state *opt, uint8_t **rng_bytes, size_t *n_rng,
                   void **extra, size_t *extra_len, tr_error *err);

#endif
