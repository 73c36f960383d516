/* bench_allreduce - the data plane's collective on this host: the exact fixed-point gradient
 * all-reduce (comm_allreduce_sum_fix, 16 bytes per parameter) against a plain float MPI_SUM
 * all-reduce (4 bytes per parameter, not W-independent), for several parameter counts, over
 * all ranks of the job. Prints one JSON object (rank 0).
 *
 *   mpirun -n W bench_allreduce [max_params [repeats]]   (defaults 4194304 and 5)
 *
 * Bus bandwidth is NCCL's convention: 2 (W-1)/W x bytes / seconds, the per-rank traffic of a
 * ring all-reduce, so that figures for different W compare and feed the model in
 * docs/scaling.md. The median of the repeats after one warm-up call is reported. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/comm/comm.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of reps all-reduces of n parameters (fix: fixsum, else float). */
static int time_allreduce(int fix, size_t n, int reps, double *med, tr_error *err) {
    void *buf = calloc(n, fix ? sizeof(fixsum) : sizeof(float));
    double *t = calloc((size_t)reps, sizeof *t);
    if (!buf || !t) { free(buf); free(t); return TR_FAIL(err, TR_ENOMEM, "out of memory for %zu parameters", n); }
    int rc = 0;
    for (int r = -1; r < reps && !rc; r++) {   /* r = -1: warm-up */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        rc = fix ? comm_allreduce_sum_fix(buf, n, MPI_COMM_WORLD, err)
                 : MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), err);
        double dt = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);   /* the slowest rank's */
        if (r >= 0) t[r] = dt;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    *med = t[reps / 2];
    free(buf);
    free(t);
    return rc;
}

int main(int argc, char **argv) {
    int rank, size;
    tr_error err = {0};
    if (comm_init(&argc, &argv, &rank, &size, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    size_t max_n = argc > 1 ? strtoull(argv[1], NULL, 10) : (size_t)1 << 22;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (max_n < 1024 || reps < 1) {
        if (!rank) fprintf(stderr, "usage: bench_allreduce [max_params >= 1024 [repeats >= 1]]\n");
        MPI_Finalize();
        return 2;
    }
    if (!rank) printf("{\"benchmark\": \"all-reduce on this host (tests/bench/bench_allreduce.c)\", \"ranks\": %d, "
                      "\"bus_bandwidth\": \"2 (W-1)/W x bytes / seconds\", \"sizes\": [", size);
    int first = 1, rc = 0;
    for (size_t n = 1024; n <= max_n && !rc; n *= 4) {
        double tf = 0, tx = 0;
        rc = time_allreduce(1, n, reps, &tx, &err);
        if (!rc) rc = time_allreduce(0, n, reps, &tf, &err);
        double ring = size > 1 ? 2.0 * (size - 1) / size : 0;
        if (!rc && !rank)
            printf("%s\n {\"params\": %zu, \"fixsum_bytes\": %zu, \"fixsum_s\": %.6g, \"fixsum_bus_GBps\": %.4g, "
                   "\"f32_bytes\": %zu, \"f32_s\": %.6g, \"f32_bus_GBps\": %.4g}",
                   first ? "" : ",", n, n * sizeof(fixsum), tx, tx > 0 ? ring * (double)(n * sizeof(fixsum)) / tx / 1e9 : 0,
                   n * sizeof(float), tf, tf > 0 ? ring * (double)(n * sizeof(float)) / tf / 1e9 : 0);
        first = 0;
    }
    if (!rank) printf("\n]}\n");
    if (rc) fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    MPI_Finalize();
    return rc ? 1 : 0;
}
