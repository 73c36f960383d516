/* rpc.h - the RPC handler: one packed trice.rpc.Request in, one packed Response out.
 *
 * Pure with respect to the network: the control thread feeds it the bytes that a
 * client sent (rpcd.c, control.c), and tests and fuzzers call it directly. Every failure (size,
 * malformed protobuf, unknown kind, bad token, invalid spec, unknown id, wrong state)
 * becomes a Response with code != 0 and a message for people; the daemon keeps serving.
 * Call it from one thread at a time (it writes the registry); it takes st.mu itself.
 */
#ifndef TRICE_CONTROL_RPC_H
#define TRICE_CONTROL_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/control/protocol.h"
#include "coordinator/control/state.h"

/* Handle one request. *out (malloc'd, caller frees) always gets a Response unless the
 * return value is non-zero (out of memory building it). */
int rpc_handle(state_core *c, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len);

/* "submit", "list", ... for metrics labels. */
const char *rpc_kind_name(int kind);

/* TR_EINVAL when an experiment name holds control characters (they would forge log lines
 * and terminal escapes wherever the name is printed). A submitted spec's files are checked
 * by paths_confine_inputs (paths.h). */
int rpc_check_name(const char *name, tr_error *err);

#endif
