/* control.c - the control thread (libuv loop) and the training loop's side of the API.
 *
 * Threads: the training loop calls the control_* functions (they only touch the snapshot
 * under st.mu and queue registry writes); the control thread (uv loop) owns the registry:
 * it serves the RPC connections (rpcd.c), runs each request through rpc_handle() as it
 * arrives, serves the HTTP status endpoint (httpd.c) and applies queued writes.
 *
 * RPC transport: nng's REQ/REP wire protocol over TCP, served by rpcd.c rather than an nng
 * REP socket (rpcd.h says why); its limits against clients that pipeline requests without
 * reading, hold connections open or send garbage are described there.
 */
#include "coordinator/control/control.h"

#include <math.h>
#include <netdb.h>
#include <nng/nng.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/util/afile.h"
#include "common/util/log.h"
#include "common/util/path.h"
#include "common/util/sig.h"
#include "coordinator/control/http.h"
#include "coordinator/control/rpc.h"
#include "coordinator/control/rpcd.h"
#include "coordinator/control/state.h"

enum { RPC_IDLE_S = 60 };   /* default control_opts.rpc_idle_s */

struct control {
    state_core core;
    uv_loop_t loop;
    uv_async_t wake;
    uv_signal_t sig_term, sig_int;
    uv_timer_t tick;
    uv_thread_t thread;
    int loop_ready, handles_ready, thread_running, stop_flag, stopped, handle_signals;
    int alive_prev;                 /* workers alive at the last tick, to log changes once */
    /* RPC transport (rpcd.c) */
    rpc_srv *rpc;
    double rpc_idle_s;              /* close a connection without a request for this long */
    char rpc_url[512];
    http_srv *http;
    int http_port;
};

static void wake_loop(control *c) {
    pthread_mutex_lock(&c->core.st.mu);
    int run = c->thread_running;
    pthread_mutex_unlock(&c->core.st.mu);
    if (run) uv_async_send(&c->wake);
}

/* ---- control thread ---- */

/* One RPC request, answered on this thread (rpcd.c calls it from the loop). */
static void serve_rpc(void *arg, const uint8_t *req, size_t len, uint8_t **out, size_t *n) {
    control *c = arg;
    if (rpc_handle(&c->core, req, len, out, n) != 0) {
        LOG_E("out of memory answering an RPC request; replying with an empty message");
        *out = NULL;
        *n = 0;
    }
}

static void close_cb(uv_handle_t *h) { (void)h; }

static void begin_close(control *c) {
    rpcd_close(c->rpc);   /* requests not yet answered are dropped */
    state_apply_ops(&c->core);
    http_close(c->http);
    if (c->handles_ready) {
        uv_close((uv_handle_t *)&c->wake, close_cb);
        uv_close((uv_handle_t *)&c->tick, close_cb);
    }
    if (c->handle_signals && c->handles_ready) {
        uv_close((uv_handle_t *)&c->sig_term, close_cb);
        uv_close((uv_handle_t *)&c->sig_int, close_cb);
    }
}

static void on_wake(uv_async_t *h) {
    control *c = h->data;
    state_apply_ops(&c->core);
    pthread_mutex_lock(&c->core.st.mu);
    int stop = c->stop_flag;
    pthread_mutex_unlock(&c->core.st.mu);
    if (stop) begin_close(c);
}

static void on_signal(uv_signal_t *h, int signum) {
    control *c = h->data;
    LOG_I("signal %d received: shutdown requested (the running experiment checkpoints first)", signum);
    pthread_mutex_lock(&c->core.st.mu);
    c->core.st.shutdown = 1;
    pthread_mutex_unlock(&c->core.st.mu);
    sig_request_stop();   /* code that polls sig.h sees it too */
}

static void on_tick(uv_timer_t *h) {
    control *c = h->data;
    state_apply_ops(&c->core);
    rpcd_tick(c->rpc);
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    int alive = state_workers_alive(s, state_now()), n = s->nworkers;
    pthread_mutex_unlock(&s->mu);
    if (n && alive < n && alive != c->alive_prev) {
        char who[256];
        control_silent_workers(c, who, sizeof who);
        LOG_W("%d of %d workers silent for more than %.0f s (%s)", n - alive, n, s->heartbeat_timeout_s, who);
    }
    c->alive_prev = alive;
}

static void loop_main(void *arg) {
    control *c = arg;
    /* A write to a connection its peer has reset fails with EPIPE, where it would otherwise
     * raise SIGPIPE and kill the process (the daemon ignores it, sig.c; a process that embeds
     * the control plane may not): blocked on this thread, it stays pending, harmless. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    /* Every handle is closed; close the loop on the thread that ran it. */
    if (uv_loop_close(&c->loop) != 0) LOG_W("control loop closed with handles still open");
}

/* ---- start / stop ---- */

static int folder_of(const char *path, char *out, size_t cap, tr_error *err) {
    const char *sl = strrchr(path, '/');
    if (!sl) return path_fmt(out, cap, err, ".");
    if (sl == path) return path_fmt(out, cap, err, "/");
    return path_fmt(out, cap, err, "%.*s", (int)(sl - path), path);
}

/* The address of url (tcp://HOST:PORT, HOST numeric or localhost; with allow_remote also
 * a name, or empty for every interface) into sa, host into host[cap]. */
static int rpc_addr(const char *url, int allow_remote, struct sockaddr_storage *sa, char *host, size_t cap, tr_error *err) {
    nng_url *u = NULL;
    int rv = nng_url_parse(&u, url);
    if (rv) return TR_FAIL(err, TR_EINVAL, "RPC address '%s': %s (want e.g. %s)", url, nng_strerror(rv), CONTROL_DEFAULT_RPC_URL);
    int is_tcp = strcmp(u->u_scheme, "tcp") == 0 || strcmp(u->u_scheme, "tcp4") == 0 || strcmp(u->u_scheme, "tcp6") == 0;
    /* Every network scheme must bind a host that parses as a loopback address, unless
     * allowed; and a user@ part is never taken for the host. */
    int userinfo = u->u_userinfo != NULL && u->u_userinfo[0];
    int ok = !userinfo && (allow_remote || http_host_is_loopback(u->u_hostname ? u->u_hostname : ""));
    snprintf(host, cap, "%s", u->u_hostname ? u->u_hostname : "");
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%s", u->u_port ? u->u_port : "");
    nng_url_free(u);
    if (!ok)
        return TR_FAIL(err, TR_EINVAL, "RPC address '%s' is not loopback (the host must be 127.x.x.x, ::1 or localhost, without "
                       "a user@ part); binding beyond loopback needs the explicit allow-remote option", url);
    if (!is_tcp)
        return TR_FAIL(err, TR_EINVAL, "RPC address '%s': the daemon serves RPC over tcp:// only (e.g. %s)", url, CONTROL_DEFAULT_RPC_URL);
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!port_s[0] || *end || port < 0 || port > 65535)
        return TR_FAIL(err, TR_EINVAL, "RPC address '%s': want tcp://HOST:PORT with a port 0..65535 (e.g. %s)", url, CONTROL_DEFAULT_RPC_URL);
    if (http_parse_host(host[0] ? host : "0.0.0.0", (int)port, sa, NULL) == 0) return 0;
    /* a name (allow_remote only: loopback hosts are numeric or localhost) */
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((rv = getaddrinfo(host, NULL, &hints, &res)) != 0 || !res)
        return TR_FAIL(err, TR_EINVAL, "RPC address '%s': cannot resolve '%s': %s", url, host, gai_strerror(rv));
    memset(sa, 0, sizeof *sa);
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    if (sa->ss_family == AF_INET) ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    else ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

static int rpc_listen(control *c, const char *url, int allow_remote, tr_error *err) {
    struct sockaddr_storage sa;
    char host[256];
    int rc = rpc_addr(url, allow_remote, &sa, host, sizeof host, err);
    if (rc) return rc;
    int port = 0;
    tr_error le = {0};
    if ((rc = rpcd_start(&c->loop, (const struct sockaddr *)&sa, c->rpc_idle_s, serve_rpc, c, &c->rpc, &port, &le)) != 0)
        return TR_FAIL(err, TR_EIO, "RPC listen on %s: %s%s", url, le.msg,
                       strstr(le.msg, "address already in use") ? " (another process uses the port: is a daemon already running?)" : "");
    snprintf(c->rpc_url, sizeof c->rpc_url, strchr(host, ':') ? "tcp://[%s]:%d" : "tcp://%s:%d", host, port);
    LOG_I("RPC on %s", c->rpc_url);
    return 0;
}

int control_start(const control_opts *o, control **out, tr_error *err) {
    *out = NULL;
    if (!o || !o->db_path || !o->db_path[0]) return TR_FAIL(err, TR_EINVAL, "control_start: db_path is required");
    control *c = tr_calloc(1, sizeof *c, err);
    if (!c) return TR_ENOMEM;
    char dir[PATH_BUF], token_path[PATH_BUF], root[PATH_BUF];
    int rc = folder_of(o->db_path, dir, sizeof dir, err);
    if (!rc) rc = o->token_file && o->token_file[0] ? path_fmt(token_path, sizeof token_path, err, "%s", o->token_file)
                                                     : path_fmt(token_path, sizeof token_path, err, "%s/token", dir);
    if (!rc) rc = o->experiments_root && o->experiments_root[0] ? path_fmt(root, sizeof root, err, "%s", o->experiments_root)
                                                                 : path_fmt(root, sizeof root, err, "%s/runs", dir);
    char token[TOKEN_HEX_LEN + 1];
    if (!rc) rc = token_load_or_create(token_path, token, err);
    if (!rc) rc = state_core_init(&c->core, o->db_path, token, root, o->max_crashes, err);
    if (!rc && o->n_data_roots) {
        rc = paths_roots_init(&c->core.roots, c->core.exp_root, o->data_roots, o->n_data_roots, err);
        if (rc) state_core_free(&c->core);
    }
    if (rc) { free(c); return rc; }
    memset(token, 0, sizeof token);
    c->core.reads_need_token = o->allow_remote;
    if (o->heartbeat_timeout_s > 0) c->core.st.heartbeat_timeout_s = o->heartbeat_timeout_s;
    c->handle_signals = o->handle_signals;
    c->rpc_idle_s = o->rpc_idle_s > 0 ? o->rpc_idle_s : RPC_IDLE_S;
    const char *rpc_url = o->rpc_url ? o->rpc_url : CONTROL_DEFAULT_RPC_URL;
    const char *http_addr = o->http_addr ? o->http_addr : CONTROL_DEFAULT_HTTP_ADDR;
    if (uv_loop_init(&c->loop) != 0) rc = TR_FAIL(err, TR_EIO, "libuv loop init failed");
    else c->loop_ready = 1;
    if (!rc && rpc_url[0]) rc = rpc_listen(c, rpc_url, o->allow_remote, err);
    if (!rc && http_addr[0]) rc = http_start(&c->core, &c->loop, http_addr, o->allow_remote, &c->http, &c->http_port, err);
    if (!rc) {
        c->handles_ready = 1;
        c->wake.data = c->tick.data = c->sig_term.data = c->sig_int.data = c;
        uv_async_init(&c->loop, &c->wake, on_wake);
        uv_timer_init(&c->loop, &c->tick);
        uv_timer_start(&c->tick, on_tick, 1000, 1000);
        if (c->handle_signals) {
            uv_signal_init(&c->loop, &c->sig_term);
            uv_signal_init(&c->loop, &c->sig_int);
            uv_signal_start(&c->sig_term, on_signal, SIGTERM);
            uv_signal_start(&c->sig_int, on_signal, SIGINT);
        }
        c->thread_running = 1;
        if (uv_thread_create(&c->thread, loop_main, c) != 0) {
            c->thread_running = 0;
            rc = TR_FAIL(err, TR_EIO, "cannot start the control thread");
        }
    }
    if (rc) { control_free(c); return rc; }
    *out = c;
    return 0;
}

void control_stop(control *c) {
    if (!c || c->stopped) return;
    c->stopped = 1;
    pthread_mutex_lock(&c->core.st.mu);
    int run = c->thread_running;
    c->stop_flag = 1;
    pthread_mutex_unlock(&c->core.st.mu);
    if (run) {
        uv_async_send(&c->wake);
        uv_thread_join(&c->thread);
        pthread_mutex_lock(&c->core.st.mu);
        c->thread_running = 0;
        pthread_mutex_unlock(&c->core.st.mu);
    } else if (c->loop_ready) {
        /* The thread never ran: close the handles here. */
        begin_close(c);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
    }
    http_free(c->http);   /* closed with the loop (begin_close) */
    c->http = NULL;
    rpcd_free(c->rpc);
    c->rpc = NULL;
    /* writes the training loop queued after the thread ended; a busy registry gets a few
     * more tries (each waits REGISTRY_BUSY_MS) before the loss is reported */
    for (int i = 0; i < 3 && state_apply_ops(&c->core); i++) {}
    pthread_mutex_lock(&c->core.st.mu);
    int lost = c->core.st.ops_head != NULL;
    pthread_mutex_unlock(&c->core.st.mu);
    if (lost) LOG_E("the registry could not record some state changes at shutdown (see the warnings above)");
}

void control_free(control *c) {
    if (!c) return;
    control_stop(c);
    state_core_free(&c->core);
    free(c);
}

const char *control_rpc_url(const control *c) { return c->rpc_url; }
int control_http_port(const control *c) { return c->http_port; }

/* ---- the training loop's side ---- */

int control_set_world(control *c, const control_worker *workers, int n, tr_error *err) {
    if (n < 0) return TR_FAIL(err, TR_EINVAL, "control_set_world: n = %d", n);
    control_worker *w = tr_calloc((size_t)(n ? n : 1), sizeof *w, err);
    double *heartbeat_at = tr_calloc((size_t)(n ? n : 1), sizeof *heartbeat_at, err);
    if (!w || !heartbeat_at) { free(w); free(heartbeat_at); return TR_ENOMEM; }
    double now = state_now();
    for (int i = 0; i < n; i++) { w[i] = workers[i]; heartbeat_at[i] = now; }
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    free(s->workers);
    free(s->last_heartbeat);
    s->workers = w;
    s->last_heartbeat = heartbeat_at;
    s->nworkers = n;
    s->world_set = 1;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void control_worker_heartbeat(control *c, int rank) {
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].rank == rank) s->last_heartbeat[i] = state_now();
    pthread_mutex_unlock(&s->mu);
}

void control_silent_workers(control *c, char *out, size_t cap) {
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    state_silent_ranks(s, state_now(), out, cap);
    pthread_mutex_unlock(&s->mu);
}

void control_set_fatal(control *c, const char *reason) {
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    snprintf(s->fatal, sizeof s->fatal, "%s", reason ? reason : "");
    pthread_mutex_unlock(&s->mu);
}

/* Wait until registry write seq is applied: by the control thread, or here when it is not running. */
static int control_wait_written(control *c, uint64_t seq) {
    pthread_mutex_lock(&c->core.st.mu);
    int run = c->thread_running;
    pthread_mutex_unlock(&c->core.st.mu);
    if (!run) state_apply_ops(&c->core);
    return state_wait_ops(&c->core.st, seq, run ? 60 : 0);
}

void control_requeue(control *c, const char *id) {
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    state_exp *e = state_find(s, id);
    if (e && e->state == EXP_RUNNING) {
        e->state = EXP_QUEUED;
        e->resume = 1;
        state_push_op(s, id, EXP_QUEUED, e->started_at, 0, NULL, NULL, 1);
    }
    pthread_mutex_unlock(&s->mu);
    wake_loop(c);
}

int control_next_experiment(control *c, control_claim *claim) {
    state_snapshot *s = &c->core.st;
    for (;;) {
        char id[CONTROL_ID_MAX], *json = NULL;
        pthread_mutex_lock(&s->mu);
        state_exp *e = NULL;
        if (!state_running(s))   /* one experiment at a time across the world */
            for (int i = 0; i < s->nexps && !e; i++)
                if (s->exps[i].state == EXP_QUEUED) e = &s->exps[i];
        if (!e) { pthread_mutex_unlock(&s->mu); return 0; }
        e->state = EXP_RUNNING;
        e->started_at = state_now();
        e->cancel_requested = 0;
        if (!e->resume) e->has_progress = 0;
        snprintf(id, sizeof id, "%s", e->id);
        memset(claim, 0, sizeof *claim);
        snprintf(claim->id, sizeof claim->id, "%s", e->id);
        snprintf(claim->out_dir, sizeof claim->out_dir, "%s", e->out_dir);
        claim->resume = e->resume;
        json = strdup(e->spec_json ? e->spec_json : "");
        snprintf(s->ring_id, sizeof s->ring_id, "%s", e->id);
        s->ring_n = s->ring_head = 0;
        uint64_t seq = state_push_op(s, e->id, EXP_RUNNING, e->started_at, 0, NULL, NULL, e->resume);
        pthread_mutex_unlock(&s->mu);
        /* 'running' must be on disk before training starts: a crash is counted only for rows
         * the registry has as running, and an uncounted crash could loop forever */
        wake_loop(c);
        if (!control_wait_written(c, seq))
            LOG_W("experiment %s: the registry has not recorded it as running yet (still retrying); a crash now would not be counted", id);
        tr_error err = {0};
        int rc = json ? spec_parse_json(json, id, &claim->spec, &err) : TR_FAIL(&err, TR_ENOMEM, "out of memory");
        free(json);
        if (!rc) {
            snprintf(claim->spec.out_dir, sizeof claim->spec.out_dir, "%s", claim->out_dir);
            rc = paths_own_folder(claim->out_dir, id, &err);
        }
        if (!rc) {
            LOG_I("starting experiment %s%s (folder %s)", id, claim->resume ? " (resuming)" : "", claim->out_dir);
            wake_loop(c);
            return 1;
        }
        LOG_E("experiment %s cannot start: %s", id, err.msg);
        control_finish(c, id, CONTROL_FAILED, err.msg, NULL);
    }
}

void control_progress_post(control *c, const char *id, const control_progress *p) {
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    state_exp *e = state_find(s, id);
    if (e && e->state == EXP_RUNNING) {
        state_sample smp = {.p = *p, .at = state_now()};
        e->progress = smp;
        e->has_progress = 1;
        if (strcmp(s->ring_id, id) == 0) {
            s->ring[s->ring_head] = smp;
            s->ring_head = (s->ring_head + 1) % STATE_RING;
            if (s->ring_n < STATE_RING) s->ring_n++;
        }
        s->steps_total += 1;
        if (p->tokens > 0) s->tokens_total += (double)p->tokens;
        const double ph[STATE_NPHASES] = {p->sample_s, p->grad_s, p->reduce_s, p->optim_s};
        for (int i = 0; i < STATE_NPHASES; i++)
            if (isfinite(ph[i]) && ph[i] > 0) s->phase_total[i] += ph[i];
    }
    pthread_mutex_unlock(&s->mu);
}

void control_checkpoint_saved(control *c, const char *id) {
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    s->last_checkpoint_at = state_now();
    pthread_mutex_unlock(&s->mu);
    (void)id;
}

int control_cancel_requested(control *c, const char *id) {
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    state_exp *e = state_find(s, id);
    int r = e && e->cancel_requested;
    pthread_mutex_unlock(&s->mu);
    return r;
}

int control_finish(control *c, const char *id, control_outcome outcome, const char *detail, tr_error *err) {
    static const exp_state map[] = {EXP_SUCCEEDED, EXP_FAILED, EXP_CANCELLED};
    if ((unsigned)outcome > CONTROL_CANCELLED) return TR_FAIL(err, TR_EINVAL, "control_finish: outcome %d", (int)outcome);
    exp_state st = map[outcome];
    state_snapshot *s = &c->core.st;
    pthread_mutex_lock(&s->mu);
    state_exp *e = state_find(s, id);
    int rc = 0;
    if (!e) rc = TR_FAIL(err, TR_ENOTFOUND, "control_finish: no experiment '%s'", id);
    else if (e->state != EXP_RUNNING)
        rc = TR_FAIL(err, TR_ESTATE, "control_finish: experiment '%s' is %s, not running", id, exp_state_name(e->state));
    else {
        char *d = detail ? strdup(detail) : NULL;
        e->state = st;
        e->finished_at = state_now();
        e->cancel_requested = 0;
        e->resume = 0;
        if (st == EXP_SUCCEEDED) { free(e->result_json); e->result_json = d; }
        else { free(e->error); e->error = d; }
        s->finished_total[st]++;
        state_push_op(s, id, st, e->started_at, e->finished_at, st == EXP_SUCCEEDED ? detail : NULL,
                    st == EXP_SUCCEEDED ? NULL : detail, 0);
        LOG_I("experiment %s %s", id, exp_state_name(st));
    }
    pthread_mutex_unlock(&s->mu);
    if (!rc) wake_loop(c);
    return rc;
}

int control_shutdown_requested(control *c) {
    pthread_mutex_lock(&c->core.st.mu);
    int r = c->core.st.shutdown;
    pthread_mutex_unlock(&c->core.st.mu);
    return r || sig_stop_requested();
}

void control_request_shutdown(control *c) {
    pthread_mutex_lock(&c->core.st.mu);
    c->core.st.shutdown = 1;
    pthread_mutex_unlock(&c->core.st.mu);
}
