/* gpt2_124m.h - for the 124M-shaped test and benchmark: GPT-2 124M's shape, a random-weight
 * llm.c checkpoint of it written from C (500 MB; never committed), peak RSS, and the summed
 * buffer sizes of a model and a sampler. Header-only test helper. */
#ifndef TRICE_TESTS_MODEL_GPT2_124M_H
#define TRICE_TESTS_MODEL_GPT2_124M_H

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/model/ckpt.h"
#include "common/model/gpt.h"
#include "common/model/sample.h"
#include "common/util/afile.h"
#include "common/util/rng.h"

static const gpt_config GPT2_124M = {.max_seq_len = 1024, .vocab_size = 50257, .padded_vocab_size = 50304,
                                     .num_layers = 12, .num_heads = 12, .channels = 768};

/* llm.c version 3 file of the 124M shape: LayerNorm weights 1, biases 0, the rest N(0, 0.02)
 * (padded vocabulary rows 0), streamed in 1 MiB pieces. */
static int gpt2_124m_write(const char *path, uint64_t seed, tr_error *err)
{
    const gpt_config *c = &GPT2_124M;
    size_t C = (size_t)c->channels, L = (size_t)c->num_layers;
    size_t sizes[GPT_NUM_TENSORS] = {(size_t)c->padded_vocab_size * C, (size_t)c->max_seq_len * C, L * C, L * C,
                                     L * 3 * C * C, L * 3 * C, L * C * C, L * C, L * C, L * C, L * 4 * C * C, L * 4 * C,
                                     L * C * 4 * C, L * C, C, C};
    int32_t hdr[256] = {GPT_CKPT_MAGIC, 3, c->max_seq_len, c->vocab_size, c->num_layers, c->num_heads, c->channels,
                        c->padded_vocab_size};
    afile af;
    TR_TRY(afile_open(&af, path, err));
    int rc = afile_put(&af, hdr, sizeof hdr, err);
    enum { CHUNK = 1 << 18 };
    float *buf = malloc(CHUNK * sizeof *buf);
    rng r;
    rng_init(&r, seed, 0x124, 0);
    if (!buf) rc = TR_FAIL(err, TR_ENOMEM, "out of memory");
    for (int t = 0; t < GPT_NUM_TENSORS && !rc; t++) {
        int ln_w = t == GPT_T_LN1W || t == GPT_T_LN2W || t == GPT_T_LNFW;
        int bias = t == GPT_T_LN1B || t == GPT_T_LN2B || t == GPT_T_LNFB || t == GPT_T_QKVB || t == GPT_T_ATTPROJB ||
                   t == GPT_T_FCB || t == GPT_T_FCPROJB;
        size_t real = t == GPT_T_WTE ? (size_t)c->vocab_size * C : sizes[t];
        for (size_t done = 0; done < sizes[t] && !rc; done += CHUNK) {
            size_t k = sizes[t] - done < CHUNK ? sizes[t] - done : CHUNK;
            for (size_t i = 0; i < k; i++)
                buf[i] = done + i >= real ? 0.0f : ln_w ? 1.0f : bias ? 0.0f : 0.02f * (float)rng_normal(&r);
            rc = afile_put(&af, buf, k * sizeof *buf, err);
        }
    }
    free(buf);
    if (!rc) return afile_commit(&af, err);
    afile_abort(&af);
    return rc;
}

static double peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return 1024.0 * (double)ru.ru_maxrss;
}

/* What gpt_init and gpt_sampler_init allocate (floats as 4 bytes). */
static double model_buffer_bytes(const gpt *g)
{
    size_t P = (size_t)g->prompt_len * (size_t)g->config.channels;
    return 4.0 * (double)(2 * g->num_params + g->num_acts + g->num_dacts + 2 * P);
}

static double sampler_buffer_bytes(const gpt_sampler *s)
{
    double C = s->C, rows = s->rows, n = s->max_seqs;
    double floats = 2.0 * s->L * n * s->max_len * C + rows * C * 11 + s->max_len + n * C + n * s->Vp;
    double nidx = rows > n + s->Vp ? rows : n + s->Vp;
    return 4.0 * floats + 4.0 * nidx + 8.0 * s->Vp + 16.0 * n;
}

#endif
