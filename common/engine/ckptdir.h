/* ckptdir.h - an experiment's checkpoint folder (ckptdir_*; one model file of it is
 * common/model/ckpt.h's, gpt_ckpt_*).
 *
 *   checkpoints/step-NNNNNNNN/model.bin    parameters, llm.c GPT-2 format (version 3)
 *   checkpoints/step-NNNNNNNN/model.sum    "fnv1a64 HEX COUNT": FNV-1a 64 of the parameters
 *   checkpoints/step-NNNNNNNN/state.bin    optimiser moments and step (ckpt.h training state);
 *                                          extras: ckptdir_extras as JSON, then the soft prompt
 *   checkpoints/step-NNNNNNNN/memory.bin   the whole rationale memory, by example id
 *   checkpoints/latest                     "step-NNNNNNNN\n", written (atomically) last
 * A crash at any point leaves `latest` naming a complete checkpoint. The last `keep` (by step
 * number) are kept. Reading verifies every checksum and refuses non-finite weights; when the
 * marker or its folder is damaged it falls back to the newest step folder that verifies.
 * No random-generator state needs saving beyond the step: every stream is derived from
 * (seed, purpose, id, step) (see engine.h and schedule.h).
 */
#ifndef TRICE_ENGINE_CKPTDIR_H
#define TRICE_ENGINE_CKPTDIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/model/ckpt.h"

typedef struct ckptdir_extras {
    int64_t step;            /* optimiser steps done */
    int64_t tokens_sampled;  /* for the sampled-token budget */
    double acc_before, maj_before;
    int n_eval;
} ckptdir_extras;

/* Write a checkpoint for x->step; dir_out gets its folder. */
int ckptdir_write(const char *out_dir, const gpt *g, const optim_state *opt, const ckptdir_extras *x,
                  const uint8_t *mem_buf, size_t mem_len, int keep, char *dir_out, size_t cap, tr_error *err);

/* Read the newest usable checkpoint into g (params and soft prompt), opt and x; *memory is
 * malloc'ed. TR_ENOTFOUND when there is none; TR_EFORMAT naming the newest damage when
 * every one is damaged (nothing is deleted). */
int ckptdir_read(const char *out_dir, gpt *g, optim_state *opt, ckptdir_extras *x, uint8_t **mem_buf,
                 size_t *mem_len, char *dir_out, size_t cap, tr_error *err);

/* Remove the temp files ("NAME.tmp.PID", common/util/afile.c) an interrupted write left in
 * out_dir, its checkpoints/ and their step folders. Call before the experiment writes there.
 * Returns how many. */
int ckptdir_clean_temps(const char *out_dir);

/* Folder name of the newest complete checkpoint under out_dir (the `latest` marker), into
 * path (cap bytes). TR_ENOTFOUND when there is none. */
int ckptdir_latest(const char *out_dir, char *path, size_t cap, tr_error *err);

/* 1 if out_dir has a checkpoint marker (even a damaged one) or a step folder whose last file,
 * memory.bin, was written; 0 when the only folders are from a first checkpoint cut short. */
int ckptdir_exists(const char *out_dir);

/* The soft prompt alone (magic, version, P, C, floats). */
int ckptdir_prompt_save(const char *path, const gpt *g, tr_error *err);
int ckptdir_prompt_load(const char *path, gpt *g, tr_error *err);

#endif
