/* uvconn.c - see uvconn.h. */
#include "coordinator/control/uvconn.h"

#include <stdlib.h>

static void on_refused_closed(uv_handle_t *h) { free(h); }

void uvconn_refuse(uv_stream_t *l) {
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t) return;   /* the connection stays in the backlog until memory allows */
    uv_tcp_init(l->loop, t);
    uv_accept(l, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_closed);
}
