#include "coordinator/control/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util/log.h"

int token_random_bytes(void *buf, size_t n, tr_error *err) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return TR_FAIL(err, TR_EIO, "cannot open /dev/urandom: %s", strerror(errno));
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) { close(fd); return TR_FAIL(err, TR_EIO, "reading /dev/urandom: %s", k ? strerror(errno) : "end of file"); }
        got += (size_t)k;
    }
    close(fd);
    return 0;
}

int token_read(const char *path, char *out, size_t cap, tr_error *err) {
    char buf[TOKEN_MAX + 64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return TR_FAIL(err, errno == ENOENT ? TR_ENOTFOUND : TR_EIO, "cannot read token file %s: %s", path, strerror(errno));
    ssize_t k = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (k < 0) return TR_FAIL(err, TR_EIO, "reading token file %s: %s", path, strerror(e));
    buf[k] = '\0';
    char *s = buf;
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
    size_t n = strcspn(s, " \r\n\t");
    if (n == 0) return TR_FAIL(err, TR_EFORMAT, "token file %s is empty (delete it and restart the daemon to make a new one)", path);
    if (n > TOKEN_MAX || n + 1 > cap) return TR_FAIL(err, TR_EFORMAT, "token file %s: token is longer than %d characters", path, TOKEN_MAX);
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int token_load_or_create(const char *path, char out[TOKEN_HEX_LEN + 1], tr_error *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return TR_FAIL(err, TR_EIO, "cannot create token file %s: %s", path, strerror(errno));
    if (fd >= 0) {
        unsigned char raw[TOKEN_HEX_LEN / 2];
        int rc = token_random_bytes(raw, sizeof raw, err);
        for (size_t i = 0; !rc && i < sizeof raw; i++) snprintf(out + 2 * i, 3, "%02x", raw[i]);
        char line[TOKEN_HEX_LEN + 2];
        if (!rc) {
            snprintf(line, sizeof line, "%s\n", out);
            if (write(fd, line, TOKEN_HEX_LEN + 1) != TOKEN_HEX_LEN + 1 || fsync(fd) != 0)
                rc = TR_FAIL(err, TR_EIO, "writing token file %s: %s", path, strerror(errno));
        }
        close(fd);
        if (rc) { unlink(path); return rc; }
        LOG_I("created token file %s (mode 0600)", path);
        return 0;
    }
    /* An existing secret is used only if nobody else could have read or planted it: a
     * regular file (not a link), owned by this user, mode 0600 or stricter. */
    struct stat st;
    if (lstat(path, &st) != 0) return TR_FAIL(err, TR_EIO, "token file %s: %s", path, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return TR_FAIL(err, TR_EAUTH, "token file %s is a symbolic link; refusing it (use the real file's path, or delete "
                       "the link and restart the daemon to create a new token)", path);
    if (!S_ISREG(st.st_mode)) return TR_FAIL(err, TR_EAUTH, "token file %s is not a regular file", path);
    if (st.st_uid != geteuid())
        return TR_FAIL(err, TR_EAUTH, "token file %s is owned by uid %u, not by this daemon's user (uid %u): another user may "
                       "know it. Fix: chown %u %s && chmod 600 %s, or delete it to get a new token",
                       path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path, path);
    if (st.st_mode & 077)
        return TR_FAIL(err, TR_EAUTH, "token file %s has mode %03o: group or others can read it, so the token may be known. "
                       "Fix: chmod 600 %s (or delete it to get a new token)", path, (unsigned)(st.st_mode & 0777), path);
    char tmp[TOKEN_MAX + 1];
    TR_TRY(token_read(path, tmp, sizeof tmp, err));
    if (strlen(tmp) < 16) return TR_FAIL(err, TR_EFORMAT, "token file %s: token has %zu characters; want at least 16", path, strlen(tmp));
    if (strlen(tmp) > TOKEN_HEX_LEN)
        return TR_FAIL(err, TR_EFORMAT, "token file %s: token has %zu characters; at most %d", path, strlen(tmp), TOKEN_HEX_LEN);
    memcpy(out, tmp, strlen(tmp) + 1);  /* at most TOKEN_HEX_LEN + 1 bytes: checked above */
    return 0;
}

int token_equal(const char *secret, const char *given, size_t len) {
    size_t n = strlen(secret);
    /* Differences accumulate over every byte of the secret; the length mismatch is folded in, no early exit. */
    volatile unsigned char diff = (unsigned char)(len != n);
    for (size_t i = 0; i < n; i++) {
        unsigned char g = i < len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)secret[i]);
    }
    return diff == 0 && n > 0;
}
