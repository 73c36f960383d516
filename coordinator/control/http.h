/* http.h - the status endpoint (nng's HTTP server).
 *
 *   /healthz  200 "ok" while the process serves
 *   /readyz   200 when every worker registered and is heard from, and nothing is fatal; else 503 + reason
 *   /status   JSON: world, workers with last heartbeat, current experiment, recent steps, queue
 *   /metrics  Prometheus text format 0.0.4, trice_ prefix
 *   /         an HTML page with live charts (polls /status; Chart.js from /chart.js)
 *   /chart.js Debian's libjs-chart.js, when installed
 * Handlers run on nng's threads and only read the snapshot under st.mu.
 */
#ifndef TRICE_CONTROL_HTTP_H
#define TRICE_CONTROL_HTTP_H

#include "coordinator/control/state.h"

typedef struct http_srv http_srv;

/* Serve on addr ("HOST:PORT"; port 0 picks one). A non-loopback host needs allow_remote. */
int http_start(ctl_core *c, const char *addr, int allow_remote, http_srv **out, int *port, tr_error *err);
void http_stop(http_srv *h);

/* The bodies, for tests; caller frees. */
char *http_render_status(ctl_core *c);
char *http_render_metrics(ctl_core *c);
/* 1 = ready; otherwise reason (cap bytes) says why not. */
int http_ready(ctl_core *c, char *reason, size_t cap);

/* Debian's libjs-chart.js (Chart.js 3), served at /chart.js for the page. */
#define CONTROL_CHARTJS_PATH "/usr/share/javascript/chart.js/chart.min.js"

/* The page served at / (page.c). */
extern const char control_page_html[];

/* 1 for 127.0.0.0/8, ::1 and "localhost". */
int control_host_is_loopback(const char *host);

#endif
