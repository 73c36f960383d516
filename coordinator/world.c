#include "coordinator/world.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/comm/wire.h"
#include "common/util/log.h"
#include "common/util/sig.h"

int world_register(world *w, int size, int timeout_ms, tr_error *err) {
    memset(w, 0, sizeof *w);
    w->size = size;
    w->nworkers = size - 1;
    if (w->nworkers < 1)
        return TR_FAIL(err, TR_EINVAL, "no workers: launch as 'mpirun -n 1 trice-coordinator : -n W trice-worker' with W >= 1");
    w->workers = tr_calloc((size_t)w->nworkers, sizeof *w->workers, err);
    if (!w->workers) return TR_ENOMEM;
    for (int got = 0; got < w->nworkers; got++) {
        int from = -1;
        TR_TRY(comm_wait_message(MPI_ANY_SOURCE, TAG_HELLO, 5000, timeout_ms, sig_stop_requested, &from, err));
        Trice__WorkerHello *h;
        TR_TRY(wire_recv_hello(&h, from, &from, err));
        int bad = 0;
        if (h->protocol != COMM_PROTOCOL_VERSION)
            bad = TR_FAIL(err, TR_EINVAL, "worker rank %d (host %s) speaks protocol %d, coordinator speaks %d (hint: install the same trice version on every node)",
                          from, h->host, h->protocol, COMM_PROTOCOL_VERSION);
        else if (h->rank != from || from < 1 || from >= size)
            bad = TR_FAIL(err, TR_EINVAL, "hello from rank %d claims rank %d", from, h->rank);
        else if (w->workers[from - 1].rank != 0)
            bad = TR_FAIL(err, TR_EINVAL, "rank %d registered twice", from);
        if (!bad) {
            control_worker *ww = &w->workers[from - 1];
            ww->rank = from;
            snprintf(ww->host, sizeof ww->host, "%s", h->host);
            ww->pid = h->pid;
            snprintf(ww->version, sizeof ww->version, "%s", h->version);
            ww->cores = h->cores;
            snprintf(ww->backend, sizeof ww->backend, "%s", h->backend);
            ww->registered_at = (double)time(NULL);
            LOG_D("worker rank %d registered (%s pid %lld)", from, ww->host, (long long)ww->pid);
        }
        trice__worker_hello__free_unpacked(h, NULL);
        if (bad) return bad;
    }
    return 0;
}

void world_log(const world *w) {
    LOG_I("world: %d worker%s registered", w->nworkers, w->nworkers == 1 ? "" : "s");
    for (int i = 0; i < w->nworkers; i++) {
        const control_worker *ww = &w->workers[i];
        LOG_I("  worker rank %d: host %s, pid %lld, version %s, %d cores, backend %s",
              ww->rank, ww->host, (long long)ww->pid, ww->version, ww->cores, ww->backend);
    }
}

int world_shutdown(const world *w, const char *reason, tr_error *err) {
    for (int r = 1; r < w->size; r++)
        TR_TRY(wire_send_command(r, TRICE__COMMAND__KIND__SHUTDOWN, NULL, NULL, reason, err));
    return 0;
}

void world_free(world *w) {
    free(w->workers);
    w->workers = NULL;
}
