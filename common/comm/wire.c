#include "common/comm/wire.h"

#include <stdlib.h>

int wire_send(const ProtobufCMessage *msg, int dest, int tag, tr_error *err) {
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = tr_malloc(n, err);
    if (!buf) return TR_ENOMEM;
    protobuf_c_message_pack(msg, buf);
    int rc = comm_send_bytes(buf, n, dest, tag, err);
    free(buf);
    return rc;
}

int wire_recv_hello(Trice__WorkerHello **out, int src, int *from, tr_error *err) {
    uint8_t *buf;
    size_t n;
    TR_TRY(comm_recv_bytes(&buf, &n, src, TAG_HELLO, from, err));
    *out = trice__worker_hello__unpack(NULL, n, buf);
    free(buf);
    if (!*out) return TR_FAIL(err, TR_EFORMAT, "malformed WorkerHello (%zu bytes) from rank %d (hint: mixed trice versions?)", n, from ? *from : src);
    return 0;
}

int wire_recv_command(Trice__Command **out, int src, tr_error *err) {
    uint8_t *buf;
    size_t n;
    TR_TRY(comm_recv_bytes(&buf, &n, src, TAG_COMMAND, NULL, err));
    *out = trice__command__unpack(NULL, n, buf);
    free(buf);
    if (!*out) return TR_FAIL(err, TR_EFORMAT, "malformed Command (%zu bytes) from rank %d", n, src);
    return 0;
}

int wire_send_command(int dest, Trice__Command__Kind kind, const char *spec_id, const char *spec_json,
                      const char *reason, tr_error *err) {
    Trice__Command cmd = TRICE__COMMAND__INIT;
    Trice__ExperimentSpec spec = TRICE__EXPERIMENT_SPEC__INIT;
    cmd.kind = kind;
    if (spec_json) {
        spec.id = (char *)(spec_id ? spec_id : "");
        spec.json = (char *)spec_json;
        cmd.spec = &spec;
    }
    cmd.reason = (char *)(reason ? reason : "");
    return wire_send(&cmd.base, dest, TAG_COMMAND, err);
}
