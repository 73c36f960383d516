/* httpd.c - the status endpoint's connections, served on the control thread's libuv loop.
 *
 * A deliberately small HTTP/1.1 server: GET and HEAD only, one request per connection
 * (every response says Connection: close), a request head of at most HTTP_HEAD_MAX bytes.
 * What it guards against (issue 11):
 *   - descriptor exhaustion: at most max_conn connections at once (further ones are
 *     accepted and closed at once), each closed after HTTP_IDLE_MS without a complete
 *     request, and max_conn is chosen so that HTTP_FD_RESERVE descriptors stay free for
 *     the training loop's checkpoints whatever the clients do;
 *   - DNS rebinding: bound to loopback, a request whose Host header names anything but a
 *     loopback address is refused (a web page elsewhere cannot read /status through a
 *     browser on this machine);
 *   - reads beyond loopback: with allow_remote, /status and /metrics need the token
 *     (Authorization: Bearer TOKEN, or ?token=TOKEN for a browser).
 * The bodies come from http.c (http_render_*, http_ready).
 */
#include "coordinator/control/http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <uv.h>

#include "common/util/log.h"
#include "coordinator/control/token.h"
#include "coordinator/control/uvconn.h"

enum { HTTP_HEAD_MAX = 8192, HTTP_IDLE_MS = 10000, HTTP_MAX_CONN = 64, HTTP_MIN_CONN = 4, HTTP_FD_RESERVE = 128 };

typedef struct hconn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    struct http_srv *srv;
    struct hconn *prev, *next;
    char *resp;
    size_t len;
    int open_handles;          /* tcp + timer, until both close callbacks ran */
    int closing;
    char buf[HTTP_HEAD_MAX + 1];
} hconn;

struct http_srv {
    uv_tcp_t listener;
    state_core *core;
    int loopback;              /* bound to a loopback address: check Host headers */
    int max_conn, nconn;
    uint64_t rejected;
    hconn *conns;
    int listener_open;
    char *chartjs;             /* Debian's libjs-chart.js, read once at start; NULL when absent */
};

/* ---- addresses ---- */

int http_parse_host(const char *host, int port, struct sockaddr_storage *out, tr_error *err) {
    memset(out, 0, sizeof *out);
    char h[256];
    size_t n = strlen(host);
    if (n >= sizeof h) return TR_FAIL(err, TR_EINVAL, "host '%.40s...' is too long", host);
    /* [v6] brackets as in URLs */
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') snprintf(h, sizeof h, "%.*s", (int)(n - 2), host + 1);
    else snprintf(h, sizeof h, "%s", host);
    if (strcmp(h, "localhost") == 0) snprintf(h, sizeof h, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return TR_FAIL(err, TR_EINVAL, "host '%s' is not a numeric IPv4/IPv6 address or 'localhost'", host);
}

int http_addr_is_loopback(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(x)) return 1;
        if (IN6_IS_ADDR_V4MAPPED(x)) return x->s6_addr[12] == 127;
    }
    return 0;
}

int http_host_is_loopback(const char *host) {
    struct sockaddr_storage a;
    return http_parse_host(host, 0, &a, NULL) == 0 && http_addr_is_loopback(&a);
}

/* ---- connections ---- */

static void on_handle_closed(uv_handle_t *h) {
    hconn *k = h->data;
    if (--k->open_handles > 0) return;
    http_srv *s = k->srv;
    if (k->prev) k->prev->next = k->next; else s->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    s->nconn--;
    free(k->resp);
    free(k);
}

static void conn_close(hconn *k) {
    if (k->closing) return;
    k->closing = 1;
    uv_close((uv_handle_t *)&k->timer, on_handle_closed);
    uv_close((uv_handle_t *)&k->tcp, on_handle_closed);
}

static void on_written(uv_write_t *w, int status) {
    (void)status;
    conn_close(w->data);
}

static void reply(hconn *k, int status, const char *reason, const char *ctype, const char *body, const char *extra, int head_only) {
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + 512 + (extra ? strlen(extra) : 0);
    k->resp = malloc(cap);
    if (!k->resp) { conn_close(k); return; }
    int n = snprintf(k->resp, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\nConnection: close\r\n%s\r\n",
                     status, reason, ctype, blen, extra ? extra : "");
    if (!head_only && blen) memcpy(k->resp + n, body, blen);
    uv_buf_t b = uv_buf_init(k->resp, (unsigned)(n + (head_only ? 0 : blen)));
    k->wr.data = k;
    uv_read_stop((uv_stream_t *)&k->tcp);
    if (uv_write(&k->wr, (uv_stream_t *)&k->tcp, &b, 1, on_written) != 0) conn_close(k);
}

/* The value of header name in the head (lines after the request line), into out. */
static int header(const char *head, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] && !(p[2] == '\r' && p[3] == '\n'); p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = strcspn(v, "\r\n");
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
            if (vl >= cap) return 0;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
    }
    return 0;
}

/* "host[:port]" or "[v6][:port]" names a loopback address. */
static int host_header_ok(const char *v) {
    char h[256];
    snprintf(h, sizeof h, "%s", v);
    char *end = h[0] == '[' ? strchr(h, ']') : strrchr(h, ':');
    if (h[0] == '[') { if (!end) return 0; end[1] = '\0'; }
    else if (end) *end = '\0';
    return http_host_is_loopback(h);
}

static int token_ok(http_srv *s, const char *head, const char *query) {
    char v[TOKEN_MAX + 16];
    const char *given = NULL;
    if (header(head, "Authorization", v, sizeof v) && strncasecmp(v, "Bearer ", 7) == 0) given = v + 7;
    char q[TOKEN_MAX + 1];
    if (!given && query) {
        const char *t = strstr(query, "token=");
        if (t && (t == query || t[-1] == '&')) {
            size_t n = strcspn(t + 6, "&");
            if (n < sizeof q) { memcpy(q, t + 6, n); q[n] = '\0'; given = q; }
        }
    }
    return given && token_equal(s->core->token, given, strlen(given));
}

static void handle(hconn *k) {
    http_srv *s = k->srv;
    state_core *c = s->core;
    pthread_mutex_lock(&c->st.mu);
    c->st.http_requests++;
    pthread_mutex_unlock(&c->st.mu);
    char method[8], target[1024];
    if (sscanf(k->buf, "%7s %1023s HTTP/1.%*c", method, target) != 2) {
        reply(k, 400, "Bad Request", "text/plain; charset=utf-8", "malformed request line\n", NULL, 0);
        return;
    }
    int head_only = strcmp(method, "HEAD") == 0;
    if (!head_only && strcmp(method, "GET") != 0) {
        reply(k, 405, "Method Not Allowed", "text/plain; charset=utf-8", "only GET and HEAD\n", "Allow: GET, HEAD\r\n", 0);
        return;
    }
    char host[256];
    if (s->loopback && (!header(k->buf, "Host", host, sizeof host) || !host_header_ok(host))) {
        reply(k, 403, "Forbidden", "text/plain; charset=utf-8",
              "this daemon listens on loopback and answers only requests addressed to a loopback host "
              "(Host header; protection against DNS rebinding)\n", NULL, head_only);
        return;
    }
    char *query = strchr(target, '?');
    if (query) *query++ = '\0';
    const char *txt = "text/plain; charset=utf-8";
    if (strcmp(target, "/healthz") == 0) { reply(k, 200, "OK", txt, "ok\n", NULL, head_only); return; }
    if (strcmp(target, "/readyz") == 0) {
        char reason[600], body[640];
        int ok = http_ready(c, reason, sizeof reason);
        snprintf(body, sizeof body, "%s\n", reason);
        reply(k, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", txt, body, NULL, head_only);
        return;
    }
    int is_status = strcmp(target, "/status") == 0, is_metrics = strcmp(target, "/metrics") == 0;
    if ((is_status || is_metrics) && c->reads_need_token && !token_ok(s, k->buf, query)) {
        reply(k, 401, "Unauthorized", txt, "this daemon accepts remote connections, so reads need the token: "
              "Authorization: Bearer TOKEN (or ?token=TOKEN)\n", "WWW-Authenticate: Bearer\r\n", head_only);
        return;
    }
    if (is_status || is_metrics) {
        char *b = is_status ? http_render_status(c) : http_render_metrics(c);
        if (!b) { reply(k, 500, "Internal Server Error", txt, "out of memory\n", NULL, head_only); return; }
        reply(k, 200, "OK", is_status ? "application/json" : "text/plain; version=0.0.4; charset=utf-8", b, NULL, head_only);
        free(b);
        return;
    }
    if (strcmp(target, "/") == 0) { reply(k, 200, "OK", "text/html; charset=utf-8", http_page_html, NULL, head_only); return; }
    if (strcmp(target, "/chart.js") == 0 && s->chartjs) {
        reply(k, 200, "OK", "application/javascript; charset=utf-8", s->chartjs, NULL, head_only);
        return;
    }
    reply(k, 404, "Not Found", txt, "not found: /, /status, /metrics, /healthz, /readyz, /chart.js\n", NULL, head_only);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    hconn *k = h->data;
    *b = uv_buf_init(k->buf + k->len, (unsigned)(HTTP_HEAD_MAX - k->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    (void)b;
    hconn *k = st->data;
    if (n < 0) { conn_close(k); return; }
    k->len += (size_t)n;
    k->buf[k->len] = '\0';
    if (strstr(k->buf, "\r\n\r\n")) { uv_timer_stop(&k->timer); handle(k); return; }
    if (k->len >= HTTP_HEAD_MAX)
        reply(k, 431, "Request Header Fields Too Large", "text/plain; charset=utf-8", "request head over 8 KiB\n", NULL, 0);
}

static void on_idle(uv_timer_t *t) { conn_close(t->data); }

static void on_connection(uv_stream_t *l, int status) {
    http_srv *s = l->data;
    if (status < 0) { LOG_W("status endpoint: accept failed: %s", uv_strerror(status)); return; }
    if (s->nconn >= s->max_conn) {
        uvconn_refuse(l);
        uint64_t r = ++s->rejected;
        if ((r & (r - 1)) == 0)
            LOG_W("status endpoint: %d connections open (the cap); refused %llu so far", s->max_conn, (unsigned long long)r);
        return;
    }
    hconn *k = calloc(1, sizeof *k);
    if (!k) return;
    k->srv = s;
    uv_tcp_init(l->loop, &k->tcp);
    uv_timer_init(l->loop, &k->timer);
    k->tcp.data = k->timer.data = k;
    k->open_handles = 2;
    k->next = s->conns;
    if (s->conns) s->conns->prev = k;
    s->conns = k;
    s->nconn++;
    if (uv_accept(l, (uv_stream_t *)&k->tcp) != 0) { conn_close(k); return; }
    uv_timer_start(&k->timer, on_idle, HTTP_IDLE_MS, 0);
    uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
}

/* Connections allowed at once: HTTP_MAX_CONN, fewer when the descriptor limit is low, so
 * that HTTP_FD_RESERVE descriptors stay free for the rest of the process. */
static int conn_cap(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return HTTP_MAX_CONN;
    int open_now = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) { while (readdir(d)) open_now++; closedir(d); }
    long room = (long)rl.rlim_cur - open_now - HTTP_FD_RESERVE;
    if (room < HTTP_MIN_CONN) {
        LOG_W("only %ld descriptors (ulimit -n) beyond the %d kept for training: the status endpoint serves %d connections at once",
              (long)rl.rlim_cur - open_now, HTTP_FD_RESERVE, HTTP_MIN_CONN);
        return HTTP_MIN_CONN;
    }
    return room < HTTP_MAX_CONN ? (int)room : HTTP_MAX_CONN;
}

int http_start(state_core *c, uv_loop_t *loop, const char *addr, int allow_remote, http_srv **out, int *port, tr_error *err) {
    *out = NULL;
    *port = 0;
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host || !colon[1])
        return TR_FAIL(err, TR_EINVAL, "HTTP address '%s': want HOST:PORT, e.g. 127.0.0.1:7871", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535) return TR_FAIL(err, TR_EINVAL, "HTTP address '%s': port must be 0..65535", addr);
    struct sockaddr_storage sa;
    tr_error pe = {0};
    if (http_parse_host(host, (int)p, &sa, &pe))
        return TR_FAIL(err, TR_EINVAL, "HTTP address '%s': %s", addr, pe.msg);
    int loop_back = http_addr_is_loopback(&sa);
    if (!allow_remote && !loop_back)
        return TR_FAIL(err, TR_EINVAL, "HTTP address '%s' is not loopback; binding beyond 127.0.0.1 needs the explicit allow-remote option", addr);
    http_srv *s = tr_calloc(1, sizeof *s, err);
    if (!s) return TR_ENOMEM;
    s->core = c;
    s->loopback = loop_back;
    /* Chart.js for the page, as Debian installs it (the page falls back to numbers without it) */
    tr_error ce = {0};
    if (tr_read_file(HTTP_CHARTJS_PATH, 8 << 20, &s->chartjs, NULL, &ce) != 0) {
        s->chartjs = NULL;
        LOG_W("status page: %s is absent, so the page shows numbers without charts (apt-get install libjs-chart.js)",
              HTTP_CHARTJS_PATH);
    }
    s->max_conn = conn_cap();
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = 1;
    int rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
    if (!rv) rv = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rv) {
        *out = s;   /* the caller closes it with the loop (http_close, then http_free) */
        return TR_FAIL(err, TR_EIO, "HTTP server on %s: %s%s", addr, uv_strerror(rv),
                       rv == UV_EADDRINUSE ? " (another process uses the port; pick another)" : "");
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen) == 0)
        *port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port : ((struct sockaddr_in6 *)&bound)->sin6_port);
    LOG_I("status endpoint on http://%s:%d/ (at most %d connections, %d s idle timeout)", host, *port, s->max_conn, HTTP_IDLE_MS / 1000);
    *out = s;
    return 0;
}

void http_close(http_srv *s) {
    if (!s) return;
    if (s->listener_open) uv_close((uv_handle_t *)&s->listener, NULL);
    s->listener_open = 0;
    for (hconn *k = s->conns; k; k = k->next) conn_close(k);
}

void http_free(http_srv *s) {
    if (s) free(s->chartjs);
    free(s);
}
