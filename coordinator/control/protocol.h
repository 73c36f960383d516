/* protocol.h - what a client and the daemon must agree on, apart from proto/rpc.proto:
 * the protocol version, the default address, the size limits and the id length.
 *
 * The client library (client.h, token.h: libtrice_rpc) and the server (rpc.h, control.h:
 * libtrice_control) both include it; it depends on nothing, so that the `trice` CLI
 * links neither SQLite nor libuv.
 */
#ifndef TRICE_CONTROL_PROTOCOL_H
#define TRICE_CONTROL_PROTOCOL_H

/* Bumped when a field of proto/rpc.proto changes meaning; the daemon rejects other versions
 * (0 = a hand-made request that left the field out: read as this version). */
#define RPC_PROTOCOL_VERSION 1

#define CONTROL_DEFAULT_RPC_URL   "tcp://127.0.0.1:7870"
#define CONTROL_DEFAULT_HTTP_ADDR "127.0.0.1:7871"
#define CONTROL_ID_MAX 64                 /* bytes of an experiment id, NUL included */

#define RPC_MAX_REQUEST   (1u << 20)      /* bytes; larger requests get an error reply */
#define RPC_SOCKET_MAX    (4u << 20)      /* the daemon drops the connection beyond this */
#define RPC_MAX_SPEC      (256u * 1024u)  /* bytes of spec JSON */
#define RPC_MAX_SOURCE    256
#define RPC_LIST_DEFAULT  1000
#define RPC_LIST_MAX      10000
#define RPC_MAX_RESPONSE  (64u << 20)     /* clients accept responses up to this */

#endif
