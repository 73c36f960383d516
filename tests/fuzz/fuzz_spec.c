/* fuzz_spec - the experiment-spec parser (spec_parse_json) on arbitrary text. A rejected
 * spec must come with a message; an accepted one must survive spec_to_json and parse
 * again to the same canonical JSON. Built like fuzz_rpc.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec/spec.h"
#include "fuzz_control.h"

int fuzz_spec_one(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    experiment_spec *s = malloc(sizeof *s), *s2 = malloc(sizeof *s2);
    tr_error err = {0};
    if (spec_parse_json(text, "fuzz", s, &err) != 0) {
        if (err.msg[0] == '\0') abort();
    } else {
        char *j1 = spec_to_json(s, &err);
        if (!j1) abort();
        if (spec_parse_json(j1, "canonical", s2, &err) != 0) abort();   /* canonical output must parse */
        char *j2 = spec_to_json(s2, &err);
        if (!j2 || strcmp(j1, j2) != 0) abort();
        free(j1);
        free(j2);
    }
    free(s);
    free(s2);
    free(text);
    return 0;
}

#ifdef TRICE_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_spec_one(data, size); }
#endif
