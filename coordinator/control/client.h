/* client.h - the client side of the RPC (nng REQ), used by the `trice` CLI and tests.
 * Part of the client library (libtrice_rpc: this, token.h and protocol.h), which does not
 * link the server's SQLite or libuv. */
#ifndef TRICE_CONTROL_CLIENT_H
#define TRICE_CONTROL_CLIENT_H

#include <stddef.h>

#include "common/util/err.h"
#include "coordinator/control/protocol.h"
#include "rpc.pb-c.h"

typedef struct rpc_client rpc_client;

/* Connect to url (e.g. "tcp://127.0.0.1:7870"). A daemon that is not listening gives
 * TR_EIO with a message that says so. timeout_ms bounds each call. */
int rpc_client_open(const char *url, int timeout_ms, rpc_client **out, tr_error *err);
void rpc_client_close(rpc_client *c);

/* Send req, wait for the Response (caller frees with trice__rpc__response__free_unpacked(r, NULL)).
 * A transport failure is an error here; a daemon-side error is a Response with code != 0. */
int rpc_client_call(rpc_client *c, const Trice__Rpc__Request *req, Trice__Rpc__Response **resp, tr_error *err);
/* Same with raw bytes (tests send malformed requests). */
int rpc_client_call_raw(rpc_client *c, const void *buf, size_t len, Trice__Rpc__Response **resp, tr_error *err);

#endif
