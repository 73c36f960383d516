/* ckptshard.c - optimiser shards and the description of a checkpoint's files (ckptshard.h). */
#include "common/engine/ckptshard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/model/ckpt.h"
#include "common/util/fnv.h"
#include "common/util/path.h"

void ckptshard_slice(size_t n, int W, int w, size_t *begin, size_t *end) {
    const size_t q = n / (size_t)W, r = n % (size_t)W, k = (size_t)w;
    *begin = k * q + (k < r ? k : r);
    *end = *begin + q + (k < r ? 1 : 0);
}

void ckptshard_name(int w, int W, char name[CKPT_FILE_NAME_MAX]) {
    snprintf(name, CKPT_FILE_NAME_MAX, "optim-%05d-of-%05d.bin", w + 1, W);
}

int ckpt_file_name_ok(const char *name) {
    size_t n = strnlen(name, CKPT_FILE_NAME_MAX);
    return n > 0 && n < CKPT_FILE_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

const ckpt_file *ckpt_file_find(const ckpt_file *files, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(files[i].name, name) == 0) return &files[i];
    return NULL;
}

int ckpt_file_describe(const char *dir, const char *name, int64_t begin, int64_t end, ckpt_file *f, tr_error *err) {
    if (!ckpt_file_name_ok(name)) return TR_FAIL(err, TR_EINTERNAL, "checkpoint file name '%.60s' is not a plain name", name);
    char p[PATH_BUF];
    TR_TRY(path_fmt(p, sizeof p, err, "%s/%s", dir, name));
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->begin = begin;
    f->end = end;
    return fnv1a64_file(p, &f->bytes, &f->sum, err);
}

int ckpt_file_verify(const char *dir, const ckpt_file *f, tr_error *err) {
    if (!ckpt_file_name_ok(f->name)) return TR_FAIL(err, TR_EFORMAT, "%s: a checkpoint file name that is not a plain name", dir);
    char p[PATH_BUF];
    TR_TRY(path_fmt(p, sizeof p, err, "%s/%s", dir, f->name));
    uint64_t bytes, sum;
    TR_TRY(fnv1a64_file(p, &bytes, &sum, err));
    if (bytes != f->bytes)
        return TR_FAIL(err, TR_EFORMAT, "%s: %llu bytes, the manifest says %llu (%s)", p, (unsigned long long)bytes,
                       (unsigned long long)f->bytes, bytes < f->bytes ? "truncated" : "not the file it names");
    if (sum != f->sum)
        return TR_FAIL(err, TR_EFORMAT, "%s: checksum %016llx, the manifest says %016llx (the file is damaged)", p,
                       (unsigned long long)sum, (unsigned long long)f->sum);
    return 0;
}

int ckptshard_write(const char *dir, const optim_state *opt, int w, int W, ckpt_file *f, tr_error *err) {
    size_t b, e;
    ckptshard_slice(opt->n, W, w, &b, &e);
    char name[CKPT_FILE_NAME_MAX], p[PATH_BUF], ex[160];
    ckptshard_name(w, W, name);
    TR_TRY(path_fmt(p, sizeof p, err, "%s/%s", dir, name));
    int exlen = snprintf(ex, sizeof ex, "{\"slice\":%d,\"of\":%d,\"begin\":%zu,\"end\":%zu,\"n\":%zu}", w + 1, W, b, e, opt->n);
    /* a view of the slice: the state file format holds any count of moments */
    const optim_state view = {e - b, opt->m + b, opt->v + b, opt->step};
    TR_TRY(gpt_state_save(p, &view, NULL, 0, ex, (size_t)exlen, err));
    return ckpt_file_describe(dir, name, (int64_t)b, (int64_t)e, f, err);
}

/* The shard's own description (its extras) must be the slice its manifest entry names. */
static int check_extras(const char *path, const void *ex, size_t exlen, int w, int W, size_t b, size_t e, size_t n,
                        tr_error *err) {
    json_error_t je;
    json_t *o = ex ? json_loadb(ex, exlen, 0, &je) : NULL;
    json_int_t sw = -1, sW = -1, sb = -1, se = -1, sn = -1;
    int bad = !o || json_unpack(o, "{sI sI sI sI sI}", "slice", &sw, "of", &sW, "begin", &sb, "end", &se, "n", &sn);
    json_decref(o);
    if (bad) return TR_FAIL(err, TR_EFORMAT, "%s: not an optimiser shard (its slice description is missing)", path);
    if (sw != w + 1 || sW != W || (size_t)sb != b || (size_t)se != e || (size_t)sn != n)
        return TR_FAIL(err, TR_EFORMAT, "%s: holds slice %lld of %lld [%lld, %lld) of %lld moments, the manifest wants %d of %d [%zu, %zu) of %zu",
                       path, (long long)sw, (long long)sW, (long long)sb, (long long)se, (long long)sn, w + 1, W, b, e, n);
    return 0;
}

int ckptshard_read_all(const char *dir, const ckpt_file *files, int n, optim_state *opt, tr_error *err) {
    int W = 0;
    for (int i = 0; i < n; i++) W += files[i].begin >= 0;
    if (W == 0) return TR_FAIL(err, TR_EFORMAT, "%s: the manifest names no optimiser shard", dir);
    int w = 0;
    int64_t step = -1;
    for (int i = 0; i < n; i++) {
        const ckpt_file *f = &files[i];
        if (f->begin < 0) continue;
        size_t b, e;
        ckptshard_slice(opt->n, W, w, &b, &e);
        char want[CKPT_FILE_NAME_MAX], p[PATH_BUF];
        ckptshard_name(w, W, want);
        if (strcmp(f->name, want) != 0 || (size_t)f->begin != b || (size_t)f->end != e)
            return TR_FAIL(err, TR_EFORMAT, "%s: shard %d of %d is '%s' [%lld, %lld), expected '%s' [%zu, %zu) of %zu moments",
                           dir, w + 1, W, f->name, (long long)f->begin, (long long)f->end, want, b, e, opt->n);
        TR_TRY(ckpt_file_verify(dir, f, err));
        TR_TRY(path_fmt(p, sizeof p, err, "%s/%s", dir, f->name));
        optim_state view = {e - b, opt->m + b, opt->v + b, 0};
        uint8_t *rng = NULL;
        size_t nrng = 0, exlen = 0;
        void *ex = NULL;
        TR_TRY(gpt_state_load(p, &view, &rng, &nrng, &ex, &exlen, err));
        free(rng);
        int rc = check_extras(p, ex, exlen, w, W, b, e, opt->n, err);
        free(ex);
        if (rc) return rc;
        if (step >= 0 && view.step != step)
            return TR_FAIL(err, TR_EFORMAT, "%s: at optimiser step %lld, the other shards at %lld (shards of different checkpoints?)",
                           p, (long long)view.step, (long long)step);
        step = view.step;
        w++;
    }
    opt->step = step;
    return 0;
}
