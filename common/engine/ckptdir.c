/* ckptdir.c - write, read and prune an experiment's checkpoints. */
#include "common/engine/ckptdir.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/engine/trainer.h"
#include "common/train/memory.h"
#include "common/util/afile.h"
#include "common/util/log.h"

#define PROMPT_MAGIC 0x504D5250u  /* "PRMP" */
#define PROMPT_VERSION 1u

static int extras_encode(const ckpt_extras *x, const gpt *g, uint8_t **out, size_t *len, tr_error *err) {
    json_t *o = json_pack("{sI sI sf sf si}", "step", (json_int_t)x->step, "tokens_sampled", (json_int_t)x->tokens_sampled,
                          "acc_before", isnan(x->acc_before) ? -1.0 : x->acc_before,
                          "maj_before", isnan(x->maj_before) ? -1.0 : x->maj_before, "n_eval", x->n_eval);
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

static int extras_decode(const uint8_t *buf, size_t len, const char *path, ckpt_extras *x, gpt *g, tr_error *err) {
    const uint8_t *nul = buf ? memchr(buf, 0, len) : NULL;
    if (!nul) return TR_FAIL(err, TR_EFORMAT, "%s: checkpoint extras are missing their JSON part", path);
    json_error_t je;
    json_t *o = json_loads((const char *)buf, 0, &je);
    json_int_t step = -1, tok = 0;
    double ab = -1, mb = -1;
    int ne = 0;
    if (!o || json_unpack(o, "{sI sI sF sF si}", "step", &step, "tokens_sampled", &tok, "acc_before", &ab, "maj_before", &mb, "n_eval", &ne) || step < 0) {
        json_decref(o);
        return TR_FAIL(err, TR_EFORMAT, "%s: checkpoint extras are malformed (step, tokens_sampled, acc_before, maj_before, n_eval)", path);
    }
    json_decref(o);
    x->step = step;
    x->tokens_sampled = tok;
    x->acc_before = ab < 0 ? NAN : ab;
    x->maj_before = mb < 0 ? NAN : mb;
    x->n_eval = ne;
    size_t jl = (size_t)(nul - buf) + 1;
    size_t pn = g->prompt_len ? (size_t)g->prompt_len * (size_t)g->config.channels : 0;
    if (len - jl != pn * sizeof(float))
        return TR_FAIL(err, TR_EFORMAT, "%s: checkpoint holds %zu bytes of soft prompt, this experiment has %zu (prompt_len %d x channels %d)",
                       path, len - jl, pn * sizeof(float), g->prompt_len, g->config.channels);
    if (pn) memcpy(g->prompt, buf + jl, pn * sizeof(float));
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Remove step-* folders beyond the newest `keep`. Failures only warn: pruning is housekeeping. */
static void prune(const char *cdir, int keep) {
    DIR *d = opendir(cdir);
    if (!d) return;
    char *names[4096];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096)
        if (strncmp(de->d_name, "step-", 5) == 0 && !strchr(de->d_name, '.')) names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n - keep; i++) {
        const char *files[] = {"model.bin", "state.bin", "memory.bin"};
        char p[4400];
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s/%s/%s", cdir, names[i], files[k]);
            unlink(p);
        }
        snprintf(p, sizeof p, "%s/%s", cdir, names[i]);
        if (rmdir(p) != 0) LOG_W("could not remove old checkpoint %s: %s", p, strerror(errno));
    }
    for (int i = 0; i < n; i++) free(names[i]);
}

int ckpt_write(const char *out_dir, const gpt *g, const optim_state *opt, const ckpt_extras *x,
               const uint8_t *mem_buf, size_t mem_len, int keep, char *dir_out, size_t cap, tr_error *err) {
    char cdir[4200], dir[4300], p[4400];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", out_dir);
    snprintf(dir, sizeof dir, "%s/step-%08lld", cdir, (long long)x->step);
    TR_TRY(afile_mkdirs(dir, err));
    snprintf(p, sizeof p, "%s/model.bin", dir);
    TR_TRY(gpt_ckpt_save(g, p, err));
    uint8_t *ex = NULL;
    size_t exlen = 0;
    TR_TRY(extras_encode(x, g, &ex, &exlen, err));
    snprintf(p, sizeof p, "%s/state.bin", dir);
    int rc = gpt_state_save(p, opt, NULL, 0, ex, exlen, err);
    free(ex);
    if (rc) return rc;
    snprintf(p, sizeof p, "%s/memory.bin", dir);
    TR_TRY(memory_file_write(p, mem_buf, mem_len, err));
    /* the marker last: until it is renamed into place, `latest` names the previous checkpoint */
    char line[64];
    int n = snprintf(line, sizeof line, "step-%08lld\n", (long long)x->step);
    snprintf(p, sizeof p, "%s/latest", cdir);
    TR_TRY(afile_write(p, line, (size_t)n, err));
    prune(cdir, keep);
    if (dir_out) snprintf(dir_out, cap, "%s", dir);
    return 0;
}

int trainer_latest_checkpoint(const char *out_dir, char *path, size_t cap, tr_error *err) {
    char p[4200];
    snprintf(p, sizeof p, "%s/checkpoints/latest", out_dir);
    char *text;
    size_t len;
    int rc = tr_read_file(p, 256, &text, &len, err);
    if (rc == TR_ENOTFOUND) return TR_FAIL(err, TR_ENOTFOUND, "no checkpoint in '%s' (no checkpoints/latest marker)", out_dir);
    if (rc) return rc;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
    if (strncmp(text, "step-", 5) != 0 || strchr(text, '/') || len > 40) {
        rc = TR_FAIL(err, TR_EFORMAT, "%s: expected a line 'step-NNNNNNNN', found '%.40s' (the file is corrupt)", p, text);
        free(text);
        return rc;
    }
    snprintf(path, cap, "%s/checkpoints/%s", out_dir, text);
    free(text);
    return 0;
}

int ckpt_read(const char *out_dir, gpt *g, optim_state *opt, ckpt_extras *x, uint8_t **mem_buf,
              size_t *mem_len, char *dir_out, size_t cap, tr_error *err) {
    char dir[4200], p[4400];
    *mem_buf = NULL;
    TR_TRY(trainer_latest_checkpoint(out_dir, dir, sizeof dir, err));
    snprintf(p, sizeof p, "%s/model.bin", dir);
    TR_TRY(gpt_ckpt_load(g, p, err));
    snprintf(p, sizeof p, "%s/state.bin", dir);
    uint8_t *rngb = NULL;
    size_t nrng = 0;
    void *ex = NULL;
    size_t exlen = 0;
    TR_TRY(gpt_state_load(p, opt, &rngb, &nrng, &ex, &exlen, err));
    free(rngb);
    int rc = extras_decode(ex, exlen, p, x, g, err);
    free(ex);
    if (rc) return rc;
    if (opt->step != x->step && opt->step > x->step)
        return TR_FAIL(err, TR_EFORMAT, "%s: optimiser has %lld steps but the checkpoint says %lld", p, (long long)opt->step, (long long)x->step);
    snprintf(p, sizeof p, "%s/memory.bin", dir);
    TR_TRY(memory_file_read(p, mem_buf, mem_len, err));
    if (dir_out) snprintf(dir_out, cap, "%s", dir);
    return 0;
}

int ckpt_prompt_save(const char *path, const gpt *g, tr_error *err) {
    size_t n = (size_t)g->prompt_len * (size_t)g->config.channels;
    uint32_t hdr[4] = {PROMPT_MAGIC, PROMPT_VERSION, (uint32_t)g->prompt_len, (uint32_t)g->config.channels};
    afile af;
    TR_TRY(afile_open(&af, path, err));
    int rc = afile_put(&af, hdr, sizeof hdr, err);
    if (!rc) rc = afile_put(&af, g->prompt, n * sizeof(float), err);
    if (rc) { afile_abort(&af); return rc; }
    return afile_commit(&af, err);
}

int ckpt_prompt_load(const char *path, gpt *g, tr_error *err) {
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
