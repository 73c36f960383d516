#include "common/util/afile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int afile_open(afile *af, const char *path, tr_error *err) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path)
        return TR_FAIL(err, TR_EINVAL, "path too long (%zu bytes): '%.80s...'", strlen(path), path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return TR_FAIL(err, TR_EIO, "cannot create '%s': %s (hint: does the folder exist and is it writable?)", af->tmp, strerror(errno));
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        unlink(af->tmp);
        return TR_FAIL(err, TR_EIO, "fdopen '%s': %s", af->tmp, strerror(errno));
    }
    return 0;
}

int afile_put(afile *af, const void *data, size_t len, tr_error *err) {
    if (af->failed) return TR_FAIL(err, TR_ESTATE, "earlier write to '%s' failed", af->tmp);
    if (len && fwrite(data, 1, len, af->f) != len) {
        af->failed = 1;
        return TR_FAIL(err, TR_EIO, "write to '%s' failed: %s (hint: is the disk full?)", af->tmp, strerror(errno));
    }
    return 0;
}

int afile_printf(afile *af, tr_error *err, const char *fmt, ...) {
    if (af->failed) return TR_FAIL(err, TR_ESTATE, "earlier write to '%s' failed", af->tmp);
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(af->f, fmt, ap);
    va_end(ap);
    if (n < 0) {
        af->failed = 1;
        return TR_FAIL(err, TR_EIO, "write to '%s' failed: %s", af->tmp, strerror(errno));
    }
    return 0;
}

int afile_sync_dir(const char *path, tr_error *err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    const char *dir = dirname(buf);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return TR_FAIL(err, TR_EIO, "cannot open folder '%s' to sync it: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) /* some file systems cannot fsync folders; nothing more to do there */
        return TR_FAIL(err, TR_EIO, "fsync of folder '%s' failed: %s", dir, strerror(e));
    return 0;
}

int afile_commit(afile *af, tr_error *err) {
    if (!af->f) return TR_FAIL(err, TR_ESTATE, "afile_commit on a closed file");
    int rc = 0;
    if (af->failed) rc = TR_FAIL(err, TR_EIO, "not committing '%s': an earlier write failed", af->path);
    if (!rc && fflush(af->f) != 0) rc = TR_FAIL(err, TR_EIO, "flush of '%s' failed: %s", af->tmp, strerror(errno));
    if (!rc && fsync(fileno(af->f)) != 0) rc = TR_FAIL(err, TR_EIO, "fsync of '%s' failed: %s", af->tmp, strerror(errno));
    if (fclose(af->f) != 0 && !rc) rc = TR_FAIL(err, TR_EIO, "close of '%s' failed: %s", af->tmp, strerror(errno));
    af->f = NULL;
    if (!rc && rename(af->tmp, af->path) != 0)
        rc = TR_FAIL(err, TR_EIO, "rename '%s' -> '%s' failed: %s", af->tmp, af->path, strerror(errno));
    if (rc) { unlink(af->tmp); return rc; }
    return afile_sync_dir(af->path, err);
}

void afile_abort(afile *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp[0]) unlink(af->tmp);
}

int afile_write(const char *path, const void *data, size_t len, tr_error *err) {
    afile af;
    TR_TRY(afile_open(&af, path, err));
    int rc = afile_put(&af, data, len, err);
    if (rc) { afile_abort(&af); return rc; }
    return afile_commit(&af, err);
}

int afile_mkdirs(const char *path, tr_error *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return TR_FAIL(err, TR_EINVAL, "path too long: '%.80s...'", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return TR_FAIL(err, TR_EIO, "cannot create folder '%s': %s", buf, strerror(errno));
            *p = c;
            if (c == '\0') break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return TR_FAIL(err, TR_EIO, "'%s' exists and is not a folder", path);
    return 0;
}
