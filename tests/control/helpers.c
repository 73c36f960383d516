#include "helpers.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coordinator/control/rpc.h"
#include "coordinator/control/token.h"

void th_sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

void th_tmpdir(char *dir_out) {
    snprintf(dir_out, 256, "/tmp/trice-ctl-XXXXXX");
    cr_assert_not_null(mkdtemp(dir_out), "mkdtemp: %s", strerror(errno));
}

control *th_start(const char *dir, int http) {
    char db[512];
    snprintf(db, sizeof db, "%s/registry.db", dir);
    control_opts o = {0};
    o.db_path = db;
    o.rpc_url = "tcp://127.0.0.1:0";
    o.http_addr = http ? "127.0.0.1:0" : "";
    control *c = NULL;
    tr_error err = {0};
    int rc = control_start(&o, &c, &err);
    cr_assert_eq(rc, 0, "control_start: %s", err.msg);
    return c;
}

void th_token(const char *dir, char *tok, size_t cap) {
    char p[512];
    snprintf(p, sizeof p, "%s/token", dir);
    tr_error err = {0};
    cr_assert_eq(token_read(p, tok, cap, &err), 0, "%s", err.msg);
}

Trice__Rpc__Response *th_call_raw(const char *url, const void *buf, size_t len) {
    rpc_client *c = NULL;
    tr_error err = {0};
    cr_assert_eq(rpc_client_open(url, 20000, &c, &err), 0, "%s", err.msg);
    Trice__Rpc__Response *r = NULL;
    int rc = rpc_client_call_raw(c, buf, len, &r, &err);
    rpc_client_close(c);
    cr_assert_eq(rc, 0, "rpc call: %s", err.msg);
    return r;
}

Trice__Rpc__Response *th_call(const char *url, Trice__Rpc__Request *q) {
    size_t n = trice__rpc__request__get_packed_size(q);
    uint8_t *b = malloc(n + 1);
    trice__rpc__request__pack(q, b);
    Trice__Rpc__Response *r = th_call_raw(url, b, n);
    free(b);
    return r;
}

Trice__Rpc__Response *th_simple(const char *url, int kind, const char *token, const char *id) {
    Trice__Rpc__Request q = TRICE__RPC__REQUEST__INIT;
    q.kind = (Trice__Rpc__Request__Kind)kind;
    if (token) q.token = (char *)token;
    if (id) q.id = (char *)id;
    return th_call(url, &q);
}

Trice__Rpc__Response *th_submit(const char *url, const char *token, const char *spec_json) {
    Trice__Rpc__Request q = TRICE__RPC__REQUEST__INIT;
    q.kind = TRICE__RPC__REQUEST__KIND__SUBMIT;
    q.token = (char *)token;
    q.spec_json = (char *)spec_json;
    return th_call(url, &q);
}

Trice__Rpc__Response *th_get(const char *url, const char *id) { return th_simple(url, TRICE__RPC__REQUEST__KIND__GET, NULL, id); }
Trice__Rpc__Response *th_list(const char *url) { return th_simple(url, TRICE__RPC__REQUEST__KIND__LIST, NULL, NULL); }

int th_http_get(int port, const char *path, char **body) {
    *body = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect to 127.0.0.1:%d: %s", port, strerror(errno));
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t k = read(fd, buf + len, cap - len - 1);
        if (k <= 0) break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    cr_assert_eq(sscanf(buf, "HTTP/1.%*d %d", &status), 1, "not an HTTP response: %.80s", buf);
    char *b = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(b);
    *body = strdup(b + 4);
    free(buf);
    return status;
}

pid_t th_daemon_start(const char *dir, const char *extra_args, char *rpc_url, int *http_port) {
    char portfile[512], cmd[2048];
    snprintf(portfile, sizeof portfile, "%s/ports", dir);
    unlink(portfile);
    snprintf(cmd, sizeof cmd, "exec %s --db %s/registry.db --port-file %s %s", TRICE_TEST_DAEMON, dir, portfile, extra_args);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%255s %d", rpc_url, http_port) == 2;
            fclose(f);
            if (ok) return pid;
        }
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "test daemon exited early (status %d)", st);
        th_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    cr_assert_fail("test daemon did not write %s within 20 s", portfile);
    return -1;
}

int th_daemon_wait(pid_t pid, double timeout_s) {
    for (int i = 0; i < (int)(timeout_s * 20); i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        th_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int th_run(const char *cmd, char *out, size_t cap) {
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
