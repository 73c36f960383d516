#include "common/comm/comm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util/log.h"

int comm_check_at(int rc, const char *call, tr_error *err, const char *file, int line) {
    if (rc == MPI_SUCCESS) return 0;
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(rc, s, &n);
    return tr_error_set(err, TR_EMPI, file, line, "%s failed: %s (hint: a peer rank may have died; see mpirun's output)", call, s);
}

int comm_init(int *argc, char ***argv, int *rank, int *size, tr_error *err) {
    int provided = 0;
    TR_TRY(MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), err));
    TR_TRY(MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), err));
    if (provided < MPI_THREAD_FUNNELED)
        return TR_FAIL(err, TR_EMPI, "MPI provides thread level %d, need MPI_THREAD_FUNNELED", provided);
    TR_TRY(MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, rank), err));
    TR_TRY(MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, size), err));
    return 0;
}

int comm_finalize(tr_error *err) { return MPI_CHECK(MPI_Finalize(), err); }

int comm_send_bytes(const void *buf, size_t len, int dest, int tag, tr_error *err) {
    uint64_t n = len;
    TR_TRY(MPI_CHECK(MPI_Send(&n, 1, MPI_UINT64_T, dest, tag, MPI_COMM_WORLD), err));
    const uint8_t *p = buf;
    for (size_t off = 0; off < len; off += COMM_CHUNK_BYTES) {
        size_t c = len - off < COMM_CHUNK_BYTES ? len - off : COMM_CHUNK_BYTES;
        TR_TRY(MPI_CHECK(MPI_Send(p + off, (int)c, MPI_BYTE, dest, tag, MPI_COMM_WORLD), err));
    }
    return 0;
}

int comm_recv_bytes(uint8_t **buf, size_t *len, int src, int tag, int *from, tr_error *err) {
    uint64_t n = 0;
    MPI_Status st;
    *buf = NULL;
    TR_TRY(MPI_CHECK(MPI_Recv(&n, 1, MPI_UINT64_T, src, tag, MPI_COMM_WORLD, &st), err));
    if (n > ((uint64_t)1 << 40))
        return TR_FAIL(err, TR_EFORMAT, "rank %d announced a %llu-byte message; refusing", st.MPI_SOURCE, (unsigned long long)n);
    uint8_t *p = tr_malloc((size_t)n, err);
    if (!p) return TR_ENOMEM;
    for (size_t off = 0; off < n; off += COMM_CHUNK_BYTES) {
        size_t c = n - off < COMM_CHUNK_BYTES ? n - off : COMM_CHUNK_BYTES;
        int rc = MPI_CHECK(MPI_Recv(p + off, (int)c, MPI_BYTE, st.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), err);
        if (rc) { free(p); return rc; }
    }
    *buf = p;
    *len = (size_t)n;
    if (from) *from = st.MPI_SOURCE;
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_us(int us) {
    struct timespec d = {us / 1000000, (long)(us % 1000000) * 1000L};
    nanosleep(&d, NULL);
}

int comm_wait_message(int src, int tag, int poll_us, int timeout_ms, int (*should_stop)(void), int *from, tr_error *err) {
    double t0 = timeout_ms > 0 ? now_ms() : 0.0;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        TR_TRY(MPI_CHECK(MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st), err));
        if (flag) { if (from) *from = st.MPI_SOURCE; return 0; }
        if (should_stop && should_stop()) return TR_FAIL(err, TR_ECANCELED, "stopped while waiting for a message (tag %d)", tag);
        if (timeout_ms > 0 && now_ms() - t0 > timeout_ms) {
            if (src == MPI_ANY_SOURCE)
                return TR_FAIL(err, TR_EMPI, "no message from any rank (tag %d) within %d ms (hint: a worker may have failed to start; see its log)",
                               tag, timeout_ms);
            return TR_FAIL(err, TR_EMPI, "no message from rank %d (tag %d) within %d ms (hint: that rank may be dead or stuck)", src, tag, timeout_ms);
        }
        sleep_us(poll_us);
    }
}

int comm_wait_idle(MPI_Request *req, tr_error *err) {
    for (;;) {
        int done = 0;
        TR_TRY(MPI_CHECK(MPI_Test(req, &done, MPI_STATUS_IGNORE), err));
        if (done) return 0;
        sleep_us(COMM_IDLE_POLL_US);
    }
}

int comm_probe_idle(int src, int tag, tr_error *err) {
    return comm_wait_message(src, tag, COMM_IDLE_POLL_US, 0, NULL, NULL, err);
}

int comm_bcast_idle(void *buf, int count, MPI_Datatype t, int root, tr_error *err) {
    MPI_Request req;
    TR_TRY(MPI_CHECK(MPI_Ibcast(buf, count, t, root, MPI_COMM_WORLD, &req), err));
    return comm_wait_idle(&req, err);
}

int comm_reduce_idle(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, int root, tr_error *err) {
    MPI_Request req;
    TR_TRY(MPI_CHECK(MPI_Ireduce(sendbuf, recvbuf, count, t, MPI_SUM, root, MPI_COMM_WORLD, &req), err));
    return comm_wait_idle(&req, err);
}

int comm_gather_int_idle(int v, int *out, int root, tr_error *err) {
    MPI_Request req;
    TR_TRY(MPI_CHECK(MPI_Igather(&v, 1, MPI_INT, out, 1, MPI_INT, root, MPI_COMM_WORLD, &req), err));
    return comm_wait_idle(&req, err);
}

int comm_bcast_bytes(void *buf, size_t n, int root, tr_error *err) {
    uint8_t *p = buf;
    for (size_t off = 0; off < n; off += COMM_CHUNK_BYTES) {
        size_t c = n - off < COMM_CHUNK_BYTES ? n - off : COMM_CHUNK_BYTES;
        TR_TRY(MPI_CHECK(MPI_Bcast(p + off, (int)c, MPI_BYTE, root, MPI_COMM_WORLD), err));
    }
    return 0;
}

/* Sum n elements of type t (size bytes each) with op onto root, in chunks that keep counts in int. */
static int reduce_sum(void *buf, size_t n, size_t size, MPI_Datatype t, MPI_Op op, int root, int rank, tr_error *err) {
    const size_t chunk = COMM_CHUNK_BYTES / size;
    uint8_t *p = buf;
    for (size_t off = 0; off < n; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        if (rank == root)
            TR_TRY(MPI_CHECK(MPI_Reduce(MPI_IN_PLACE, p + off * size, (int)c, t, op, root, MPI_COMM_WORLD), err));
        else
            TR_TRY(MPI_CHECK(MPI_Reduce(p + off * size, NULL, (int)c, t, op, root, MPI_COMM_WORLD), err));
    }
    return 0;
}

static void fix_add(void *in, void *inout, int *len, MPI_Datatype *type) {
    (void)type;
    fixsum_add(inout, in, (size_t)*len);
}

/* The fixed-point sum's MPI type and operation (free both with fix_op_free). */
static int fix_op_make(MPI_Datatype *t, MPI_Op *op, tr_error *err) {
    TR_TRY(MPI_CHECK(MPI_Type_contiguous(2, MPI_UINT64_T, t), err));
    int rc = MPI_CHECK(MPI_Type_commit(t), err);
    if (!rc) rc = MPI_CHECK(MPI_Op_create(fix_add, 1, op), err);   /* commutative: any order, same bits */
    if (rc) MPI_Type_free(t);
    return rc;
}

static void fix_op_free(MPI_Datatype *t, MPI_Op *op) {
    MPI_Op_free(op);
    MPI_Type_free(t);
}

int comm_reduce_sum_fix(fixsum *buf, size_t n, int root, int rank, tr_error *err) {
    MPI_Datatype t;
    MPI_Op op;
    TR_TRY(fix_op_make(&t, &op, err));
    int rc = reduce_sum(buf, n, sizeof *buf, t, op, root, rank, err);
    fix_op_free(&t, &op);
    return rc;
}

int comm_allreduce_sum_fix(fixsum *buf, size_t n, MPI_Comm comm, tr_error *err) {
    MPI_Datatype t;
    MPI_Op op;
    TR_TRY(fix_op_make(&t, &op, err));
    const size_t chunk = COMM_CHUNK_BYTES / sizeof *buf;
    int rc = 0;
    for (size_t off = 0; off < n && !rc; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        rc = MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)c, t, op, comm), err);
    }
    fix_op_free(&t, &op);
    return rc;
}

int comm_exchange_bytes(uint8_t *const *out, const size_t *out_len, uint8_t **in, size_t *in_len, int first, int n,
                        int rank, int tag, tr_error *err) {
    MPI_Request *req = tr_malloc((size_t)n * 2 * sizeof *req, err);
    uint64_t *lens = tr_malloc((size_t)n * sizeof *lens, err);
    if (!req || !lens) { free(req); free(lens); return TR_EMPI; }   /* cannot take part: fatal */
    int nreq = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        in[i] = NULL;
        in_len[i] = 0;
        if (first + i == rank) continue;
        if (out_len[i] > COMM_CHUNK_BYTES)
            rc = TR_FAIL(err, TR_EMPI, "%zu bytes for rank %d exceed one exchange message (%zu)", out_len[i], first + i,
                         (size_t)COMM_CHUNK_BYTES);
        lens[i] = out_len[i];   /* the framing comm_recv_bytes reads: a length, then the bytes */
        if (!rc) rc = MPI_CHECK(MPI_Isend(&lens[i], 1, MPI_UINT64_T, first + i, tag, MPI_COMM_WORLD, &req[nreq++]), err);
        if (!rc && lens[i])
            rc = MPI_CHECK(MPI_Isend(out[i] ? (void *)out[i] : "", (int)lens[i], MPI_BYTE, first + i, tag, MPI_COMM_WORLD,
                                     &req[nreq++]), err);
    }
    for (int i = 0; i < n && !rc; i++)
        if (first + i != rank) rc = comm_recv_bytes(&in[i], &in_len[i], first + i, tag, NULL, err);
    int wrc = MPI_CHECK(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE), rc ? NULL : err);
    free(req);
    free(lens);
    return rc ? rc : wrc;
}
