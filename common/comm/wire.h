/* wire.h - protobuf messages over MPI: pack, send, receive, unpack. */
#ifndef TRICE_COMM_WIRE_H
#define TRICE_COMM_WIRE_H

#include "common/comm/comm.h"
#include "trice.pb-c.h"

/* Send any protobuf-c message (packed into a temporary buffer). */
int wire_send(const ProtobufCMessage *msg, int dest, int tag, tr_error *err);

/* Receive and unpack a WorkerHello / Command; caller frees with the *_free_unpacked function. */
int wire_recv_hello(Trice__WorkerHello **out, int src, int *from, tr_error *err);
int wire_recv_command(Trice__Command **out, int src, tr_error *err);

/* Send a command of the given kind (spec may be NULL). */
int wire_send_command(int dest, Trice__Command__Kind kind, const char *spec_id, const char *spec_json,
                      const char *reason, tr_error *err);

#endif
