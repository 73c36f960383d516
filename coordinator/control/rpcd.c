/* rpcd.c - the RPC server's connections (see rpcd.h for why this is not nng's REP socket).
 *
 * Everything runs on the control thread's libuv loop: reads are parsed into messages, each
 * complete request is answered at once (the handler is rpc_handle, the registry's owner
 * thread being this one), and the reply is queued for writing. What it guards against
 * (issue 11):
 *   - a client that pipelines requests and never reads its replies: once RPC_PER_PEER of
 *     its replies are unsent, its connection is no longer read (TCP then stops its sender),
 *     and a reply that makes no progress for RPC_SEND_TIMEOUT_MS closes the connection; the
 *     other clients are served meanwhile, since nothing here waits on one peer;
 *   - descriptor exhaustion: at most RPC_MAX_PEERS connections (further ones are accepted
 *     and closed at once), each closed after idle_s without a complete request;
 *   - oversized or malformed input: a message longer than RPC_SOCKET_MAX, a wrong protocol
 *     header or a request without a backtrace closes the connection (requests between
 *     RPC_MAX_REQUEST and RPC_SOCKET_MAX get an error reply from rpc_handle).
 */
#include "coordinator/control/rpcd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"
#include "coordinator/control/protocol.h"
#include "coordinator/control/state.h"
#include "coordinator/control/uvconn.h"

enum {
    RPC_PER_PEER = 4,              /* unsent replies before a connection is no longer read */
    RPC_SEND_TIMEOUT_MS = 2000,    /* a reply without progress this long closes the connection */
    RPC_MAX_PEERS = 64,            /* connections open at once */
    RPC_MAX_HOPS = 8,              /* backtrace words (nng's default maximum TTL) */
    RPC_IN_BUF = 16384,            /* bytes read at once per connection */
    SP_REQ = 48, SP_REP = 49       /* nng protocol numbers: REQ v0, REP v0 */
};

static const uint8_t sp_hello[8] = {0x00, 'S', 'P', 0x00, 0x00, SP_REP, 0x00, 0x00};

typedef struct rconn {
    uv_tcp_t tcp;
    struct rpc_srv *srv;
    struct rconn *prev, *next;
    int closing, reading;
    int writes;                    /* writes queued and not completed (the handshake included) */
    double last;                   /* connected, or its last complete request */
    double write_progress;         /* when the unsent replies last shrank (or the first was queued) */
    size_t queued_seen;            /* their bytes not yet taken by the kernel, at the last tick */
    int state;                     /* 0 handshake, 1 length, 2 body */
    uint8_t head[8];               /* the peer's handshake, then each message's length */
    size_t head_len;
    uint8_t *msg;                  /* the body being read (state 2) */
    size_t msg_len, msg_got;
    size_t in_off, in_len;         /* unparsed bytes in in[] (kept while the connection is not read) */
    uint8_t in[RPC_IN_BUF];
} rconn;

typedef struct wreq {
    uv_write_t w;
    uint8_t *buf;                  /* NULL for the static handshake */
} wreq;

struct rpc_srv {
    uv_tcp_t listener;
    int listener_open;
    rpc_serve_fn fn;
    void *arg;
    double idle_s;
    int nconn;
    uint64_t refused, stalled, idle, bad;
    rconn *conns;
};

static void log_count(const char *what, uint64_t n) {
    if ((n & (n - 1)) == 0)   /* 1, 2, 4, 8...: a flood does not flood the log */
        LOG_W("RPC: %s (%llu so far)", what, (unsigned long long)n);
}

static void on_closed(uv_handle_t *h) {
    rconn *k = h->data;
    rpc_srv *s = k->srv;
    if (k->prev) k->prev->next = k->next; else s->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    free(k->msg);
    free(k);
}

static void conn_close(rconn *k) {
    if (k->closing) return;
    k->closing = 1;
    k->srv->nconn--;   /* uv_close closes the descriptor at once; only the callback waits */
    uv_close((uv_handle_t *)&k->tcp, on_closed);
}

/* At the cap: close the connections whose peers have already closed them but whose end
 * this loop has not read yet (a client that closes and reconnects at once is seen
 * connecting before its old connection's end when the loop is busy). */
static void reclaim_ended(rpc_srv *s) {
    for (rconn *k = s->conns; k; k = k->next) {
        uv_os_fd_t fd;
        if (k->closing || uv_fileno((uv_handle_t *)&k->tcp, &fd) != 0) continue;
        uint8_t b;
        ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) conn_close(k);
    }
}

static void consume(rconn *k);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void read_on(rconn *k) {
    if (k->closing || k->reading) return;
    if (uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read) != 0) { conn_close(k); return; }
    k->reading = 1;
}

static void read_off(rconn *k) {
    if (!k->reading) return;
    uv_read_stop((uv_stream_t *)&k->tcp);
    k->reading = 0;
}

static void on_written(uv_write_t *w, int status) {
    wreq *q = (wreq *)w;
    rconn *k = w->data;
    free(q->buf);
    free(q);
    k->writes--;
    k->write_progress = state_now();
    if (status < 0) { conn_close(k); return; }
    if (k->writes < RPC_PER_PEER && !k->closing && !k->reading) {
        consume(k);   /* what was read before the connection was paused */
        if (k->writes < RPC_PER_PEER) read_on(k);
    }
}

/* Queue len bytes of buf (owned: freed once written; NULL buf = the handshake). */
static int queue_write(rconn *k, uint8_t *buf, size_t len) {
    wreq *q = calloc(1, sizeof *q);
    if (!q) { free(buf); return -1; }
    q->buf = buf;
    q->w.data = k;
    uv_buf_t b = uv_buf_init(buf ? (char *)buf : (char *)sp_hello, (unsigned)len);
    if (k->writes == 0) k->write_progress = state_now();
    if (uv_write(&q->w, (uv_stream_t *)&k->tcp, &b, 1, on_written) != 0) { free(buf); free(q); return -1; }
    k->writes++;
    return 0;
}

/* A complete message in k->msg: take the backtrace off, answer, queue the reply. */
static void handle_message(rconn *k) {
    rpc_srv *s = k->srv;
    uint8_t *m = k->msg;
    size_t len = k->msg_len, hdr = 0;
    k->msg = NULL;
    k->state = 1;
    for (int hops = 1;; hops++) {
        if (hops > RPC_MAX_HOPS) { free(m); return; }   /* came through too many devices: dropped, as nng does */
        if (len - hdr < 4) {
            free(m);
            log_count("closed a connection that sent a request without a request id", ++s->bad);
            conn_close(k);
            return;
        }
        hdr += 4;
        if (m[hdr - 4] & 0x80u) break;
    }
    k->last = state_now();
    uint8_t *out = NULL;
    size_t n = 0;
    s->fn(s->arg, m + hdr, len - hdr, &out, &n);
    uint8_t *r = malloc(8 + hdr + n);
    if (!r) { free(m); free(out); LOG_E("out of memory replying to an RPC request; closing its connection"); conn_close(k); return; }
    uint64_t total = hdr + n;
    for (int i = 0; i < 8; i++) r[i] = (uint8_t)(total >> (56 - 8 * i));
    memcpy(r + 8, m, hdr);
    if (n) memcpy(r + 8 + hdr, out, n);
    free(m);
    free(out);
    if (queue_write(k, r, 8 + hdr + n) != 0) conn_close(k);
}

/* Parse what in[] holds, answering each complete request, until it is empty or
 * RPC_PER_PEER replies are unsent (then the rest waits there, and reading stops). */
static void consume(rconn *k) {
    while (k->in_off < k->in_len && !k->closing) {
        if (k->writes >= RPC_PER_PEER) { read_off(k); break; }
        const uint8_t *p = k->in + k->in_off;
        size_t avail = k->in_len - k->in_off;
        if (k->state < 2) {
            size_t take = 8 - k->head_len < avail ? 8 - k->head_len : avail;
            memcpy(k->head + k->head_len, p, take);
            k->head_len += take;
            k->in_off += take;
            if (k->head_len < 8) break;
            k->head_len = 0;
            if (k->state == 0) {
                const uint8_t *h = k->head;
                if (h[0] != 0 || h[1] != 'S' || h[2] != 'P' || h[3] != 0 || h[4] != 0 || h[5] != SP_REQ || h[6] || h[7]) {
                    log_count("closed a connection that is not an nng REQ socket (wrong protocol header)", ++k->srv->bad);
                    conn_close(k);
                    return;
                }
                k->state = 1;
                continue;
            }
            uint64_t len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | k->head[i];
            if (len > RPC_SOCKET_MAX) {
                log_count("closed a connection that sent a message beyond RPC_SOCKET_MAX", ++k->srv->bad);
                conn_close(k);
                return;
            }
            k->msg = malloc(len ? (size_t)len : 1);
            if (!k->msg) { LOG_E("out of memory reading an RPC request; closing its connection"); conn_close(k); return; }
            k->msg_len = (size_t)len;
            k->msg_got = 0;
            k->state = 2;
            if (len == 0) handle_message(k);
            continue;
        }
        size_t take = k->msg_len - k->msg_got < avail ? k->msg_len - k->msg_got : avail;
        memcpy(k->msg + k->msg_got, p, take);
        k->msg_got += take;
        k->in_off += take;
        if (k->msg_got == k->msg_len) handle_message(k);
    }
    if (k->in_off == k->in_len) {
        k->in_off = k->in_len = 0;
    } else if (k->in_off) {
        memmove(k->in, k->in + k->in_off, k->in_len - k->in_off);
        k->in_len -= k->in_off;
        k->in_off = 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    rconn *k = h->data;
    *b = uv_buf_init((char *)k->in + k->in_len, (unsigned)(RPC_IN_BUF - k->in_len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    (void)b;
    rconn *k = st->data;
    if (n < 0) { conn_close(k); return; }   /* EOF or reset: replies still queued are dropped */
    k->in_len += (size_t)n;
    consume(k);
}

static void on_connection(uv_stream_t *l, int status) {
    rpc_srv *s = l->data;
    if (status < 0) { LOG_W("RPC: accept failed: %s", uv_strerror(status)); return; }
    if (s->nconn >= RPC_MAX_PEERS) reclaim_ended(s);
    if (s->nconn >= RPC_MAX_PEERS) {
        uvconn_refuse(l);
        uint64_t r = ++s->refused;
        if ((r & (r - 1)) == 0) LOG_W("RPC: %d connections open (the cap); refused %llu so far", RPC_MAX_PEERS, (unsigned long long)r);
        return;
    }
    rconn *k = calloc(1, sizeof *k);
    if (!k) return;
    k->srv = s;
    uv_tcp_init(l->loop, &k->tcp);
    k->tcp.data = k;
    k->next = s->conns;
    if (s->conns) s->conns->prev = k;
    s->conns = k;
    s->nconn++;
    k->last = state_now();
    if (uv_accept(l, (uv_stream_t *)&k->tcp) != 0) { conn_close(k); return; }
    uv_tcp_nodelay(&k->tcp, 1);   /* as nng's TCP transport: small replies go out at once */
    if (queue_write(k, NULL, sizeof sp_hello) != 0) { conn_close(k); return; }
    read_on(k);
}

int rpcd_start(uv_loop_t *loop, const struct sockaddr *addr, double idle_s, rpc_serve_fn fn, void *arg, rpc_srv **out,
               int *port, tr_error *err) {
    *out = NULL;
    *port = 0;
    rpc_srv *s = tr_calloc(1, sizeof *s, err);
    if (!s) return TR_ENOMEM;
    s->fn = fn;
    s->arg = arg;
    s->idle_s = idle_s;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = 1;
    *out = s;   /* from here on the caller closes it with the loop (rpcd_close, then rpcd_free) */
    int rv = uv_tcp_bind(&s->listener, addr, 0);
    if (!rv) rv = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rv) return TR_FAIL(err, TR_EIO, "%s", uv_strerror(rv));
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen) == 0)
        *port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port : ((struct sockaddr_in6 *)&bound)->sin6_port);
    return 0;
}

void rpcd_tick(rpc_srv *s) {
    if (!s) return;
    double now = state_now();
    for (rconn *k = s->conns; k; k = k->next) {
        if (k->closing) continue;
        /* progress is any byte taken, so a large reply to a slow reader is not cut off */
        size_t queued = uv_stream_get_write_queue_size((const uv_stream_t *)&k->tcp);
        if (queued < k->queued_seen) k->write_progress = now;
        k->queued_seen = queued;
        if (k->writes > 0 && now - k->write_progress > RPC_SEND_TIMEOUT_MS / 1000.0) {
            log_count("closed a connection that does not read its replies", ++s->stalled);
            conn_close(k);
        } else if (k->writes == 0 && now - k->last > s->idle_s) {
            if ((++s->idle & 63) == 1) LOG_D("RPC: closed a connection idle for more than %.0f s", s->idle_s);
            conn_close(k);
        }
    }
}

void rpcd_close(rpc_srv *s) {
    if (!s) return;
    if (s->listener_open) uv_close((uv_handle_t *)&s->listener, NULL);
    s->listener_open = 0;
    for (rconn *k = s->conns; k; k = k->next) conn_close(k);
}

void rpcd_free(rpc_srv *s) { free(s); }
