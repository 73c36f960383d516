/* Fuzz the GSM8K and generic JSONL readers. */
#include <stdlib.h>

#include "common/data/load.h"
#include "fuzz_data.h"

int fuzz_data_jsonl(const uint8_t *data, size_t size) {
    task_example *ex;
    int64_t n;
    if (load_gsm8k_text((const char *)data, size, "fuzz", 0, &ex, &n, NULL) == 0) {
        for (int64_t i = 0; i < n; i++)
            if (!ex[i].question || !ex[i].answer || !ex[i].rationale || !answer_is_integer(ex[i].answer))
                abort();   /* an accepted record is complete, with an integer gold */
        task_examples_free(ex, n);
        free(ex);
    }
    if (load_jsonl_text((const char *)data, size, "fuzz", 0, &ex, &n, NULL) == 0) {
        for (int64_t i = 0; i < n; i++)
            if (!ex[i].question || !ex[i].answer) abort();
        task_examples_free(ex, n);
        free(ex);
    }
    return 0;
}

#ifdef TRICE_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_data_jsonl(data, size); }
#endif
