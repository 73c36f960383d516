/* rpcd.h - the RPC server's connections: nng's REQ/REP protocol (SP over TCP) answered on
 * the control thread's libuv loop (rpcd.c).
 *
 * Clients are nng REQ sockets (client.c); the server side is not nng. nng 1.5.2 (Debian 12)
 * has a defect in its TCP transport: a pipe that is closed while its receive callback is
 * between the two reads of a message (length, then body) never completes its receive, so
 * nng's single, process-wide reaper thread waits for it forever in pipe_destroy. nng's own
 * REP protocol closes a pipe when a reply cannot be sent, so a client that pipelines
 * requests and resets its connection could wedge the daemon that way (tests/control/
 * test_flood.c caught it): by nng's code, from then on no connection is released
 * (descriptors leak, the connection cap fills, every new client is refused) and shutdown
 * hangs in nng_close. Upstream fixed the receive side in nng
 * 1.6.0 (commit a1bc737b); this server does not depend on it.
 *
 * Wire format (nng's, so nng REQ clients and raw peers alike work): each side sends an
 * 8-byte header (0x00 'S' 'P' 0x00, protocol as 16-bit big endian: REQ 48, REP 49, then two
 * zero bytes); then messages, each a 64-bit big-endian length and a body. A request body
 * starts with its backtrace: 32-bit words, the last (the request id) with the high bit set;
 * the reply carries the same words before the answer.
 */
#ifndef TRICE_CONTROL_RPCD_H
#define TRICE_CONTROL_RPCD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/util/err.h"

typedef struct rpc_srv rpc_srv;

/* Answer one request body (the backtrace already taken off). *out is malloc'd (rpcd frees
 * it); NULL with *out_len 0 sends an empty answer. */
typedef void (*rpc_serve_fn)(void *arg, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len);

/* Listen on addr (port 0 picks one) on loop, before the loop runs; *port gets the bound
 * port. Each complete request is answered at once, on the loop's thread, in arrival order.
 * A connection is closed when it has had no request for idle_s seconds, when a reply makes
 * no progress for RPC_SEND_TIMEOUT_MS (rpcd.c), or when it breaks the protocol; one with
 * RPC_PER_PEER replies unsent is not read until they drain; at most RPC_MAX_PEERS are open.
 * On a bind failure *out is still set: close it like a started one. */
int rpcd_start(uv_loop_t *loop, const struct sockaddr *addr, double idle_s, rpc_serve_fn fn, void *arg, rpc_srv **out,
               int *port, tr_error *err);
/* On the loop's thread, about once a second: close idle and stalled connections. */
void rpcd_tick(rpc_srv *s);
/* On the loop's thread: stop listening and close every connection (the loop then ends). */
void rpcd_close(rpc_srv *s);
/* After the loop ended. NULL is fine. */
void rpcd_free(rpc_srv *s);

#endif
