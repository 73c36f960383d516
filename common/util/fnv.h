/* fnv.h - FNV-1a 64, the checksum of the project's binary files (ckpt.h training state,
 * checkpoint manifests), and of a whole file on disk.
 *
 * Why FNV-1a: it catches the damage checkpoints meet (truncation, a flipped byte, a file from
 * another run) at memory speed, with no library; it is not a defence against tampering. */
#ifndef TRICE_UTIL_FNV_H
#define TRICE_UTIL_FNV_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/err.h"

#define FNV1A64_INIT UINT64_C(0xcbf29ce484222325)

/* Continue the hash h over data[n] (start with FNV1A64_INIT). */
static inline uint64_t fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= UINT64_C(0x100000001b3); }
    return h;
}

/* The size and FNV-1a 64 of every byte of the file at path, read in chunks (any size).
 * TR_ENOTFOUND naming the file when it is missing. */
int fnv1a64_file(const char *path, uint64_t *bytes, uint64_t *sum, tr_error *err);

#endif
