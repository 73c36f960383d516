/* ckptdir.c - write, read and prune an experiment's checkpoints. */
#include "common/engine/ckptdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/engine/trainer.h"
#include "common/train/memory.h"
#include "common/util/afile.h"
#include "common/util/fnv.h"
#include "common/util/log.h"
#include "common/util/path.h"

#define PROMPT_MAGIC 0x504D5250u  /* "PRMP" */
#define PROMPT_VERSION 1u

/* The extras as a JSON object: the manifest's "extras", and the JSON part of a state.bin. */
static json_t *extras_json(const ckptdir_extras *x) {
    return json_pack("{sI sI sf sf si}", "step", (json_int_t)x->step, "tokens_sampled", (json_int_t)x->tokens_sampled,
                     "acc_before", isnan(x->acc_before) ? -1.0 : x->acc_before,
                     "maj_before", isnan(x->maj_before) ? -1.0 : x->maj_before, "n_eval", x->n_eval);
}

static int extras_parse(json_t *o, const char *path, ckptdir_extras *x, tr_error *err) {
    json_int_t step = -1, tok = 0;
    double ab = -1, mb = -1;
    int ne = 0;
    if (!o || json_unpack(o, "{sI sI sF sF si}", "step", &step, "tokens_sampled", &tok, "acc_before", &ab, "maj_before", &mb, "n_eval", &ne) || step < 0)
        return TR_FAIL(err, TR_EFORMAT, "%s: checkpoint extras are malformed (step, tokens_sampled, acc_before, maj_before, n_eval)", path);
    x->step = step;
    x->tokens_sampled = tok;
    x->acc_before = ab < 0 ? NAN : ab;
    x->maj_before = mb < 0 ? NAN : mb;
    x->n_eval = ne;
    return 0;
}

static int extras_encode(const ckptdir_extras *x, const gpt *g, uint8_t **out, size_t *len, tr_error *err) {
    json_t *o = extras_json(x);
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!js) return TR_FAIL(err, TR_ENOMEM, "cannot encode checkpoint extras");
    size_t jl = strlen(js) + 1;
    size_t pn = g->prompt_len ? (size_t)g->prompt_len * (size_t)g->config.channels : 0;
    *len = jl + pn * sizeof(float);
    *out = tr_malloc(*len, err);
    if (!*out) { free(js); return TR_ENOMEM; }
    memcpy(*out, js, jl);
    if (pn) memcpy(*out + jl, g->prompt, pn * sizeof(float));
    free(js);
    return 0;
}

static int extras_decode(const uint8_t *buf, size_t len, const char *path, ckptdir_extras *x, gpt *g, tr_error *err) {
    const uint8_t *nul = buf ? memchr(buf, 0, len) : NULL;
    if (!nul) return TR_FAIL(err, TR_EFORMAT, "%s: checkpoint extras are missing their JSON part", path);
    json_error_t je;
    json_t *o = json_loads((const char *)buf, 0, &je);
    int rc = extras_parse(o, path, x, err);
    json_decref(o);
    if (rc) return rc;
    size_t jl = (size_t)(nul - buf) + 1;
    size_t pn = g->prompt_len ? (size_t)g->prompt_len * (size_t)g->config.channels : 0;
    if (len - jl != pn * sizeof(float))
        return TR_FAIL(err, TR_EFORMAT, "%s: checkpoint holds %zu bytes of soft prompt, this experiment has %zu (prompt_len %d x channels %d)",
                       path, len - jl, pn * sizeof(float), g->prompt_len, g->config.channels);
    if (pn) memcpy(g->prompt, buf + jl, pn * sizeof(float));
    return 0;
}

/* FNV-1a 64 over the parameters, the checksum state.bin and memory.bin carry (ckpt.h):
 * model.bin keeps llm.c's format, so its sum lives beside it in model.sum. */
static uint64_t params_sum(const gpt *g) { return fnv1a64(FNV1A64_INIT, g->params, g->num_params * sizeof(float)); }

/* Step number of a folder name "step-N" (N decimal digits only); -1 for anything else. */
static int64_t step_of_name(const char *name) {
    if (strncmp(name, "step-", 5) != 0 || !name[5]) return -1;
    int64_t v = 0;
    for (const char *c = name + 5; *c; c++) {
        if (*c < '0' || *c > '9' || v > INT64_MAX / 10 - 10) return -1;
        v = v * 10 + (*c - '0');
    }
    return v;
}

static int cmp_step_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* Step numbers of the step-N folders under cdir, newest first (at most cap). */
static int list_steps(const char *cdir, int64_t *steps, int cap) {
    DIR *d = opendir(cdir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < cap) {
        int64_t s = step_of_name(de->d_name);
        if (s >= 0) steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_step_desc);
    return n;
}

/* Unlink the plain files in dir whose name contains `part` (NULL: every file); returns
 * how many. Sub-folders are left alone. */
static int remove_files_in(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]))) continue;
        if (part && !strstr(de->d_name, part)) continue;
        struct stat st;   /* relative to the open folder: no path to build, no link followed */
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    return n;
}

int ckptdir_clean_temps(const char *out_dir) {
    /* Only this process writes into an experiment folder, and it has not written yet: any
     * "NAME.tmp.PID" here is what a killed writer left (afile.c). */
    char p[PATH_BUF];
    int n = remove_files_in(out_dir, ".tmp.");
    /* a folder whose path does not fit cannot have been written to: nothing to clean there */
    if (path_fmt(p, sizeof p, NULL, "%s/checkpoints", out_dir) == 0) {
        n += remove_files_in(p, ".tmp.");
        static int64_t steps[4096];
        int k = list_steps(p, steps, 4096);
        for (int i = 0; i < k; i++) {
            char sd[PATH_BUF];
            if (path_fmt(sd, sizeof sd, NULL, "%s/step-%08lld", p, (long long)steps[i]) == 0)
                n += remove_files_in(sd, ".tmp.");
        }
    }
    if (n) LOG_I("%s: removed %d temp file%s left by an interrupted write", out_dir, n, n > 1 ? "s" : "");
    return n;
}

/* Remove step folders beyond the newest `keep`, by step number (a name sort would put
 * step-100000000 before step-99999999), never the one just written. Failures only warn:
 * pruning is housekeeping. */
static void prune(const char *cdir, int keep, int64_t current) {
    static int64_t steps[4096];
    int n = list_steps(cdir, steps, 4096);
    for (int i = keep > 0 ? keep : 1; i < n; i++) {
        if (steps[i] == current) continue;
        char p[PATH_BUF];
        tr_error e = {0};
        if (path_fmt(p, sizeof p, &e, "%s/step-%08lld", cdir, (long long)steps[i])) {
            LOG_W("could not remove old checkpoint: %s", e.msg);
            continue;
        }
        remove_files_in(p, NULL);   /* every file, temp files of a killed writer included */
        if (rmdir(p) != 0) LOG_W("could not remove old checkpoint %s: %s", p, strerror(errno));
    }
}

int ckptdir_write(const char *out_dir, const gpt *g, const optim_state *opt, const ckptdir_extras *x,
                  const uint8_t *mem_buf, size_t mem_len, int keep, char *dir_out, size_t cap, tr_error *err) {
    char cdir[PATH_BUF], dir[PATH_BUF], p[PATH_BUF];
    TR_TRY(path_fmt(cdir, sizeof cdir, err, "%s/checkpoints", out_dir));
    TR_TRY(path_fmt(dir, sizeof dir, err, "%s/step-%08lld", cdir, (long long)x->step));
    TR_TRY(path_fmt(p, sizeof p, err, "%s/model.bin", dir));
    TR_TRY(afile_mkdirs(dir, err));
    TR_TRY(gpt_ckpt_save(g, p, err));
    char sum[64];
    int sl = snprintf(sum, sizeof sum, "fnv1a64 %016llx %zu\n", (unsigned long long)params_sum(g), g->num_params);
    TR_TRY(path_fmt(p, sizeof p, err, "%s/model.sum", dir));
    TR_TRY(afile_write(p, sum, (size_t)sl, err));
    uint8_t *ex = NULL;
    size_t exlen = 0;
    TR_TRY(extras_encode(x, g, &ex, &exlen, err));
    TR_TRY(path_fmt(p, sizeof p, err, "%s/state.bin", dir));
    int rc = gpt_state_save(p, opt, NULL, 0, ex, exlen, err);
    free(ex);
    if (rc) return rc;
    TR_TRY(path_fmt(p, sizeof p, err, "%s/memory.bin", dir));
    TR_TRY(memory_file_write(p, mem_buf, mem_len, err));
    /* the marker last: until it is renamed into place, `latest` names the previous checkpoint */
    char line[64];
    int n = snprintf(line, sizeof line, "step-%08lld\n", (long long)x->step);
    TR_TRY(path_fmt(p, sizeof p, err, "%s/latest", cdir));
    TR_TRY(afile_write(p, line, (size_t)n, err));
    prune(cdir, keep, x->step);
    if (dir_out) TR_TRY(path_fmt(dir_out, cap, err, "%s", dir));
    return 0;
}

int ckptdir_latest(const char *out_dir, char *path, size_t cap, tr_error *err) {
    char p[PATH_BUF];
    TR_TRY(path_fmt(p, sizeof p, err, "%s/checkpoints/latest", out_dir));
    char *text;
    size_t len;
    int rc = tr_read_file(p, 256, &text, &len, err);
    if (rc == TR_ENOTFOUND) return TR_FAIL(err, TR_ENOTFOUND, "no checkpoint in '%s' (no checkpoints/latest marker)", out_dir);
    if (rc) return rc;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
    int64_t step = step_of_name(text);
    free(text);
    /* the marker's text is not echoed: only a step-N name is ever accepted from it */
    if (step < 0) return TR_FAIL(err, TR_EFORMAT, "%s: not a line 'step-NNNNNNNN' (the marker is corrupt or empty)", p);
    return path_fmt(path, cap, err, "%s/checkpoints/step-%08lld", out_dir, (long long)step);
}

int ckptdir_exists(const char *out_dir) {
    char p[PATH_BUF];   /* a path that does not fit names no checkpoint */
    if (path_fmt(p, sizeof p, NULL, "%s/checkpoints/latest", out_dir)) return 0;
    if (access(p, F_OK) == 0) return 1;
    /* No marker: a step folder counts only when its last file (the manifest; before manifests,
     * memory.bin after state.bin) is there. A kill during the very first checkpoint leaves
     * some of its files and no marker; that run has nothing to resume and starts over (its
     * folder is rewritten), instead of failing. */
    char cdir[PATH_BUF];
    if (path_fmt(cdir, sizeof cdir, NULL, "%s/checkpoints", out_dir)) return 0;
    static int64_t steps[4096];
    int n = list_steps(cdir, steps, 4096);
    for (int i = 0; i < n; i++) {
        if (path_fmt(p, sizeof p, NULL, "%s/step-%08lld/%s", cdir, (long long)steps[i], CKPTDIR_MANIFEST) == 0 && access(p, F_OK) == 0)
            return 1;
        /* before manifests: memory.bin was the last file, after state.bin */
        char q[PATH_BUF];
        if (path_fmt(p, sizeof p, NULL, "%s/step-%08lld/memory.bin", cdir, (long long)steps[i]) == 0 && access(p, F_OK) == 0 &&
            path_fmt(q, sizeof q, NULL, "%s/step-%08lld/state.bin", cdir, (long long)steps[i]) == 0 && access(q, F_OK) == 0)
            return 1;
    }
    return 0;
}

int ckptdir_params_finite(const gpt *g, const char *what, tr_error *err) {
    for (size_t i = 0; i < g->num_params; i++)
        if (!isfinite(g->params[i]))
            return TR_FAIL(err, TR_EFORMAT, "%s: parameter %zu is %s; refusing to resume from non-finite weights",
                           what, i, isnan(g->params[i]) ? "NaN" : "infinite");
    return 0;
}

/* Load one checkpoint folder, verifying every checksum and that the weights are finite. */
static int read_dir(const char *dir, gpt *g, optim_state *opt, ckptdir_extras *x, uint8_t **mem_buf, size_t *mem_len,
                    tr_error *err) {
    char p[PATH_BUF];
    TR_TRY(path_fmt(p, sizeof p, err, "%s/model.bin", dir));
    TR_TRY(gpt_ckpt_load(g, p, err));
    TR_TRY(path_fmt(p, sizeof p, err, "%s/model.sum", dir));
    char *text = NULL;
    size_t len = 0;
    int rc = tr_read_file(p, 256, &text, &len, err);
    if (rc == TR_ENOTFOUND) {
        LOG_W("%s: absent (a checkpoint from before model checksums); the weights are checked for NaN/Inf only", p);
    } else if (rc) {
        return rc;
    } else {
        unsigned long long want = 0;
        size_t n = 0;
        int ok = sscanf(text, "fnv1a64 %16llx %zu", &want, &n) == 2;
        free(text);
        if (!ok) return TR_FAIL(err, TR_EFORMAT, "%s: not a line 'fnv1a64 HEX COUNT' (corrupt)", p);
        if (n != g->num_params || want != params_sum(g))
            return TR_FAIL(err, TR_EFORMAT, "%s/model.bin: checksum mismatch (the file is damaged)", dir);
    }
    TR_TRY(path_fmt(p, sizeof p, err, "%s/model.bin", dir));
    TR_TRY(ckptdir_params_finite(g, p, err));
    TR_TRY(path_fmt(p, sizeof p, err, "%s/state.bin", dir));
    uint8_t *rngb = NULL;
    size_t nrng = 0;
    void *ex = NULL;
    size_t exlen = 0;
    TR_TRY(gpt_state_load(p, opt, &rngb, &nrng, &ex, &exlen, err));
    free(rngb);
    rc = extras_decode(ex, exlen, p, x, g, err);
    free(ex);
    if (rc) return rc;
    if (opt->step != x->step && opt->step > x->step)
        return TR_FAIL(err, TR_EFORMAT, "%s: optimiser has %lld steps but the checkpoint says %lld", p, (long long)opt->step, (long long)x->step);
    TR_TRY(path_fmt(p, sizeof p, err, "%s/memory.bin", dir));
    return memory_file_read(p, mem_buf, mem_len, err);
}

/* One try at a step folder: 0 when it is usable (the try's outputs filled), else err says
 * why (and the try has freed what it allocated). */
typedef int (*try_fn)(void *ctx, const char *dir, tr_error *err);

/* Offer the step folders to fn, the marker's first, then every one newest first, until one
 * works: a damaged marker or checkpoint costs the steps since the previous good one, never
 * the whole run. */
static int each_candidate(const char *out_dir, try_fn fn, void *ctx, char *dir_out, size_t cap, tr_error *err) {
    char cdir[PATH_BUF], dir[PATH_BUF];
    TR_TRY(path_fmt(cdir, sizeof cdir, err, "%s/checkpoints", out_dir));
    static int64_t steps[4096 + 1];
    int n = 0;
    tr_error me = {0};
    if (ckptdir_latest(out_dir, dir, sizeof dir, &me) == 0) {
        steps[n++] = step_of_name(strrchr(dir, '/') + 1);
    } else if (me.code != TR_ENOTFOUND) {
        LOG_W("%s; looking for the newest complete step folder instead", me.msg);
    }
    n += list_steps(cdir, steps + n, 4096);
    if (n == 0) return TR_FAIL(err, TR_ENOTFOUND, "no checkpoint in '%s'", out_dir);
    tr_error first = {0};
    int tried = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && steps[i] == steps[0]) continue;   /* the marker's folder, already tried */
        TR_TRY(path_fmt(dir, sizeof dir, err, "%s/step-%08lld", cdir, (long long)steps[i]));
        tr_error e = {0};
        if (fn(ctx, dir, &e) == 0) {
            if (tried) LOG_W("resuming from %s, the newest usable checkpoint (%d newer one%s unusable: %s)", dir, tried,
                             tried > 1 ? "s" : "", first.msg);
            return dir_out ? path_fmt(dir_out, cap, err, "%s", dir) : 0;
        }
        LOG_W("checkpoint %s is unusable: %s", dir, e.msg);
        if (!tried++) first = e;
    }
    return TR_FAIL(err, TR_EFORMAT, "no usable checkpoint in %s (%d tried; the newest: %s). Nothing was deleted: "
                   "repair or remove the damaged folders, or start the experiment in a new folder", cdir, tried, first.msg);
}

typedef struct read_ctx {
    gpt *g;
    optim_state *opt;
    ckptdir_extras *x;
    uint8_t **mem_buf;
    size_t *mem_len;
} read_ctx;

static int try_single_file(void *vctx, const char *dir, tr_error *err) {
    read_ctx *c = vctx;
    int rc = read_dir(dir, c->g, c->opt, c->x, c->mem_buf, c->mem_len, err);
    if (rc) { free(*c->mem_buf); *c->mem_buf = NULL; }
    return rc;
}

int ckptdir_read(const char *out_dir, gpt *g, optim_state *opt, ckptdir_extras *x, uint8_t **mem_buf,
                 size_t *mem_len, char *dir_out, size_t cap, tr_error *err) {
    *mem_buf = NULL;
    read_ctx c = {g, opt, x, mem_buf, mem_len};
    int rc = each_candidate(out_dir, try_single_file, &c, dir_out, cap, err);
    if (rc) { free(*mem_buf); *mem_buf = NULL; }
    return rc;
}

/* ---- the sharded layout: the sides' files, then memory.bin and the manifest ---- */

#define MANIFEST_FORMAT "trice-checkpoint-manifest"
#define MANIFEST_VERSION 1

int ckptdir_begin(const char *out_dir, int64_t step, char *dir, size_t cap, tr_error *err) {
    TR_TRY(path_fmt(dir, cap, err, "%s/checkpoints/step-%08lld", out_dir, (long long)step));
    return afile_mkdirs(dir, err);
}

static json_t *file_json(const ckpt_file *f) {
    char sum[17];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)f->sum);
    return json_pack("{ss sI sI sI ss}", "name", f->name, "begin", (json_int_t)f->begin, "end", (json_int_t)f->end,
                     "bytes", (json_int_t)f->bytes, "fnv1a64", sum);
}

static int manifest_write(const char *dir, const ckptdir_extras *x, size_t n_tunable, int workers,
                          const ckpt_file *files, int n, tr_error *err) {
    json_t *list = json_array();
    for (int i = 0; list && i < n; i++)
        if (json_array_append_new(list, file_json(&files[i]))) { json_decref(list); list = NULL; }
    json_t *o = list ? json_pack("{ss si sI si sI so so}", "format", MANIFEST_FORMAT, "version", MANIFEST_VERSION,
                                 "step", (json_int_t)x->step, "workers", workers, "n_tunable", (json_int_t)n_tunable,
                                 "extras", extras_json(x), "files", list)
                     : NULL;
    char *js = o ? json_dumps(o, JSON_INDENT(1)) : NULL;
    json_decref(o);
    if (!js) return TR_FAIL(err, TR_ENOMEM, "cannot encode the checkpoint manifest");
    char p[PATH_BUF];
    int rc = path_fmt(p, sizeof p, err, "%s/%s", dir, CKPTDIR_MANIFEST);
    if (!rc) rc = afile_write(p, js, strlen(js), err);
    free(js);
    return rc;
}

/* Optimiser shards in dir that the manifest does not name: a step folder rewritten after a
 * resume from an older checkpoint with another W keeps the old run's. Removed only once the
 * new manifest is in place (until then the old manifest and its files are the checkpoint);
 * a failure only warns. */
static void remove_unnamed_shards(const char *dir, const ckpt_file *files, int n) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "optim-", 6) != 0) continue;
        int named = 0;
        for (int i = 0; i < n && !named; i++) named = strcmp(files[i].name, de->d_name) == 0;
        if (!named && unlinkat(dirfd(d), de->d_name, 0) != 0) LOG_W("could not remove %s/%s: %s", dir, de->d_name, strerror(errno));
    }
    closedir(d);
}

int ckptdir_commit(const char *out_dir, const char *dir, const ckptdir_extras *x, size_t n_tunable, int workers,
                   const ckpt_file *files, int n_files, const uint8_t *mem_buf, size_t mem_len, int keep, tr_error *err) {
    char cdir[PATH_BUF], p[PATH_BUF];
    TR_TRY(path_fmt(cdir, sizeof cdir, err, "%s/checkpoints", out_dir));
    TR_TRY(path_fmt(p, sizeof p, err, "%s/memory.bin", dir));
    TR_TRY(memory_file_write(p, mem_buf, mem_len, err));
    ckpt_file *all = tr_malloc((size_t)(n_files + 1) * sizeof *all, err);
    if (!all) return TR_ENOMEM;
    memcpy(all, files, (size_t)n_files * sizeof *all);
    int rc = ckpt_file_describe(dir, "memory.bin", -1, -1, &all[n_files], err);
    /* the manifest after every file it names, the marker after the manifest: until the
     * marker is renamed into place, `latest` names the previous checkpoint, and a folder
     * without a manifest is not a checkpoint */
    if (!rc) rc = manifest_write(dir, x, n_tunable, workers, all, n_files + 1, err);
    if (!rc) remove_unnamed_shards(dir, all, n_files + 1);
    free(all);
    if (rc) return rc;
    char line[64];
    int n = snprintf(line, sizeof line, "step-%08lld\n", (long long)x->step);
    TR_TRY(path_fmt(p, sizeof p, err, "%s/latest", cdir));
    TR_TRY(afile_write(p, line, (size_t)n, err));
    prune(cdir, keep, x->step);
    return 0;
}

void ckptdir_manifest_free(ckptdir_manifest *m) {
    free(m->files);
    memset(m, 0, sizeof *m);
}

static int file_parse(json_t *o, const char *path, ckpt_file *f, tr_error *err) {
    const char *name = NULL, *sum = NULL;
    json_int_t b = 0, e = 0, bytes = -1;
    memset(f, 0, sizeof *f);
    if (!o || json_unpack(o, "{ss sI sI sI ss}", "name", &name, "begin", &b, "end", &e, "bytes", &bytes, "fnv1a64", &sum) ||
        !ckpt_file_name_ok(name) || bytes < 0 || strlen(sum) != 16 || strspn(sum, "0123456789abcdef") != 16)
        return TR_FAIL(err, TR_EFORMAT, "%s: a file entry is malformed (name, begin, end, bytes, fnv1a64)", path);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->begin = b;
    f->end = e;
    f->bytes = (uint64_t)bytes;
    f->sum = strtoull(sum, NULL, 16);
    return 0;
}

int ckptdir_manifest_read(const char *dir, ckptdir_manifest *m, tr_error *err) {
    memset(m, 0, sizeof *m);
    char p[PATH_BUF];
    TR_TRY(path_fmt(p, sizeof p, err, "%s/%s", dir, CKPTDIR_MANIFEST));
    char *text;
    size_t len;
    int rc = tr_read_file(p, (size_t)1 << 24, &text, &len, err);
    if (rc == TR_ENOTFOUND)
        return TR_FAIL(err, TR_EFORMAT, "%s: missing (the checkpoint was cut short before its manifest: not a checkpoint)", p);
    if (rc) return rc;
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je), *extras = NULL, *files = NULL;
    free(text);
    const char *format = NULL;
    int version = 0, workers = 0;
    json_int_t step = -1, nt = -1;
    if (!o || json_unpack(o, "{ss si sI si sI so so}", "format", &format, "version", &version, "step", &step, "workers",
                          &workers, "n_tunable", &nt, "extras", &extras, "files", &files) ||
        strcmp(format, MANIFEST_FORMAT) != 0 || !json_is_array(files)) {
        json_decref(o);
        return TR_FAIL(err, TR_EFORMAT, "%s: not a checkpoint manifest (format, version, step, workers, n_tunable, extras, files)", p);
    }
    if (version != MANIFEST_VERSION) {
        json_decref(o);
        return TR_FAIL(err, TR_EFORMAT, "%s: manifest version %d, this build reads %d", p, version, MANIFEST_VERSION);
    }
    m->step = step;
    m->workers = workers;
    m->n_tunable = nt < 0 ? 0 : (uint64_t)nt;
    rc = extras_parse(extras, p, &m->x, err);
    const size_t n = json_array_size(files);
    if (!rc && (workers < 1 || nt < 0 || step != m->x.step || n > (size_t)workers + 8))
        rc = TR_FAIL(err, TR_EFORMAT, "%s: implausible manifest (step %lld, extras step %lld, %d workers, %zu files)", p,
                     (long long)step, (long long)m->x.step, workers, n);
    if (!rc && !(m->files = tr_malloc((n ? n : 1) * sizeof *m->files, err))) rc = TR_ENOMEM;
    int shards = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = file_parse(json_array_get(files, i), p, &m->files[i], err);
        shards += !rc && m->files[i].begin >= 0;
    }
    json_decref(o);
    m->n_files = (int)n;
    if (!rc && shards != workers)
        rc = TR_FAIL(err, TR_EFORMAT, "%s: names %d optimiser shards for %d workers", p, shards, workers);
    if (rc) ckptdir_manifest_free(m);
    return rc;
}

typedef struct resume_ctx {
    read_ctx out;
    size_t n_tunable;
    ckptdir_load_fn load;
    void *load_ctx;
} resume_ctx;

/* A folder with a manifest: the manifest, memory.bin against it, then the sides load the
 * parameters and shards. */
static int try_sharded(resume_ctx *c, const char *dir, tr_error *err) {
    ckptdir_manifest m;
    TR_TRY(ckptdir_manifest_read(dir, &m, err));
    int rc = 0;
    const ckpt_file *mem = ckpt_file_find(m.files, m.n_files, "memory.bin");
    int64_t folder_step = step_of_name(strrchr(dir, '/') + 1);
    if (m.step != folder_step)
        rc = TR_FAIL(err, TR_EFORMAT, "%s/%s: for step %lld, in the folder of step %lld", dir, CKPTDIR_MANIFEST,
                     (long long)m.step, (long long)folder_step);
    else if (m.n_tunable != c->n_tunable)
        rc = TR_FAIL(err, TR_EFORMAT, "%s/%s: %llu tunable parameters, this experiment has %zu (another model?)", dir,
                     CKPTDIR_MANIFEST, (unsigned long long)m.n_tunable, c->n_tunable);
    else if (!mem)
        rc = TR_FAIL(err, TR_EFORMAT, "%s/%s: names no memory.bin", dir, CKPTDIR_MANIFEST);
    char p[PATH_BUF];
    if (!rc) rc = ckpt_file_verify(dir, mem, err);
    if (!rc) rc = path_fmt(p, sizeof p, err, "%s/memory.bin", dir);
    if (!rc) rc = memory_file_read(p, c->out.mem_buf, c->out.mem_len, err);
    if (!rc) rc = c->load(c->load_ctx, dir, &m, err);
    if (!rc) *c->out.x = m.x;
    ckptdir_manifest_free(&m);
    return rc;
}

static int try_resume(void *vctx, const char *dir, tr_error *err) {
    resume_ctx *c = vctx;
    char p[PATH_BUF];
    TR_TRY(path_fmt(p, sizeof p, err, "%s/%s", dir, CKPTDIR_MANIFEST));
    int rc;
    if (access(p, F_OK) == 0) {
        rc = try_sharded(c, dir, err);
    } else {
        /* no manifest: a checkpoint from before manifests (state.bin holds the moments), or
         * one cut short, which is none */
        TR_TRY(path_fmt(p, sizeof p, err, "%s/state.bin", dir));
        if (access(p, F_OK) != 0)
            return TR_FAIL(err, TR_EFORMAT, "%s/%s: missing (the checkpoint was cut short before its manifest: not a checkpoint)",
                           dir, CKPTDIR_MANIFEST);
        rc = read_dir(dir, c->out.g, c->out.opt, c->out.x, c->out.mem_buf, c->out.mem_len, err);
        if (!rc) rc = c->load(c->load_ctx, dir, NULL, err);
    }
    if (rc) { free(*c->out.mem_buf); *c->out.mem_buf = NULL; }
    return rc;
}

int ckptdir_resume(const char *out_dir, size_t n_tunable, gpt *g, optim_state *opt, ckptdir_extras *x,
                   uint8_t **mem_buf, size_t *mem_len, ckptdir_load_fn load, void *ctx, char *dir_out, size_t cap,
                   tr_error *err) {
    *mem_buf = NULL;
    resume_ctx c = {{g, opt, x, mem_buf, mem_len}, n_tunable, load, ctx};
    int rc = each_candidate(out_dir, try_resume, &c, dir_out, cap, err);
    if (rc) { free(*mem_buf); *mem_buf = NULL; }
    return rc;
}

int ckptdir_prompt_save(const char *path, const gpt *g, tr_error *err) {
    size_t n = (size_t)g->prompt_len * (size_t)g->config.channels;
    uint32_t hdr[4] = {PROMPT_MAGIC, PROMPT_VERSION, (uint32_t)g->prompt_len, (uint32_t)g->config.channels};
    afile af;
    TR_TRY(afile_open(&af, path, err));
    int rc = afile_put(&af, hdr, sizeof hdr, err);
    if (!rc) rc = afile_put(&af, g->prompt, n * sizeof(float), err);
    if (rc) { afile_abort(&af); return rc; }
    return afile_commit(&af, err);
}

int ckptdir_prompt_load(const char *path, gpt *g, tr_error *err) {
    char *buf;
    size_t len;
    TR_TRY(tr_read_file(path, (size_t)1 << 30, &buf, &len, err));
    uint32_t hdr[4] = {0};
    int rc = 0;
    size_t n = (size_t)g->prompt_len * (size_t)g->config.channels;
    if (len >= sizeof hdr) memcpy(hdr, buf, sizeof hdr);
    if (len < sizeof hdr || hdr[0] != PROMPT_MAGIC) rc = TR_FAIL(err, TR_EFORMAT, "%s: not a soft-prompt file (bad magic)", path);
    else if (hdr[1] != PROMPT_VERSION) rc = TR_FAIL(err, TR_EFORMAT, "%s: soft-prompt version %u, this build reads %u", path, hdr[1], PROMPT_VERSION);
    else if ((int)hdr[2] != g->prompt_len || (int)hdr[3] != g->config.channels)
        rc = TR_FAIL(err, TR_EINVAL, "%s: soft prompt is %u x %u, the model wants %d x %d", path, hdr[2], hdr[3], g->prompt_len, g->config.channels);
    else if (len != sizeof hdr + n * sizeof(float)) rc = TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes, expected %zu (truncated?)", path, len, sizeof hdr + n * sizeof(float));
    else memcpy(g->prompt, buf + sizeof hdr, n * sizeof(float));
    free(buf);
    return rc;
}
