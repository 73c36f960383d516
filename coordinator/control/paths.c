/* paths.c - confine a submitted spec's paths (see paths.h for the model). */
#include "coordinator/control/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util/afile.h"

static int resolve_root(const char *what, const char *path, char *out, tr_error *err) {
    char buf[PATH_MAX];
    if (!realpath(path, buf))
        return TR_FAIL(err, TR_EINVAL, "%s '%s': %s", what, path, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return TR_FAIL(err, TR_EINVAL, "%s '%s' is not a folder", what, path);
    if (strlen(buf) >= SPEC_PATH_MAX) return TR_FAIL(err, TR_EINVAL, "%s '%s' is longer than %d characters", what, buf, SPEC_PATH_MAX - 1);
    snprintf(out, SPEC_PATH_MAX, "%s", buf);
    return 0;
}

int paths_roots_init(paths_roots *r, const char *runs_root, const char *const *data_roots, int n_data_roots,
                     tr_error *err) {
    memset(r, 0, sizeof *r);
    if (n_data_roots > PATHS_MAX_ROOTS) return TR_FAIL(err, TR_EINVAL, "%d data roots; at most %d", n_data_roots, PATHS_MAX_ROOTS);
    TR_TRY(afile_mkdirs(runs_root, err));
    TR_TRY(resolve_root("runs folder", runs_root, r->runs, err));
    for (int i = 0; i < n_data_roots; i++) TR_TRY(resolve_root("data root", data_roots[i], r->inputs[i], err));
    r->n_inputs = n_data_roots;
    return 0;
}

/* 1 if path (resolved) is root itself or inside it. */
static int under(const char *path, const char *root) {
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/') return 1;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int has_control_chars(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

static int confine_input(const paths_roots *r, const char *field, char *path, tr_error *err) {
    if (!path[0]) return 0;
    if (has_control_chars(path)) return TR_FAIL(err, TR_EINVAL, "field '%s': the path contains control characters", field);
    char buf[PATH_MAX];
    if (!realpath(path, buf))
        return TR_FAIL(err, TR_EINVAL, "field '%s': file '%s' %s (the path is read on the daemon's machine)", field, path,
                       errno == ENOENT ? "does not exist" : strerror(errno));
    int ok = under(buf, r->runs);
    for (int i = 0; i < r->n_inputs && !ok; i++) ok = under(buf, r->inputs[i]);
    if (!ok)
        return TR_FAIL(err, TR_EINVAL, "field '%s': '%s' is outside the folders this daemon reads (its --data-root folders and "
                       "its runs folder %s)%s", field, path, r->runs, r->n_inputs ? "" : "; start the daemon with --data-root DIR to allow data files");
    /* O_NOFOLLOW on the resolved path: a link swapped in since realpath is refused */
    int fd = open(buf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return TR_FAIL(err, TR_EINVAL, "field '%s': file '%s' is not readable by the daemon: %s", field, path, strerror(errno));
    struct stat st;
    int reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!reg) return TR_FAIL(err, TR_EINVAL, "field '%s': '%s' is not a regular file", field, path);
    if (strlen(buf) >= SPEC_PATH_MAX) return TR_FAIL(err, TR_EINVAL, "field '%s': '%s' resolves to a path longer than %d", field, path, SPEC_PATH_MAX - 1);
    snprintf(path, SPEC_PATH_MAX, "%s", buf);
    return 0;
}

int paths_confine_inputs(const paths_roots *r, experiment_spec *s, tr_error *err) {
    TR_TRY(confine_input(r, "task.path", s->task.path, err));
    TR_TRY(confine_input(r, "task.test_path", s->task.test_path, err));
    TR_TRY(confine_input(r, "model.init", s->model.init, err));
    return 0;
}

int paths_new_out_dir(const paths_roots *r, const char *out_dir, const char *default_name, char *out, size_t cap,
                      tr_error *err) {
    const char *rel = out_dir && out_dir[0] ? out_dir : default_name;
    if (has_control_chars(rel)) return TR_FAIL(err, TR_EINVAL, "field 'out_dir': the name contains control characters");
    if (rel[0] == '/')
        return TR_FAIL(err, TR_EINVAL, "field 'out_dir': '%s' is absolute; give a folder name relative to the daemon's runs folder %s",
                       rel, r->runs);
    /* every component must be a plain name: no "..", no ".", no empty one */
    for (const char *p = rel; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return TR_FAIL(err, TR_EINVAL, "field 'out_dir': '%s' must be plain folder names separated by '/' (no '.', '..' or '//')", rel);
        p += n + (e ? 1 : 0);
        if (e && !*p) break;   /* a trailing slash is fine */
    }
    if ((size_t)snprintf(out, cap, "%s/%s", r->runs, rel) >= cap || strlen(out) >= SPEC_PATH_MAX)
        return TR_FAIL(err, TR_EINVAL, "field 'out_dir': '%s' makes a path longer than %d characters", rel, SPEC_PATH_MAX - 1);
    size_t len = strlen(out);
    if (len > 1 && out[len - 1] == '/') out[--len] = '\0';
    /* walk the components that exist: none may be a symbolic link; the last must not exist */
    char part[SPEC_PATH_MAX];
    for (size_t i = strlen(r->runs) + 1; i <= len; i++) {
        if (out[i] != '/' && out[i] != '\0') continue;
        snprintf(part, sizeof part, "%.*s", (int)i, out);
        struct stat st;
        if (lstat(part, &st) != 0) {
            if (errno == ENOENT) return 0;   /* the rest is new */
            return TR_FAIL(err, TR_EINVAL, "field 'out_dir': '%s': %s", part, strerror(errno));
        }
        if (S_ISLNK(st.st_mode)) return TR_FAIL(err, TR_EINVAL, "field 'out_dir': '%s' is a symbolic link; links are not followed", part);
        if (i < len && !S_ISDIR(st.st_mode)) return TR_FAIL(err, TR_EINVAL, "field 'out_dir': '%s' is not a folder", part);
    }
    return TR_FAIL(err, TR_EINVAL, "field 'out_dir': folder '%s' already exists; every experiment needs a new folder "
                   "(choose another out_dir, or leave it out for one named after the experiment id)", rel);
}

int paths_own_folder(const char *dir, const char *id, tr_error *err) {
    TR_TRY(afile_mkdirs(dir, err));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return TR_FAIL(err, TR_EINVAL, "experiment folder '%s': %s", dir,
                       errno == ELOOP || errno == ENOTDIR ? "is a symbolic link or not a folder" : strerror(errno));
    int rc = 0;
    char have[128];
    int fd = openat(dfd, PATHS_OWNER_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, have, sizeof have - 1);
        close(fd);
        have[n > 0 ? n : 0] = '\0';
        size_t l = strlen(have);
        while (l && have[l - 1] == '\n') have[--l] = '\0';
        if (strcmp(have, id) != 0)   /* the owner's id is not echoed: it is file content */
            rc = TR_FAIL(err, TR_ESTATE, "experiment folder '%s' belongs to another experiment; refusing to share it", dir);
    } else if (errno == ENOENT) {
        fd = openat(dfd, PATHS_OWNER_FILE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        size_t l = strlen(id);
        if (fd < 0 || write(fd, id, l) != (ssize_t)l || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
            rc = TR_FAIL(err, TR_EIO, "experiment folder '%s': cannot record its owner: %s", dir, strerror(errno));
        if (fd >= 0) close(fd);
    } else {
        rc = TR_FAIL(err, TR_EIO, "experiment folder '%s': %s", dir, strerror(errno));
    }
    close(dfd);
    return rc;
}
