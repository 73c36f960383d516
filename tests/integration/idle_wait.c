/* idle_wait.c - the comm_*_idle waits (common/comm/comm.h) give the right results and do not
 * spin. Run under mpirun with 2 or more ranks (test_idle.sh).
 *
 * Rank 0 plays the coordinator: it waits while the other ranks "work" (sleep WORK_MS), once in
 * each of the idle collectives and once probing for a point-to-point reply, and measures its
 * own CPU time over those waits. MPI's blocking calls spin through such a wait (a full core
 * when ranks <= cores), which took a third of a core from the workers of a 2-core main job; the
 * idle waits sleep between tests, so rank 0 must use well under a quarter of the wall time. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/comm/comm.h"

#define WORK_MS 300

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void work(void) {
    struct timespec d = {0, WORK_MS * 1000000L};
    nanosleep(&d, NULL);
}

static int fails;
#define CHECK(cond, ...) do { if (!(cond)) { fails++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)

int main(int argc, char **argv) {
    int rank, size;
    tr_error err = {0};
    if (comm_init(&argc, &argv, &rank, &size, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    if (size < 2) { fprintf(stderr, "idle_wait: run with 2 or more ranks\n"); return 1; }
    double cpu = 0, wall = 0;
    int rc = 0;

    /* a reduction the others join after their work */
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
    int one = rank, sum = 0;   /* MPI_IN_PLACE: rank 0's own part (0) is taken from sum */
    if (rank != 0) work();
    rc = comm_reduce_idle(rank == 0 ? MPI_IN_PLACE : &one, rank == 0 ? &sum : NULL, 1, MPI_INT, 0, &err);
    if (rank == 0 && !rc) CHECK(sum == size * (size - 1) / 2, "reduce gave %d, want %d", sum, size * (size - 1) / 2);

    /* a gather of one int per rank */
    int *got = calloc((size_t)size, sizeof *got);   /* one per rank, at rank 0 */
    if (!got) { fprintf(stderr, "idle_wait: out of memory for %d ranks\n", size); return 1; }
    if (!rc && rank != 0) work();
    if (!rc) rc = comm_gather_int_idle(10 + rank, rank == 0 ? got : NULL, 0, &err);
    if (rank == 0 && !rc)
        for (int r = 0; r < size; r++) CHECK(got[r] == 10 + r, "gather: rank %d sent %d, want %d", r, got[r], 10 + r);
    free(got);

    /* a reply: rank 1 sends after its work, rank 0 probes for it */
    if (!rc && rank == 1) { work(); rc = comm_send_bytes("done", 4, 0, TAG_STEP, &err); }
    if (!rc && rank == 0) {
        rc = comm_probe_idle(1, TAG_STEP, &err);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!rc) rc = comm_recv_bytes(&buf, &len, 1, TAG_STEP, NULL, &err);
        if (!rc) CHECK(len == 4 && buf[0] == 'd', "reply of %zu bytes", len);
        free(buf);
    }
    if (rank == 0) { cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0; wall = clock_s(CLOCK_MONOTONIC) - w0; }

    /* a broadcast the others wait for while rank 0 works */
    int64_t h[4] = {0};
    if (!rc && rank == 0) { work(); for (int i = 0; i < 4; i++) h[i] = 7 * i + 1; }
    if (!rc) rc = comm_bcast_idle(h, 4, MPI_INT64_T, 0, &err);
    if (!rc) CHECK(h[3] == 22, "rank %d: broadcast word 3 is %lld, want 22", rank, (long long)h[3]);

    if (rc) { printf("FAIL: rank %d: %s\n", rank, err.msg); fails++; }
    if (rank == 0) {
        /* three waits of WORK_MS: each sleeps COMM_IDLE_POLL_US between tests (a few us of CPU) */
        printf("rank 0 waited %.3f s and used %.3f s of CPU (%.1f%%)\n", wall, cpu, 100 * cpu / wall);
        CHECK(wall >= 0.8 * 3 * WORK_MS / 1000.0, "the waits took %.3f s: the others did not work first", wall);
        CHECK(cpu < 0.25 * wall, "rank 0 used %.0f%% of a core while it waited (spinning?)", 100 * cpu / wall);
    }
    comm_finalize(&err);
    if (rank == 0) printf(fails ? "%d check(s) failed\n" : "all checks passed\n", fails);
    return fails ? 1 : 0;
}
