/* "did you mean": plausible typos get the intended word, unrelated words get nothing. */
#include <criterion/criterion.h>

#include "common/util/suggest.h"

static const char *const words[] = {"submit", "list", "status", "watch", "cancel", "shutdown", "logs", NULL};

Test(suggest, distance) {
    cr_assert_eq(suggest_distance("kitten", "sitting"), 3);
    cr_assert_eq(suggest_distance("", "abc"), 3);
    cr_assert_eq(suggest_distance("same", "same"), 0);
}

Test(suggest, typos_find_the_word) {
    cr_assert_eq(suggest_closest("sumbit", words, -1), 0);
    cr_assert_eq(suggest_closest("stauts", words, -1), 2);
    cr_assert_eq(suggest_closest("lsit", words, -1), 1);
    cr_assert_eq(suggest_closest("shut", words, -1), 5);   /* unique prefix */
}

Test(suggest, unrelated_words_get_nothing) {
    cr_assert_eq(suggest_closest("frobnicate", words, -1), -1);
    cr_assert_eq(suggest_closest("x", words, -1), -1);
}

Test(suggest, spec_fields) {
    const char *const f[] = {"steps", "batch_size", "memory_init", "max_new_tokens"};
    cr_assert_eq(suggest_closest("stpes", f, 4), 0);
    cr_assert_eq(suggest_closest("batchsize", f, 4), 1);
    cr_assert_eq(suggest_closest("max_new_token", f, 4), 3);
}
