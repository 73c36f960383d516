#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util/log.h"

Test(log, file_gets_rank_level_and_text) {
    char path[] = "/tmp/trice_log_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    log_init(3, "worker", LOG_INFO);
    cr_assert_eq(log_open_file(path, NULL), 0);
    LOG_D("hidden %d", 1);
    LOG_I("hello %s", "world");
    LOG_W("careful");
    log_close_file();
    char *text;
    cr_assert_eq(tr_read_file(path, 1 << 20, &text, NULL, NULL), 0);
    cr_assert(strstr(text, "[rank 3 worker] INFO  hello world") != NULL, "%s", text);
    cr_assert(strstr(text, "WARN  careful") != NULL, "%s", text);
    cr_assert(strstr(text, "hidden") == NULL, "%s", text);
    cr_assert(text[4] == '-' && strchr(text, 'Z') != NULL, "timestamp missing: %s", text);
    free(text);
    unlink(path);
}

Test(log, parse_level) {
    log_level l;
    tr_error err;
    cr_assert_eq(log_parse_level("warn", &l, &err), 0);
    cr_assert_eq(l, LOG_WARN);
    cr_assert_eq(log_parse_level("loud", &l, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "allowed") != NULL);
}
