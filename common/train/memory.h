/* memory.h - the TRICE rationale memory (ALGORITHM.md section 3): persistent MCMC state.
 *
 * One entry per training example held by this process: the global example id, one rationale
 * (int32 token ids, variable length, owned by the memory) and a valid flag = c(memory, y).
 * Entries are addressed by a dense local index 0..n-1 (the engine's order); the global id is
 * what survives in files, so that memories written by W workers can be gathered into one
 * buffer and re-sharded by id when a run resumes with a different W.
 *
 * Invariant kept by memory_update(): a wrong (rejected) proposal never replaces the memory.
 * The init modes (hint / sample / given) are driven by the engine through memory_set(), which
 * may store an incorrect rationale with valid = 0 (it stays invalid until a correct proposal).
 *
 * Serialised form (all integers little-endian), version 1:
 *   header  : magic "TRCMEM01" (8 bytes), u32 version, u32 flags (0),
 *             u64 n_entries, u64 n_tokens, u64 total_bytes (the whole buffer, trailer included)
 *   entries : n_entries times { i64 id, u32 len, u8 valid, u8 pad[3] (0), i32 tokens[len] }
 *   trailer : u64 FNV-1a 64 of every byte before it
 * Readers check magic, version, flags, exact size, the checksum, token ids >= 0, lengths
 * within MEMORY_MAX_LEN and ids unique within one buffer, before touching any state.
 */
#ifndef TRICE_TRAIN_MEMORY_H
#define TRICE_TRAIN_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/err.h"

#define MEMORY_MAGIC "TRCMEM01"
#define MEMORY_VERSION 1u
#define MEMORY_MAX_LEN (1 << 20)   /* tokens per rationale: far above any context length */

typedef struct memory {
    int n;              /* number of entries */
    int64_t *ids;       /* [n] global example id of each local index (unique) */
    int32_t **tok;      /* [n] owned token arrays (NULL when empty) */
    int32_t *len;       /* [n] tokens in tok[i] */
    int32_t *cap;       /* [n] capacity of tok[i] */
    uint8_t *valid;     /* [n] 1 = tok[i] reaches the right answer */
    int *order;         /* [n] local indices sorted by id, for memory_find */
} memory;

/* ids: [n] global ids, copied; duplicates are TR_EINVAL. Every entry starts empty and invalid. */
int memory_init(memory *mem, int n, const int64_t *ids, tr_error *err);
void memory_free(memory *mem);

/* Local index of a global id, or -1 when this memory does not hold it. O(log n). */
int memory_find(const memory *mem, int64_t id);

/* Store a rationale unconditionally (initialisation: hint / sample / given, or a restore).
 * tokens: [len], copied; len may be 0 (empty). valid is stored as given. */
int memory_set(memory *mem, int idx, const int32_t *tokens, int len, int valid, tr_error *err);

/* The MCMC update of one example: if accepted (the proposal is correct), the proposal becomes
 * the memory and valid = 1; otherwise nothing changes. tokens: [len], copied.
 * *replaced (may be NULL) is set to 1 when the memory changed. */
int memory_update(memory *mem, int idx, const int32_t *tokens, int len, int accepted,
                  int *replaced, tr_error *err);

/* Borrowed view of entry idx (valid until the next set/update of idx). */
const int32_t *memory_tokens(const memory *mem, int idx, int *len);
int memory_valid(const memory *mem, int idx);
/* Number of entries with valid = 1. */
int memory_count_valid(const memory *mem);

/* Serialise every entry (format above). *buf is allocated (caller frees). */
int memory_serialize(const memory *mem, uint8_t **buf, size_t *len, tr_error *err);

/* Check a serialised buffer completely; *n_entries (may be NULL) gets its entry count.
 * `what` names the source in messages (a path, "worker 3", ...). */
int memory_check_buffer(const uint8_t *buf, size_t len, const char *what, uint64_t *n_entries,
                        tr_error *err);

/* Copy the entries of a serialised buffer whose ids this memory holds into it (the re-shard:
 * other ids are skipped). The buffer is checked in full first: on any error the memory is
 * unchanged. *n_taken (may be NULL) gets the number of entries copied. */
int memory_deserialize_merge(memory *mem, const uint8_t *buf, size_t len, const char *what,
                             int *n_taken, tr_error *err);

/* Gather: merge nbuf serialised buffers (one per worker) into one with entries sorted by id
 * (the same bytes whatever the sharding), checking each and
 * refusing an id that appears in two of them. *out is allocated (caller frees). */
int memory_concat(const uint8_t *const *bufs, const size_t *lens, int nbuf, uint8_t **out,
                  size_t *out_len, tr_error *err);

/* Files: a serialised buffer written atomically (afile) after a full check, and read back
 * with the same check. memory_file_read allocates *buf (caller frees). */
int memory_file_write(const char *path, const uint8_t *buf, size_t len, tr_error *err);
int memory_file_read(const char *path, uint8_t **buf, size_t *len, tr_error *err);

/* Convenience: serialise + write; read + merge (only the ids this memory holds). */
int memory_save(const memory *mem, const char *path, tr_error *err);
int memory_load(memory *mem, const char *path, int *n_taken, tr_error *err);

#endif
