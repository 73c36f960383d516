/* uvconn.h - what the control thread's two TCP servers (rpcd.c: RPC, httpd.c: status endpoint)
 * share about their connections. */
#ifndef TRICE_CONTROL_UVCONN_H
#define TRICE_CONTROL_UVCONN_H

#include <uv.h>

/* Accept the connection pending on listener l and close it at once: a client over the
 * server's connection cap sees its connection closed instead of waiting in the backlog. */
void uvconn_refuse(uv_stream_t *l);

#endif
