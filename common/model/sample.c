/* sample.c - KV-cache forward for prefill and decode, token sampling, generation loop. */
#include "common/model/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/model/fastmath.h"

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
    if (!(s->kcache = tr_malloc(cache * sizeof(float), err)) ||
        !(s->vcache = tr_malloc(cache * sizeof(float), err)) ||
        !(s->pos = tr_calloc((size_t)max_seqs, sizeof(int), err)) ||
        !(s->x = tr_malloc(rows * C * sizeof(float), err)) ||
        !(s->ln = tr_malloc(rows * C * sizeof(float), err)) ||
        !(s->qkv = tr_malloc(rows * 3 * C * sizeof(float), err)) ||
        !(s->atty = tr_malloc(rows * C * sizeof(float), err)) ||
        !(s->tmp = tr_malloc(rows * C * sizeof(float), err)) ||
        !(s->fch = tr_malloc(rows * 4 * C * sizeof(float), err)) ||
        !(s->scores = tr_malloc((size_t)s->max_len * sizeof(float), err)) ||
        !(s->lastln = tr_malloc((size_t)max_seqs * C * sizeof(float), err)) ||
        !(s->logits = tr_malloc((size_t)max_seqs * s->Vp * sizeof(float), err)) ||
        !(s->itmp = tr_malloc(nidx * sizeof(int), err)) ||
        !(s->slots_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->start_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->last_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->tok_tmp = tr_malloc((size_t)max_seqs * sizeof(int), err)) ||
        !(s->pwork = tr_malloc((size_t)s->Vp * sizeof(double), err))) {
        gpt_sampler_free(s);
        return TR_ENOMEM;
    }
    return 0;
}

void gpt_sampler_free(gpt_sampler *s)
{
    free(s->kcache); free(s->vcache); free(s->pos);
    free(s->x); free(s->ln); free(s->qkv); free(s->atty); free(s->tmp); free(s->fch);
    free(s->scores); free(s->lastln); free(s->logits); free(s->itmp); free(s->slots_tmp);
    free(s->start_tmp); free(s->last_tmp); free(s->tok_tmp);
    free(s->pwork);
    memset(s, 0, sizeof *s);
}

/* v8f, ld8, hsum8, FM_DOT4: fastmath.h */

/* One query position (np - 1) attending to cached keys/values 0..np-1 of its sequence, all heads.
 *   out (C) written; q (C): the query row; kc, vc (np, C): the slot's cache; scores (np) scratch;
 *   alibi != 0: ALiBi's distance bias, as in attention_forward.
 * Keys go four at a time (independent accumulators), and the weighted sum of values keeps up
 * to 32 output floats in registers across all keys. */
GPT_SIMD_CLONES
static void kv_attend(float *out, const float *q, const float *kc, const float *vc, int np, int C,
                      int NH, int alibi, float *scores)
{
    int hs = C / NH, hs8 = hs & ~7;
    float scale = 1.0f / sqrtf((float)hs);
    for (int h = 0; h < NH; h++) {
        const float *qh = q + (size_t)h * hs;
        const float *kh = kc + (size_t)h * hs, *vh = vc + (size_t)h * hs;
        int j = 0;
        for (; j + 4 <= np; j += 4) {
            const float *k0 = kh + (size_t)j * C, *k1 = k0 + C, *k2 = k1 + C, *k3 = k2 + C;
            float s0, s1, s2, s3;
            FM_DOT4(qh, k0, k1, k2, k3, hs, s0, s1, s2, s3);
            scores[j] = s0 * scale;
            scores[j + 1] = s1 * scale;
            scores[j + 2] = s2 * scale;
            scores[j + 3] = s3 * scale;
        }
        for (; j < np; j++) {
            const float *kj = kh + (size_t)j * C;
            float dot = 0.0f;
            for (int d = 0; d < hs; d++) dot += qh[d] * kj[d];
            scores[j] = dot * scale;
        }
        if (alibi) {
            float slope = gpt_alibi_slope(h, NH);
            for (j = 0; j < np; j++) scores[j] -= slope * (float)(np - 1 - j);
        }
        float mx = scores[0];
        for (j = 1; j < np; j++) mx = scores[j] > mx ? scores[j] : mx;
        for (j = 0; j < np; j++) scores[j] = fm_expf(scores[j] - mx);
        v8f lanes = {0};
        float sum = 0.0f;
        for (j = 0; j + 8 <= np; j += 8) lanes += ld8(scores + j);
        for (; j < np; j++) sum += scores[j];
        float inv = 1.0f / (sum + hsum8(lanes));
        for (j = 0; j < np; j++) scores[j] *= inv;
        float *oh = out + (size_t)h * hs;
        /* 32 output floats at a time: four independent accumulator chains (one chain alone
         * waits on the FMA latency for every key) */
        int d0 = 0;
        for (; d0 + 32 <= hs8; d0 += 32) {
            v8f c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
            for (j = 0; j < np; j++) {
                const float *vj = vh + (size_t)j * C + d0;
                float pj = scores[j];
                c0 += pj * ld8(vj);
                c1 += pj * ld8(vj + 8);
                c2 += pj * ld8(vj + 16);
                c3 += pj * ld8(vj + 24);
            }
            *(v8u *)(oh + d0) = c0;
            *(v8u *)(oh + d0 + 8) = c1;
            *(v8u *)(oh + d0 + 16) = c2;
            *(v8u *)(oh + d0 + 24) = c3;
        }
        for (; d0 < hs8; d0 += 8) {
            v8f acc = {0};
            for (j = 0; j < np; j++) acc += scores[j] * ld8(vh + (size_t)j * C + d0);
            *(v8u *)(oh + d0) = acc;
        }
        for (int d = hs8; d < hs; d++) {
            float acc = 0.0f;
            for (j = 0; j < np; j++) acc += scores[j] * vh[(size_t)j * C + d];
            oh[d] = acc;
        }
    }
}

/* Run Tc positions of n sequences through the model with the KV cache.
 *   slots (n): cache slot of each sequence; start (n): its first position;
 *   tokens (n, Tc): input ids (ignored at positions < P, which take the soft prompt);
 *   last (n): index in 0..Tc-1 of the row whose logits are wanted; logits (n, Vp) out.
 * Batch independence: every kernel here works row by row except the matrix products. Decode
 * (Tc = 1) and the logits use matmul_rows_forward, whose rows do not depend on each other, and
 * prefill runs one sequence at a time, so a sequence's logits are the same bits whatever else
 * is in the batch (the number of workers decides the batches; proposals must not depend on it). */
static void kv_forward(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *start, int Tc,
                       const int *tokens, const int *last, float *logits)
{
    const gpt_backend *be = g->be;
    const gpt_config *c = &g->config;
    int C = c->channels, NH = c->num_heads, L = c->num_layers, P = g->prompt_len;
    int rows = n * Tc;
    size_t Cz = (size_t)C;
    void (*const mm)(float *, const float *, const float *, const float *, int, int, int) =
        Tc == 1 ? be->matmul_rows_forward : be->matmul_forward;
    const float *wte = gpt_param(g, GPT_T_WTE), *wpe = gpt_param(g, GPT_T_WPE);

    for (int i = 0; i < n; i++) {
        for (int t = 0; t < Tc; t++) {
            int p = start[i] + t;
            float *x = s->x + ((size_t)i * Tc + t) * Cz;
            const float *e = p < P ? g->prompt + (size_t)p * Cz : wte + (size_t)tokens[(size_t)i * Tc + t] * Cz;
            if (c->alibi) { memcpy(x, e, Cz * sizeof(float)); continue; }  /* no position embedding */
            const float *pe = wpe + (size_t)p * Cz;
            for (int k = 0; k < C; k++) x[k] = e[k] + pe[k];
        }
    }
    for (int l = 0; l < L; l++) {
        size_t lz = (size_t)l;
        const float *ln1w = gpt_param(g, GPT_T_LN1W) + lz * Cz, *ln1b = gpt_param(g, GPT_T_LN1B) + lz * Cz;
        const float *qkvw = gpt_param(g, GPT_T_QKVW) + lz * 3 * Cz * Cz, *qkvb = gpt_param(g, GPT_T_QKVB) + lz * 3 * Cz;
        const float *apw = gpt_param(g, GPT_T_ATTPROJW) + lz * Cz * Cz, *apb = gpt_param(g, GPT_T_ATTPROJB) + lz * Cz;
        const float *ln2w = gpt_param(g, GPT_T_LN2W) + lz * Cz, *ln2b = gpt_param(g, GPT_T_LN2B) + lz * Cz;
        const float *fcw = gpt_param(g, GPT_T_FCW) + lz * 4 * Cz * Cz, *fcb = gpt_param(g, GPT_T_FCB) + lz * 4 * Cz;
        const float *fpw = gpt_param(g, GPT_T_FCPROJW) + lz * 4 * Cz * Cz, *fpb = gpt_param(g, GPT_T_FCPROJB) + lz * Cz;

        be->layernorm_forward(s->ln, NULL, NULL, s->x, ln1w, ln1b, rows, C);
        mm(s->qkv, s->ln, qkvw, qkvb, rows, C, 3 * C);
        for (int i = 0; i < n; i++) {
            size_t base = (lz * s->max_seqs + (size_t)slots[i]) * s->max_len;
            float *kc = s->kcache + base * Cz, *vc = s->vcache + base * Cz;
            for (int t = 0; t < Tc; t++) {
                const float *q = s->qkv + ((size_t)i * Tc + t) * 3 * Cz;
                size_t p = (size_t)(start[i] + t);
                memcpy(kc + p * Cz, q + Cz, Cz * sizeof(float));
                memcpy(vc + p * Cz, q + 2 * Cz, Cz * sizeof(float));
            }
            for (int t = 0; t < Tc; t++)
                kv_attend(s->atty + ((size_t)i * Tc + t) * Cz, s->qkv + ((size_t)i * Tc + t) * 3 * Cz,
                          kc, vc, start[i] + t + 1, C, NH, c->alibi, s->scores);
        }
        mm(s->tmp, s->atty, apw, apb, rows, C, C);
        be->residual_forward(s->x, s->x, s->tmp, (size_t)rows * Cz);
        be->layernorm_forward(s->ln, NULL, NULL, s->x, ln2w, ln2b, rows, C);
        mm(s->fch, s->ln, fcw, fcb, rows, C, 4 * C);
        be->gelu_forward(s->fch, s->fch, (size_t)rows * 4 * Cz);
        mm(s->tmp, s->fch, fpw, fpb, rows, 4 * C, C);
        be->residual_forward(s->x, s->x, s->tmp, (size_t)rows * Cz);
    }
    for (int i = 0; i < n; i++)
        memcpy(s->tmp + (size_t)i * Cz, s->x + ((size_t)i * Tc + last[i]) * Cz, Cz * sizeof(float));
    be->layernorm_forward(s->lastln, NULL, NULL, s->tmp, gpt_param(g, GPT_T_LNFW), gpt_param(g, GPT_T_LNFB), n, C);
    be->matmul_rows_forward(logits, s->lastln, wte, NULL, n, C, c->padded_vocab_size);
}

int gpt_sampler_prefill(gpt_sampler *s, const gpt *g, int n, const int *const *prompts,
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
        kv_forward(s, g, 1, s->slots_tmp, s->start_tmp, Tc, tok, s->last_tmp, logits + (size_t)i * Vp);
        s->pos[i] = Tc;
    }
    return 0;
}

int gpt_sampler_decode(gpt_sampler *s, const gpt *g, int n, const int *slots, const int *tokens,
                       float *logits, tr_error *err)
{
    int V = g->config.vocab_size;
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
    }
    for (int i = 0; i < n; i++) {
        s->start_tmp[i] = s->pos[slots[i]];
        s->last_tmp[i] = 0;
    }
    kv_forward(s, g, n, slots, s->start_tmp, 1, tokens, s->last_tmp, logits);
    for (int i = 0; i < n; i++) s->pos[slots[i]]++;
    return 0;
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

int gpt_sample(gpt_sampler *s, const gpt *g, int n, const int *const *prompts, const int *prompt_lens,
               rng *const *rngs, const gpt_sample_opts *opts, int *out_tokens, int *out_lens,
               double *out_logprob, tr_error *err)
{
    int V = g->config.vocab_size, Vp = g->config.padded_vocab_size, M = opts->max_new_tokens;
    if (M <= 0)
        return TR_FAIL(err, TR_EINVAL, "gpt_sample: max_new_tokens %d must be positive", M);
    if (opts->temperature < 0.0f || opts->top_k < 0 || opts->top_p < 0.0f || opts->top_p > 1.0f)
        return TR_FAIL(err, TR_EINVAL, "gpt_sample: temperature %g, top_k %d, top_p %g: need temperature >= 0, "
                       "top_k >= 0, top_p in [0, 1]", (double)opts->temperature, opts->top_k, (double)opts->top_p);
    TR_TRY(gpt_sampler_prefill(s, g, n, prompts, prompt_lens, s->logits, err));
    /* active[k] = sequence index of the k-th row of s->logits */
    int *active = s->itmp, na = n;
    for (int i = 0; i < n; i++) { active[i] = i; out_lens[i] = 0; out_logprob[i] = 0.0; }
    while (na > 0) {
        int nn = 0;
        for (int k = 0; k < na; k++) {
            int i = active[k];
            double lp;
            int tok = gpt_sample_token(s->logits + (size_t)k * Vp, V, opts, rngs[i], s->pwork,
                                       s->itmp + s->max_seqs, &lp);
            out_logprob[i] += lp;
            if (tok == opts->eot) continue;
            out_tokens[(size_t)i * M + out_lens[i]++] = tok;
            if (out_lens[i] >= M || s->pos[i] >= s->max_len) continue;
            active[nn] = i;
            s->tok_tmp[nn] = tok;
            nn++;
        }
        na = nn;
        if (na == 0) break;
        TR_TRY(gpt_sampler_decode(s, g, na, active, s->tok_tmp, s->logits, err));
    }
    return 0;
}
