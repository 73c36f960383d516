#include "common/util/sig.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop = 0;
static volatile time_t g_first_s = 0;   /* CLOCK_MONOTONIC seconds of the first stop */

/* clock_gettime is async-signal-safe (POSIX) */
static time_t now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* The first signal asks for a clean stop, which the training loop honours between steps; a
 * phase before the first step (memory initialisation, the evaluation before training) can
 * take minutes, so a second signal quits at once. That loses nothing written: every file
 * the trainer keeps is written to a temp name and renamed (afile.h), and a resume starts
 * from the last complete checkpoint, as after a crash. Only write(2) and _exit(2) here:
 * both are async-signal-safe. */
static void on_signal(int sig) {
    /* One Ctrl-C can reach a rank twice within milliseconds (the terminal's SIGINT and the
     * launcher's forwarded SIGUSR1): only a signal at least 2 s after the first counts as a
     * second one. */
    if (g_stop && now_s() - g_first_s < 2) return;
    if (g_stop) {
        static const char msg[] = "\nsecond stop signal: quitting at once (files written so far are complete; a resume starts from the last checkpoint)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(128 + sig);
    }
    static const char first[] = "\nstop requested: stopping cleanly; a training run checkpoints and stops at its next step boundary (memory initialisation and the evaluation before training run to their end first); a second signal, 2 s or more after this one, quits at once\n";
    ssize_t w = write(STDERR_FILENO, first, sizeof first - 1);
    (void)w;
    g_first_s = now_s();
    g_stop = sig;
}

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

void sig_request_stop(void) {
    if (!g_stop) { g_first_s = now_s(); g_stop = -1; }
}
