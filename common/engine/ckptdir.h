/* ckptdir.h - an experiment's checkpoint folder.
 *
 *   checkpoints/step-NNNNNNNN/model.bin    parameters, llm.c GPT-2 format (version 3)
 *   checkpoints/step-NNNNNNNN/state.bin    optimiser moments and step (ckpt.h training state);
 *                                          extras: ckpt_extras as JSON, then the soft prompt
 *   checkpoints/step-NNNNNNNN/memory.bin   the whole rationale memory, by example id
 *   checkpoints/latest                     "step-NNNNNNNN\n", written (atomically) last
 * A crash at any point leaves `latest` naming a complete checkpoint. The last `keep` are kept.
 * No random-generator state needs saving beyond the step: every stream is derived from
 * (seed, purpose, id, step) (see engine.h and schedule.h).
 */
#ifndef TRICE_ENGINE_CKPTDIR_H
#define TRICE_ENGINE_CKPTDIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/model/ckpt.h"

typedef struct ckpt_extras {
    int64_t step;            /* optimiser steps done */
    int64_t tokens_sampled;  /* for the sampled-token budget */
    double acc_before, maj_before;
    int n_eval;
} ckpt_extras;

/* Write a checkpoint for x->step; dir_out gets its folder. */
int ckpt_write(const char *out_dir, const gpt *g, const optim_state *opt, const ckpt_extras *x,
               const uint8_t *mem_buf, size_t mem_len, int keep, char *dir_out, size_t cap, tr_error *err);

/* Read the latest checkpoint into g (params and soft prompt), opt and x; *memory is malloc'ed. */
int ckpt_read(const char *out_dir, gpt *g, optim_state *opt, ckpt_extras *x, uint8_t **mem_buf,
              size_t *mem_len, char *dir_out, size_t cap, tr_error *err);

/* The soft prompt alone (magic, version, P, C, floats). */
int ckpt_prompt_save(const char *path, const gpt *g, tr_error *err);
int ckpt_prompt_load(const char *path, gpt *g, tr_error *err);

#endif
