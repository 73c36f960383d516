/* ckpt.c - llm.c GPT-2 checkpoints and the training-state file (see ckpt.h).
 * Files are little-endian; like llm.c we read them with native x86-64 layout. */
#include "common/model/ckpt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util/afile.h"
#include "common/util/fnv.h"
#include "common/util/rng.h"

static int file_size(const char *path, size_t *out, tr_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return TR_FAIL(err, TR_ENOTFOUND, "%s: cannot stat model file (does it exist?)", path);
    *out = (size_t)st.st_size;
    return 0;
}

static size_t ckpt_num_params(const gpt_config *c, int version)
{
    size_t C = (size_t)c->channels, L = (size_t)c->num_layers;
    size_t rows = version == 1 ? (size_t)c->vocab_size : (size_t)c->padded_vocab_size;
    return rows * C + (size_t)c->max_seq_len * C + L * (12 * C * C + 13 * C) + 2 * C;
}

static int read_header(const char *path, int32_t hdr[256], gpt_config *config, int *version, tr_error *err)
{
    size_t size = 0;
    TR_TRY(file_size(path, &size, err));
    if (size < 256 * sizeof(int32_t))
        return TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes, shorter than the 1024-byte llm.c header (truncated?)", path, size);
    FILE *f;
    TR_TRY(tr_fopen(&f, path, "rb", err));
    int rc = tr_fread(hdr, sizeof(int32_t), 256, f, path, err);
    fclose(f);
    if (rc) return rc;
    if (hdr[0] != GPT_CKPT_MAGIC)
        /* the bytes found are not echoed: the file may be anything (a secret, /etc/shadow) */
        return TR_FAIL(err, TR_EFORMAT, "%s: bad magic number, expected %d (not an llm.c GPT-2 model file)", path,
                       GPT_CKPT_MAGIC);
    int v = hdr[1];
    if (v != 1 && v != 3 && v != 5)
        return TR_FAIL(err, TR_EFORMAT, "%s: unsupported version %d (readable: 1, 3 fp32, 5 bf16)", path, v);
    gpt_config c = {.max_seq_len = hdr[2], .vocab_size = hdr[3], .num_layers = hdr[4], .num_heads = hdr[5],
                    .channels = hdr[6], .padded_vocab_size = v == 1 ? gpt_padded_vocab(hdr[3]) : hdr[7],
                    .position = hdr[GPT_CKPT_HDR_POSITION]};
    if (gpt_config_check(&c, err) != 0)
        return tr_error_wrap(err, "%s: header", path);
    size_t bytes = v == 5 ? 2 : 4;
    size_t want = 256 * sizeof(int32_t) + ckpt_num_params(&c, v) * bytes;
    if (size != want)
        return TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes but the header (version %d, L %d, C %d, vocab %d/%d, "
                       "context %d) implies exactly %zu (%s)", path, size, v, c.num_layers, c.channels,
                       c.vocab_size, c.padded_vocab_size, c.max_seq_len, want, size < want ? "truncated" : "trailing data");
    *config = c;
    *version = v;
    return 0;
}

int gpt_ckpt_read_config(const char *path, gpt_config *config, int *version, tr_error *err)
{
    int32_t hdr[256];
    return read_header(path, hdr, config, version, err);
}

/* Read n values of the file's element type (fp32, or bf16 for version 5) into dst as fp32. */
static int read_values(FILE *f, const char *path, int version, float *dst, size_t n, uint16_t *tmp, size_t tmp_n,
                       tr_error *err)
{
    if (version != 5) return tr_fread(dst, sizeof(float), n, f, path, err);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < tmp_n ? n - done : tmp_n;
        TR_TRY(tr_fread(tmp, sizeof(uint16_t), k, f, path, err));
        for (size_t i = 0; i < k; i++) {
            uint32_t bits = (uint32_t)tmp[i] << 16;
            memcpy(&dst[done + i], &bits, sizeof bits);
        }
        done += k;
    }
    return 0;
}

int gpt_ckpt_load(gpt *g, const char *path, tr_error *err)
{
    int32_t hdr[256];
    gpt_config c = {0}; /* initialised: -O3 cannot see that read_header fills them on success */
    int v = 0;
    TR_TRY(read_header(path, hdr, &c, &v, err));
    const gpt_config *m = &g->config;
    if (c.max_seq_len < m->max_seq_len || c.vocab_size != m->vocab_size || c.num_layers != m->num_layers ||
        c.num_heads != m->num_heads || c.channels != m->channels || c.padded_vocab_size != m->padded_vocab_size ||
        c.position != m->position)
        return TR_FAIL(err, TR_EINVAL, "%s: file config (context %d, vocab %d/%d, L %d, NH %d, C %d, positions %s) "
                       "differs from the model's (context %d, vocab %d/%d, L %d, NH %d, C %d, positions %s)", path,
                       c.max_seq_len, c.vocab_size, c.padded_vocab_size, c.num_layers, c.num_heads, c.channels,
                       gpt_position_name(c.position), m->max_seq_len, m->vocab_size, m->padded_vocab_size,
                       m->num_layers, m->num_heads, m->channels, gpt_position_name(m->position));
    FILE *f;
    TR_TRY(tr_fopen(&f, path, "rb", err));
    const size_t C = (size_t)m->channels, elem = v == 5 ? 2 : 4, tmp_n = (size_t)1 << 20;
    uint16_t *tmp = v == 5 ? tr_malloc(tmp_n * sizeof *tmp, err) : NULL;
    int rc = v == 5 && !tmp ? TR_ENOMEM : 0;
    if (!rc && fseek(f, 256 * sizeof(int32_t), SEEK_SET) != 0) rc = TR_FAIL(err, TR_EIO, "%s: seek past header failed", path);
    for (int t = 0; t < GPT_NUM_TENSORS && !rc; t++) {
        float *dst = gpt_param(g, t);
        size_t n = g->param_sizes[t], skip = 0;
        if (t == GPT_T_WTE && v == 1) {            /* unpadded: the padded rows stay zero */
            n = (size_t)m->vocab_size * C;
            memset(dst + n, 0, (g->param_sizes[t] - n) * sizeof(float));
        } else if (t == GPT_T_WPE) {               /* a shorter context keeps the first positions */
            skip = (size_t)(c.max_seq_len - m->max_seq_len) * C;
        }
        rc = read_values(f, path, v, dst, n, tmp, tmp_n, err);
        if (!rc && skip && fseek(f, (long)(skip * elem), SEEK_CUR) != 0)
            rc = TR_FAIL(err, TR_EIO, "%s: seek past position embeddings failed", path);
    }
    free(tmp);
    fclose(f);
    return rc;
}

int gpt_ckpt_open(gpt *g, const char *path, int max_batch, int prompt_len, tr_error *err)
{
    gpt_config c;
    int v;
    memset(g, 0, sizeof *g);
    TR_TRY(gpt_ckpt_read_config(path, &c, &v, err));
    TR_TRY(gpt_init(g, &c, max_batch, prompt_len, err));
    int rc = gpt_ckpt_load(g, path, err);
    if (rc) gpt_free(g);
    return rc;
}

int gpt_ckpt_save(const gpt *g, const char *path, tr_error *err)
{
    int32_t hdr[256] = {0};
    const gpt_config *c = &g->config;
    hdr[0] = GPT_CKPT_MAGIC;
    hdr[1] = 3;
    hdr[2] = c->max_seq_len;
    hdr[3] = c->vocab_size;
    hdr[4] = c->num_layers;
    hdr[5] = c->num_heads;
    hdr[6] = c->channels;
    hdr[7] = c->padded_vocab_size;
    hdr[GPT_CKPT_HDR_POSITION] = c->position;
    afile af;
    TR_TRY(afile_open(&af, path, err));
    int rc = afile_put(&af, hdr, sizeof hdr, err);
    if (!rc) rc = afile_put(&af, g->params, g->num_params * sizeof(float), err);
    if (!rc) return afile_commit(&af, err);
    afile_abort(&af);
    return rc;
}

/* ---- training state ---- */


int gpt_state_save(const char *path, const optim_state *opt, const uint8_t *rng_bytes, size_t n_rng,
                   const void *extra, size_t extra_len, tr_error *err)
{
    size_t nrb = n_rng * RNG_STATE_BYTES;
    uint64_t sum = FNV1A64_INIT;
    sum = fnv1a64(sum, opt->m, opt->n * sizeof(float));
    sum = fnv1a64(sum, opt->v, opt->n * sizeof(float));
    if (nrb) sum = fnv1a64(sum, rng_bytes, nrb);
    if (extra_len) sum = fnv1a64(sum, extra, extra_len);
    uint64_t hdr[8] = {GPT_STATE_MAGIC, GPT_STATE_VERSION, (uint64_t)opt->step, opt->n, n_rng, extra_len, sum, 0};
    afile af;
    TR_TRY(afile_open(&af, path, err));
    int rc = afile_put(&af, hdr, sizeof hdr, err);
    if (!rc) rc = afile_put(&af, opt->m, opt->n * sizeof(float), err);
    if (!rc) rc = afile_put(&af, opt->v, opt->n * sizeof(float), err);
    if (!rc && nrb) rc = afile_put(&af, rng_bytes, nrb, err);
    if (!rc && extra_len) rc = afile_put(&af, extra, extra_len, err);
    if (!rc) return afile_commit(&af, err);
    afile_abort(&af);
    return rc;
}

int gpt_state_load(const char *path, optim_state *opt, uint8_t **rng_bytes, size_t *n_rng,
                   void **extra, size_t *extra_len, tr_error *err)
{
    *rng_bytes = NULL;
    *extra = NULL;
    *n_rng = *extra_len = 0;
    size_t size = 0;
    TR_TRY(file_size(path, &size, err));
    uint64_t hdr[8];
    if (size < sizeof hdr)
        return TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes, shorter than the 64-byte training-state header (truncated?)",
                       path, size);
    FILE *f;
    TR_TRY(tr_fopen(&f, path, "rb", err));
    int rc = tr_fread(hdr, sizeof hdr, 1, f, path, err);
    if (rc) { fclose(f); return rc; }
    if (hdr[0] != GPT_STATE_MAGIC) {
        fclose(f);
        return TR_FAIL(err, TR_EFORMAT, "%s: bad magic number, expected 0x%016llx (not a training-state file)",
                       path, (unsigned long long)GPT_STATE_MAGIC);
    }
    if (hdr[1] != GPT_STATE_VERSION) {
        fclose(f);
        return TR_FAIL(err, TR_EFORMAT, "%s: unsupported training-state version %llu (readable: %d)", path,
                       (unsigned long long)hdr[1], GPT_STATE_VERSION);
    }
    uint64_t n = hdr[3], nr = hdr[4], el = hdr[5];
    if (n != opt->n) {
        fclose(f);
        return TR_FAIL(err, TR_EINVAL, "%s: holds moments for %llu parameters, the optimiser has %zu (different model?)",
                       path, (unsigned long long)n, opt->n);
    }
    if (nr > (1u << 20) || el > (UINT64_C(1) << 40)) {
        fclose(f);
        return TR_FAIL(err, TR_EFORMAT, "%s: implausible header (%llu RNG states, %llu extra bytes): corrupted",
                       path, (unsigned long long)nr, (unsigned long long)el);
    }
    size_t want = sizeof hdr + 2 * n * sizeof(float) + nr * RNG_STATE_BYTES + el;
    if (size != want) {
        fclose(f);
        return TR_FAIL(err, TR_EFORMAT, "%s: %zu bytes but the header implies exactly %zu (%s)", path, size, want,
                       size < want ? "truncated" : "trailing data");
    }
    uint8_t *rb = nr ? tr_malloc(nr * RNG_STATE_BYTES, err) : NULL;
    void *ex = el ? tr_malloc(el, err) : NULL;
    float *m = tr_malloc(n ? n * sizeof(float) : 1, err), *v = tr_malloc(n ? n * sizeof(float) : 1, err);
    if ((nr && !rb) || (el && !ex) || !m || !v) rc = TR_ENOMEM;
    if (!rc) rc = tr_fread(m, sizeof(float), n, f, path, err);
    if (!rc) rc = tr_fread(v, sizeof(float), n, f, path, err);
    if (!rc && nr) rc = tr_fread(rb, RNG_STATE_BYTES, nr, f, path, err);
    if (!rc && el) rc = tr_fread(ex, 1, el, f, path, err);
    fclose(f);
    if (!rc) {
        uint64_t sum = FNV1A64_INIT;
        sum = fnv1a64(sum, m, n * sizeof(float));
        sum = fnv1a64(sum, v, n * sizeof(float));
        if (nr) sum = fnv1a64(sum, rb, nr * RNG_STATE_BYTES);
        if (el) sum = fnv1a64(sum, ex, el);
        if (sum != hdr[6])
            rc = TR_FAIL(err, TR_EFORMAT, "%s: checksum mismatch (stored 0x%016llx, computed 0x%016llx): the file is corrupted",
                         path, (unsigned long long)hdr[6], (unsigned long long)sum);
    }
    if (rc) { free(rb); free(ex); free(m); free(v); return rc; }
    memcpy(opt->m, m, n * sizeof(float));
    memcpy(opt->v, v, n * sizeof(float));
    free(m);
    free(v);
    opt->step = (int64_t)hdr[2];
    *rng_bytes = rb;
    *n_rng = nr;
    *extra = ex;
    *extra_len = el;
    return 0;
}
