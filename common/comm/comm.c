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

int comm_wait_message(int src, int tag, int poll_ms, int timeout_ms, int (*should_stop)(void), int *from, tr_error *err) {
    double t0 = now_ms();
    for (;;) {
        int flag = 0;
        MPI_Status st;
        TR_TRY(MPI_CHECK(MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st), err));
        if (flag) { if (from) *from = st.MPI_SOURCE; return 0; }
        if (should_stop && should_stop()) return TR_FAIL(err, TR_ECANCELED, "stopped while waiting for a message (tag %d)", tag);
        if (timeout_ms > 0 && now_ms() - t0 > timeout_ms)
            return TR_FAIL(err, TR_EMPI, "no message from rank %d (tag %d) within %d ms (hint: that rank may be dead or stuck)", src, tag, timeout_ms);
        struct timespec d = {0, (long)poll_ms * 1000000L};
        nanosleep(&d, NULL);
    }
}

int comm_bcast_bytes(void *buf, size_t n, int root, tr_error *err) {
    uint8_t *p = buf;
    for (size_t off = 0; off < n; off += COMM_CHUNK_BYTES) {
        size_t c = n - off < COMM_CHUNK_BYTES ? n - off : COMM_CHUNK_BYTES;
        TR_TRY(MPI_CHECK(MPI_Bcast(p + off, (int)c, MPI_BYTE, root, MPI_COMM_WORLD), err));
    }
    return 0;
}

/* Sum n elements of type t (size bytes each) onto root, in chunks that keep counts in int. */
static int reduce_sum(void *buf, size_t n, size_t size, MPI_Datatype t, int root, int rank, tr_error *err) {
    const size_t chunk = COMM_CHUNK_BYTES / size;
    uint8_t *p = buf;
    for (size_t off = 0; off < n; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        if (rank == root)
            TR_TRY(MPI_CHECK(MPI_Reduce(MPI_IN_PLACE, p + off * size, (int)c, t, MPI_SUM, root, MPI_COMM_WORLD), err));
        else
            TR_TRY(MPI_CHECK(MPI_Reduce(p + off * size, NULL, (int)c, t, MPI_SUM, root, MPI_COMM_WORLD), err));
    }
    return 0;
}

int comm_reduce_sum_f64(double *buf, size_t n, int root, int rank, tr_error *err) {
    return reduce_sum(buf, n, sizeof *buf, MPI_DOUBLE, root, rank, err);
}
