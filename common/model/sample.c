/* sample.c - KV-cache forward for prefill and decode, token sampling, generation loop. */
#include "common/model/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/bf16.h"
#include "common/model/rope.h"


gpt_sample_opts gpt_sample_opts_default(void)
{
    gpt_sample_opts o = {.temperature = 1.0f, .top_k = 0, .top_p = 0.0f, .max_new_tokens = 64, .eot = 256};
    return o;
}

int gpt_sampler_init(gpt_sampler *s, const gpt *g, int max_seqs, tr_error *err)
{
    memset(s, 0, sizeof *s);
    if (max_seqs <= 0)
        return TR_FAIL(err, TR_EINVAL, "gpt_sampler_init: max_seqs %d must be positive", max_seqs);
    const gpt_config *c = &g->config;
    const gpt_backend *be = g->be;
    s->be = be;
    s->max_seqs = max_seqs;
    s->max_len = c->max_seq_len;
    s->C = c->channels;
    s->L = c->num_layers;
    s->Vp = c->padded_vocab_size;
    /* scratch rows: prefill runs one sequence (up to a full context), decode one row per sequence */
    size_t rows = (size_t)(s->max_len > max_seqs ? s->max_len : max_seqs);
    s->rows = (int)rows;
    size_t C = (size_t)s->C;
    size_t cache = (size_t)s->L * max_seqs * s->max_len * C;
    size_t nidx = rows;
    /* a prefill's tokens (rows), or the active list plus a sort index (max_seqs + Vp) */
    if ((size_t)max_seqs + (size_t)s->Vp > nidx) nidx = (size_t)max_seqs + (size_t)s->Vp;
    size_t nrowidx = 2 * rows + 3 * (size_t)max_seqs;  /* a kv_forward's row tokens, positions, slots, starts, gathers */
    if (!(s->pos = tr_calloc((size_t)max_seqs, sizeof(int), err)) ||
        !(s->logits = tr_malloc((size_t)max_seqs * s->Vp * sizeof(float), err)) ||
        !(s->itmp = tr_malloc(nidx * sizeof(int), err)) ||
        !(s->rowidx = tr_malloc(nrowidx * sizeof(int), err)) ||
        !(s->slots_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->start_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->last_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->tok_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->ids_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->pwork = tr_malloc((size_t)s->Vp * sizeof(double), err)) ||
        !(s->uni = tr_malloc((size_t)max_seqs * sizeof(double), err)) ||
        !(s->drawn = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->drawn_lp = tr_malloc((size_t)max_seqs * sizeof(double), err))) {
        gpt_sampler_free(s);
        return TR_ENOMEM;
    }
    s->kcache = be->alloc(cache * sizeof(float));
    s->vcache = be->alloc(cache * sizeof(float));
    s->x = be->alloc(rows * C * sizeof(float));
    s->ln = be->alloc(rows * C * sizeof(float));
    s->qkv = be->alloc(rows * 3 * C * sizeof(float));
    s->atty = be->alloc(rows * C * sizeof(float));
    s->tmp = be->alloc(rows * C * sizeof(float));
    s->fch = be->alloc(rows * 4 * C * sizeof(float));
    s->scores = be->alloc((size_t)c->num_heads * s->max_len * sizeof(float));
    s->lastln = be->alloc((size_t)max_seqs * C * sizeof(float));
    s->d_rowidx = be->alloc(nrowidx * sizeof(int));
    s->dlogits = be->host ? NULL : be->alloc((size_t)max_seqs * s->Vp * sizeof(float));
    if (!s->kcache || !s->vcache || !s->x || !s->ln || !s->qkv || !s->atty || !s->tmp || !s->fch ||
        !s->scores || !s->lastln || !s->d_rowidx || (!be->host && !s->dlogits)) {
        gpt_sampler_free(s);
        return TR_FAIL(err, TR_ENOMEM, "gpt_sampler_init: out of %s memory for the KV cache of %d sequences "
                       "x %d positions", be->name, max_seqs, c->max_seq_len);
    }
    return 0;
}

void gpt_sampler_free(gpt_sampler *s)
{
    const gpt_backend *be = s->be;
    if (be) {
        be->free(s->kcache); be->free(s->vcache);
        be->free(s->x); be->free(s->ln); be->free(s->qkv); be->free(s->atty); be->free(s->tmp);
        be->free(s->fch); be->free(s->scores); be->free(s->lastln); be->free(s->d_rowidx);
        be->free(s->dlogits);
    }
    free(s->pos); free(s->logits); free(s->itmp); free(s->rowidx); free(s->slots_tmp); free(s->ids_tmp);
    free(s->start_tmp); free(s->last_tmp); free(s->tok_tmp);
    free(s->pwork); free(s->uni); free(s->drawn); free(s->drawn_lp);
    free(s->wbf16); free(s->xbf16);
    memset(s, 0, sizeof *s);
}

/* Where layer l's four packed weights start in wbf16 (then the LM head, at layer L's qkv):
 * qkvw (3C, C), attprojw (C, C), fcw (4C, C), fcprojw (C, 4C). */
static size_t bf16_layer_count(int C) {
    return bf16_packed_count(3 * C, C) + bf16_packed_count(C, C) + bf16_packed_count(4 * C, C) + bf16_packed_count(C, 4 * C);
}

/* Round and pack the weights the decode products read (bf16.h), allocating on first use. */
static int sampler_pack_bf16(gpt_sampler *s, const gpt *g, tr_error *err)
{
    const int C = s->C, L = s->L, Vp = s->Vp;
    const size_t Cz = (size_t)C, per = bf16_layer_count(C);
    if (!s->wbf16 && !(s->wbf16 = tr_malloc((per * (size_t)L + bf16_packed_count(Vp, C)) * sizeof *s->wbf16, err)))
        return TR_ENOMEM;
    const size_t xrows = (size_t)(s->max_seqs > s->max_len ? s->max_seqs : s->max_len);   /* decode or prefill rows */
    if (!s->xbf16 && !(s->xbf16 = tr_malloc(xrows * 2 * Cz * sizeof *s->xbf16, err))) return TR_ENOMEM;
    int rc = 0;
    for (int l = 0; l < L; l++) {
        uint16_t *d = s->wbf16 + (size_t)l * per;
        size_t lz = (size_t)l;
        rc |= bf16_pack(d, gpt_param(g, GPT_T_QKVW) + lz * 3 * Cz * Cz, 3 * C, C);
        d += bf16_packed_count(3 * C, C);
        rc |= bf16_pack(d, gpt_param(g, GPT_T_ATTPROJW) + lz * Cz * Cz, C, C);
        d += bf16_packed_count(C, C);
        rc |= bf16_pack(d, gpt_param(g, GPT_T_FCW) + lz * 4 * Cz * Cz, 4 * C, C);
        d += bf16_packed_count(4 * C, C);
        rc |= bf16_pack(d, gpt_param(g, GPT_T_FCPROJW) + lz * 4 * Cz * Cz, C, 4 * C);
    }
    rc |= bf16_pack(s->wbf16 + per * (size_t)L, gpt_param(g, GPT_T_WTE), Vp, C);
    if (rc) return TR_FAIL(err, TR_ENOMEM, "gpt_sample: no memory to pack the weights as bf16 (%d channels)", C);
    return 0;
}

/* out (N, OC) = inp (N, K) @ w^T + bias with the packed weights wp: the inputs are rounded too. */
static void mm_bf16(gpt_sampler *s, float *out, const float *inp, const uint16_t *wp, const float *bias, int N, int K,
                    int OC)
{
    const size_t K2 = ((size_t)K + 1) / 2;
    for (int n = 0; n < N; n++) bf16_pack_row(s->xbf16 + (size_t)n * K2, inp + (size_t)n * K, K);
    bf16_matmul_rows(out, s->xbf16, wp, bias, N, K, OC);
}

/* Run Tc positions of n sequences through the model with the KV cache.
 *   slots (n): cache slot of each sequence; start (n): its first position;
 *   tokens (n, Tc): input ids (ignored at positions < P, which take the soft prompt);
 *   ids (n, Tc) or NULL: the rows' position ids past the soft prompt (coupling), else their places;
 *   last (n): index in 0..Tc-1 of the row whose logits are wanted; logits (n, Vp) out (host).
 * On a device backend the logits land in rows row0.. of s->dlogits, and are copied to logits
 * unless it is NULL (gpt_sample's draws on the device read them there).
 * Batch independence: every kernel here works row by row except the matrix products. Decode
 * (Tc = 1) and the logits use matmul_rows_forward, whose rows do not depend on each other, and
 * prefill runs one sequence at a time, so a sequence's logits are the same bits whatever else
 * is in the batch (the number of workers decides the batches; proposals must not depend on it). */
static int kv_forward(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *start, int Tc,
                      const int *tokens, const int *ids, const int *last, float *logits, size_t row0, tr_error *err)
{
    const gpt_backend *be = g->be;
    const gpt_config *c = &g->config;
    int C = c->channels, NH = c->num_heads, L = c->num_layers, P = g->prompt_len;
    int rows = n * Tc;
    size_t Cz = (size_t)C;
    void (*const mm)(float *, const float *, const float *, const float *, int, int, int) =
        Tc == 1 ? be->matmul_rows_forward : be->matmul_forward;
    const float *wte = gpt_param(g, GPT_T_WTE), *wpe = gpt_param(g, GPT_T_WPE);
    const int bf = s->bf16;   /* prefill too: bf16 rows run at about twice sgemm's rate (docs/performance.md) */
    const size_t per16 = bf16_layer_count(C);

    /* the rows' tokens (soft-prompt rows: -1 - p) and positions, the slots, the starts and the
     * rows whose logits are wanted, moved to the backend in one copy */
    int *rtok = s->rowidx, *rpos = rtok + rows, *rslot = rpos + rows, *rstart = rslot + n, *rlast = rstart + n;
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < Tc; t++) {
            int p = start[i] + t;
            rtok[i * Tc + t] = p < P ? -1 - p : tokens[(size_t)i * Tc + t];
            rpos[i * Tc + t] = p < P || !ids ? p : P + ids[(size_t)i * Tc + t];   /* the embedding's; the cache's is p */
        }
        rslot[i] = slots[i];
        rstart[i] = start[i];
        rlast[i] = i * Tc + last[i];
    }
    if (be->to_device(s->d_rowidx, s->rowidx, (size_t)(2 * rows + 3 * n) * sizeof(int)))
        return TR_FAIL(err, TR_EIO, "gpt_sample: copying the batch's indices to the %s backend failed", be->name);
    const int *d = s->d_rowidx;
    const int *dtok = d, *dpos = d + rows, *dslot = dpos + rows, *dstart = dslot + n, *dlast = dstart + n;

    be->embed_forward(s->x, dtok, dpos, wte, gpt_has_wpe(c) ? wpe : NULL, g->prompt, rows, C);
    for (int l = 0; l < L; l++) {
        size_t lz = (size_t)l;
        const float *ln1w = gpt_param(g, GPT_T_LN1W) + lz * Cz, *ln1b = gpt_param(g, GPT_T_LN1B) + lz * Cz;
        const float *qkvw = gpt_param(g, GPT_T_QKVW) + lz * 3 * Cz * Cz, *qkvb = gpt_param(g, GPT_T_QKVB) + lz * 3 * Cz;
        const float *apw = gpt_param(g, GPT_T_ATTPROJW) + lz * Cz * Cz, *apb = gpt_param(g, GPT_T_ATTPROJB) + lz * Cz;
        const float *ln2w = gpt_param(g, GPT_T_LN2W) + lz * Cz, *ln2b = gpt_param(g, GPT_T_LN2B) + lz * Cz;
        const float *fcw = gpt_param(g, GPT_T_FCW) + lz * 4 * Cz * Cz, *fcb = gpt_param(g, GPT_T_FCB) + lz * 4 * Cz;
        const float *fpw = gpt_param(g, GPT_T_FCPROJW) + lz * 4 * Cz * Cz, *fpb = gpt_param(g, GPT_T_FCPROJB) + lz * Cz;
        size_t layer = lz * s->max_seqs * s->max_len * Cz;  /* this layer's slice of the caches */

        const uint16_t *w16 = s->bf16 ? s->wbf16 + lz * per16 : NULL;   /* qkvw, attprojw, fcw, fcprojw */
        const uint16_t *ap16 = w16 ? w16 + bf16_packed_count(3 * C, C) : NULL;
        const uint16_t *fc16 = ap16 ? ap16 + bf16_packed_count(C, C) : NULL;
        const uint16_t *fp16 = fc16 ? fc16 + bf16_packed_count(4 * C, C) : NULL;

        be->layernorm_forward(s->ln, NULL, NULL, s->x, ln1w, ln1b, rows, C);
        if (bf) mm_bf16(s, s->qkv, s->ln, w16, qkvb, rows, C, 3 * C);
        else mm(s->qkv, s->ln, qkvw, qkvb, rows, C, 3 * C);
        if (g->rope) rope_rotate(s->qkv, rpos, (size_t)rows, C, NH, 0, g->rope);   /* host memory */
        be->kv_attention(s->atty, s->scores, s->kcache + layer, s->vcache + layer, s->qkv, dslot, dstart, n, Tc,
                         C, NH, s->max_len, gpt_has_alibi(c));
        if (bf) mm_bf16(s, s->tmp, s->atty, ap16, apb, rows, C, C);
        else mm(s->tmp, s->atty, apw, apb, rows, C, C);
        be->residual_forward(s->x, s->x, s->tmp, (size_t)rows * Cz);
        be->layernorm_forward(s->ln, NULL, NULL, s->x, ln2w, ln2b, rows, C);
        if (bf) mm_bf16(s, s->fch, s->ln, fc16, fcb, rows, C, 4 * C);
        else mm(s->fch, s->ln, fcw, fcb, rows, C, 4 * C);
        be->gelu_forward(s->fch, s->fch, (size_t)rows * 4 * Cz);
        if (bf) mm_bf16(s, s->tmp, s->fch, fp16, fpb, rows, 4 * C, C);
        else mm(s->tmp, s->fch, fpw, fpb, rows, 4 * C, C);
        be->residual_forward(s->x, s->x, s->tmp, (size_t)rows * Cz);
    }
    be->gather_rows(s->tmp, s->x, dlast, n, C);
    be->layernorm_forward(s->lastln, NULL, NULL, s->tmp, gpt_param(g, GPT_T_LNFW), gpt_param(g, GPT_T_LNFB), n, C);
    size_t nl = (size_t)n * c->padded_vocab_size;
    if (be->host) {
        if (s->bf16) mm_bf16(s, logits, s->lastln, s->wbf16 + per16 * (size_t)L, NULL, n, C, c->padded_vocab_size);
        else be->matmul_rows_forward(logits, s->lastln, wte, NULL, n, C, c->padded_vocab_size);
        return 0;
    }
    float *dl = s->dlogits + row0 * (size_t)c->padded_vocab_size;
    be->matmul_rows_forward(dl, s->lastln, wte, NULL, n, C, c->padded_vocab_size);
    if (logits && be->to_host(logits, dl, nl * sizeof(float)))
        return TR_FAIL(err, TR_EIO, "gpt_sample: reading the logits back from the %s backend failed", be->name);
    return 0;
}

static int sampler_prefill(gpt_sampler *s, const gpt *g, int n, const int *const *prompts,
                           const int *prompt_lens, float *logits, tr_error *err)
{
    int P = g->prompt_len, V = g->config.vocab_size, Vp = g->config.padded_vocab_size;
    if (n <= 0 || n > s->max_seqs)
        return TR_FAIL(err, TR_EINVAL, "gpt_sampler_prefill: %d sequences not in [1, max_seqs %d]", n, s->max_seqs);
    if (s->C != g->config.channels || s->L != g->config.num_layers || s->max_len != g->config.max_seq_len)
        return TR_FAIL(err, TR_EINVAL, "gpt_sampler_prefill: sampler was made for another model config");
    for (int i = 0; i < n; i++) {
        if (prompt_lens[i] < 1 || P + prompt_lens[i] > s->max_len)
            return TR_FAIL(err, TR_EINVAL, "gpt_sampler_prefill: prompt %d has %d tokens; allowed 1..%d "
                           "(max_seq_len %d minus soft prompt %d)", i, prompt_lens[i], s->max_len - P, s->max_len, P);
        for (int t = 0; t < prompt_lens[i]; t++)
            if (prompts[i][t] < 0 || prompts[i][t] >= V)
                return TR_FAIL(err, TR_EINVAL, "gpt_sampler_prefill: prompt %d token %d is %d, not in [0, %d)",
                               i, t, prompts[i][t], V);
    }
    /* one sequence per pass (see kv_forward: batch independence); its rows are long enough
     * for the matrix products to run at BLAS speed */
    int *tok = s->itmp; /* (Tc) */
    for (int i = 0; i < n; i++) {
        int Tc = P + prompt_lens[i];
        for (int t = 0; t < Tc; t++) tok[t] = t < P ? 0 : prompts[i][t - P];   /* t < P: the soft prompt */
        s->slots_tmp[0] = i;
        s->start_tmp[0] = 0;
        s->last_tmp[0] = Tc - 1;
        TR_TRY(kv_forward(s, g, 1, s->slots_tmp, s->start_tmp, Tc, tok, NULL, s->last_tmp, logits ? logits + (size_t)i * Vp : NULL,
                          (size_t)i, err));
        s->pos[i] = Tc;
    }
    return 0;
}

int gpt_sampler_prefill(gpt_sampler *s, const gpt *g, int n, const int *const *prompts,
                        const int *prompt_lens, float *logits, tr_error *err)
{
    return sampler_prefill(s, g, n, prompts, prompt_lens, logits, err);
}

static int sampler_decode(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *tokens, const int *ids,
                          float *logits, tr_error *err)
{
    int V = g->config.vocab_size;
    if (ids && !gpt_is_coupled(&g->config))
        return TR_FAIL(err, TR_EINVAL, "gpt_sampler_decode: position ids given to a model whose positions are %s; "
                       "only a coupled model (the coupled* kinds) reads them", gpt_position_name(g->config.position));
    if (n <= 0 || n > s->max_seqs)
        return TR_FAIL(err, TR_EINVAL, "gpt_sampler_decode: %d sequences not in [1, max_seqs %d]", n, s->max_seqs);
    for (int i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= s->max_seqs)
            return TR_FAIL(err, TR_EINVAL, "gpt_sampler_decode: slot %d not in [0, %d)", slots[i], s->max_seqs);
        if (s->pos[slots[i]] < 1 || s->pos[slots[i]] >= s->max_len)
            return TR_FAIL(err, TR_EINVAL, "gpt_sampler_decode: slot %d is at position %d; decode needs a "
                           "prefilled slot with room (max_seq_len %d)", slots[i], s->pos[slots[i]], s->max_len);
        if (tokens[i] < 0 || tokens[i] >= V)
            return TR_FAIL(err, TR_EINVAL, "gpt_sampler_decode: token %d for slot %d not in [0, %d)",
                           tokens[i], slots[i], V);
        if (ids && (ids[i] < 0 || g->prompt_len + ids[i] >= s->max_len))
            return TR_FAIL(err, TR_EINVAL, "gpt_sampler_decode: position id %d for slot %d not in [0, max_seq_len %d - "
                           "prompt_len %d)", ids[i], slots[i], s->max_len, g->prompt_len);
    }
    for (int i = 0; i < n; i++) {
        s->start_tmp[i] = s->pos[slots[i]];
        s->last_tmp[i] = 0;
    }
    TR_TRY(kv_forward(s, g, n, slots, s->start_tmp, 1, tokens, ids, s->last_tmp, logits, 0, err));
    for (int i = 0; i < n; i++) s->pos[slots[i]]++;
    return 0;
}

int gpt_sampler_decode(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *tokens,
                       float *logits, tr_error *err)
{
    return sampler_decode(s, g, n, slots, tokens, NULL, logits, err);
}

int gpt_sampler_decode_at(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *tokens, const int *ids,
                          float *logits, tr_error *err)
{
    return sampler_decode(s, g, n, slots, tokens, ids, logits, err);
}

/* qsort has no context argument: the key array goes through a thread-local */
static __thread const double *tl_key;
static int by_prob_desc(const void *a, const void *b)
{
    double pa = tl_key[*(const int *)a], pb = tl_key[*(const int *)b];
    if (pa != pb) return pa < pb ? 1 : -1;
    return *(const int *)a - *(const int *)b; /* ties: lower id first, so the order is total */
}

int gpt_sample_token(const float *logits, int V, const gpt_sample_opts *opts, rng *r,
                     double *work, int *idx, double *logp)
{
    float mx = logits[0];
    int arg = 0;
    for (int v = 1; v < V; v++) if (logits[v] > mx) { mx = logits[v]; arg = v; }
    if (opts->temperature <= 0.0f) {
        double s = 0.0;
        for (int v = 0; v < V; v++) s += exp((double)logits[v] - mx);
        *logp = (double)logits[arg] - mx - log(s);
        return arg;
    }
    double invT = 1.0 / opts->temperature, total = 0.0;
    for (int v = 0; v < V; v++) { work[v] = exp(((double)logits[v] - mx) * invT); total += work[v]; }
    int truncate = (opts->top_k > 0 && opts->top_k < V) || (opts->top_p > 0.0f && opts->top_p < 1.0f);
    double u = rng_uniform(r);
    if (!truncate) {
        double target = u * total, cum = 0.0;
        int pick = V - 1;
        for (int v = 0; v < V; v++) {
            cum += work[v];
            if (cum > target) { pick = v; break; }
        }
        while (work[pick] == 0.0 && pick > 0) pick--; /* rounding at the very end: never a zero-mass token */
        *logp = log(work[pick] / total);
        return pick;
    }
    for (int v = 0; v < V; v++) idx[v] = v;
    tl_key = work;
    qsort(idx, (size_t)V, sizeof(int), by_prob_desc);
    int keep = V;
    if (opts->top_k > 0 && opts->top_k < keep) keep = opts->top_k;
    if (opts->top_p > 0.0f && opts->top_p < 1.0f) {
        double cum = 0.0;
        for (int k = 0; k < keep; k++) {
            cum += work[idx[k]] / total;
            if (cum >= opts->top_p) { keep = k + 1; break; }
        }
    }
    double kept = 0.0;
    for (int k = 0; k < keep; k++) kept += work[idx[k]];
    double target = u * kept, cum = 0.0;
    int pick = idx[keep - 1];
    for (int k = 0; k < keep; k++) {
        cum += work[idx[k]];
        if (cum > target) { pick = idx[k]; break; }
    }
    *logp = log(work[pick] / kept);
    return pick;
}

static int sample_loop(gpt_sampler *s, const gpt *g, int n, const int *const *prompts, const int *prompt_lens,
                       rng *const *rngs, const gpt_sample_opts *opts, int on_dev, int *out_tokens, int *out_lens,
                       double *out_logprob, tr_error *err);

int gpt_sample(gpt_sampler *s, const gpt *g, int n, const int *const *prompts, const int *prompt_lens,
               rng *const *rngs, const gpt_sample_opts *opts, int *out_tokens, int *out_lens,
               double *out_logprob, tr_error *err)
{
    int V = g->config.vocab_size, M = opts->max_new_tokens;
    if (M <= 0)
        return TR_FAIL(err, TR_EINVAL, "gpt_sample: max_new_tokens %d must be positive", M);
    if (opts->temperature < 0.0f || opts->top_k < 0 || opts->top_p < 0.0f || opts->top_p > 1.0f)
        return TR_FAIL(err, TR_EINVAL, "gpt_sample: temperature %g, top_k %d, top_p %g: need temperature >= 0, "
                       "top_k >= 0, top_p in [0, 1]", (double)opts->temperature, opts->top_k, (double)opts->top_p);
    if (gpt_is_coupled(&g->config) != (opts->position_fn != NULL))
        return TR_FAIL(err, TR_EINVAL, "gpt_sample: %s", opts->position_fn
                       ? "a position rule was given for a model that does not read position ids (not a coupled kind)"
                       : "a coupled model needs a position rule (opts.position_fn): its position ids are not places");
    /* On a device, the untruncated draws (greedy, or the full tempered distribution: TRICE's
     * proposals) run there from uniforms drawn here, one per token as gpt_sample_token draws
     * them, so that only tokens come back; top-k and top-p sort on the host, from logits rows. */
    const gpt_backend *be = g->be;
    int truncate = (opts->top_k > 0 && opts->top_k < V) || (opts->top_p > 0.0f && opts->top_p < 1.0f);
    int on_dev = !be->host && be->sample_rows && !truncate;
    if (opts->bf16 && !be->host)
        return TR_FAIL(err, TR_EINVAL, "gpt_sample: bf16 decoding runs on the CPU backend only, not on %s", be->name);
    if (opts->bf16) TR_TRY(sampler_pack_bf16(s, g, err));
    s->bf16 = opts->bf16;
    int rc = sample_loop(s, g, n, prompts, prompt_lens, rngs, opts, on_dev, out_tokens, out_lens, out_logprob, err);
    s->bf16 = 0;   /* gpt_sampler_prefill and _decode, called alone, stay fp32 */
    return rc;
}

/* gpt_sample after its checks: prefill, then draw and decode until every sequence stops. */
static int sample_loop(gpt_sampler *s, const gpt *g, int n, const int *const *prompts, const int *prompt_lens,
                       rng *const *rngs, const gpt_sample_opts *opts, int on_dev, int *out_tokens, int *out_lens,
                       double *out_logprob, tr_error *err)
{
    const gpt_backend *be = g->be;
    int V = g->config.vocab_size, Vp = g->config.padded_vocab_size, M = opts->max_new_tokens;
    TR_TRY(sampler_prefill(s, g, n, prompts, prompt_lens, on_dev ? NULL : s->logits, err));
    /* active[k] = sequence index of the k-th row of the logits */
    int *active = s->itmp, na = n;
    for (int i = 0; i < n; i++) { active[i] = i; out_lens[i] = 0; out_logprob[i] = 0.0; }
    while (na > 0) {
        if (on_dev) {
            for (int k = 0; k < na; k++) s->uni[k] = opts->temperature > 0.0f ? rng_uniform(rngs[active[k]]) : 0.0;
            if (be->sample_rows(s->drawn, s->drawn_lp, s->dlogits, s->uni, na, V, Vp, opts->temperature))
                return TR_FAIL(err, TR_EIO, "gpt_sample: drawing tokens on the %s backend failed", be->name);
        }
        int nn = 0;
        for (int k = 0; k < na; k++) {
            int i = active[k];
            double lp;
            int tok = on_dev ? s->drawn[k]
                             : gpt_sample_token(s->logits + (size_t)k * Vp, V, opts, rngs[i], s->pwork,
                                                s->itmp + s->max_seqs, &lp);
            if (on_dev) lp = s->drawn_lp[k];
            out_logprob[i] += lp;
            if (tok == opts->eot) continue;
            out_tokens[(size_t)i * M + out_lens[i]++] = tok;
            if (out_lens[i] >= M || s->pos[i] >= s->max_len) continue;
            active[nn] = i;
            s->tok_tmp[nn] = tok;
            if (opts->position_fn)
                s->ids_tmp[nn] = opts->position_fn(prompts[i], prompt_lens[i], out_tokens + (size_t)i * M, out_lens[i] - 1);
            nn++;
        }
        na = nn;
        if (na == 0) break;
        TR_TRY(sampler_decode(s, g, na, active, s->tok_tmp, opts->position_fn ? s->ids_tmp : NULL,
                              on_dev ? NULL : s->logits, err));
    }
    return 0;
}
