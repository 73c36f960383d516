/* ckptshard.h - the files of a sharded checkpoint as the sides write and read them
 * (ckptshard_*, ckpt_file_*). The folder and its manifest are ckptdir.h's.
 *
 * Why sharded: the optimiser state is replicated on every side (side_optim.c), so any side
 * could write all of it, but then one process would write 2 x 4 bytes per parameter and, in
 * the first design, it was rank 0 after pulling them over MPI. Instead side w of W writes
 * slice w of the moments (ckptshard_slice: W contiguous slices, one size rule), so every
 * side writes about 8/W bytes per parameter and rank 0 none. The parameters are written
 * once, by side 0, as model.bin (llm.c's format, which other tools read) and, for a soft
 * prompt, prompt.bin. Each side reports its files (ckpt_file: name, slice, size, checksum);
 * rank 0 writes the manifest naming them last. Any W' reads them back: every side reads
 * every shard, since the state it rebuilds is the whole replica.
 *
 * An optimiser shard is ckpt.h's training-state file (magic, version, exact size, payload
 * checksum; written with afile: temp name, fsync, rename) holding the slice's m and v and the
 * step, with extras "{"slice":w,"of":W,"begin":B,"end":E,"n":N}" so that a shard says what it
 * is without its manifest.
 */
#ifndef TRICE_ENGINE_CKPTSHARD_H
#define TRICE_ENGINE_CKPTSHARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/model/optim.h"
#include "common/util/err.h"

#define CKPT_FILE_NAME_MAX 40   /* with its NUL; names are plain (no '/'), see ckpt_file_name_ok */

/* One file of a checkpoint folder, as the side that wrote it reports it and the manifest
 * lists it. */
typedef struct ckpt_file {
    char name[CKPT_FILE_NAME_MAX];
    int64_t begin, end;   /* an optimiser shard: its slice [begin, end) of the moments; else -1, -1 */
    uint64_t bytes;       /* file size */
    uint64_t sum;         /* FNV-1a 64 of the whole file (fnv.h) */
} ckpt_file;

/* Slice w (0-based) of W over n moments: the first n % W slices get one more. */
void ckptshard_slice(size_t n, int W, int w, size_t *begin, size_t *end);
/* "optim-00001-of-00002.bin" for w = 0, W = 2. */
void ckptshard_name(int w, int W, char name[CKPT_FILE_NAME_MAX]);

/* 1 when name is a plain file name that fits (no '/', not "." or ".."): a name read from a
 * manifest or a message is never a path. */
int ckpt_file_name_ok(const char *name);
/* The entry of files[n] named name, or NULL. */
const ckpt_file *ckpt_file_find(const ckpt_file *files, int n, const char *name);
/* Describe dir/name as written: its size and checksum (read back from disk). */
int ckpt_file_describe(const char *dir, const char *name, int64_t begin, int64_t end, ckpt_file *f, tr_error *err);
/* Check dir/f->name against f: TR_EFORMAT (TR_ENOTFOUND when missing) naming the file. */
int ckpt_file_verify(const char *dir, const ckpt_file *f, tr_error *err);

/* Side w of W: write its slice of opt (opt->n moments) into dir; *f describes the file. */
int ckptshard_write(const char *dir, const optim_state *opt, int w, int W, ckpt_file *f, tr_error *err);
/* Read every optimiser shard among files[n] (those with begin >= 0) into opt (optim_init'ed
 * with the whole count), verifying each against its entry and checking that the slices are
 * W contiguous ones by ckptshard_slice's rule covering opt->n and agree on the step
 * (*step). Errors name the file. */
int ckptshard_read_all(const char *dir, const ckpt_file *files, int n, optim_state *opt, tr_error *err);

#endif
