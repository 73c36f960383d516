/* ckptdir.h - an experiment's checkpoint folder (ckptdir_*; its files are ckptshard.h's and
 * common/model/ckpt.h's).
 *
 * What a training run writes (the sides' files first, then rank 0's, the manifest last):
 *   checkpoints/step-NNNNNNNN/model.bin      parameters, llm.c GPT-2 format (version 3): side 0
 *   checkpoints/step-NNNNNNNN/prompt.bin     a soft prompt's vectors (soft-prompt runs): side 0
 *   checkpoints/step-NNNNNNNN/optim-0000w-of-0000W.bin
 *                                            side w's slice of the optimiser moments (ckptshard.h)
 *   checkpoints/step-NNNNNNNN/memory.bin     the whole rationale memory, by example id: rank 0
 *   checkpoints/step-NNNNNNNN/manifest.json  rank 0, last: format, version, step, W, n_tunable,
 *                                            the extras, and every file above with its slice,
 *                                            size and FNV-1a 64
 *   checkpoints/latest                       "step-NNNNNNNN\n", written after the manifest
 * Every file is written atomically (afile: temp name, fsync, rename). With MPI the sides are
 * the workers, which write into the run folder themselves: a run on several hosts needs that
 * folder on a filesystem every rank sees. A crash at any point leaves `latest` naming a
 * complete checkpoint; a step folder without its manifest, or whose files do not match it,
 * is not one. Resuming (any W) tries the marker's folder, then every step folder newest first,
 * and takes the first whose manifest, memory and every file the sides read verify, so a
 * damaged checkpoint costs the steps since the previous one; when none verifies it fails
 * naming the newest damage and deletes nothing. The last `keep` (by step number) are kept.
 *
 * Before manifests a checkpoint was one process's: model.bin, model.sum ("fnv1a64 HEX COUNT"
 * of the parameters), state.bin (the whole optimiser state and the extras, ckpt.h training
 * state, then the soft prompt) and memory.bin last. ckptdir_write and ckptdir_read keep that
 * layout (tests and tools use them) and ckptdir_resume still reads it.
 * No random-generator state needs saving beyond the step: every stream is derived from
 * (seed, purpose, id, step) (see engine.h and schedule.h).
 */
#ifndef TRICE_ENGINE_CKPTDIR_H
#define TRICE_ENGINE_CKPTDIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/engine/ckptshard.h"
#include "common/model/ckpt.h"

typedef struct ckptdir_extras {
    int64_t step;            /* optimiser steps done */
    int64_t tokens_sampled;  /* for the sampled-token budget */
    double acc_before, maj_before;
    int n_eval;
} ckptdir_extras;

#define CKPTDIR_MANIFEST "manifest.json"

/* What a manifest says (ckptdir_manifest_read). */
typedef struct ckptdir_manifest {
    int64_t step;
    int workers;            /* W of the run that wrote it: the optimiser shards */
    uint64_t n_tunable;     /* moments in all (the tunable parameters) */
    ckptdir_extras x;
    int n_files;
    ckpt_file *files;       /* [n_files] malloc'ed: the sides' files, then memory.bin */
} ckptdir_manifest;

/* A sharded checkpoint for step: make its folder (dir gets it); the sides write their files
 * there (fleet.h, ckpt_save), then ckptdir_commit. */
int ckptdir_begin(const char *out_dir, int64_t step, char *dir, size_t cap, tr_error *err);
/* Finish the checkpoint in dir: memory.bin, then the manifest naming files[n_files] (what the
 * W = workers sides wrote) and memory.bin, then the marker; prune to the newest keep. */
int ckptdir_commit(const char *out_dir, const char *dir, const ckptdir_extras *x, size_t n_tunable, int workers,
                   const ckpt_file *files, int n_files, const uint8_t *mem_buf, size_t mem_len, int keep, tr_error *err);
/* Read and check dir's manifest (free with ckptdir_manifest_free). A missing one is
 * TR_EFORMAT: the folder is not a checkpoint. */
int ckptdir_manifest_read(const char *dir, ckptdir_manifest *m, tr_error *err);
void ckptdir_manifest_free(ckptdir_manifest *m);

/* How ckptdir_resume hands a checkpoint to the sides: m is the manifest's (the sides read the
 * files it names), or NULL for a checkpoint from before manifests, whose parameters and
 * optimiser state ckptdir_resume has read into g and opt. Returns an error naming the file
 * when the checkpoint cannot be loaded: ckptdir_resume then tries the previous one. */
typedef int (*ckptdir_load_fn)(void *ctx, const char *dir, const ckptdir_manifest *m, tr_error *err);
/* Resume from the newest usable checkpoint (see above) of an experiment with n_tunable
 * tunable parameters: x gets the extras, *mem_buf (malloc'ed) the memory, dir_out the folder;
 * load gives the sides its parameters and optimiser state. TR_ENOTFOUND when there is none;
 * TR_EFORMAT naming the newest damage when every one is damaged (nothing is deleted). */
int ckptdir_resume(const char *out_dir, size_t n_tunable, gpt *g, optim_state *opt, ckptdir_extras *x,
                   uint8_t **mem_buf, size_t *mem_len, ckptdir_load_fn load, void *ctx, char *dir_out, size_t cap,
                   tr_error *err);

/* TR_EFORMAT naming what (a file) when a parameter of g is NaN or infinite. */
int ckptdir_params_finite(const gpt *g, const char *what, tr_error *err);

/* The layout from before manifests, in one process. Write a checkpoint for x->step; dir_out
 * gets its folder. */
int ckptdir_write(const char *out_dir, const gpt *g, const optim_state *opt, const ckptdir_extras *x,
                  const uint8_t *mem_buf, size_t mem_len, int keep, char *dir_out, size_t cap, tr_error *err);

/* Read the newest usable checkpoint of that layout into g (params and soft prompt), opt and
 * x; *memory is malloc'ed. TR_ENOTFOUND when there is none; TR_EFORMAT naming the newest damage when
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

/* 1 if out_dir has a checkpoint marker (even a damaged one) or a step folder whose last file
 * (the manifest; before manifests, memory.bin) was written; 0 when the only folders are from
 * a first checkpoint cut short. */
int ckptdir_exists(const char *out_dir);

/* The soft prompt alone (magic, version, P, C, floats). */
int ckptdir_prompt_save(const char *path, const gpt *g, tr_error *err);
int ckptdir_prompt_load(const char *path, gpt *g, tr_error *err);

#endif
