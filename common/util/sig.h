/* sig.h - SIGTERM/SIGINT turn into a "stop requested" flag that loops poll.
 * The handler only stores the signal number; all real work happens in the main loop. A second
 * signal at least 2 s after the first (or after sig_request_stop) exits at once with status
 * 128 + signal; one sooner is taken as the same request arriving twice (see sig.c). The daemon's control thread handles TERM/INT itself (libuv). */
#ifndef TRICE_UTIL_SIG_H
#define TRICE_UTIL_SIG_H

void sig_install(void);
/* 0 when no stop was requested, else the signal number that asked for it. */
int sig_stop_requested(void);
/* Ask for a stop from code (same effect as a signal; sig number 0 reported as -1). */
void sig_request_stop(void);

#endif
