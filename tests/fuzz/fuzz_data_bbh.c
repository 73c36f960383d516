/* Fuzz the BIG-Bench Hard task JSON reader. */
#include <stdlib.h>

#include "common/data/load.h"
#include "fuzz_data.h"

int fuzz_data_bbh(const uint8_t *data, size_t size) {
    task_example *ex;
    int64_t n;
    tr_error err;
    if (load_bbh_text((const char *)data, size, "fuzz", 0, &ex, &n, &err) == 0) {
        for (int64_t i = 0; i < n; i++)
            if (!ex[i].question || !ex[i].answer || ex[i].id != i) abort();
        task_examples_free(ex, n);
        free(ex);
    } else if (err.msg[0] == '\0') {
        abort();   /* every failure explains itself */
    }
    return 0;
}

#ifdef TRICE_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_data_bbh(data, size); }
#endif
