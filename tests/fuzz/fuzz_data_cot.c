/* Fuzz the BBH chain-of-thought prompt reader. */
#include <stdlib.h>

#include "common/data/load.h"
#include "fuzz_data.h"

int fuzz_data_cot(const uint8_t *data, size_t size) {
    cot_prompt c;
    if (load_cot_text((const char *)data, size, "fuzz", &c, NULL) == 0) {
        for (int64_t i = 0; i < c.n; i++)
            if (!answer_check(ANSWER_TEXT, c.ex[i].rationale, c.ex[i].answer)) abort();
        cot_prompt_free(&c);
    }
    return 0;
}

#ifdef TRICE_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_data_cot(data, size); }
#endif
