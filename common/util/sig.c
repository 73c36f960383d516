#include "common/util/sig.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) { g_stop = sig; }

void sig_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* mpirun forwards USR1 to every rank: the launcher turns TERM/INT into it */
    signal(SIGPIPE, SIG_IGN);
}

int sig_stop_requested(void) { return (int)g_stop; }

void sig_request_stop(void) { if (!g_stop) g_stop = -1; }
