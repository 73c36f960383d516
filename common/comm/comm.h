/* comm.h - checked MPI wrappers and chunked transfers.
 *
 * Every MPI call in the project goes through MPI_CHECK so that a failure becomes a
 * TR_EMPI error naming the call, the MPI error string, the file and line. Transfers of
 * arbitrary size are split into chunks so that counts stay within int.
 * MPI's error handler is set to MPI_ERRORS_RETURN by comm_init().
 */
#ifndef TRICE_COMM_COMM_H
#define TRICE_COMM_COMM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "common/train/fixsum.h"
#include "common/util/err.h"

/* Tags of the coordinator <-> worker protocol. */
enum comm_tag {
    TAG_HELLO = 1,        /* worker -> coord: WorkerHello */
    TAG_COMMAND = 2,      /* coord -> worker: Command */
    TAG_STEP = 3,         /* training-step traffic */
    TAG_BYE = 4,          /* worker -> coord: leaving (signal received) */
    TAG_HEARTBEAT = 5,    /* worker -> coord: alive, while idle between experiments */
    TAG_ROWS = 6,         /* worker -> worker: rationales of gradient terms (msg_row) */
    TAG_WORKERS = 7,      /* worker -> worker: making the workers' communicator (MPI_Comm_create_group) */
};

/* 2: checkpoints written and read by the workers (OP_CKPT_SAVE, OP_CKPT_LOAD; msg.h) */
#define COMM_PROTOCOL_VERSION 2
#define COMM_CHUNK_BYTES ((size_t)1 << 28)   /* 256 MiB per MPI call: well within int */

int comm_check_at(int mpi_rc, const char *call, tr_error *err, const char *file, int line);
#define MPI_CHECK(call, err) comm_check_at((call), #call, (err), __FILE__, __LINE__)

/* MPI_Init_thread(FUNNELED) + MPI_ERRORS_RETURN; fills rank and size. */
int comm_init(int *argc, char ***argv, int *rank, int *size, tr_error *err);
int comm_finalize(tr_error *err);

/* Point-to-point message of any length: a uint64 length, then chunks. */
int comm_send_bytes(const void *buf, size_t len, int dest, int tag, tr_error *err);
/* Receives from src (may be MPI_ANY_SOURCE; *from gets the sender). Caller frees *buf. */
int comm_recv_bytes(uint8_t **buf, size_t *len, int src, int tag, int *from, tr_error *err);

/* Wait for a message (src/tag), sleeping poll_us microseconds between probes and calling
 * should_stop() (may be NULL) after each; returns TR_ECANCELED if it said stop, TR_EMPI if
 * timeout_ms (> 0) passed. */
int comm_wait_message(int src, int tag, int poll_us, int timeout_ms, int (*should_stop)(void), int *from, tr_error *err);

/* Waiting without spinning. MPI's blocking calls busy-poll, and a coordinator blocked through
 * a whole sampling or gradient phase took about a third of a core from the workers when there
 * are as many cores as workers (3 ranks on 2 cores). The calls below wait in rounds of
 * MPI_Test or MPI_Iprobe with a sleep of COMM_IDLE_POLL_US between them, so a waiting rank
 * costs almost nothing and each wait adds at most about that much latency.
 * The collectives are MPI's non-blocking ones: blocking and non-blocking collectives do not
 * match, so every rank of a collective must call the comm_*_idle form of it. */
#define COMM_IDLE_POLL_US 200
/* Until the request completes. */
int comm_wait_idle(MPI_Request *req, tr_error *err);
/* Until a message from src (may be MPI_ANY_SOURCE) with tag has arrived (then receive it):
 * comm_wait_message without a timeout. */
int comm_probe_idle(int src, int tag, tr_error *err);
/* MPI_Bcast of count elements of t from root over MPI_COMM_WORLD. */
int comm_bcast_idle(void *buf, int count, MPI_Datatype t, int root, tr_error *err);
/* MPI_Reduce (MPI_SUM) onto root over MPI_COMM_WORLD; sendbuf may be MPI_IN_PLACE at root,
 * recvbuf is ignored elsewhere. */
int comm_reduce_idle(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, int root, tr_error *err);
/* MPI_Gather of one int per rank onto root over MPI_COMM_WORLD (out: one per rank, at root). */
int comm_gather_int_idle(int v, int *out, int root, tr_error *err);

/* Broadcast n bytes from root in chunks. */
int comm_bcast_bytes(void *buf, size_t n, int root, tr_error *err);
/* Sum n fixed-point values onto root in chunks (in place at root). Integer addition is exact
 * and associative, so the result does not depend on MPI's reduction order or on how the parts
 * were spread over the ranks: see fixsum.h and engine.h, engine_side_gradient. */
int comm_reduce_sum_fix(fixsum *buf, size_t n, int root, int rank, tr_error *err);

/* The same sum over the ranks of comm (the workers' own communicator: rank 0 takes no part),
 * every rank getting the total in place. Exact, so every rank holds the same bits. */
int comm_allreduce_sum_fix(fixsum *buf, size_t n, MPI_Comm comm, tr_error *err);

/* Ranks first..first+n-1 (this rank among them) swap byte messages with tag: out[i] (out_len[i]
 * bytes) goes to rank first + i, in[i] (malloc'ed) gets what it sent here, for every i but this
 * rank's own (left NULL, 0). Sends are non-blocking, so the exchange cannot deadlock; every
 * rank of the range must call it. */
int comm_exchange_bytes(uint8_t *const *out, const size_t *out_len, uint8_t **in, size_t *in_len, int first, int n,
                        int rank, int tag, tr_error *err);

#endif
