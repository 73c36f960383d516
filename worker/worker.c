#include "worker/worker.h"

#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/comm/wire.h"
#include "common/engine/engine.h"
#include "common/util/log.h"
#include "common/util/sig.h"
#include "trice_config.h"

/* Cores this process may run on: its CPU affinity (what Slurm's --cpus-per-task, cgroups
 * cpusets and taskset grant), not every core of the machine. */
static int usable_cores(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static int send_hello(int rank, tr_error *err) {
    Trice__WorkerHello h = TRICE__WORKER_HELLO__INIT;
    char host[HOST_NAME_MAX + 1] = "?";
    gethostname(host, sizeof host);
    host[HOST_NAME_MAX] = '\0';
    h.rank = rank;
    h.host = host;
    h.pid = (int64_t)getpid();
    h.version = (char *)TRICE_VERSION;
    h.cores = (int32_t)usable_cores();
    char backend[400];
    engine_device_describe(backend, sizeof backend);
    h.backend = backend;
    h.protocol = COMM_PROTOCOL_VERSION;
    return wire_send(&h.base, 0, TAG_HELLO, err);
}

int worker_run(int rank, int size, tr_error *err) {
    TR_TRY(send_hello(rank, err));
    LOG_D("registered with the coordinator (world of %d ranks)", size);
    int told_bye = 0;
    struct timespec last_beat;
    clock_gettime(CLOCK_MONOTONIC, &last_beat);
    for (;;) {
        /* Poll so that a signal to this rank is noticed (tell the coordinator once, then keep
         * waiting for its SHUTDOWN so that every rank leaves MPI together), and send a
         * heartbeat every 2 s while idle so that the status endpoint can show liveness. */
        int flag = 0;
        TR_TRY(MPI_CHECK(MPI_Iprobe(0, TAG_COMMAND, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE), err));
        if (!flag) {
            int sig = sig_stop_requested();
            if (sig && !told_bye) {
                TR_TRY(MPI_CHECK(MPI_Send(&sig, 1, MPI_INT, 0, TAG_BYE, MPI_COMM_WORLD), err));
                told_bye = 1;
                LOG_I("signal %d received; asked the coordinator to shut the job down", sig);
            }
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - last_beat.tv_sec >= 2) {
                int one = 1;
                TR_TRY(MPI_CHECK(MPI_Send(&one, 1, MPI_INT, 0, TAG_HEARTBEAT, MPI_COMM_WORLD), err));
                last_beat = now;
            }
            struct timespec d = {0, 5 * 1000000L};
            nanosleep(&d, NULL);
            continue;
        }
        Trice__Command *cmd;
        TR_TRY(wire_recv_command(&cmd, 0, err));
        Trice__Command__Kind kind = cmd->kind;
        if (kind == TRICE__COMMAND__KIND__SHUTDOWN) {
            LOG_D("shutdown: %s", cmd->reason);
            trice__command__free_unpacked(cmd, NULL);
            return 0;
        }
        if (kind == TRICE__COMMAND__KIND__RUN && cmd->spec) {
            char *json = tr_strdup(cmd->spec->json, err);
            trice__command__free_unpacked(cmd, NULL);
            if (!json) return TR_ENOMEM;
            int trc = worker_train(rank, size, json, err);
            free(json);
            if (trc) return trc;
            continue;
        }
        LOG_W("ignoring command kind %d this worker does not know", (int)kind);
        trice__command__free_unpacked(cmd, NULL);
    }
}
