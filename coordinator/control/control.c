/* control.c - the control thread (libuv loop) and the training loop's side of the API.
 *
 * Threads: the training loop calls the control_* functions (they only touch the snapshot
 * under st.mu and queue registry writes); nng's threads run the RPC aio callback and the
 * HTTP handlers; the control thread (uv loop) owns the registry: it runs each received
 * RPC request through rpc_handle() and applies queued writes.
 *
 * RPC transport: RPC_CONTEXTS REP contexts receive at once, each with a send timeout, so
 * a client that pipelines requests and never reads its replies holds at most the contexts
 * answering it, each for at most RPC_SEND_TIMEOUT_MS; a peer (nng pipe) with RPC_PER_PEER
 * requests already in progress gets further requests dropped unanswered; at most
 * RPC_MAX_PEERS connections are open at once. Requests are still handled one at a time,
 * on the control thread (the registry's owner), in arrival order.
 */
#include "coordinator/control/control.h"

#include <math.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
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
#include "coordinator/control/state.h"

enum { RPC_IDLE, RPC_RECV, RPC_PENDING, RPC_SEND };
enum { RPC_CONTEXTS = 16, RPC_PER_PEER = 4, RPC_SEND_TIMEOUT_MS = 2000, RPC_MAX_PEERS = 64, RPC_IDLE_S = 60 };


typedef struct rpc_peer {
    nng_pipe pipe;
    uint32_t id;                    /* 0 = free */
    double last;                    /* connected, or its last request (unix seconds) */
} rpc_peer;

typedef struct rpc_slot {
    struct control *c;
    nng_ctx ctx;
    int ctx_open;
    nng_aio *aio;
    int state;                      /* RPC_* under rpc_mu */
    nng_msg *pending;               /* the request, while RPC_PENDING */
    uint32_t pipe;                  /* the peer of the request in progress */
    uint64_t arrival;               /* order of arrival, to serve in order */
} rpc_slot;

struct control {
    state_core core;
    uv_loop_t loop;
    uv_async_t wake;
    uv_signal_t sig_term, sig_int;
    uv_timer_t tick;
    uv_thread_t thread;
    int loop_ready, handles_ready, thread_running, stop_flag, stopped, handle_signals;
    int alive_prev;                 /* workers alive at the last tick, to log changes once */
    /* RPC transport */
    pthread_mutex_t rpc_mu;
    int sock_open, rpc_closing;
    nng_socket sock;
    rpc_slot slots[RPC_CONTEXTS];
    int nslots;
    uint64_t arrivals, peer_drops, peers_refused;
    rpc_peer peers[RPC_MAX_PEERS];  /* the connected pipes, under rpc_mu */
    double rpc_idle_s;              /* close a connection without a request for this long */
    int npeers;
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

/* ---- RPC transport (nng thread side) ---- */

/* Requests in progress (pending or being answered) from pipe p, under rpc_mu. */
static int in_progress_from(const control *c, uint32_t p) {
    int n = 0;
    for (int i = 0; i < c->nslots; i++)
        if ((c->slots[i].state == RPC_PENDING || c->slots[i].state == RPC_SEND) && c->slots[i].pipe == p) n++;
    return n;
}

static void rpc_cb(void *arg) {
    rpc_slot *sl = arg;
    control *c = sl->c;
    int rv = nng_aio_result(sl->aio);
    pthread_mutex_lock(&c->rpc_mu);
    if (sl->state == RPC_SEND && rv) nng_msg_free(nng_aio_get_msg(sl->aio));  /* timed out: the peer does not read */
    if (c->rpc_closing || rv == NNG_ECLOSED) { sl->state = RPC_IDLE; pthread_mutex_unlock(&c->rpc_mu); return; }
    if (sl->state == RPC_RECV && rv == 0) {
        nng_msg *m = nng_aio_get_msg(sl->aio);
        nng_pipe p = nng_msg_get_pipe(m);
        uint32_t pid = (uint32_t)nng_pipe_id(p);
        if (in_progress_from(c, pid) >= RPC_PER_PEER) {
            /* a client pipelining without reading its replies: drop the request unanswered
             * rather than let it hold every context (a well-behaved REQ client never has more
             * than one request in flight per socket) */
            uint64_t drops = ++c->peer_drops;
            pthread_mutex_unlock(&c->rpc_mu);
            nng_msg_free(m);
            if ((drops & (drops - 1)) == 0)   /* 1, 2, 4, 8...: a flood does not flood the log */
                LOG_W("RPC: dropped a request from a client with %d unanswered requests in progress (%llu so far)",
                      RPC_PER_PEER, (unsigned long long)drops);
            nng_ctx_recv(sl->ctx, sl->aio);
            return;
        }
        for (int i = 0; i < RPC_MAX_PEERS; i++)
            if (c->peers[i].id == pid) c->peers[i].last = state_now();
        sl->pending = m;
        sl->pipe = pid;
        sl->arrival = ++c->arrivals;
        sl->state = RPC_PENDING;
        pthread_mutex_unlock(&c->rpc_mu);
        uv_async_send(&c->wake);
        return;
    }
    if (rv && rv != NNG_ECANCELED && rv != NNG_ETIMEDOUT && rv != NNG_ECONNSHUT && rv != NNG_ECLOSED)
        LOG_W("RPC transport: %s (still serving)", nng_strerror(rv));
    sl->state = RPC_RECV;
    sl->pipe = 0;
    pthread_mutex_unlock(&c->rpc_mu);
    nng_ctx_recv(sl->ctx, sl->aio);
}

/* Connection cap: each connection is a descriptor, and descriptors are what the training
 * loop needs for checkpoints. A connection beyond RPC_MAX_PEERS is closed as it arrives
 * (nng allows closing a pipe in its ADD_PRE notification); one without a request for
 * rpc_idle_s (control_opts; default RPC_IDLE_S) is closed by the tick (close_idle_peers), so idle clients cannot hold the cap. */
static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg) {
    control *c = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    pthread_mutex_lock(&c->rpc_mu);
    int refuse = 0;
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        refuse = c->npeers >= RPC_MAX_PEERS;
    } else if (ev == NNG_PIPE_EV_ADD_POST) {
        for (int i = 0; i < RPC_MAX_PEERS; i++)
            if (!c->peers[i].id) { c->peers[i] = (rpc_peer){p, id, state_now()}; c->npeers++; break; }
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        for (int i = 0; i < RPC_MAX_PEERS; i++)
            if (c->peers[i].id == id) { c->peers[i].id = 0; c->npeers--; break; }
    }
    uint64_t r = refuse ? ++c->peers_refused : 0;
    pthread_mutex_unlock(&c->rpc_mu);
    if (!refuse) return;
    nng_pipe_close(p);
    if ((r & (r - 1)) == 0) LOG_W("RPC: %d connections open (the cap); refused %llu so far", RPC_MAX_PEERS, (unsigned long long)r);
}

/* ---- control thread ---- */

/* The oldest pending request's slot, or NULL. */
static rpc_slot *next_pending(control *c, nng_msg **m) {
    pthread_mutex_lock(&c->rpc_mu);
    rpc_slot *best = NULL;
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].state == RPC_PENDING && c->slots[i].pending && (!best || c->slots[i].arrival < best->arrival))
            best = &c->slots[i];
    *m = best ? best->pending : NULL;
    if (best) best->pending = NULL;
    pthread_mutex_unlock(&c->rpc_mu);
    return best;
}

static void serve_pending(control *c) {
    nng_msg *m;
    rpc_slot *sl;
    while ((sl = next_pending(c, &m))) {
        uint8_t *out = NULL;
        size_t n = 0;
        if (rpc_handle(&c->core, nng_msg_body(m), nng_msg_len(m), &out, &n) != 0) {
            LOG_E("out of memory answering an RPC request; replying with an empty message");
            out = NULL;
            n = 0;
        }
        nng_msg_clear(m);
        if (n && nng_msg_append(m, out, n) != 0) nng_msg_clear(m);
        free(out);
        pthread_mutex_lock(&c->rpc_mu);
        if (c->rpc_closing) { nng_msg_free(m); pthread_mutex_unlock(&c->rpc_mu); return; }
        sl->state = RPC_SEND;
        nng_aio_set_msg(sl->aio, m);
        pthread_mutex_unlock(&c->rpc_mu);
        nng_ctx_send(sl->ctx, sl->aio);
    }
}

static void close_cb(uv_handle_t *h) { (void)h; }

/* No callback runs after this; pending requests are dropped. Idempotent. */
static void stop_rpc(control *c) {
    pthread_mutex_lock(&c->rpc_mu);
    c->rpc_closing = 1;
    pthread_mutex_unlock(&c->rpc_mu);
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].aio) nng_aio_stop(c->slots[i].aio);   /* waits for a callback in progress */
    for (int i = 0; i < c->nslots; i++) {
        if (c->slots[i].pending) nng_msg_free(c->slots[i].pending);
        c->slots[i].pending = NULL;
    }
}

static void begin_close(control *c) {
    stop_rpc(c);
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
    serve_pending(c);
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

static void close_idle_peers(control *c) {
    nng_pipe idle[RPC_MAX_PEERS];
    int n = 0;
    double now = state_now();
    pthread_mutex_lock(&c->rpc_mu);
    for (int i = 0; i < RPC_MAX_PEERS; i++)
        if (c->peers[i].id && now - c->peers[i].last > c->rpc_idle_s && in_progress_from(c, c->peers[i].id) == 0) {
            idle[n++] = c->peers[i].pipe;
            c->peers[i].last = now;   /* once: its REM_POST frees the entry */
        }
    pthread_mutex_unlock(&c->rpc_mu);
    for (int i = 0; i < n; i++) nng_pipe_close(idle[i]);
    if (n) LOG_D("RPC: closed %d connection(s) idle for more than %.0f s", n, c->rpc_idle_s);
}

static void on_tick(uv_timer_t *h) {
    control *c = h->data;
    state_apply_ops(&c->core);
    close_idle_peers(c);
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

static int rpc_listen(control *c, const char *url, int allow_remote, tr_error *err) {
    nng_url *u = NULL;
    int rv = nng_url_parse(&u, url);
    if (rv) return TR_FAIL(err, TR_EINVAL, "RPC address '%s': %s (want e.g. %s)", url, nng_strerror(rv), CONTROL_DEFAULT_RPC_URL);
    int is_tcp = strncmp(u->u_scheme, "tcp", 3) == 0;
    /* Only ipc:// and inproc:// are local by nature; every network scheme (tcp, ws, wss,
     * tls+tcp...) must bind a host that parses as a loopback address, unless allowed. */
    int local_only = strcmp(u->u_scheme, "ipc") == 0 || strcmp(u->u_scheme, "inproc") == 0 || strcmp(u->u_scheme, "abstract") == 0;
    int userinfo = u->u_userinfo != NULL && u->u_userinfo[0];
    int ok = local_only || allow_remote || (!userinfo && http_host_is_loopback(u->u_hostname));
    char host[256];
    snprintf(host, sizeof host, "%s", u->u_hostname ? u->u_hostname : "");
    nng_url_free(u);
    if (!ok)
        return TR_FAIL(err, TR_EINVAL, "RPC address '%s' is not loopback (the host must be 127.x.x.x, ::1 or localhost, without "
                       "a user@ part); binding beyond loopback needs the explicit allow-remote option", url);
    if ((rv = nng_rep0_open(&c->sock)) != 0) return TR_FAIL(err, TR_EIO, "RPC socket: %s", nng_strerror(rv));
    c->sock_open = 1;
    /* Requests between RPC_MAX_REQUEST and this get a clear error reply; beyond it nng drops the connection. */
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, RPC_SOCKET_MAX);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_PRE, on_pipe, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, on_pipe, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, on_pipe, c);
    nng_listener l;
    if ((rv = nng_listen(c->sock, url, &l, 0)) != 0)
        return TR_FAIL(err, TR_EIO, "RPC listen on %s: %s%s", url, nng_strerror(rv),
                       rv == NNG_EADDRINUSE ? " (another process uses the port: is a daemon already running?)" : "");
    int port = 0;
    if (is_tcp && nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
        snprintf(c->rpc_url, sizeof c->rpc_url, "tcp://%s:%d", host, port);
    else
        snprintf(c->rpc_url, sizeof c->rpc_url, "%s", url);
    for (int i = 0; i < RPC_CONTEXTS; i++) {
        rpc_slot *sl = &c->slots[i];
        sl->c = c;
        if ((rv = nng_ctx_open(&sl->ctx, c->sock)) != 0) return TR_FAIL(err, TR_EIO, "RPC context: %s", nng_strerror(rv));
        sl->ctx_open = 1;
        c->nslots = i + 1;
        nng_ctx_set_ms(sl->ctx, NNG_OPT_SENDTIMEO, RPC_SEND_TIMEOUT_MS);
        if ((rv = nng_aio_alloc(&sl->aio, rpc_cb, sl)) != 0) return TR_FAIL(err, TR_ENOMEM, "RPC aio: %s", nng_strerror(rv));
    }
    LOG_I("RPC on %s", c->rpc_url);
    return 0;
}

int control_start(const control_opts *o, control **out, tr_error *err) {
    *out = NULL;
    if (!o || !o->db_path || !o->db_path[0]) return TR_FAIL(err, TR_EINVAL, "control_start: db_path is required");
    control *c = tr_calloc(1, sizeof *c, err);
    if (!c) return TR_ENOMEM;
    pthread_mutex_init(&c->rpc_mu, NULL);
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
    if (rc) { pthread_mutex_destroy(&c->rpc_mu); free(c); return rc; }
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
    for (int i = 0; i < c->nslots; i++) {
        pthread_mutex_lock(&c->rpc_mu);
        c->slots[i].state = RPC_RECV;
        pthread_mutex_unlock(&c->rpc_mu);
        nng_ctx_recv(c->slots[i].ctx, c->slots[i].aio);
    }
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
    } else {
        stop_rpc(c);
    }
    http_free(c->http);   /* closed with the loop (begin_close) */
    c->http = NULL;
    for (int i = 0; i < c->nslots; i++) {
        if (c->slots[i].ctx_open) nng_ctx_close(c->slots[i].ctx);
        c->slots[i].ctx_open = 0;
    }
    if (c->sock_open) nng_close(c->sock);
    c->sock_open = 0;
    for (int i = 0; i < c->nslots; i++) {
        if (c->slots[i].aio) nng_aio_free(c->slots[i].aio);
        c->slots[i].aio = NULL;
    }
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
    pthread_mutex_destroy(&c->rpc_mu);
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
