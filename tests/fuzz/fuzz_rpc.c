/* fuzz_rpc - the RPC handler on arbitrary bytes, as the daemon would receive them.
 * Holds one control core (in-memory registry, no sockets) across inputs. Every input
 * must produce a Response that unpacks; nothing may crash, leak or hang.
 * Built as a libFuzzer target with -DTRICE_LIBFUZZER (meson -Dfuzz=true, CC=clang);
 * fuzz_rpc_regress.c drives fuzz_rpc_one() in the ordinary test suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"
#include "coordinator/control/rpc.h"
#include "fuzz_control.h"
#include "rpc.pb-c.h"

static state_core *core;

static void setup(void) {
    static state_core c;
    tr_error err = {0};
    log_init(-1, "fuzz", LOG_OFF);
    /* The token is a fixed value so that the fuzzer can find mutating paths. */
    if (state_core_init(&c, ":memory:", "00112233445566778899aabbccddeeff", "/tmp/trice-fuzz-runs", 0, &err)) {
        fprintf(stderr, "fuzz_rpc: %s\n", err.msg);
        abort();
    }
    core = &c;
}

int fuzz_rpc_one(const uint8_t *data, size_t size) {
    /* a fresh core every 4096 inputs: accepted submissions accumulate in the snapshot, and
     * millions of them would exhaust memory long before they found anything */
    static unsigned runs;
    if (core && ++runs % 4096 == 0) {
        state_core_free(core);
        core = NULL;
    }
    if (!core) setup();
    uint8_t *out = NULL;
    size_t n = 0;
    if (rpc_handle(core, data, size, &out, &n) != 0) abort();
    Trice__Rpc__Response *r = trice__rpc__response__unpack(NULL, n, out);
    if (!r) abort();   /* the daemon must always answer with a valid Response */
    if (r->code != 0 && r->error[0] == '\0') abort();   /* errors always say why */
    trice__rpc__response__free_unpacked(r, NULL);
    free(out);
    return 0;
}

#ifdef TRICE_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_rpc_one(data, size); }
#endif
