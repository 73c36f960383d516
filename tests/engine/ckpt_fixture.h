/* ckpt_fixture.h - what the checkpoint-folder tests (test_ckptdir.c, test_ckptshard.c) share:
 * a small serialized rationale memory and a temporary folder removed at the end. */
#ifndef TRICE_TESTS_ENGINE_CKPT_FIXTURE_H
#define TRICE_TESTS_ENGINE_CKPT_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/train/memory.h"

/* Two examples (ids 4 and 9), the second holding a valid 3-token rationale; *buf malloc'ed. */
static inline void ckpt_fixture_memory(uint8_t **buf, size_t *len) {
    tr_error err = {0};
    memory m;
    int64_t ids[2] = {4, 9};
    int32_t tok[3] = {65, 66, 67};
    cr_assert_eq(memory_init(&m, 2, ids, &err), 0, "%s", err.msg);
    cr_assert_eq(memory_set(&m, 1, tok, 3, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(memory_serialize(&m, buf, len, &err), 0, "%s", err.msg);
    memory_free(&m);
}

static inline void ckpt_fixture_rmdir(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

#endif
