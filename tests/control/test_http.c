/* The status endpoint: /healthz, /readyz, /status as JSON, /metrics in the Prometheus
 * text format 0.0.4 (checked line by line), and the self-contained page. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util/log.h"
#include "coordinator/control/http.h"
#include "helpers.h"

static void quiet(void) { log_init(-1, "test", LOG_ERROR); }

static control *busy_daemon(char *dir, char *id) {
    char tok[300];
    th_tmpdir(dir);
    control *c = th_start(dir, 1);
    th_token(dir, tok, sizeof tok);
    control_worker w[2] = {{.rank = 1, .host = "node\"a", .pid = 11, .version = "t", .cores = 4, .backend = "cpu"},
                           {.rank = 2, .host = "nodeb", .pid = 12, .version = "t", .cores = 4, .backend = "cpu"}};
    cr_assert_eq(control_set_world(c, w, 2, NULL), 0);
    Trice__Rpc__Response *r = th_submit(control_rpc_url(c), tok, "{\"name\": \"web\", \"steps\": 9}");
    cr_assert_eq(r->code, 0, "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    r = th_submit(control_rpc_url(c), tok, "{\"name\": \"next\", \"steps\": 9}");
    trice__rpc__response__free_unpacked(r, NULL);
    control_claim *cl = malloc(sizeof *cl);
    cr_assert_eq(control_next_experiment(c, cl), 1);
    snprintf(id, 64, "%s", cl->id);
    for (int s = 1; s <= 3; s++) {
        control_progress p = {0};
        p.step = s; p.total_steps = 9; p.proposal_acc = 0.1 * s; p.memory_acc = 0.2 * s; p.beta = 0.5; p.loss = 2.0 / s;
        /* held-out accuracy measured after step 2 and carried as "the latest" afterwards */
        p.eval_acc = s >= 2 ? 0.3 : NAN; p.eval_step = s >= 2 ? 2 : 0; p.tokens = 100;
        snprintf(p.stage, sizeof p.stage, "trice");
        p.stage_index = p.stage_count = 1; p.sample_s = 0.5; p.grad_s = 0.25; p.eta_s = 60;
        control_progress_post(c, id, &p);
    }
    control_checkpoint_saved(c, id);
    free(cl);
    return c;
}

Test(http, healthz_and_readyz_follow_the_world, .init = quiet) {
    char dir[256], *body;
    th_tmpdir(dir);
    control *c = th_start(dir, 1);
    int port = control_http_port(c);
    cr_assert_gt(port, 0);
    cr_assert_eq(th_http_get(port, "/healthz", &body), 200);
    cr_assert_str_eq(body, "ok\n");
    free(body);
    cr_assert_eq(th_http_get(port, "/readyz", &body), 503, "not ready before the workers register");
    cr_assert(strstr(body, "not registered"), "%s", body);
    free(body);
    control_worker w = {.rank = 1, .host = "h", .pid = 1, .version = "v", .cores = 1, .backend = "cpu"};
    control_set_world(c, &w, 1, NULL);
    cr_assert_eq(th_http_get(port, "/readyz", &body), 200, "%s", body);
    free(body);
    control_set_fatal(c, "worker 1 vanished");
    cr_assert_eq(th_http_get(port, "/readyz", &body), 503);
    cr_assert(strstr(body, "worker 1 vanished"), "%s", body);
    free(body);
    cr_assert_eq(th_http_get(port, "/no-such-page", &body), 404);
    free(body);
    control_free(c);
}

Test(http, status_is_json_with_world_current_recent_and_queue, .init = quiet) {
    char dir[256], id[64], *body;
    control *c = busy_daemon(dir, id);
    cr_assert_eq(th_http_get(control_http_port(c), "/status", &body), 200);
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    cr_assert_not_null(j, "/status is not JSON: %s (line %d): %.200s", je.text, je.line, body);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "world"), "workers")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "world"), "alive")), 2);
    json_t *ws = json_object_get(j, "workers");
    cr_assert_eq(json_array_size(ws), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ws, 0), "host")), "node\"a");
    cr_assert(json_real_value(json_object_get(json_array_get(ws, 0), "last_heartbeat")) > 0);
    json_t *cur = json_object_get(j, "current");
    cr_assert_str_eq(json_string_value(json_object_get(cur, "id")), id);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(cur, "progress"), "step")), 3);
    json_t *rec = json_object_get(j, "recent");
    cr_assert_eq(json_array_size(rec), 3);
    cr_assert(json_is_null(json_object_get(json_array_get(rec, 0), "eval_acc")), "NaN becomes null");
    cr_assert_float_eq(json_real_value(json_object_get(json_array_get(rec, 1), "eval_acc")), 0.3, 1e-12);
    cr_assert(json_is_null(json_object_get(json_array_get(rec, 2), "eval_acc")), "a carried accuracy is not a new point");
    json_t *cp = json_object_get(cur, "progress");
    cr_assert_float_eq(json_real_value(json_object_get(cp, "eval_acc")), 0.3, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(cp, "eval_step")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(cp, "stage")), "trice");
    json_t *q = json_object_get(j, "queue");
    cr_assert_eq(json_array_size(q), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(q, 0), "name")), "next");
    cr_assert(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
    free(body);
    control_free(c);
}

/* Prometheus text format 0.0.4: comments (# HELP name text / # TYPE name type), samples
 * name{label="value",...} value, every sample preceded by the TYPE of its family. */
Test(http, metrics_follow_the_exposition_format, .init = quiet) {
    char dir[256], id[64], *body;
    control *c = busy_daemon(dir, id);
    cr_assert_eq(th_http_get(control_http_port(c), "/metrics", &body), 200);
    regex_t help, type, sample;
    /* label values: any characters, with \\ \" and \n escaped */
    cr_assert_eq(regcomp(&help, "^# HELP ((trice|process)_[a-z_]+) [^\n]+$", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&type, "^# TYPE ((trice|process)_[a-z_]+) (gauge|counter)$", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&sample,
                         "^((trice|process)_[a-z_]+)(\\{[a-z_]+=\"([^\"\\\\]|\\\\.)*\"(,[a-z_]+=\"([^\"\\\\]|\\\\.)*\")*\\})? "
                         "(NaN|[+-]Inf|-?[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?)$", REG_EXTENDED), 0);
    char family[128] = "", ftype[16] = "";
    int nsamples = 0, seen_counter_total = 0;
    double step = -1, tokens = -1, alive = -1, accept = -1, ckpt = -1, rss = -1, fds = -1, started = -1, cpu = -1, evacc = -1;
    char *save = NULL;
    for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[8];
        if (regexec(&help, line, 2, m, 0) == 0) continue;
        if (regexec(&type, line, 4, m, 0) == 0) {
            snprintf(family, sizeof family, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
            snprintf(ftype, sizeof ftype, "%.*s", (int)(m[3].rm_eo - m[3].rm_so), line + m[3].rm_so);
            if (strcmp(ftype, "counter") == 0) {
                cr_assert(strlen(family) > 6 && strcmp(family + strlen(family) - 6, "_total") == 0, "counter %s must end in _total", family);
                seen_counter_total++;
            }
            continue;
        }
        cr_assert_eq(regexec(&sample, line, 8, m, 0), 0, "not a valid sample line: '%s'", line);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
        cr_assert_str_eq(name, family, "sample '%s' outside its family's TYPE block", line);
        double v = strtod(strrchr(line, ' ') + 1, NULL);
        if (strcmp(name, "trice_step") == 0) step = v;
        if (strcmp(name, "trice_tokens_total") == 0) tokens = v;
        if (strcmp(name, "trice_workers_alive") == 0) alive = v;
        if (strcmp(name, "trice_proposal_acceptance_ratio") == 0) accept = v;
        if (strcmp(name, "trice_last_checkpoint_timestamp_seconds") == 0) ckpt = v;
        if (strcmp(name, "process_resident_memory_bytes") == 0) rss = v;
        if (strcmp(name, "trice_eval_accuracy_ratio") == 0) evacc = v;
        if (strcmp(name, "process_open_fds") == 0) fds = v;
        if (strcmp(name, "process_start_time_seconds") == 0) started = v;
        if (strcmp(name, "process_cpu_seconds_total") == 0) cpu = v;
        cr_assert(strstr(line, "kind=\"none\"") == NULL, "a 'none' series is exported: %s", line);
        cr_assert(strstr(line, "phase=\"grad\"") == NULL && strstr(line, "phase=\"optim\"") == NULL,
                  "phase names differ from the log's: %s", line);
        if (strcmp(name, "trice_step") == 0) {
            char want[128];
            snprintf(want, sizeof want, "{experiment=\"%s\",stage=", id);
            cr_assert(strstr(line, want) != NULL, "the running experiment's series lacks its label: %s", line);
        }
        nsamples++;
    }
    cr_assert_gt(nsamples, 20);
    cr_assert_geq(seen_counter_total, 5);
    cr_assert_float_eq(step, 3, 0);
    cr_assert_float_eq(tokens, 300, 0);
    cr_assert_float_eq(alive, 2, 0);
    cr_assert_float_eq(accept, 0.3, 1e-9);
    cr_assert_gt(ckpt, 1e9);
    cr_assert_float_eq(evacc, 0.3, 1e-12);
    cr_assert_gt(rss, 1e6);
    cr_assert_geq(fds, 3);
    cr_assert_gt(started, 1e9);
    cr_assert_geq(cpu, 0);
    regfree(&help);
    regfree(&type);
    regfree(&sample);
    free(body);
    control_free(c);
}

Test(http, page_is_self_contained_with_four_charts, .init = quiet) {
    char dir[256], *body;
    th_tmpdir(dir);
    control *c = th_start(dir, 1);
    cr_assert_eq(th_http_get(control_http_port(c), "/", &body), 200);
    cr_assert(strstr(body, "<canvas id=\"c_eval\""));
    cr_assert(strstr(body, "<canvas id=\"c_acc\""));
    cr_assert(strstr(body, "<canvas id=\"c_beta\""));
    cr_assert(strstr(body, "<canvas id=\"c_loss\""));
    cr_assert(strstr(body, "fetch('/status'"));
    cr_assert_null(strstr(body, "http://"), "no external assets");
    cr_assert_null(strstr(body, "https://"), "no external assets");
    /* the one script it loads is Chart.js, served by the daemon itself (Debian's libjs-chart.js) */
    const char *src = strstr(body, "src=");
    cr_assert(src && strncmp(src, "src=\"/chart.js\"", 15) == 0, "the page loads /chart.js");
    cr_assert_null(strstr(src + 4, "src="), "no other scripts or images");
    free(body);
    if (access(HTTP_CHARTJS_PATH, R_OK) == 0) {
        cr_assert_eq(th_http_get(control_http_port(c), "/chart.js", &body), 200);
        cr_assert(strstr(body, "Chart.js v3"), "Debian's Chart.js 3 is served");
        free(body);
    }
    control_free(c);
}

/* ---- issue 11: Host header, token for remote reads, connection cap and idle timeout ---- */

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Send a raw request; returns the status code (0 when the server closed without answering). */
static int raw_get(int port, const char *request) {
    int fd = tcp_connect(port);
    cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}

Test(http, on_loopback_only_loopback_host_headers_are_answered, .init = quiet) {
    char dir[256];
    th_tmpdir(dir);
    control *c = th_start(dir, 1);
    int port = control_http_port(c);
    cr_assert_eq(raw_get(port, "GET /status HTTP/1.1\r\nHost: evil.example\r\n\r\n"), 403, "DNS rebinding: a foreign Host");
    cr_assert_eq(raw_get(port, "GET /status HTTP/1.1\r\nHost: 127.0.0.1.evil.example:80\r\n\r\n"), 403);
    cr_assert_eq(raw_get(port, "GET /status HTTP/1.1\r\n\r\n"), 403, "no Host at all");
    cr_assert_eq(raw_get(port, "GET /status HTTP/1.1\r\nHost: localhost:7871\r\n\r\n"), 200);
    cr_assert_eq(raw_get(port, "GET /status HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"), 200, "header names are case-insensitive");
    cr_assert_eq(raw_get(port, "GET /status HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 200);
    cr_assert_eq(raw_get(port, "POST /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 405);
    control_free(c);
}

Test(http, with_allow_remote_reads_need_the_token, .init = quiet) {
    char dir[256], db[400], tok[300], req[600];
    th_tmpdir(dir);
    snprintf(db, sizeof db, "%s/registry.db", dir);
    control_opts o = {0};
    o.db_path = db;
    o.rpc_url = "";
    o.http_addr = "0.0.0.0:0";
    o.allow_remote = 1;
    control *c = NULL;
    tr_error err = {0};
    cr_assert_eq(control_start(&o, &c, &err), 0, "%s", err.msg);
    th_token(dir, tok, sizeof tok);
    int port = control_http_port(c);
    cr_assert_eq(raw_get(port, "GET /status HTTP/1.1\r\nHost: node7\r\n\r\n"), 401, "no token");
    cr_assert_eq(raw_get(port, "GET /metrics HTTP/1.1\r\nHost: node7\r\nAuthorization: Bearer 00112233\r\n\r\n"), 401, "wrong token");
    snprintf(req, sizeof req, "GET /status HTTP/1.1\r\nHost: node7\r\nAuthorization: Bearer %s\r\n\r\n", tok);
    cr_assert_eq(raw_get(port, req), 200);
    snprintf(req, sizeof req, "GET /metrics?token=%s HTTP/1.1\r\nHost: node7\r\n\r\n", tok);
    cr_assert_eq(raw_get(port, req), 200, "the page's way: ?token=");
    cr_assert_eq(raw_get(port, "GET /healthz HTTP/1.1\r\nHost: node7\r\n\r\n"), 200, "probes stay open");
    control_free(c);
}

/* Issue 11, defect 3: idle connections were never timed out or capped. */
Test(http, idle_connections_are_capped_and_timed_out, .init = quiet, .timeout = 120) {
    char dir[256];
    th_tmpdir(dir);
    control *c = th_start(dir, 1);
    int port = control_http_port(c);
    enum { N = 100 };
    int fds[N];
    for (int i = 0; i < N; i++) fds[i] = tcp_connect(port);
    /* beyond the cap the server closes at once: some reads end without waiting */
    int closed_at_once = 0;
    for (int i = 0; i < N; i++) {
        struct timeval tv = {0, 200000};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char b;
        if (read(fds[i], &b, 1) <= 0 && errno != EAGAIN && errno != EWOULDBLOCK) closed_at_once++;
        errno = 0;
    }
    cr_assert_geq(closed_at_once, N - 64, "%d of %d idle connections refused; the cap is 64", closed_at_once, N);
    /* the rest are closed by the server after the idle timeout (10 s) */
    int closed = 0;
    for (int i = 0; i < N; i++) {
        struct timeval tv = {30, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char b;
        if (read(fds[i], &b, 1) == 0 || errno == ECONNRESET) closed++;
        close(fds[i]);
    }
    cr_assert_eq(closed, N, "every idle connection was closed by the server");
    char *body = NULL;
    cr_assert_eq(th_http_get(port, "/healthz", &body), 200, "served again once they are gone");
    free(body);
    control_free(c);
}
