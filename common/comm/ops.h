/* ops.h - the training-step protocol between the coordinator's MPI fleet
 * (coordinator/fleet_mpi.c) and the workers (worker/train.c).
 *
 * After a RUN command (trice.proto) every worker builds its engine_side and reports
 * "ok" or its error text (TAG_STEP, bytes). Then the coordinator drives collective
 * operations: it broadcasts a header of 4 int64 {op, a, b, c} and both sides run the
 * op's exchange, in this order:
 *   OP_MEMORY_INIT             reduce(int n_valid)
 *   OP_PROPOSE   a=step b=M    bcast(ids[M]); each worker sends its results (p2p bytes:
 *                              per owned example int32 pos, u8 a, u8 mask, u8 correct[K])
 *   OP_GRADIENT  a=n           the coordinator sends each worker its terms (p2p bytes of
 *                              wire_term); reduce(double grads[n_tunable]) in chunks;
 *                              reduce(double loss)
 *   OP_SET_PARAMS a=n          bcast(float[n]) in chunks
 *   OP_EVAL      a=maj_k b=lines  reduce(int[3] n, correct, maj); lines: p2p bytes
 *   OP_STAR      a=iter        p2p bytes of int64 valid ids
 *   OP_MEM_GATHER              p2p bytes (memory.h buffers), concatenated at rank 0
 *   OP_MEM_SCATTER a=len       bcast(bytes) in chunks; each worker keeps its ids
 *   OP_COUNTS                  p2p engine_counts
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
 */
#ifndef TRICE_COMM_OPS_H
#define TRICE_COMM_OPS_H

#include <stdint.h>

enum fleet_op {
    OP_MEMORY_INIT = 1,
    OP_PROPOSE,
    OP_GRADIENT,
    OP_SET_PARAMS,
    OP_EVAL,
    OP_STAR,
    OP_MEM_GATHER,
    OP_MEM_SCATTER,
    OP_COUNTS,
    OP_END,
};

/* A gradient term as sent to a worker: ex indexes the worker's own step examples. */
typedef struct wire_term {
    int32_t ex;
    int32_t which;
    double coef;
} wire_term;

#endif
