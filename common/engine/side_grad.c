/* side_grad.c - a step's term gradients on an example side, in batched groups (engine.h,
 * gplan.h): rationales of the side's own terms for the sides computing their groups, then one
 * forward/backward per group computed here, summed exactly (fixsum.h). */
#include "common/engine/side_impl.h"

#include <stdlib.h>
#include <string.h>

#include "common/comm/msg.h"
#include "common/data/couple.h"
#include "common/engine/streams.h"

/* Positions a group may pad to (terms x longest sequence): the batch of the model benchmark's
 * training figure (4 x 256). Measured on the tiny model (bench_grad): groups of 4 and 8 terms of
 * about 120 positions ran at the same rate, 16 about 15% slower; more, smaller groups also
 * spread better over workers and threads, and their activations take less memory. */
#define GROUP_TOKENS 1024
#define GROUP_MAX_TERMS 16

int engine_group_terms(const experiment_spec *spec) {
    int T = spec->model.context - spec->prompt_len;
    int G = T > 0 ? GROUP_TOKENS / T : 1;
    return G < 1 ? 1 : G > GROUP_MAX_TERMS ? GROUP_MAX_TERMS : G;
}

int engine_side_set_minibatch(engine_side *e, const int64_t *ids, int M, tr_error *err) {
    if (M < 0 || M > e->cap) return TR_FAIL(err, TR_EINTERNAL, "minibatch of %d examples, capacity %d", M, e->cap);
    int *cnt = tr_calloc((size_t)(e->nworkers > 1 ? e->nworkers : 1), sizeof *cnt, err);
    if (!cnt) return TR_ENOMEM;
    for (int i = 0; i < M; i++) {
        e->batch_ids[i] = ids[i];
        e->batch_owner[i] = e->nworkers > 1 ? shard_owner(e->spec.seed, ids[i], e->nworkers) : 0;
        e->batch_local[i] = cnt[e->batch_owner[i]]++;   /* the order engine_side_propose got them in */
    }
    e->batch_M = M;
    free(cnt);
    return 0;
}

/* The tokens of a term held here (ex: its minibatch index): the memory, the proposal or rs
 * particle, or (direct) the target, encoded into tmp ([max_tokens]). */
static int term_rationale(engine_side *e, const est_coef *t, int32_t *tmp, const int32_t **rat, int *rlen, tr_error *err) {
    const int i = e->batch_local[t->ex];
    if (e->batch_owner[t->ex] != e->index || i >= e->n || e->ids[i] != e->batch_ids[t->ex])
        return TR_FAIL(err, TR_EINTERNAL, "term for minibatch index %d (example %lld): not among this side's %d proposals",
                       t->ex, (long long)e->batch_ids[t->ex], e->n);
    if (e->spec.method == METHOD_DIRECT) {
        char *text = NULL;
        TR_TRY(task_direct_target(&e->task, task_get(&e->task, e->ids[i]), &text, err));
        *rlen = engine_encode(&e->tok, text, (int *)tmp, e->max_tokens);
        free(text);
        *rat = tmp;
    } else if (e->spec.method == METHOD_RS || t->which == EST_PROPOSAL) {
        int k = e->spec.method == METHOD_RS ? t->which : 0;
        if (k < 0 || k >= e->K) return TR_FAIL(err, TR_EINTERNAL, "term for particle %d of %d", k, e->K);
        *rat = e->prop + (size_t)(i * e->K + k) * (size_t)e->spec.max_new_tokens;
        *rlen = e->prop_len[i * e->K + k];
    } else {
        *rat = memory_tokens(&e->mem, e->mem_idx[i], rlen);
    }
    if (*rlen < 0) return TR_FAIL(err, TR_EINTERNAL, "example %lld: target longer than the context", (long long)e->ids[i]);
    return 0;
}

/* Example id's sequence s = prompt ++ rationale ++ eot as inputs s[0..L-2] (tok), targets
 * s[1..L-1] (tgt) and weights (coef on rationale and eot targets, 0 on the prompt's): *T =
 * L - 1 positions, each array [max_tokens]; *prompt_len = the prompt's tokens. */
static int build_seq(engine_side *e, int64_t id, const int32_t *rat, int rlen, float coef, int *tok, int *tgt, float *w,
                     int *T, int *prompt_len, tr_error *err) {
    const task_example *ex = task_get(&e->task, id);
    if (!ex) return TR_FAIL(err, TR_EINTERNAL, "gradient term for example %lld, which is not in the task", (long long)id);
    char *prompt = NULL;
    TR_TRY(e->spec.method == METHOD_DIRECT ? task_direct_prompt(&e->task, ex, &prompt, err)
                                           : task_rationale_prompt(&e->task, ex, &prompt, err));
    const int *ptok = e->prompt_tok;
    int plen = engine_encode(&e->tok, prompt, e->prompt_tok, e->max_tokens);
    free(prompt);
    int L = plen + rlen + 1;
    if (plen < 0 || L > e->max_tokens + 1)
        return TR_FAIL(err, TR_EINTERNAL, "example %lld: sequence of %d tokens exceeds %d", (long long)id, L, e->max_tokens);
    for (int p = 0; p < L - 1; p++) {
        tok[p] = p < plen ? ptok[p] : rat[p - plen];
        tgt[p] = p + 1 < plen ? ptok[p + 1] : (p + 1 - plen < rlen ? rat[p + 1 - plen] : e->tok.eot);
        w[p] = p + 1 >= plen ? coef : 0.0f;   /* loss on rationale and eot targets only */
    }
    *T = L - 1;
    *prompt_len = plen;
    return 0;
}

int engine_side_grad_begin(engine_side *e, const est_coef *terms, int n, tr_error *err) {
    grad_plan_free(&e->plan);
    e->gn = 0;
    if (n > e->gcap) {
        est_coef *t = realloc(e->gterms, (size_t)n * sizeof *t);
        if (!t) return TR_FAIL(err, TR_ENOMEM, "out of memory for %d gradient terms", n);
        e->gterms = t;
        e->gcap = n;
    }
    for (int k = 0; k < n; k++) {
        if (terms[k].ex < 0 || terms[k].ex >= e->batch_M)
            return TR_FAIL(err, TR_EINTERNAL, "term %d for minibatch index %d; the minibatch has %d", k, terms[k].ex, e->batch_M);
        e->gterms[k] = terms[k];
    }
    e->gn = n;
    return 0;
}

int engine_side_grad_rows(engine_side *e, uint8_t **buf, size_t *len, tr_error *err) {
    *buf = NULL;
    *len = 0;
    int own = 0;
    for (int k = 0; k < e->gn; k++) own += e->batch_owner[e->gterms[k].ex] == e->index;
    int32_t *tmp = tr_malloc((size_t)e->max_tokens * sizeof *tmp, err);
    uint8_t *out = tmp ? tr_malloc((size_t)own * msg_row_bytes(e->max_tokens) + 1, err) : NULL;
    int rc = out ? 0 : TR_ENOMEM;
    size_t used = 0;
    for (int k = 0; k < e->gn && !rc; k++) {
        if (e->batch_owner[e->gterms[k].ex] != e->index) continue;
        const int32_t *rat;
        int rlen;
        rc = term_rationale(e, &e->gterms[k], tmp, &rat, &rlen, err);
        if (rc) break;
        msg_row_encode(out + used, k, e->batch_ids[e->gterms[k].ex], rat, rlen);
        used += msg_row_bytes(rlen);
    }
    free(tmp);
    if (rc) { free(out); return rc; }
    *buf = out;
    *len = used;
    return 0;
}

/* Every term's sequence (term k in row k): own terms from here, the others from the rows
 * in[s] (in_len[s] bytes) side s sent. */
typedef struct seqs {
    int *tok, *tgt;     /* [n * max_tokens] */
    float *w;
    int *ids;           /* [n * max_tokens] position ids (a coupled model's), or NULL */
    int *T;             /* [n] positions, -1 until filled */
    int64_t *id;        /* [n] the example (position jitter) */
} seqs;

static void seqs_free(seqs *q) {
    free(q->tok); free(q->tgt); free(q->w); free(q->ids); free(q->T); free(q->id);
}

static int seq_fill(engine_side *e, seqs *q, int k, int64_t id, const int32_t *rat, int rlen, tr_error *err) {
    const size_t st = (size_t)e->max_tokens;
    q->id[k] = id;
    int plen = 0;
    TR_TRY(build_seq(e, id, rat, rlen, (float)e->gterms[k].coef, q->tok + k * st, q->tgt + k * st, q->w + k * st, &q->T[k],
                     &plen, err));
    if (q->ids) couple_positions(q->tok + k * st, plen, q->T[k], q->ids + k * st);   /* as the sampler numbers them */
    return 0;
}

static int seqs_build(engine_side *e, seqs *q, const uint8_t *const *in, const size_t *in_len, tr_error *err) {
    const int n = e->gn, W = e->nworkers > 1 ? e->nworkers : 1;
    const size_t st = (size_t)e->max_tokens, n1 = (size_t)(n ? n : 1);
    memset(q, 0, sizeof *q);
    q->tok = tr_malloc(n1 * st * sizeof *q->tok, err);
    q->tgt = tr_malloc(n1 * st * sizeof *q->tgt, err);
    q->w = tr_malloc(n1 * st * sizeof *q->w, err);
    q->T = tr_malloc(n1 * sizeof *q->T, err);
    q->id = tr_malloc(n1 * sizeof *q->id, err);
    const int coupled = gpt_is_coupled(&side_compute_model(e)->config);
    if (coupled) q->ids = tr_malloc(n1 * st * sizeof *q->ids, err);
    int32_t *tmp = tr_malloc(st * sizeof *tmp, err);
    int rc = (!q->tok || !q->tgt || !q->w || !q->T || !q->id || !tmp || (coupled && !q->ids)) ? TR_ENOMEM : 0;
    for (int k = 0; k < n && !rc; k++) q->T[k] = -1;
    for (int k = 0; k < n && !rc; k++) {   /* own terms */
        if (e->batch_owner[e->gterms[k].ex] != e->index) continue;
        const int32_t *rat;
        int rlen;
        rc = term_rationale(e, &e->gterms[k], tmp, &rat, &rlen, err);
        if (!rc) rc = seq_fill(e, q, k, e->batch_ids[e->gterms[k].ex], rat, rlen, err);
    }
    for (int src = 0; src < W && !rc; src++) {   /* the other sides' rows */
        size_t off = 0, len = in && src != e->index ? in_len[src] : 0;
        while (off < len && !rc) {
            int32_t k, rlen;
            int64_t id;
            size_t used;
            rc = msg_row_decode(in[src] + off, len - off, e->max_tokens, &k, &id, tmp, &rlen, &used, err);
            if (rc) break;
            if (k < 0 || k >= n || e->batch_owner[e->gterms[k].ex] != src || q->T[k] >= 0 || id != e->batch_ids[e->gterms[k].ex])
                rc = TR_FAIL(err, TR_EINTERNAL, "side %d sent a rationale for term %d (example %lld) that is not its to send",
                             src, k, (long long)id);
            else
                rc = seq_fill(e, q, k, id, tmp, rlen, err);
            off += used;
        }
    }
    for (int k = 0; k < n && !rc; k++)
        if (q->T[k] < 0)
            rc = TR_FAIL(err, TR_EINTERNAL, "the rationale of term %d did not arrive from side %d (did that side fail?)", k,
                         e->batch_owner[e->gterms[k].ex]);
    free(tmp);
    if (rc) seqs_free(q);
    return rc;
}

/* One gradient thread's groups mine[lo, hi) on model m (the side's own for thread 0, a view
 * of it for the others): each group one forward/backward, added exactly into acc. */
typedef struct group_slice {
    engine_side *e;
    gpt *m;
    const seqs *q;
    const int *mine;
    int lo, hi;
    fixsum *acc;
    double *group_loss;
    int64_t tokens;
    int rc;
    tr_error err;
} group_slice;

static int run_group(group_slice *s, int g, int *tok, int *tgt, float *w, int *ids, int *off) {
    engine_side *e = s->e;
    const grad_plan *p = &e->plan;
    const size_t st = (size_t)e->max_tokens;
    int lo, hi;
    grad_plan_group(p, g, &lo, &hi);
    const int Tmax = s->q->T[p->order[lo]];   /* the plan puts the longest first */
    /* (B, Tmax) right-padded: padding repeats a valid token with weight 0 */
    for (int j = lo; j < hi; j++) {
        const size_t b = (size_t)(j - lo), sl = (size_t)p->order[j];
        const int T = s->q->T[sl];
        memcpy(tok + b * Tmax, s->q->tok + sl * st, (size_t)T * sizeof *tok);
        memcpy(tgt + b * Tmax, s->q->tgt + sl * st, (size_t)T * sizeof *tgt);
        memcpy(w + b * Tmax, s->q->w + sl * st, (size_t)T * sizeof *w);
        if (s->q->ids) memcpy(ids + b * Tmax, s->q->ids + sl * st, (size_t)T * sizeof *ids);
        for (int t = T; t < Tmax; t++) { tok[b * Tmax + t] = e->tok.eot; tgt[b * Tmax + t] = e->tok.eot; w[b * Tmax + t] = 0; }
        for (int t = T; s->q->ids && t < Tmax; t++) ids[b * Tmax + t] = 0;   /* padding: weight 0, any valid id */
        off[b] = 0;
        if (e->spec.position_jitter) {   /* a shift that depends on (seed, id, step) only: W-independent */
            rng r;
            stream_position(&r, e->spec.seed, s->q->id[sl], e->step);
            off[b] = (int)rng_below(&r, (uint64_t)(s->m->config.max_seq_len - s->m->prompt_len - T) + 1);
        }
        s->tokens += T;
    }
    const gpt_grad_mode mode = e->spec.tunable == TUNABLE_PROMPT ? GPT_GRAD_PROMPT : GPT_GRAD_FULL;
    gpt_zero_grad(s->m);
    s->m->row_offsets = off;
    s->m->token_positions = s->q->ids ? ids : NULL;
    int rc = gpt_forward(s->m, tok, tgt, w, hi - lo, Tmax, &s->group_loss[g], NULL, &s->err);
    s->m->row_offsets = NULL;   /* sampling and evaluation stay at position 0 */
    s->m->token_positions = NULL;
    if (!rc) rc = gpt_backward(s->m, mode, &s->err);
    if (!rc) rc = e->dev ? side_device_sum_add(e, s->m, &s->err)
                         : fixsum_add_floats(s->acc, mode == GPT_GRAD_PROMPT ? s->m->prompt_grad : s->m->grads,
                                             e->n_tunable, &s->err);
    if (rc) tr_error_wrap(&s->err, "step %lld, gradient group %d of %d terms", (long long)e->step, g, hi - lo);
    return rc;
}

static void *group_slice_run(void *arg) {
    group_slice *s = arg;
    const size_t n = (size_t)s->e->G * (size_t)s->e->max_tokens;
    int *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt), *off = malloc((size_t)s->e->G * sizeof *off);
    int *ids = malloc(n * sizeof *ids);
    float *w = malloc(n * sizeof *w);
    if (!tok || !tgt || !w || !ids || !off) s->rc = TR_FAIL(&s->err, TR_ENOMEM, "out of memory for a gradient group of %zu positions", n);
    for (int i = s->lo; i < s->hi && !s->rc; i++) s->rc = run_group(s, s->mine[i], tok, tgt, w, ids, off);
    free(tok); free(tgt); free(w); free(ids); free(off);
    return NULL;
}

int engine_side_grad_finish(engine_side *e, const uint8_t *const *in, const size_t *in_len, double *group_loss, tr_error *err) {
    double t0 = side_now_s();
    const grad_plan *p = &e->plan;
    memset(e->grad_fix, 0, e->n_tunable * sizeof *e->grad_fix);
    memset(group_loss, 0, (size_t)((e->gn + e->G - 1) / e->G) * sizeof *group_loss);
    TR_TRY(side_device_sync(e, err));
    TR_TRY(side_device_sum_begin(e, err));
    seqs q;
    TR_TRY(seqs_build(e, &q, in, in_len, err));
    int rc = grad_plan_make(&e->plan, q.T, e->gn, e->G, e->nworkers > 1 ? e->nworkers : 1, err);
    if (rc) { seqs_free(&q); return rc; }
    int *mine = tr_malloc((size_t)(p->ngroups ? p->ngroups : 1) * sizeof *mine, err);
    int64_t *cost = tr_malloc((size_t)(p->ngroups ? p->ngroups : 1) * sizeof *cost, err);
    rc = (!mine || !cost) ? TR_ENOMEM : 0;
    int nm = 0;
    int64_t total = 0, cum = 0;
    for (int g = 0; g < p->ngroups && !rc; g++) {
        if (p->side[g] != e->index) continue;
        int lo, hi;
        grad_plan_group(p, g, &lo, &hi);
        cost[nm] = (int64_t)(hi - lo) * q.T[p->order[lo]];   /* a group's cost grows with its padded positions */
        total += cost[nm];
        mine[nm++] = g;
    }
    /* contiguous runs of this side's groups, one per gradient thread, of about equal cost; the
     * threads' exact sums are added in any order (fixsum.h) */
    int T = e->gthreads < nm ? e->gthreads : nm;
    group_slice s[ENGINE_MAX_THREADS];
    for (int t = 0, lo = 0; !rc && t < T; t++) {
        int hi = lo;
        if (t == T - 1) hi = nm;
        else   /* up to the cost share of threads 0..t, leaving a group for each later thread */
            while (hi < nm - (T - 1 - t) && (hi == lo || (cum + cost[hi]) * T <= total * (t + 1))) cum += cost[hi++];
        s[t] = (group_slice){e, t ? &e->gviews[t - 1] : side_compute_model(e), &q, mine, lo, hi, t ? e->gfix[t - 1] : e->grad_fix,
                             group_loss, 0, 0, {0}};
        if (t) memset(s[t].acc, 0, e->n_tunable * sizeof *s[t].acc);
        lo = hi;
    }
    if (!rc && T > 0) {
        side_run_parallel(group_slice_run, s, sizeof s[0], T);
        for (int t = 0; t < T && !rc; t++)
            if (s[t].rc) rc = TR_FAIL(err, s[t].rc, "%s", s[t].err.msg);
        for (int t = 0; t < T && !rc; t++) {
            if (t) fixsum_add(e->grad_fix, s[t].acc, e->n_tunable);
            e->counts.tokens_trained += s[t].tokens;
        }
    }
    if (!rc && e->dev) rc = side_device_sum_end(e, err);
    if (rc) memset(group_loss, 0, (size_t)p->ngroups * sizeof *group_loss);
    free(mine); free(cost);
    seqs_free(&q);
    e->counts.grad_s += side_now_s() - t0;
    return rc;
}

int engine_side_grad_groups(const engine_side *e) { return e->plan.ngroups; }

int engine_side_gradient(engine_side *e, const est_coef *terms, int nterms, double *loss, tr_error *err) {
    *loss = 0;
    if (e->nworkers > 1)
        return TR_FAIL(err, TR_EINTERNAL, "engine_side_gradient needs the side that holds every example (W = 1), this is "
                       "side %d of %d", e->index, e->nworkers);
    TR_TRY(engine_side_grad_begin(e, terms, nterms, err));
    const int ng = (nterms + e->G - 1) / e->G;
    double *gl = tr_malloc((size_t)(ng ? ng : 1) * sizeof *gl, err);
    if (!gl) return TR_ENOMEM;
    int rc = engine_side_grad_finish(e, NULL, NULL, gl, err);
    for (int g = 0; g < ng && !rc; g++) *loss += gl[g];   /* in group order */
    free(gl);
    return rc;
}
