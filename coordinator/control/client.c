#include "coordinator/control/client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>


struct rpc_client {
    nng_socket sock;
    char url[512];
    int timeout_ms;
};

int rpc_client_open(const char *url, int timeout_ms, rpc_client **out, tr_error *err) {
    *out = NULL;
    rpc_client *c = tr_calloc(1, sizeof *c, err);
    if (!c) return TR_ENOMEM;
    snprintf(c->url, sizeof c->url, "%s", url);
    c->timeout_ms = timeout_ms;
    int rv = nng_req0_open(&c->sock);
    if (rv) { free(c); return TR_FAIL(err, TR_EIO, "cannot open an RPC socket: %s", nng_strerror(rv)); }
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, RPC_MAX_RESPONSE);
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout_ms);
    /* A resent Submit would queue the experiment twice: never resend within a call. */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, 24 * 3600 * 1000);
    if (!strstr(url, "://")) {
        nng_close(c->sock);
        free(c);
        return TR_FAIL(err, TR_EINVAL, "'%s' is not an endpoint: write it as tcp://HOST:PORT, for example "
                       "tcp://127.0.0.1:7870 (the daemon's --rpc address)", url);
    }
    rv = nng_dial(c->sock, url, NULL, 0);
    if (rv) {
        nng_close(c->sock);
        free(c);
        if (rv == NNG_ECONNREFUSED)
            return TR_FAIL(err, TR_EIO, "the trice daemon is not reachable at %s (connection refused): is it running? "
                           "(pass --endpoint if it listens elsewhere)", url);
        if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL)
            return TR_FAIL(err, TR_EINVAL, "'%s' is not a valid endpoint (%s): write it as tcp://HOST:PORT, for example "
                           "tcp://127.0.0.1:7870 (the daemon's --rpc address)", url, nng_strerror(rv));
        return TR_FAIL(err, TR_EIO, "cannot connect to the trice daemon at %s: %s", url, nng_strerror(rv));
    }
    *out = c;
    return 0;
}

void rpc_client_close(rpc_client *c) {
    if (!c) return;
    nng_close(c->sock);
    free(c);
}

int rpc_client_call_raw(rpc_client *c, const void *buf, size_t len, Trice__Rpc__Response **resp, tr_error *err) {
    *resp = NULL;
    int rv = nng_send(c->sock, (void *)buf, len, 0);
    if (rv) return TR_FAIL(err, TR_EIO, "sending to the trice daemon at %s: %s", c->url, nng_strerror(rv));
    void *rbuf = NULL;
    size_t rlen = 0;
    rv = nng_recv(c->sock, &rbuf, &rlen, NNG_FLAG_ALLOC);
    if (rv == NNG_ETIMEDOUT)
        return TR_FAIL(err, TR_EIO, "the trice daemon at %s did not answer within %d ms", c->url, c->timeout_ms);
    if (rv) return TR_FAIL(err, TR_EIO, "receiving from the trice daemon at %s: %s", c->url, nng_strerror(rv));
    *resp = trice__rpc__response__unpack(NULL, rlen, rbuf);
    nng_free(rbuf, rlen);
    if (!*resp) return TR_FAIL(err, TR_EFORMAT, "the daemon at %s sent %zu bytes that are not a trice.rpc.Response", c->url, rlen);
    return 0;
}

int rpc_client_call(rpc_client *c, const Trice__Rpc__Request *req, Trice__Rpc__Response **resp, tr_error *err) {
    size_t n = trice__rpc__request__get_packed_size(req);
    uint8_t *buf = tr_malloc(n ? n : 1, err);
    if (!buf) return TR_ENOMEM;
    trice__rpc__request__pack(req, buf);
    int rc = rpc_client_call_raw(c, buf, n, resp, err);
    free(buf);
    return rc;
}
