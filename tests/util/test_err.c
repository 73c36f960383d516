#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util/err.h"

static int fails_in_here(tr_error *err) { return TR_FAIL(err, TR_EINVAL, "bad value %d (hint: use 1..3)", 7); }

Test(err, message_names_file_line_and_hint) {
    tr_error err;
    cr_assert_eq(fails_in_here(&err), TR_EINVAL);
    cr_assert_eq(err.code, TR_EINVAL);
    /* the message is for people; the source location is kept apart for debug logs */
    cr_assert_str_eq(err.msg, "bad value 7 (hint: use 1..3)");
    cr_assert(strncmp(err.where, "tests/util/test_err.c:", 22) == 0, "%s", err.where);
}

Test(err, null_error_is_allowed) { cr_assert_eq(fails_in_here(NULL), TR_EINVAL); }

Test(err, wrap_adds_context) {
    tr_error err;
    fails_in_here(&err);
    tr_error_wrap(&err, "loading %s", "spec.json");
    cr_assert_str_eq(err.msg, "loading spec.json: bad value 7 (hint: use 1..3)");
    cr_assert(strncmp(err.where, "tests/util/test_err.c:", 22) == 0, "%s", err.where);
}

Test(err, fopen_missing_file_names_path) {
    tr_error err;
    FILE *f;
    cr_assert_eq(tr_fopen(&f, "/nonexistent/dir/x.bin", "rb", &err), TR_ENOTFOUND);
    cr_assert(strstr(err.msg, "/nonexistent/dir/x.bin") != NULL, "%s", err.msg);
}

Test(err, fread_reports_truncation) {
    char path[] = "/tmp/trice_err_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "abc", 3), 3);
    close(fd);
    FILE *f;
    tr_error err;
    cr_assert_eq(tr_fopen(&f, path, "rb", &err), 0);
    char buf[8];
    cr_assert_eq(tr_fread(buf, 1, 8, f, path, &err), TR_EFORMAT);
    cr_assert(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
    fclose(f);
    unlink(path);
}

Test(err, read_file_limit) {
    char path[] = "/tmp/trice_err_XXXXXX";
    int fd = mkstemp(path);
    char big[10000];
    memset(big, 'x', sizeof big);
    cr_assert_eq(write(fd, big, sizeof big), (ssize_t)sizeof big);
    close(fd);
    char *out;
    size_t len;
    tr_error err;
    cr_assert_eq(tr_read_file(path, 1 << 20, &out, &len, &err), 0);
    cr_assert_eq(len, sizeof big);
    cr_assert_eq(out[len], '\0');
    free(out);
    cr_assert_eq(tr_read_file(path, 5000, &out, &len, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "limit") != NULL, "%s", err.msg);
    unlink(path);
}
