/* tiny.h - the tiny experiment the engine's unit tests run on: 2 layers, 32 channels, the byte
 * tokenizer, the built-in boolean_expressions task at difficulty 1. */
#ifndef TRICE_TESTS_ENGINE_TINY_H
#define TRICE_TESTS_ENGINE_TINY_H

#include <criterion/criterion.h>
#include <stdio.h>

#include "common/spec/spec.h"

/* method: "trice", "rs", ...; memory_init: "given", "hint", ... */
static inline experiment_spec tiny_spec(const char *method, const char *memory_init, int seed) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"name\": \"tiny\", \"seed\": %d, \"method\": \"%s\", \"memory_init\": \"%s\", \"particles\": 3,"
             " \"task\": {\"name\": \"boolean_expressions\", \"difficulty\": 1, \"n_train\": 24, \"n_eval\": 6},"
             " \"model\": {\"layers\": 2, \"heads\": 2, \"channels\": 32, \"context\": 128}, \"max_new_tokens\": 32,"
             " \"batch_size\": 8, \"steps\": 2}", seed, method, memory_init);
    experiment_spec s;
    tr_error err = {0};
    cr_assert_eq(spec_parse_json(json, "tiny", &s, &err), 0, "%s", err.msg);
    return s;
}

#endif
