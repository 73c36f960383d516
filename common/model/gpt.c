/* gpt.c - parameter layout, forward, loss and backward of the GPT-2 model (see gpt.h). */
#include "common/model/gpt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/bf16.h"
#include "common/model/rope.h"
#include "common/util/rng.h"

/* Views into g->acts for one (B, Tt) call; Tt = P + T positions per sequence, N = B * Tt.
 * Each role's slab is sized for the maxima; inside it the layers are packed by the current N. */
struct gpt_acts {
    float *encoded;                     /* (N, C) */
    float *ln1, *ln1_mean, *ln1_rstd;   /* (L, N, C), (L, N), (L, N) */
    float *qkv;                         /* (L, N, 3C) */
    float *atty;                        /* (L, N, C) */
    float *att;                         /* (L, B, NH, Tt, Tt) */
    float *residual2;                   /* (L, N, C) */
    float *ln2, *ln2_mean, *ln2_rstd;   /* (L, N, C), (L, N), (L, N) */
    float *fch, *fch_gelu;              /* (L, N, 4C) */
    float *residual3;                   /* (L, N, C) */
    float *lnf, *lnf_mean, *lnf_rstd;   /* (N, C), (N), (N) */
    float *logits;                      /* (B, T, Vp): token positions only */
    float *lse;                         /* (B, T) log-sum-exp of each logits row over the real vocab */
    float *scratch;                     /* (N, C) projection outputs before the residual add */
};

enum { A_ENC, A_LN1, A_LN1M, A_LN1R, A_QKV, A_ATTY, A_ATT, A_RES2, A_LN2, A_LN2M, A_LN2R,
       A_FCH, A_FCHG, A_RES3, A_LNF, A_LNFM, A_LNFR, A_LOGITS, A_LSE, A_SCRATCH, A_COUNT };

static void act_sizes(const gpt_config *c, size_t B, size_t T, size_t sizes[A_COUNT])
{
    size_t L = (size_t)c->num_layers, C = (size_t)c->channels, NH = (size_t)c->num_heads;
    size_t Vp = (size_t)c->padded_vocab_size, N = B * T;
    sizes[A_ENC] = N * C;
    sizes[A_LN1] = L * N * C;   sizes[A_LN1M] = L * N;  sizes[A_LN1R] = L * N;
    sizes[A_QKV] = L * N * 3 * C;
    sizes[A_ATTY] = L * N * C;
    sizes[A_ATT] = L * B * NH * T * T;
    sizes[A_RES2] = L * N * C;
    sizes[A_LN2] = L * N * C;   sizes[A_LN2M] = L * N;  sizes[A_LN2R] = L * N;
    sizes[A_FCH] = L * N * 4 * C; sizes[A_FCHG] = L * N * 4 * C;
    sizes[A_RES3] = L * N * C;
    sizes[A_LNF] = N * C;       sizes[A_LNFM] = N;      sizes[A_LNFR] = N;
    sizes[A_LOGITS] = N * Vp;   sizes[A_LSE] = N;
    sizes[A_SCRATCH] = N * C;
}

/* Backward scratch views for one (B, Tt). */
typedef struct {
    float *dres;   /* (N, C) gradient of the residual stream */
    float *dc;     /* (N, C) */
    float *dc2;    /* (N, C) */
    float *d3c;    /* (N, 3C) */
    float *d4c;    /* (N, 4C) */
    float *datt;   /* (Tt, Tt) */
} gpt_dacts;

static size_t dact_size(const gpt_config *c, size_t B, size_t T)
{
    size_t N = B * T, C = (size_t)c->channels;
    return N * C * 3 + N * 3 * C + N * 4 * C + T * T;
}

static void dact_views(const gpt *g, int B, int Tt, gpt_dacts *d)
{
    size_t N = (size_t)B * Tt, C = (size_t)g->config.channels;
    float *p = g->dacts;
    d->dres = p; p += N * C;
    d->dc = p;   p += N * C;
    d->dc2 = p;  p += N * C;
    d->d3c = p;  p += N * 3 * C;
    d->d4c = p;  p += N * 4 * C;
    d->datt = p;
}

static void act_views(const gpt *g, int B, int Tt, struct gpt_acts *a)
{
    size_t maxs[A_COUNT];
    act_sizes(&g->config, (size_t)g->max_batch, (size_t)g->config.max_seq_len, maxs);
    float *ptr[A_COUNT];
    float *p = g->acts;
    for (int i = 0; i < A_COUNT; i++) { ptr[i] = p; p += maxs[i]; }
    (void)B; (void)Tt;
    a->encoded = ptr[A_ENC];
    a->ln1 = ptr[A_LN1]; a->ln1_mean = ptr[A_LN1M]; a->ln1_rstd = ptr[A_LN1R];
    a->qkv = ptr[A_QKV]; a->atty = ptr[A_ATTY]; a->att = ptr[A_ATT];
    a->residual2 = ptr[A_RES2];
    a->ln2 = ptr[A_LN2]; a->ln2_mean = ptr[A_LN2M]; a->ln2_rstd = ptr[A_LN2R];
    a->fch = ptr[A_FCH]; a->fch_gelu = ptr[A_FCHG]; a->residual3 = ptr[A_RES3];
    a->lnf = ptr[A_LNF]; a->lnf_mean = ptr[A_LNFM]; a->lnf_rstd = ptr[A_LNFR];
    a->logits = ptr[A_LOGITS]; a->lse = ptr[A_LSE]; a->scratch = ptr[A_SCRATCH];
}

int gpt_padded_vocab(int vocab_size) { return ((vocab_size + 127) / 128) * 128; }

const char *gpt_position_name(int position)
{
    switch (position) {
    case GPT_POS_LEARNED: return "learned";
    case GPT_POS_ALIBI: return "alibi";
    case GPT_POS_NONE: return "none";
    case GPT_POS_COUPLED: return "coupled";
    case GPT_POS_COUPLED_ALIBI: return "coupled-alibi";
    case GPT_POS_COUPLED_ROPE: return "coupled-rope";
    case GPT_POS_COUPLED_ROPE_ALIBI: return "coupled-rope-alibi";
    default: return "unknown";
    }
}

int gpt_config_check(const gpt_config *c, tr_error *err)
{
    if (c->max_seq_len <= 0 || c->vocab_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 ||
        c->channels <= 0)
        return TR_FAIL(err, TR_EINVAL,
                       "model config: all sizes must be positive (max_seq_len %d, vocab_size %d, "
                       "num_layers %d, num_heads %d, channels %d)", c->max_seq_len, c->vocab_size,
                       c->num_layers, c->num_heads, c->channels);
    if (c->channels % c->num_heads != 0)
        return TR_FAIL(err, TR_EINVAL, "model config: channels %d not divisible by num_heads %d",
                       c->channels, c->num_heads);
    if (c->position < 0 || c->position >= GPT_POS_COUNT)
        return TR_FAIL(err, TR_EINVAL, "model config: position encoding %d unknown (0 learned, 1 ALiBi, 2 none, 3 coupled, 4 coupled-alibi, 5 coupled-rope, 6 coupled-rope-alibi)",
                       c->position);
    if (gpt_has_rope(c) && (c->channels / c->num_heads) % 2)
        return TR_FAIL(err, TR_EINVAL, "model config: %s turns channel pairs, so the head size %d must be even",
                       gpt_position_name(c->position), c->channels / c->num_heads);
    if (c->padded_vocab_size < c->vocab_size)
        return TR_FAIL(err, TR_EINVAL, "model config: padded_vocab_size %d < vocab_size %d",
                       c->padded_vocab_size, c->vocab_size);
    if (c->max_seq_len > 65536 || c->channels > 65536 || c->padded_vocab_size > (1 << 24) ||
        c->num_layers > 4096)
        return TR_FAIL(err, TR_EINVAL, "model config: implausibly large (max_seq_len %d, channels %d,"
                       " padded_vocab_size %d, num_layers %d)", c->max_seq_len, c->channels,
                       c->padded_vocab_size, c->num_layers);
    return 0;
}

static void param_sizes(const gpt_config *c, size_t s[GPT_NUM_TENSORS])
{
    size_t Vp = (size_t)c->padded_vocab_size, C = (size_t)c->channels;
    size_t maxT = (size_t)c->max_seq_len, L = (size_t)c->num_layers;
    s[GPT_T_WTE] = Vp * C;
    s[GPT_T_WPE] = maxT * C;
    s[GPT_T_LN1W] = L * C;
    s[GPT_T_LN1B] = L * C;
    s[GPT_T_QKVW] = L * 3 * C * C;
    s[GPT_T_QKVB] = L * 3 * C;
    s[GPT_T_ATTPROJW] = L * C * C;
    s[GPT_T_ATTPROJB] = L * C;
    s[GPT_T_LN2W] = L * C;
    s[GPT_T_LN2B] = L * C;
    s[GPT_T_FCW] = L * 4 * C * C;
    s[GPT_T_FCB] = L * 4 * C;
    s[GPT_T_FCPROJW] = L * C * 4 * C;
    s[GPT_T_FCPROJB] = L * C;
    s[GPT_T_LNFW] = C;
    s[GPT_T_LNFB] = C;
}

/* Host and backend buffers for the per-row inputs of one forward/backward (N = max_batch x
 * max_seq_len rows): see struct gpt_io in gpt.h. */
static int io_alloc(gpt *g, size_t N, tr_error *err)
{
    const gpt_backend *be = g->be;
    size_t K = (size_t)g->config.padded_vocab_size;
    if ((size_t)g->config.max_seq_len > K) K = (size_t)g->config.max_seq_len;
    gpt_io *io = &g->io;
    if (!(io->rowtok = tr_malloc(2 * N * sizeof(int), err)) ||
        !(io->group = tr_malloc((3 * N + 1) * sizeof(int), err)) ||
        !(io->count = tr_malloc((K + 1) * sizeof(int), err)) ||
        !(io->lp = tr_malloc(N * sizeof(double), err)))
        return TR_ENOMEM;
    io->rowpos = io->rowtok + N;
    io->d_rowtok = be->alloc(2 * N * sizeof(int));
    io->d_targets = be->alloc(N * sizeof(int));
    io->d_weights = be->alloc(N * sizeof(float));
    io->d_lp = be->alloc(N * sizeof(double));
    for (int k = 0; k < 3; k++) io->d_group[k] = be->alloc((3 * N + 1) * sizeof(int));
    if (!io->d_rowtok || !io->d_targets || !io->d_weights || !io->d_lp || !io->d_group[0] ||
        !io->d_group[1] || !io->d_group[2])
        return TR_FAIL(err, TR_ENOMEM, "gpt_init: out of %s memory for the per-row inputs", be->name);
    io->d_rowpos = io->d_rowtok + N;
    return 0;
}

static void io_free(gpt *g)
{
    const gpt_backend *be = g->be;
    gpt_io *io = &g->io;
    free(io->rowtok); free(io->group); free(io->count); free(io->lp); free(io->hlogits);
    if (be) {
        be->free(io->d_rowtok); be->free(io->d_targets); be->free(io->d_weights); be->free(io->d_lp);
        for (int k = 0; k < 3; k++) be->free(io->d_group[k]);
    }
}

int gpt_init(gpt *g, const gpt_config *config, int max_batch, int prompt_len, tr_error *err)
{
    return gpt_init_on(g, config, max_batch, prompt_len, gpt_backend_cpu(), err);
}

int gpt_init_on(gpt *g, const gpt_config *config, int max_batch, int prompt_len, const gpt_backend *be,
                tr_error *err)
{
    memset(g, 0, sizeof *g);
    g->config = *config;
    if (g->config.padded_vocab_size == 0)
        g->config.padded_vocab_size = gpt_padded_vocab(g->config.vocab_size);
    TR_TRY(gpt_config_check(&g->config, err));
    if (max_batch <= 0)
        return TR_FAIL(err, TR_EINVAL, "gpt_init: max_batch %d must be positive", max_batch);
    if (prompt_len < 0 || prompt_len >= g->config.max_seq_len)
        return TR_FAIL(err, TR_EINVAL, "gpt_init: prompt_len %d must be in [0, max_seq_len %d)",
                       prompt_len, g->config.max_seq_len);
    if (gpt_has_rope(&g->config) && !be->host)
        return TR_FAIL(err, TR_EINVAL, "gpt_init: %s runs on the CPU only (the %s backend has no rotary kernel)",
                       gpt_position_name(g->config.position), be->name);
    g->max_batch = max_batch;
    g->prompt_len = prompt_len;
    g->be = be;

    param_sizes(&g->config, g->param_sizes);
    size_t off = 0;
    for (int i = 0; i < GPT_NUM_TENSORS; i++) { g->param_offsets[i] = off; off += g->param_sizes[i]; }
    g->num_params = off;

    size_t as[A_COUNT];
    act_sizes(&g->config, (size_t)max_batch, (size_t)g->config.max_seq_len, as);
    g->num_acts = 0;
    for (int i = 0; i < A_COUNT; i++) g->num_acts += as[i];
    g->num_dacts = dact_size(&g->config, (size_t)max_batch, (size_t)g->config.max_seq_len);
    size_t ntok = (size_t)max_batch * g->config.max_seq_len;
    size_t C = (size_t)g->config.channels;

    /* params/grads zeroed: a fresh model is all zeros until initialised or loaded */
    if (!(g->weights = tr_malloc(ntok * sizeof(float), err)) ||
        !(g->fwd_offsets = tr_calloc((size_t)max_batch, sizeof(int), err)) ||
        (gpt_has_rope(&g->config) &&
         !(g->rope = tr_malloc((size_t)g->config.max_seq_len * (C / (size_t)g->config.num_heads) * sizeof(float), err))) ||
        io_alloc(g, ntok, err)) {
        gpt_free(g);
        return TR_ENOMEM;
    }
    if (g->rope) rope_table_fill(g->rope, g->config.max_seq_len, (int)C / g->config.num_heads);
    g->params = be->alloc(g->num_params * sizeof(float));
    g->grads = be->alloc(g->num_params * sizeof(float));
    g->acts = be->alloc(g->num_acts * sizeof(float));
    g->dacts = be->alloc(g->num_dacts * sizeof(float));
    if (prompt_len > 0) {
        g->prompt = be->alloc((size_t)prompt_len * C * sizeof(float));
        g->prompt_grad = be->alloc((size_t)prompt_len * C * sizeof(float));
    }
    if (!g->params || !g->grads || !g->acts || !g->dacts ||
        (prompt_len > 0 && (!g->prompt || !g->prompt_grad)) ||
        (!be->host && !(g->io.hlogits = tr_malloc(ntok * g->config.padded_vocab_size * sizeof(float), err)))) {
        gpt_free(g);
        return TR_FAIL(err, TR_ENOMEM, "gpt_init: out of %s memory for %zu parameters and activations "
                       "for %d x %d positions", be->name, g->num_params, max_batch, g->config.max_seq_len);
    }
    return 0;
}

void gpt_free(gpt *g)
{
    const gpt_backend *be = g->be;
    if (be) {
        if (!g->borrowed) { be->free(g->params); be->free(g->prompt); }
        be->free(g->grads); be->free(g->acts); be->free(g->dacts); be->free(g->prompt_grad);
    }
    io_free(g);
    free(g->weights); free(g->fwd_offsets); free(g->rope);
    memset(g, 0, sizeof *g);
}

int gpt_init_view(gpt *v, const gpt *src, int max_batch, tr_error *err)
{
    TR_TRY(gpt_init_on(v, &src->config, max_batch, src->prompt_len, src->be, err));
    v->be->free(v->params);
    v->be->free(v->prompt);
    v->params = src->params;
    v->prompt = src->prompt;
    v->borrowed = 1;
    v->bf16 = src->bf16;
    return 0;
}

size_t gpt_num_params(const gpt *g) { return g->num_params; }
float *gpt_param(const gpt *g, int i) { return g->params + g->param_offsets[i]; }
float *gpt_grad(const gpt *g, int i) { return g->grads + g->param_offsets[i]; }

/* The draws of gpt_init_random into host arrays params (num_params) and prompt (P, C). */
static void init_random_host(const gpt *g, uint64_t seed, float *params, float *prompt)
{
    rng r;
    rng_init(&r, seed, RNG_PURPOSE_INIT_WEIGHTS, 0);
    const gpt_config *c = &g->config;
    float resid_std = 0.02f / sqrtf(2.0f * (float)c->num_layers);
    for (int i = 0; i < GPT_NUM_TENSORS; i++) {
        float *p = params + g->param_offsets[i];
        size_t n = g->param_sizes[i];
        float std = 0.0f;
        switch (i) {
        case GPT_T_WPE:
            if (!gpt_has_wpe(c)) { memset(p, 0, n * sizeof(float)); continue; }  /* unused: kept at zero */
            std = 0.02f;
            break;
        case GPT_T_WTE: case GPT_T_QKVW: case GPT_T_FCW: std = 0.02f; break;
        case GPT_T_ATTPROJW: case GPT_T_FCPROJW: std = resid_std; break;
        case GPT_T_LN1W: case GPT_T_LN2W: case GPT_T_LNFW:
            for (size_t k = 0; k < n; k++) p[k] = 1.0f;
            continue;
        default:
            memset(p, 0, n * sizeof(float));
            continue;
        }
        for (size_t k = 0; k < n; k++) p[k] = std * (float)rng_normal(&r);
    }
    /* padded vocabulary rows are never predicted and never looked up: keep them zero */
    size_t C = (size_t)c->channels;
    memset(params + g->param_offsets[GPT_T_WTE] + (size_t)c->vocab_size * C, 0,
           (size_t)(c->padded_vocab_size - c->vocab_size) * C * sizeof(float));
    if (g->prompt_len > 0) {
        rng_init(&r, seed, RNG_PURPOSE_INIT_WEIGHTS, 1); /* id 1: the soft prompt */
        for (size_t k = 0; k < (size_t)g->prompt_len * C; k++) prompt[k] = 0.02f * (float)rng_normal(&r);
    }
}

int gpt_init_random(gpt *g, uint64_t seed)
{
    if (g->be->host) {
        init_random_host(g, seed, g->params, g->prompt);
        return 0;
    }
    /* drawn on the host (the same bits as on the CPU), then uploaded */
    size_t np = g->num_params, pn = (size_t)g->prompt_len * g->config.channels;
    float *hp = malloc((np + pn) * sizeof(float));
    if (!hp) return TR_ENOMEM;
    init_random_host(g, seed, hp, hp + np);
    int rc = g->be->to_device(g->params, hp, np * sizeof(float));
    if (!rc && pn) rc = g->be->to_device(g->prompt, hp + np, pn * sizeof(float));
    free(hp);
    return rc;
}

void gpt_zero_grad(gpt *g)
{
    g->be->zero(g->grads, g->num_params * sizeof(float));
    if (g->prompt_grad)
        g->be->zero(g->prompt_grad, (size_t)g->prompt_len * g->config.channels * sizeof(float));
}

const float *gpt_logits(const gpt *g)
{
    if (!g->logits_valid) return NULL;
    struct gpt_acts a;
    act_views(g, g->B, g->prompt_len + g->T, &a);
    if (g->be->host) return a.logits;
    size_t n = (size_t)g->B * g->T * g->config.padded_vocab_size;
    if (g->be->to_host(g->io.hlogits, a.logits, n * sizeof(float))) return NULL;
    return g->io.hlogits;
}

/* Pointers to layer l's slice of each parameter tensor. */
typedef struct {
    const float *ln1w, *ln1b, *qkvw, *qkvb, *apw, *apb, *ln2w, *ln2b, *fcw, *fcb, *fpw, *fpb;
} layer_params;

static layer_params layer_of(const gpt *g, const float *base, int l)
{
    size_t C = (size_t)g->config.channels, L = (size_t)l;
    const size_t *o = g->param_offsets;
    layer_params p = {
        base + o[GPT_T_LN1W] + L * C, base + o[GPT_T_LN1B] + L * C,
        base + o[GPT_T_QKVW] + L * 3 * C * C, base + o[GPT_T_QKVB] + L * 3 * C,
        base + o[GPT_T_ATTPROJW] + L * C * C, base + o[GPT_T_ATTPROJB] + L * C,
        base + o[GPT_T_LN2W] + L * C, base + o[GPT_T_LN2B] + L * C,
        base + o[GPT_T_FCW] + L * 4 * C * C, base + o[GPT_T_FCB] + L * 4 * C,
        base + o[GPT_T_FCPROJW] + L * 4 * C * C, base + o[GPT_T_FCPROJB] + L * C,
    };
    return p;
}

/* The position index of row b's position t (soft prompt included) in the last forward:
 * padding past the context reuses the last position (see row_offsets in gpt.h). With
 * token_positions (T token positions per row), a token's id replaces its place. */
static int gpt_position(const gpt *g, int b, int t, int T) {
    int P = g->prompt_len;
    int p = g->fwd_offsets[b] + (t >= P && g->token_positions ? P + g->token_positions[(size_t)b * T + (t - P)] : t);
    return p < g->config.max_seq_len ? p : g->config.max_seq_len - 1;
}

/* host -> backend copy that names the backend when it fails */
static int upload(const gpt_backend *be, void *dst, const void *src, size_t bytes, tr_error *err)
{
    if (be->to_device(dst, src, bytes))
        return TR_FAIL(err, TR_EIO, "gpt: copying %zu bytes to the %s backend failed", bytes, be->name);
    return 0;
}

/* The linear layers' products: the backend's, or with g->bf16 on a host backend bf16.h's
 * (bf16 inputs, fp32 sums; the bias gradient stays the backend's fp32 column sums). */
static int mm_forward(const gpt *g, float *out, const float *inp, const float *w, const float *bias, int N, int C,
                      int OC, tr_error *err)
{
    if (g->bf16 && g->be->host) {
        if (bf16_matmul_forward(out, inp, w, bias, N, C, OC))
            return TR_FAIL(err, TR_ENOMEM, "gpt_forward: no memory for the bf16 product's scratch (%d x %d x %d)", N, C, OC);
        return 0;
    }
    g->be->matmul_forward(out, inp, w, bias, N, C, OC);
    return 0;
}

static int mm_backward(const gpt *g, float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                       const float *w, int N, int C, int OC, int accumulate, tr_error *err)
{
    if (g->bf16 && g->be->host) {
        if (bf16_matmul_backward(dinp, dw, dout, inp, w, N, C, OC, accumulate))
            return TR_FAIL(err, TR_ENOMEM, "gpt_backward: no memory for the bf16 product's scratch (%d x %d x %d)", N, C, OC);
        if (dbias) g->be->matmul_backward(NULL, NULL, dbias, dout, inp, w, N, C, OC, 0);
        return 0;
    }
    g->be->matmul_backward(dinp, dw, dbias, dout, inp, w, N, C, OC, accumulate);
    return 0;
}

int gpt_forward(gpt *g, const int *tokens, const int *targets, const float *weights, int B, int T,
                double *loss, double *logprob, tr_error *err)
{
    const gpt_config *c = &g->config;
    int P = g->prompt_len, Tt = P + T;
    int C = c->channels, L = c->num_layers, NH = c->num_heads, V = c->vocab_size;
    int Vp = c->padded_vocab_size;
    g->have_targets = 0;
    g->logits_valid = 0;
    if (B <= 0 || B > g->max_batch)
        return TR_FAIL(err, TR_EINVAL, "gpt_forward: batch %d not in [1, max_batch %d]", B, g->max_batch);
    if (T <= 0 || Tt > c->max_seq_len)
        return TR_FAIL(err, TR_EINVAL, "gpt_forward: length %d not in [1, max_seq_len %d - prompt_len %d]",
                       T, c->max_seq_len, P);
    if (!g->row_offsets && (g->pos_offset < 0 || g->pos_offset + Tt > c->max_seq_len))
        return TR_FAIL(err, TR_EINVAL, "gpt_forward: position offset %d + length %d exceeds max_seq_len %d",
                       g->pos_offset, Tt, c->max_seq_len);
    for (int b = 0; g->row_offsets && b < B; b++)   /* the row's own length is the caller's to fit */
        if (g->row_offsets[b] < 0 || g->row_offsets[b] + P >= c->max_seq_len)
            return TR_FAIL(err, TR_EINVAL, "gpt_forward: sequence %d's position offset %d + prompt %d leaves no "
                           "position of max_seq_len %d", b, g->row_offsets[b], P, c->max_seq_len);
    size_t NT = (size_t)B * T;
    if (g->token_positions && !gpt_is_coupled(c))
        return TR_FAIL(err, TR_EINVAL, "gpt_forward: token position ids given to a model whose positions are %s; "
                       "only a coupled model (the coupled* kinds) reads them", gpt_position_name(c->position));
    for (size_t i = 0; g->token_positions && i < NT; i++)
        if (g->token_positions[i] < 0 || P + g->token_positions[i] >= c->max_seq_len)
            return TR_FAIL(err, TR_EINVAL, "gpt_forward: position id %d at sequence %zu position %zu not in [0, "
                           "max_seq_len %d - prompt_len %d)", g->token_positions[i], i / (size_t)T, i % (size_t)T,
                           c->max_seq_len, P);
    for (size_t i = 0; i < NT; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return TR_FAIL(err, TR_EINVAL, "gpt_forward: token %d at sequence %zu position %zu not in [0, %d)",
                           tokens[i], i / (size_t)T, i % (size_t)T, V);
        if (targets && (targets[i] < 0 || targets[i] >= V))
            return TR_FAIL(err, TR_EINVAL, "gpt_forward: target %d at sequence %zu position %zu not in [0, %d)",
                           targets[i], i / (size_t)T, i % (size_t)T, V);
    }
    for (size_t i = 0; i < NT; i++) g->weights[i] = weights ? weights[i] : 1.0f;
    g->B = B;
    g->T = T;
    for (int b = 0; b < B; b++) g->fwd_offsets[b] = g->row_offsets ? g->row_offsets[b] : g->pos_offset;

    struct gpt_acts a;
    act_views(g, B, Tt, &a);
    const gpt_backend *be = g->be;
    gpt_io *io = &g->io;
    const float *wte = gpt_param(g, GPT_T_WTE), *wpe = gpt_param(g, GPT_T_WPE);
    size_t N = (size_t)B * Tt, NC = N * (size_t)C;

    /* embeddings: soft prompt (rows 0..P-1 of each sequence: token -1-p) then tokens, each
     * plus its position */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tt; t++) {
            size_t r = (size_t)b * Tt + t;
            io->rowtok[r] = t < P ? -1 - t : tokens[(size_t)b * T + (t - P)];
            io->rowpos[r] = gpt_position(g, b, t, T);
        }
    TR_TRY(upload(be, io->d_rowtok, io->rowtok, N * sizeof(int), err));
    TR_TRY(upload(be, io->d_rowpos, io->rowpos, N * sizeof(int), err));
    if (targets) TR_TRY(upload(be, io->d_targets, targets, NT * sizeof(int), err));
    TR_TRY(upload(be, io->d_weights, g->weights, NT * sizeof(float), err));
    be->embed_forward(a.encoded, io->d_rowtok, io->d_rowpos, wte, gpt_has_wpe(c) ? wpe : NULL, g->prompt, (int)N, C);

    for (int l = 0; l < L; l++) {
        layer_params w = layer_of(g, g->params, l);
        const float *res_in = l == 0 ? a.encoded : a.residual3 + (size_t)(l - 1) * NC;
        float *ln1 = a.ln1 + l * NC, *ln1m = a.ln1_mean + l * N, *ln1r = a.ln1_rstd + l * N;
        float *qkv = a.qkv + l * NC * 3, *atty = a.atty + l * NC;
        float *att = a.att + (size_t)l * B * NH * Tt * Tt;
        float *res2 = a.residual2 + l * NC;
        float *ln2 = a.ln2 + l * NC, *ln2m = a.ln2_mean + l * N, *ln2r = a.ln2_rstd + l * N;
        float *fch = a.fch + l * NC * 4, *fchg = a.fch_gelu + l * NC * 4;
        float *res3 = a.residual3 + l * NC;

        be->layernorm_forward(ln1, ln1m, ln1r, res_in, w.ln1w, w.ln1b, (int)N, C);
        TR_TRY(mm_forward(g, qkv, ln1, w.qkvw, w.qkvb, (int)N, C, 3 * C, err));
        if (g->rope) rope_rotate(qkv, io->rowpos, N, C, NH, 0, g->rope);   /* host memory */
        be->attention_forward(atty, att, qkv, B, Tt, C, NH, gpt_has_alibi(c));
        TR_TRY(mm_forward(g, a.scratch, atty, w.apw, w.apb, (int)N, C, C, err));
        be->residual_forward(res2, res_in, a.scratch, NC);
        be->layernorm_forward(ln2, ln2m, ln2r, res2, w.ln2w, w.ln2b, (int)N, C);
        TR_TRY(mm_forward(g, fch, ln2, w.fcw, w.fcb, (int)N, C, 4 * C, err));
        be->gelu_forward(fchg, fch, NC * 4);
        TR_TRY(mm_forward(g, a.scratch, fchg, w.fpw, w.fpb, (int)N, 4 * C, C, err));
        be->residual_forward(res3, res2, a.scratch, NC);
    }
    be->layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, a.residual3 + (size_t)(L - 1) * NC,
                          gpt_param(g, GPT_T_LNFW), gpt_param(g, GPT_T_LNFB), (int)N, C);
    /* LM head on the token positions only (the prompt positions predict nothing) */
    if (P == 0) {
        TR_TRY(mm_forward(g, a.logits, a.lnf, wte, NULL, B * T, C, Vp, err));
    } else {
        for (int b = 0; b < B; b++)
            TR_TRY(mm_forward(g, a.logits + (size_t)b * T * Vp, a.lnf + ((size_t)b * Tt + P) * C, wte,
                              NULL, T, C, Vp, err));
    }
    g->logits_valid = 1;

    /* log-sum-exp over the real vocabulary; loss and per-sequence log-probabilities */
    be->crossentropy_forward(a.lse, io->d_lp, a.logits, targets ? io->d_targets : NULL, (int)NT, V, Vp);
    double total = 0.0;
    if (logprob) for (int b = 0; b < B; b++) logprob[b] = 0.0;
    if (targets) {
        if (be->to_host(io->lp, io->d_lp, NT * sizeof(double)))
            return TR_FAIL(err, TR_EIO, "gpt_forward: reading the log-probabilities back from the %s backend "
                           "failed", be->name);
        for (size_t i = 0; i < NT; i++) {
            total -= (double)g->weights[i] * io->lp[i];
            if (logprob && g->weights[i] != 0.0f) logprob[i / (size_t)T] += io->lp[i];
        }
    }
    if (loss) *loss = total;
    g->have_targets = targets != NULL;
    return 0;
}

/* dtable += the gradients of the last forward's rows (dx (N,C)) grouped by key: which = 0 the
 * token (wte, token rows only), 1 the position (wpe, every row), 2 the soft-prompt index (prompt
 * rows only). Counting sort on the host keeps each key's rows ascending, the order in which a
 * plain loop over the rows would add them. */
static int embed_backward(gpt *g, float *dtable, const float *dx, int which, int N, tr_error *err)
{
    gpt_io *io = &g->io;
    int K = which == 0 ? g->config.padded_vocab_size : which == 1 ? g->config.max_seq_len : g->prompt_len;
    int *count = io->count, *order = io->group, *starts = order + N, *keys = starts + N + 1;
    memset(count, 0, (size_t)(K + 1) * sizeof(int));
    int n = 0;
    for (int r = 0; r < N; r++) {
        int tok = io->rowtok[r];
        int key = which == 0 ? (tok >= 0 ? tok : -1) : which == 1 ? io->rowpos[r] : (tok < 0 ? -1 - tok : -1);
        if (key >= 0) { count[key + 1]++; n++; }
    }
    int nkeys = 0;
    for (int k = 0; k < K; k++) {
        if (count[k + 1] > 0) { keys[nkeys] = k; starts[nkeys] = count[k]; nkeys++; }
        count[k + 1] += count[k];  /* count[k] = first slot of key k */
    }
    starts[nkeys] = n;
    for (int r = 0; r < N; r++) {
        int tok = io->rowtok[r];
        int key = which == 0 ? (tok >= 0 ? tok : -1) : which == 1 ? io->rowpos[r] : (tok < 0 ? -1 - tok : -1);
        if (key >= 0) order[count[key]++] = r;
    }
    if (nkeys == 0) return 0;
    /* order, starts and keys lie packed in io->group: move them as one block (order: N slots) */
    int *d = io->d_group[which];
    TR_TRY(upload(g->be, d, order, (size_t)(2 * N + 1 + nkeys) * sizeof(int), err));
    g->be->embed_backward(dtable, dx, d, d + N, d + 2 * N + 1, nkeys, g->config.channels);
    return 0;
}

int gpt_backward(gpt *g, gpt_grad_mode mode, tr_error *err)
{
    if (!g->have_targets)
        return TR_FAIL(err, TR_ESTATE, "gpt_backward: needs a gpt_forward with targets just before "
                       "(each forward allows one backward)");
    if (mode == GPT_GRAD_PROMPT && g->prompt_len == 0)
        return TR_FAIL(err, TR_EINVAL, "gpt_backward: prompt-only mode but the model has no soft prompt");
    g->have_targets = 0;
    g->logits_valid = 0;
    int full = mode == GPT_GRAD_FULL;
    const gpt_config *c = &g->config;
    int B = g->B, T = g->T, P = g->prompt_len, Tt = P + T;
    int C = c->channels, L = c->num_layers, NH = c->num_heads, V = c->vocab_size;
    int Vp = c->padded_vocab_size;
    size_t N = (size_t)B * Tt, NC = N * (size_t)C, NT = (size_t)B * T;
    struct gpt_acts a;
    act_views(g, B, Tt, &a);
    gpt_dacts d;
    dact_views(g, B, Tt, &d);
    const gpt_backend *be = g->be;
    const float *wte = gpt_param(g, GPT_T_WTE);
    float *dwte = full ? gpt_grad(g, GPT_T_WTE) : NULL;

    /* dlogits in place: weight * (softmax - onehot(target)) on the real vocabulary */
    be->crossentropy_backward(a.logits, a.lse, g->io.d_targets, g->io.d_weights, (int)NT, V, Vp);
    /* LM head backward into dc = d lnf (prompt rows get zero) */
    if (P == 0) {
        TR_TRY(mm_backward(g, d.dc, dwte, NULL, a.logits, a.lnf, wte, B * T, C, Vp, 0, err));
    } else {
        for (int b = 0; b < B; b++) {
            be->zero(d.dc + (size_t)b * Tt * C, (size_t)P * C * sizeof(float));
            TR_TRY(mm_backward(g, d.dc + ((size_t)b * Tt + P) * C, dwte, NULL, a.logits + (size_t)b * T * Vp,
                               a.lnf + ((size_t)b * Tt + P) * C, wte, T, C, Vp, 0, err));
        }
    }
    be->zero(d.dres, NC * sizeof(float));
    be->layernorm_backward(d.dres, full ? gpt_grad(g, GPT_T_LNFW) : NULL, full ? gpt_grad(g, GPT_T_LNFB) : NULL,
                           d.dc, a.residual3 + (size_t)(L - 1) * NC, gpt_param(g, GPT_T_LNFW),
                           a.lnf_mean, a.lnf_rstd, (int)N, C);

    for (int l = L - 1; l >= 0; l--) {
        layer_params w = layer_of(g, g->params, l);
        layer_params dw = layer_of(g, g->grads, l);
        const float *res_in = l == 0 ? a.encoded : a.residual3 + (size_t)(l - 1) * NC;
        const float *ln1 = a.ln1 + l * NC, *ln1m = a.ln1_mean + l * N, *ln1r = a.ln1_rstd + l * N;
        const float *qkv = a.qkv + l * NC * 3, *atty = a.atty + l * NC;
        const float *att = a.att + (size_t)l * B * NH * Tt * Tt;
        const float *res2 = a.residual2 + l * NC;
        const float *ln2 = a.ln2 + l * NC, *ln2m = a.ln2_mean + l * N, *ln2r = a.ln2_rstd + l * N;
        const float *fch = a.fch + l * NC * 4, *fchg = a.fch_gelu + l * NC * 4;
#define DW(x) (full ? (float *)dw.x : NULL)
        /* MLP: dres is the gradient of residual3 and (through the skip) of residual2 */
        TR_TRY(mm_backward(g, d.d4c, DW(fpw), DW(fpb), d.dres, fchg, w.fpw, (int)N, 4 * C, C, 0, err));
        be->gelu_backward(d.d4c, fch, d.d4c, NC * 4);
        TR_TRY(mm_backward(g, d.dc, DW(fcw), DW(fcb), d.d4c, ln2, w.fcw, (int)N, C, 4 * C, 0, err));
        be->layernorm_backward(d.dres, DW(ln2w), DW(ln2b), d.dc, res2, w.ln2w, ln2m, ln2r, (int)N, C);
        /* attention: dres is now the gradient of residual2 and (through the skip) of res_in */
        TR_TRY(mm_backward(g, d.dc2, DW(apw), DW(apb), d.dres, atty, w.apw, (int)N, C, C, 0, err));
        be->attention_backward(d.d3c, d.datt, d.dc2, qkv, att, B, Tt, C, NH);
        if (g->rope) rope_rotate(d.d3c, g->io.rowpos, N, C, NH, 1, g->rope);
        TR_TRY(mm_backward(g, d.dc, DW(qkvw), DW(qkvb), d.d3c, ln1, w.qkvw, (int)N, C, 3 * C, 0, err));
        be->layernorm_backward(d.dres, DW(ln1w), DW(ln1b), d.dc, res_in, w.ln1w, ln1m, ln1r, (int)N, C);
#undef DW
    }

    /* embeddings: the rows' gradients summed into their table rows, key by key */
    float *dwpe = full && gpt_has_wpe(&g->config) ? gpt_grad(g, GPT_T_WPE) : NULL;  /* else unused, stays 0 */
    if (dwte) TR_TRY(embed_backward(g, dwte, d.dres, 0, (int)N, err));
    if (dwpe) TR_TRY(embed_backward(g, dwpe, d.dres, 1, (int)N, err));
    if (P > 0) TR_TRY(embed_backward(g, g->prompt_grad, d.dres, 2, (int)N, err));
    return 0;
}
