/* msg.h - the training-step protocol between the coordinator's fleet and the example sides:
 * the operations, and one encode/decode pair for every record that crosses.
 *
 * The same records serve both fleets: coordinator/fleet_mpi.c sends them to the workers
 * (worker/train.c) over MPI, and common/engine/fleet_local.c passes them in process; both ends
 * call common/engine/dispatch.h for what a side does with an op. No MPI here.
 *
 * After a RUN command (trice.proto) every worker builds its engine_side and reports "ok" or
 * its error text (TAG_STEP, bytes). Then the coordinator drives collective operations: it
 * broadcasts an op header (msg_header) and both sides run the op's exchange, in this order.
 * "bcast", "reduce", "gather" are over MPI_COMM_WORLD with rank 0 as root; "workers:" marks
 * traffic among ranks 1..W only (the data plane: rank 0 neither sends nor receives it).
 *   OP_MEMORY_INIT             reduce(int n_valid)
 *   OP_PROPOSE   a=step b=M    bcast(int64 ids[M]) (every worker keeps the whole minibatch:
 *                              gradient terms index it); each worker sends one msg_propose
 *                              record per example it owns (p2p bytes)
 *   OP_STEP      a=n b=G c=lr  one training update, the steady state (c: the learning rate's
 *                              f32 bits, msg_lr_encode). bcast(n msg_term records: the step's
 *                              whole term list, ex = minibatch index); workers: every worker
 *                              sends every other the msg_row records of the terms whose
 *                              examples it holds (TAG_ROWS, p2p bytes, maybe empty), then plans
 *                              the groups of G terms from their lengths (gplan.h) and computes
 *                              its share; workers: all-reduce(fixsum grads[n_tunable]) in chunks
 *                              on the workers' communicator (an exact integer sum: every worker
 *                              gets the same bits in any reduction order); every worker clips
 *                              and applies AdamW with its replica of the optimiser state
 *                              (engine_side_update), so all keep the same parameters;
 *                              reduce(double [ceil(n/G) + 1]): each group's loss (one worker's
 *                              value, the others +0), then the gradient norm (worker 1's).
 *                              Bytes through rank 0: the terms and the losses, not the model.
 *   OP_GRADIENT  a=n b=G       as OP_STEP up to the gradient, without an update, and the sum
 *                              goes to rank 0: reduce(fixsum grads[n_tunable]) in chunks;
 *                              reduce(double loss[ceil(n/G)]). Only the variance probe
 *                              (probe.c, on evaluation steps when asked for) uses it.
 *   OP_CKPT_SAVE a=len         bcast(one msg_ckpt record of len bytes: the step folder, no
 *                              files): every worker writes its part of the checkpoint there
 *                              (ckptshard.h: worker w its optimiser shard, worker 1 also
 *                              model.bin and, for a soft prompt, prompt.bin) and sends the
 *                              msg_file records of what it wrote (p2p bytes); rank 0 then
 *                              writes memory.bin and the manifest, last (ckptdir.h). Bytes
 *                              through rank 0: the path and W records, not the model
 *   OP_CKPT_LOAD a=len         bcast(one msg_ckpt record of len bytes: the step folder and
 *                              the files its manifest names): every worker verifies them and
 *                              loads the parameters and every shard (its whole replica, from
 *                              the shared run folder); each sends p2p bytes: empty when
 *                              loaded, else why not (naming the file). A damaged checkpoint is
 *                              the op's answer, not a worker's failure: rank 0 tries the
 *                              previous one (ckptdir_resume)
 *   OP_SET_STATE a=len         bcast(one msg_state record of len bytes) in chunks: a STaR
 *                              restart (and resuming a checkpoint from before manifests)
 *                              replaces every worker's parameters and optimiser
 *   OP_EVAL      a=maj_k b=lines  reduce(int[3] n, correct, maj); lines: p2p bytes
 *   OP_STAR      a=iter        p2p bytes of msg_ids (the valid training ids)
 *   OP_MEM_GATHER              p2p bytes (memory.h buffers), concatenated at rank 0
 *   OP_MEM_SCATTER a=len       bcast(bytes) in chunks; each worker keeps its ids
 *   OP_COUNTS                  p2p bytes of msg_counts
 *   OP_END                     workers free their side and wait for the next command
 * Every op but OP_END ends with a status round: gather(int failed) at rank 0, then each
 * failed worker sends its error text (p2p bytes).
 *
 * A worker's own failure in an op (bad data, a sequence that does not fit, out of memory)
 * fails the experiment, not the job: the worker still completes the op's exchange with
 * placeholder data of the right size, so every collective stays matched, and reports the
 * error in the status round; the coordinator then sends nothing but OP_END and records the
 * experiment as failed with that message. Only transport failures (an MPI call failing, a
 * peer gone, a protocol mismatch) are fatal to the job (MPI_Abort with the message logged);
 * the launcher or the daemon's restart resumes from the latest checkpoint.
 *
 * Byte records are little-endian whatever the host, so that their layout is written here and
 * not implied by a C struct.
 */
#ifndef TRICE_COMM_MSG_H
#define TRICE_COMM_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/engine/ckptshard.h"
#include "common/engine/counts.h"
#include "common/train/estimator.h"
#include "common/util/err.h"

enum fleet_op {
    OP_MEMORY_INIT = 1,
    OP_PROPOSE,
    OP_GRADIENT,
    OP_SET_STATE,
    OP_EVAL,
    OP_STAR,
    OP_MEM_GATHER,
    OP_MEM_SCATTER,
    OP_COUNTS,
    OP_STEP,
    OP_CKPT_SAVE,
    OP_CKPT_LOAD,
    OP_END,
};

/* The op header: what to do and up to three scalar arguments (see the table above).
 * Travels as MSG_HEADER_WORDS int64 (an MPI broadcast of MPI_INT64_T). */
typedef struct msg_header {
    int64_t op;        /* enum fleet_op */
    int64_t a, b, c;
} msg_header;
#define MSG_HEADER_WORDS 4
void msg_header_encode(const msg_header *h, int64_t out[MSG_HEADER_WORDS]);
/* TR_EINTERNAL naming the op when it is not one of enum fleet_op (versions differ). */
int msg_header_decode(const int64_t in[MSG_HEADER_WORDS], msg_header *h, tr_error *err);

/* One example's proposal outcome: i32 pos (its index in the minibatch), u8 a, u8 mask,
 * u8 correct[K] (per particle). msg_propose_bytes(K) bytes. */
static inline size_t msg_propose_bytes(int K) { return 6 + (size_t)K; }
/* correct may be NULL: K zeros (a placeholder). */
void msg_propose_encode(uint8_t *out, int K, int32_t pos, uint8_t a, uint8_t mask, const uint8_t *correct);
/* correct may be NULL: not wanted. */
void msg_propose_decode(const uint8_t *in, int K, int32_t *pos, uint8_t *a, uint8_t *mask, uint8_t *correct);

/* A gradient term: i32 ex (its minibatch index), i32 which, f64 coef. */
#define MSG_TERM_BYTES 16
void msg_term_encode(const est_coef *t, uint8_t out[MSG_TERM_BYTES]);
void msg_term_decode(const uint8_t in[MSG_TERM_BYTES], est_coef *t);

/* A gradient term's rationale, sent by the side holding it to every other side (which plans
 * the groups from every term's length and may compute its group, gplan.h): i32 term (its index in the step's term list), i64 id (the example), i32 len,
 * then len i32 tokens (the rationale or target without end-of-text). msg_row_bytes(len) bytes;
 * a side's rows for another travel concatenated. */
static inline size_t msg_row_bytes(int len) { return 16 + 4 * (size_t)(len > 0 ? len : 0); }
void msg_row_encode(uint8_t *out, int32_t term, int64_t id, const int32_t *tok, int32_t len);
/* The record at the start of in[avail]; tok: room for max_len tokens; *used: its bytes.
 * TR_EFORMAT when it does not fit in avail bytes or len is outside [0, max_len]. */
int msg_row_decode(const uint8_t *in, size_t avail, int max_len, int32_t *term, int64_t *id, int32_t *tok,
                   int32_t *len, size_t *used, tr_error *err);

/* A side's counters: i64 tokens_sampled, tokens_trained; f64 sample_s, check_s, grad_s, eval_s;
 * u64 sample_digest; i64 peer_bytes; f64 peer_s, wait_s, update_s. */
#define MSG_COUNTS_BYTES 88
void msg_counts_encode(const engine_counts *c, uint8_t out[MSG_COUNTS_BYTES]);
/* TR_EFORMAT when len is not MSG_COUNTS_BYTES. */
int msg_counts_decode(const uint8_t *in, size_t len, engine_counts *c, tr_error *err);

/* OP_STEP's learning rate in the header word c: the float's bits, so it arrives bit for bit. */
int64_t msg_lr_encode(float lr);
float msg_lr_decode(int64_t c);

/* The tunable parameters and the optimiser state of a side (replicated on every worker):
 * u64 n, i64 step (updates applied), then f32 params[n], m[n], v[n]. msg_state_bytes(n) bytes. */
static inline size_t msg_state_bytes(size_t n) { return 16 + 12 * n; }
void msg_state_encode(uint8_t *out, size_t n, const float *params, const float *m, const float *v, int64_t step);
/* Into params[n], m[n], v[n] (n: what the receiver holds). TR_EFORMAT when len is not
 * msg_state_bytes(n) or the record is for another n. */
int msg_state_decode(const uint8_t *in, size_t len, size_t n, float *params, float *m, float *v, int64_t *step,
                     tr_error *err);

/* A checkpoint file a side wrote (ckptshard.h's ckpt_file): name[CKPT_FILE_NAME_MAX] (NUL
 * padded), i64 begin, i64 end (an optimiser shard's slice; -1 otherwise), u64 bytes, u64 sum
 * (FNV-1a 64 of the file). */
#define MSG_FILE_BYTES (CKPT_FILE_NAME_MAX + 32)
void msg_file_encode(const ckpt_file *f, uint8_t out[MSG_FILE_BYTES]);
/* TR_EFORMAT when the name is not a plain file name (ckpt_file_name_ok): never a path. */
int msg_file_decode(const uint8_t in[MSG_FILE_BYTES], ckpt_file *f, tr_error *err);

/* OP_CKPT_SAVE's and OP_CKPT_LOAD's payload: u32 dir_len, the step folder's path (dir_len
 * bytes, no NUL), then n msg_file records (OP_CKPT_LOAD: the files the manifest names; none
 * for OP_CKPT_SAVE). msg_ckpt_bytes(dir_len, n) bytes. */
static inline size_t msg_ckpt_bytes(size_t dir_len, int n) { return 4 + dir_len + (size_t)n * MSG_FILE_BYTES; }
void msg_ckpt_encode(uint8_t *out, const char *dir, const ckpt_file *files, int n);
/* dir: cap bytes; *files malloc'ed ([*n], caller frees). TR_EFORMAT when it does not parse. */
int msg_ckpt_decode(const uint8_t *in, size_t len, char *dir, size_t cap, ckpt_file **files, int *n, tr_error *err);

/* A list of example ids: i64 each. out: [n * 8] bytes; decode: n = len / 8. */
void msg_ids_encode(const int64_t *ids, size_t n, uint8_t *out);
void msg_ids_decode(const uint8_t *in, size_t n, int64_t *ids);

#endif
