/* helpers.h - shared pieces of the control tests: an in-process control plane on free
 * ports, RPC calls in one line, a tiny HTTP GET, and the test daemon as a child process. */
#ifndef TRICE_TESTS_CONTROL_HELPERS_H
#define TRICE_TESTS_CONTROL_HELPERS_H

#include <stddef.h>
#include <sys/types.h>

#include "coordinator/control/client.h"
#include "coordinator/control/control.h"

#define TSPEC_OK "{\"name\": \"t\", \"steps\": 5}"

/* A fresh temp folder (mkdtemp) in dir_out[256]. */
void th_tmpdir(char *dir_out);
/* control_start on dir/registry.db, RPC on a free loopback port, HTTP only if http. */
control *th_start(const char *dir, int http);
/* Contents of dir/token. */
void th_token(const char *dir, char *tok, size_t cap);

/* RPC round trip; aborts the test on a transport failure. Caller frees. */
Trice__Rpc__Response *th_call(const char *url, Trice__Rpc__Request *q);
Trice__Rpc__Response *th_call_raw(const char *url, const void *buf, size_t len);
/* Submit spec_json; returns the response (code may be non-zero). */
Trice__Rpc__Response *th_submit(const char *url, const char *token, const char *spec_json);
Trice__Rpc__Response *th_get(const char *url, const char *id);
Trice__Rpc__Response *th_list(const char *url);
Trice__Rpc__Response *th_simple(const char *url, int kind, const char *token, const char *id);

/* GET path from 127.0.0.1:port; returns the status code, *body malloc'd (caller frees). */
int th_http_get(int port, const char *path, char **body);

/* Start tests/control/test_daemon with the given extra args; waits for its port file.
 * Fills rpc_url[256] and *http_port. Returns the pid. */
pid_t th_daemon_start(const char *dir, const char *extra_args, char *rpc_url, int *http_port);
/* Wait for the child to exit (up to timeout_s); returns its exit status or -1. */
int th_daemon_wait(pid_t pid, double timeout_s);
/* Run a shell command and capture stdout+stderr (truncated at cap); returns the exit status. */
int th_run(const char *cmd, char *out, size_t cap);

void th_sleep_ms(int ms);

#endif
