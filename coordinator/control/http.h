/* http.h - the status endpoint (a small HTTP server on the control thread's libuv loop, httpd.c).
 *
 *   /healthz  200 "ok" while the process serves
 *   /readyz   200 when every worker registered and is heard from, and nothing is fatal; else 503 + reason
 *   /status   JSON: world, workers with last heartbeat, current experiment, recent steps, queue
 *   /metrics  Prometheus text format 0.0.4, trice_ prefix
 *   /         an HTML page with live charts (polls /status; Chart.js from /chart.js)
 *   /chart.js Debian's libjs-chart.js, when installed
 * Requests are served on the control thread; the bodies only read the snapshot under st.mu.
 * With allow_remote, /status and /metrics need the token; bound to loopback, requests must
 * name a loopback Host (DNS rebinding). Connections are capped and time out (httpd.c).
 */
#ifndef TRICE_CONTROL_HTTP_H
#define TRICE_CONTROL_HTTP_H

#include <sys/socket.h>
#include <uv.h>

#include "coordinator/control/state.h"

typedef struct http_srv http_srv;

/* Serve on addr ("HOST:PORT", HOST a numeric IPv4/[IPv6] address or localhost; port 0
 * picks one) on loop, before the loop runs. A non-loopback host needs allow_remote. On a
 * bind failure *out is still set: close it like a started one. */
int http_start(state_core *c, uv_loop_t *loop, const char *addr, int allow_remote, http_srv **out, int *port, tr_error *err);
/* On the loop's thread: stop listening and close every connection (the loop then ends). */
void http_close(http_srv *h);
/* After the loop ended. NULL is fine. */
void http_free(http_srv *h);

/* The bodies, for tests; caller frees. */
char *http_render_status(state_core *c);
char *http_render_metrics(state_core *c);
/* 1 = ready; otherwise reason (cap bytes) says why not. */
int http_ready(state_core *c, char *reason, size_t cap);

/* Debian's libjs-chart.js (Chart.js 3), served at /chart.js for the page. */
#define HTTP_CHARTJS_PATH "/usr/share/javascript/chart.js/chart.min.js"

/* The page served at / (page.c). */
extern const char http_page_html[];

/* Parse a numeric host ("127.0.0.1", "::1", "[::1]") or "localhost" with port into out.
 * Anything else (names, "127.0.0.1@0.0.0.0") is TR_EINVAL: addresses are parsed, not matched
 * as strings. */
int http_parse_host(const char *host, int port, struct sockaddr_storage *out, tr_error *err);
/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int http_addr_is_loopback(const struct sockaddr_storage *a);
/* http_parse_host succeeds and the address is loopback. */
int http_host_is_loopback(const char *host);

#endif
