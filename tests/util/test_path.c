/* test_path - path_fmt builds paths and refuses to cut them. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/util/path.h"

Test(path, fits) {
    char p[PATH_BUF];
    tr_error err = {0};
    cr_assert_eq(path_fmt(p, sizeof p, &err, "%s/%s", "runs/a", "result.json"), 0);
    cr_assert_str_eq(p, "runs/a/result.json");
}

Test(path, truncation_is_an_error_that_says_so) {
    char p[16];
    tr_error err = {0};
    cr_assert_eq(path_fmt(p, sizeof p, &err, "%s/%s", "a-long-folder-name", "x"), TR_EINVAL);
    cr_assert(strstr(err.msg, "limit is 15"), "%s", err.msg);
    cr_assert_eq(path_fmt(p, sizeof p, &err, "%s", "exactly-15-char"), 0, "15 bytes and the NUL fit");
    cr_assert_eq(path_fmt(p, sizeof p, &err, "%s", "sixteen-chars-xx"), TR_EINVAL);
}
