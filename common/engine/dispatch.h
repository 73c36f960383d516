/* dispatch.h - one fleet operation on one example side: the code behind both the local fleet
 * (fleet_local.c) and every MPI worker (worker/train.c).
 *
 * The two differ only in transport: a function call, or MPI collectives and messages. What a
 * side does with an op, and the records it answers with (common/comm/msg.h), are written
 * here once; each caller moves the request's payload in and the reply out as msg.h's table
 * says for its transport.
 */
#ifndef TRICE_ENGINE_DISPATCH_H
#define TRICE_ENGINE_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/comm/msg.h"
#include "common/engine/engine.h"

/* The transport's part of OP_GRADIENT: side i's out[s] (out_len[s] bytes) to side s, for
 * every other side s, and what each sent back into in[s] (malloc'ed, caller frees; in[i] and
 * in_len[i] left NULL and 0). Every side sends every other (maybe 0 bytes) whatever its state,
 * so the exchange always matches. NULL with one side. */
typedef int (*dispatch_exchange_fn)(void *ctx, uint8_t *const *out, const size_t *out_len, uint8_t **in,
                                    size_t *in_len, tr_error *err);

/* The transport's part of OP_STEP: sum[n] summed over every side, in place (every side gets
 * the total); *wait_s: the seconds it waited for the slowest side before moving data. Called
 * by every side whatever its state (a failed side adds zeros). NULL with one side. */
typedef int (*dispatch_allreduce_fn)(void *ctx, fixsum *sum, size_t n, double *wait_s, tr_error *err);

typedef struct dispatch_req {
    msg_header h;          /* the op and its scalar arguments (msg.h) */
    const void *in;        /* the op's payload (may be NULL when it has none):
                            *   OP_PROPOSE     int64 ids[h.b], the whole minibatch
                            *   OP_STEP,       h.a msg_term records, the step's whole term list
                            *   OP_GRADIENT    (ex: minibatch index); h.b: terms per group;
                            *                  OP_STEP's h.c: the learning rate (msg_lr_encode)
                            *   OP_SET_STATE   one msg_state record of h.a bytes
                            *   OP_CKPT_SAVE,  one msg_ckpt record of h.a bytes (the step folder;
                            *   OP_CKPT_LOAD   for a load, the manifest's files)
                            *   OP_MEM_SCATTER h.a bytes of memory.h entries */
    size_t in_len;         /* OP_STEP, OP_GRADIENT: bytes of terms; OP_SET_STATE, OP_CKPT_*: h.a */
    int index, nworkers;   /* this side's place in the fleet (shard_owner) */
    dispatch_exchange_fn exchange;     /* OP_STEP, OP_GRADIENT with nworkers > 1 */
    dispatch_allreduce_fn allreduce;   /* OP_STEP with nworkers > 1 */
    void *exchange_ctx;                /* both hooks' */
} dispatch_req;

typedef struct dispatch_reply {
    int64_t val[3];        /* OP_MEMORY_INIT: n_valid; OP_EVAL: n, correct, maj_correct */
    uint8_t *bytes;        /* malloc'ed, NULL when empty:
                            *   OP_PROPOSE     one msg_propose record per owned example
                            *   OP_EVAL        per-example JSON lines (h.b != 0)
                            *   OP_STAR        msg_ids of the valid training ids
                            *   OP_MEM_GATHER  memory.h entries
                            *   OP_COUNTS      msg_counts
                            *   OP_CKPT_SAVE   msg_file records of the files this side wrote
                            *   OP_CKPT_LOAD   empty when loaded, else why not (text naming the
                            *                  file: a damaged checkpoint, not a side's failure) */
    size_t len;
    double norm;           /* OP_STEP: the gradient norm before clipping (the same on every side) */
    const fixsum *grad;    /* OP_GRADIENT: [n_grad] the side's exact sum, borrowed from the side
                            * (zeros, malloc'ed, after a failure) */
    size_t n_grad;
    fixsum *zeros;         /* the placeholder grad points to, if any */
    double *group_loss;    /* OP_STEP, OP_GRADIENT: [n_groups] malloc'ed, 0 for groups computed elsewhere */
    int n_groups;
} dispatch_reply;

/* Serve q on e into *r (free with dispatch_reply_free). skip: an earlier op of this
 * experiment failed on this side, so do no work and answer placeholders. A failure of the
 * side's own (bad data, a sequence that does not fit, out of memory) is returned with err set,
 * and *r still has the op's shape with placeholder values (zeros, empty lists), so that a
 * worker can complete the op's exchange (msg.h). OP_END is the caller's. */
int dispatch_op(engine_side *e, const dispatch_req *q, int skip, dispatch_reply *r, tr_error *err);
void dispatch_reply_free(dispatch_reply *r);

#endif
