/* Fuzz answer extraction: the first half of the input is the generated text, the rest the
 * gold answer. Extraction must stay inside its buffer and a found answer (other than a
 * fractional number) must pass its own check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/answer.h"
#include "fuzz_data.h"

int fuzz_data_answer(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t half = strlen(text) / 2;
    char *gold = text + half;
    for (int kind = 0; kind < 2; kind++) {
        char out[ANSWER_MAX], small[4];
        if (answer_extract((answer_kind)kind, text, out, sizeof out) == 0) {
            if (strlen(out) >= sizeof out) abort();
            char z[ANSWER_MAX + 32];
            snprintf(z, sizeof z, "So the answer is %s.", out);
            /* a number with a fraction is found but equals no gold by design (answer.h) */
            if ((kind == ANSWER_TEXT || !strchr(out, '.')) && !answer_check((answer_kind)kind, z, out)) abort();
        }
        if (answer_extract((answer_kind)kind, text, small, sizeof small) == 0 && strlen(small) >= sizeof small) abort();
        (void)answer_check((answer_kind)kind, text, gold);
    }
    free(text);
    return 0;
}

#ifdef TRICE_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_data_answer(data, size); }
#endif
