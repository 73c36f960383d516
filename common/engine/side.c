/* side.c - the example side: init, memory initialisation, proposals, term gradients. */
#include "common/engine/side_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/data/couple.h"
#include "common/engine/streams.h"
#include "common/model/bf16.h"
#include "common/tok/byte.h"
#include "common/util/log.h"

double side_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int engine_encode(tokenizer *t, const char *text, int *out, int cap) {
    size_t len = strlen(text);
    if (cap < 0) return -1;
    if (len <= (size_t)cap) return (int)tokenizer_encode(t, text, len, out);
    if (t->kind == TOKENIZER_BYTE) return -1;  /* one token per byte */
    int *tmp = malloc(len * sizeof *tmp);
    if (!tmp) return -1;
    size_t n = tokenizer_encode(t, text, len, tmp);
    if (n <= (size_t)cap) memcpy(out, tmp, n * sizeof *tmp);
    free(tmp);
    return n <= (size_t)cap ? (int)n : -1;
}

void engine_decode(const tokenizer *t, const int32_t *tok, int n, char *out, size_t cap) {
    tokenizer_decode_text(t, tok, n > 0 ? (size_t)n : 0, out, cap);
}

/* The prompt an example is trained and sampled with under this spec's method. */
static int prompt_for(const engine_side *e, const task_example *ex, int hinted, char **out, tr_error *err) {
    if (e->spec.method == METHOD_DIRECT) return task_direct_prompt(&e->task, ex, out, err);
    if (hinted) return task_hinted_prompt(&e->task, ex, out, err);
    return task_rationale_prompt(&e->task, ex, out, err);
}

/* The memory-initialisation prompt of memory_init 'sample': with init_shots k > 0, k worked
 * exemplars (task_exemplars, task_fewshot_prompt) before the rationale prompt. A prompt that
 * leaves no room for max_new_tokens (and end-of-text) drops its last exemplar until it fits,
 * down to the plain rationale prompt, which always fits (task_load_filtered). This is
 * initialisation only: the memory stores the sampled rationale alone, and proposals and
 * gradients use the zero-shot rationale prompt, so the estimator of ALGORITHM.md is unchanged.
 * *shots_used: the exemplars the prompt has. */
static int init_prompt(engine_side *e, const task_example *ex, char **out, int *shots_used, tr_error *err) {
    int64_t shots[16];
    int want = e->spec.init_shots < 16 ? e->spec.init_shots : 16;
    int k = task_exemplars(&e->task, ex->id, want, shots);
    for (;; k--) {
        TR_TRY(task_fewshot_prompt(&e->task, shots, k, ex, out, err));
        long np = k > 0 ? tokenizer_count(&e->tok, *out) : 0;
        if (k == 0 || (np >= 0 && np + 1 + e->spec.max_new_tokens <= e->max_tokens)) break;
        free(*out);
        *out = NULL;
    }
    *shots_used = k;
    return 0;
}

/* Does the example fit: prompt + max_new_tokens + eot within the token budget? */
static int example_fits(const experiment_spec *spec, tokenizer *tok, const task *t, const task_example *ex, int max_tokens) {
    char *p = NULL;
    int rc = spec->method == METHOD_DIRECT ? task_direct_prompt(t, ex, &p, NULL)
                                           : task_hinted_prompt(t, ex, &p, NULL); /* the longer of the two */
    if (rc) return 0;
    long np = tokenizer_count(tok, p);
    free(p);
    if (np < 0 || np > max_tokens) return 0;
    int need = (int)np + 1;
    /* a given rationale is trained as the memory term (sft, and trice with memory_init
     * 'given'): it must fit as it is, whatever max_new_tokens says */
    int trains_given = spec->method == METHOD_SFT ||
                       (spec->memory_init == MEMINIT_GIVEN && (spec->method == METHOD_TRICE || spec->method == METHOD_TRICE_NOCV));
    if (trains_given && ex->rationale) {
        long nr = tokenizer_count(tok, ex->rationale);
        if (nr < 0 || nr > max_tokens) return 0;
        int r = (int)nr + 1;
        return need + (r > spec->max_new_tokens ? r : spec->max_new_tokens) <= max_tokens;
    }
    return need + spec->max_new_tokens <= max_tokens;
}

static void filter_ids(const experiment_spec *spec, tokenizer *tok, const task *t, int64_t *ids, int64_t *n, int max_tokens, int64_t *dropped) {
    int64_t k = 0;
    for (int64_t i = 0; i < *n; i++) {
        const task_example *ex = task_get(t, ids[i]);
        if (ex && example_fits(spec, tok, t, ex, max_tokens)) ids[k++] = ids[i];
        else (*dropped)++;
    }
    *n = k;
}

/* quiet: the example sides load the same task as the trainer; only the trainer reports
 * what was left out (once, not once per process). */
static int task_load_filtered(const experiment_spec *spec, task *out, int quiet, tr_error *err) {
    /* lengths are in tokens of the spec's tokenizer */
    tokenizer tok;
    TR_TRY(tokenizer_open(&tok, (tokenizer_kind)spec->model.tokenizer, err));
    int rc = task_load(&spec->task, spec->seed, out, err);
    if (rc) { tokenizer_free(&tok); return rc; }
    int max_tokens = spec->model.context - spec->prompt_len;
    int64_t dropped = 0;
    filter_ids(spec, &tok, out, out->train_ids, &out->n_train, max_tokens, &dropped);
    filter_ids(spec, &tok, out, out->eval_ids, &out->n_eval, max_tokens, &dropped);
    tokenizer_free(&tok);
    if (dropped)
        log_write(quiet ? LOG_DEBUG : LOG_WARN, "task %s: %lld examples do not fit a context of %d tokens with %d new tokens; left out",
              out->name, (long long)dropped, max_tokens, spec->max_new_tokens);
    if (spec->init_shots > 0 && spec->memory_init == MEMINIT_SAMPLE) {
        int64_t have = 0;
        for (int64_t i = 0; i < out->n_train; i++) have += task_get(out, out->train_ids[i])->rationale != NULL;
        if (have < spec->init_shots + 1) {
            int64_t n = out->n_train;
            task_free(out);
            return TR_FAIL(err, TR_EINVAL, "task %s: init_shots %d needs at least %d training examples with a rationale "
                           "(an example is never its own exemplar), but %lld of its %lld training examples that fit have one",
                           spec->task.name, spec->init_shots, spec->init_shots + 1, (long long)have, (long long)n);
        }
    }
    if (spec->method == METHOD_SFT || spec->memory_init == MEMINIT_GIVEN) {
        for (int64_t i = 0; i < out->n_train; i++)
            if (!task_get(out, out->train_ids[i])->rationale) {
                int64_t id = out->train_ids[i];
                task_free(out);
                return TR_FAIL(err, TR_EINVAL, "task %s: example %lld has no rationale, but %s needs given rationales",
                               spec->task.name, (long long)id, spec->method == METHOD_SFT ? "method sft" : "memory_init 'given'");
            }
    }
    return 0;
}

int engine_task_load(const experiment_spec *spec, task *out, tr_error *err) { return task_load_filtered(spec, out, 0, err); }

int engine_require_fit(const experiment_spec *spec, const task *t, int train, tr_error *err) {
    if ((train ? t->n_train : t->n_eval) >= 1) return 0;
    return TR_FAIL(err, TR_EINVAL, "task %s: no %s example fits a context of %d tokens with %d new tokens to spare "
                   "(raise model.context or lower max_new_tokens)", spec->task.name, train ? "training" : "held-out",
                   spec->model.context - spec->prompt_len, spec->max_new_tokens);
}

/* Threads from the environment (TRICE_THREADS; the launchers set it). Batched decoding computes
 * each sequence alone (sample.h), so any split of a batch over threads gives the same tokens;
 * gradient slices are summed in double in thread order, as the workers' sums are. */
static int side_threads(int *n, tr_error *err) {
    const char *v = getenv("TRICE_THREADS");
    *n = 1;
    if (!v || !*v) return 0;
    char *end;
    long k = strtol(v, &end, 10);
    if (*end || k < 1 || k > ENGINE_MAX_THREADS)
        return TR_FAIL(err, TR_EINVAL, "TRICE_THREADS '%.20s': expected a whole number of threads from 1 to %d",
                       v, ENGINE_MAX_THREADS);
    *n = (int)k;
    return 0;
}

int engine_side_init(engine_side **out, const experiment_spec *spec, int index, int nworkers, tr_error *err) {
    *out = NULL;
    engine_side *e = tr_calloc(1, sizeof *e, err);
    if (!e) return TR_ENOMEM;
    e->spec = *spec;
    e->index = index;
    e->nworkers = nworkers;
    e->G = engine_group_terms(spec);
    int rc = task_load_filtered(spec, &e->task, 1, err);
    if (rc) { free(e); return rc; }
    if ((rc = tokenizer_open(&e->tok, (tokenizer_kind)spec->model.tokenizer, err))) goto fail;
    e->max_tokens = spec->model.context - spec->prompt_len;
    if ((rc = engine_model_from_spec(spec, e->G, &e->model, err))) goto fail;
    /* a checkpoint's shape wins over the spec's (the spec may not give it) */
    e->spec.model.layers = e->model.config.num_layers;
    e->spec.model.heads = e->model.config.num_heads;
    e->spec.model.channels = e->model.config.channels;
    e->spec.model.position = spec_position_from_gpt(e->model.config.position);
    if ((rc = side_threads(&e->nthreads, err))) goto fail;
    e->n_tunable = spec->tunable == TUNABLE_PROMPT ? (size_t)e->model.prompt_len * (size_t)e->model.config.channels : e->model.num_params;
    if ((rc = side_device_open(e, err))) goto fail;
    if (e->dev && e->nthreads > 1) {   /* the device runs the batch; host threads would only queue on it */
        if (index == 0) LOG_I("TRICE_THREADS %d ignored: this side computes on %s", e->nthreads, e->dev_name);
        e->nthreads = 1;
    }
    /* each thread samples a contiguous slice of up to ENGINE_MAX_SAMPLE sequences */
    for (int t = 0; t < e->nthreads && !rc; t++)
        rc = gpt_sampler_init(&e->samplers[t], side_compute_model(e), (ENGINE_MAX_SAMPLE + e->nthreads - 1) / e->nthreads, err);
    if (rc) goto fail;
    if ((spec->top_k > 0 || spec->top_p < 1.0 || spec->temperature != 1.0) &&
        (spec->method == METHOD_TRICE || spec->method == METHOD_TRICE_NOCV || spec->method == METHOD_RS) && index == 0)
        LOG_W("proposals use temperature %g, top_k %d, top_p %g: this changes the proposal distribution, so the "
              "gradient estimate is no longer the exact one of ALGORITHM.md (use 1, 0, 1 for that)",
              spec->temperature, spec->top_k, spec->top_p);
    if (spec->train_bf16 && index == 0) {
        if (e->dev) LOG_W("train_bf16 ignored: this side computes gradients on %s (the bf16 products are a CPU path)", e->dev_name);
        else LOG_I("gradient passes multiply in bfloat16 with fp32 sums (train_bf16; %s)",
                   bf16_have_dot() ? "AVX-512 BF16" : "portable loop: this CPU has no AVX-512 BF16, so it is about 3x slower than fp32");
    }
    if (spec->sample_bf16 && index == 0) {
        if (e->dev) LOG_W("sample_bf16 ignored: this side samples on %s (bf16 decoding is a CPU path)", e->dev_name);
        else LOG_I("sampling decodes with bfloat16 weights (sample_bf16; %s)%s",
                   bf16_have_dot() ? "AVX-512 BF16" : "portable loop: this CPU has no AVX-512 BF16, so only batch-1 decoding of larger models is faster than fp32",
                   spec->method == METHOD_TRICE || spec->method == METHOD_TRICE_NOCV || spec->method == METHOD_RS
                       ? ": proposals come from the rounded model, so the gradient estimate is close to, not exactly, "
                         "the one of ALGORITHM.md" : "");
    }

    /* the shard: training ids this side owns */
    int64_t *own = tr_malloc((size_t)e->task.n_train * sizeof *own, err);
    if (!own) { rc = TR_ENOMEM; goto fail; }
    int nown = 0;
    for (int64_t i = 0; i < e->task.n_train; i++)
        if (nworkers <= 1 || shard_owner(spec->seed, e->task.train_ids[i], nworkers) == index) own[nown++] = e->task.train_ids[i];
    rc = memory_init(&e->mem, nown, own, err);
    free(own);
    if (rc) goto fail;

    e->K = spec->method == METHOD_RS ? spec->particles : 1;
    e->cap = spec->batch_size;
    if (e->cap < ENGINE_MAX_SAMPLE) e->cap = ENGINE_MAX_SAMPLE;
    size_t nk = (size_t)e->cap * (size_t)e->K;
    e->ids = tr_malloc((size_t)e->cap * sizeof *e->ids, err);
    e->mem_idx = tr_malloc((size_t)e->cap * sizeof *e->mem_idx, err);
    e->prop = tr_malloc(nk * (size_t)spec->max_new_tokens * sizeof *e->prop, err);
    e->prop_len = tr_calloc(nk, sizeof *e->prop_len, err);
    e->prop_correct = tr_calloc(nk, 1, err);
    e->batch_ids = tr_malloc((size_t)e->cap * sizeof *e->batch_ids, err);
    e->batch_owner = tr_malloc((size_t)e->cap * sizeof *e->batch_owner, err);
    e->batch_local = tr_malloc((size_t)e->cap * sizeof *e->batch_local, err);
    size_t bt = (size_t)e->max_tokens;
    e->prompt_tok = tr_malloc(bt * sizeof(int), err);
    e->text_cap = (size_t)e->max_tokens * e->tok.max_bytes + 1;
    e->text = tr_malloc(e->text_cap, err);
    e->grad_fix = tr_calloc(e->n_tunable, sizeof *e->grad_fix, err);
    if (!e->grad_fix || !e->batch_ids || !e->batch_owner || !e->batch_local || !e->ids || !e->mem_idx || !e->prop || !e->prop_len || !e->prop_correct || !e->text || !e->prompt_tok) {
        rc = TR_ENOMEM;
        goto fail;
    }
    /* gradient threads: each beyond the first needs a view of the model (its own gradients and
     * activations for a group of G sequences) and an exact sum, 16 bytes per tunable
     * parameter; keep them under 1 GiB */
    size_t per = e->model.num_params * sizeof(float) + e->n_tunable * sizeof(fixsum) +
                 (e->model.num_acts + e->model.num_dacts) * sizeof(float);
    e->gthreads = 1;
    while (e->gthreads < e->nthreads && (size_t)e->gthreads * per <= ((size_t)1 << 30)) {
        gpt *v = &e->gviews[e->gthreads - 1];
        if ((rc = gpt_init_view(v, &e->model, e->G, err))) goto fail;
        if (!(e->gfix[e->gthreads - 1] = tr_malloc(e->n_tunable * sizeof(fixsum), err))) { rc = TR_ENOMEM; goto fail; }
        e->gthreads++;
    }
    if (e->gthreads < e->nthreads && index == 0)
        LOG_I("%d sampling threads, %d gradient threads: more would need over 1 GiB of gradient buffers for %zu parameters",
              e->nthreads, e->gthreads, e->model.num_params);
    *out = e;
    return 0;
fail:
    engine_side_free(e);
    return rc;
}

void engine_side_free(engine_side *e) {
    if (!e) return;
    task_free(&e->task);
    tokenizer_free(&e->tok);
    for (int t = 0; t < ENGINE_MAX_THREADS; t++) gpt_sampler_free(&e->samplers[t]);
    side_device_close(e);
    gpt_free(&e->model);
    for (int t = 0; t < ENGINE_MAX_THREADS - 1; t++) { gpt_free(&e->gviews[t]); free(e->gfix[t]); }
    memory_free(&e->mem);
    free(e->ids); free(e->mem_idx); free(e->prop); free(e->prop_len); free(e->prop_correct);
    free(e->batch_ids); free(e->batch_owner); free(e->batch_local);
    grad_plan_free(&e->plan);
    free(e->gterms);
    free(e->text); free(e->grad_fix); free(e->prompt_tok);
    optim_free(&e->opt);
    free(e->gflt);
    free(e);
}

engine_counts engine_side_take_counts(engine_side *e) {
    engine_counts c = e->counts;
    memset(&e->counts, 0, sizeof e->counts);
    return c;
}

/* One sampled sequence's share of engine_counts.sample_digest: its tokens and the bits of its
 * log-probability, which change with the last bit of any logit on its way. */
static uint64_t sample_hash(const int *tok, int len, double logprob) {
    uint64_t bits;
    memcpy(&bits, &logprob, sizeof bits);
    uint64_t h = rng_mix64(bits ^ rng_mix64((uint64_t)len + 0x9e3779b97f4a7c15ull));
    for (int t = 0; t < len; t++) h = rng_mix64(h ^ (uint32_t)tok[t]);
    return h;
}

/* fn on each of the n items (size bytes apart) at once: items 1.. on new threads, item 0 on
 * this one; an item whose thread cannot be started runs here after the others (side_impl.h). */
void side_run_parallel(void *(*fn)(void *), void *items, size_t size, int n) {
    pthread_t th[ENGINE_MAX_THREADS];
    int started[ENGINE_MAX_THREADS] = {0};
    char *it = items;
    for (int t = 1; t < n; t++) started[t] = pthread_create(&th[t], NULL, fn, it + (size_t)t * size) == 0;
    if (n > 0) fn(it);
    for (int t = 1; t < n; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else fn(it + (size_t)t * size);
    }
}

/* One thread's slice of a batch: sequences [lo, lo + n) of sample_split's arrays. */
typedef struct sample_slice {
    gpt_sampler *s;
    const gpt *g;
    int lo, n, maxnew;
    const int *const *pp;
    const int *plen;
    rng *const *rp;
    const gpt_sample_opts *o;
    int *otok, *olen;
    double *lp;
    int rc;
    tr_error err;
} sample_slice;

static void *sample_slice_run(void *p) {
    sample_slice *w = p;
    w->rc = gpt_sample(w->s, w->g, w->n, w->pp + w->lo, w->plen + w->lo, w->rp + w->lo, w->o,
                       w->otok + (size_t)w->lo * (size_t)w->maxnew, w->olen + w->lo, w->lp + w->lo, &w->err);
    return NULL;
}

/* gpt_sample over m <= ENGINE_MAX_SAMPLE sequences, cut into e->nthreads contiguous slices that
 * run at once, each with its own sampler (KV cache). The tokens are those of one thread. */
static int sample_split(engine_side *e, int m, const int *const *pp, const int *plen, rng *const *rp,
                        const gpt_sample_opts *o, int *otok, int *olen, double *lp, tr_error *err) {
    TR_TRY(side_device_sync(e, err));
    int T = e->nthreads < m ? e->nthreads : m;
    sample_slice w[ENGINE_MAX_THREADS];
    for (int t = 0, lo = 0; t < T; t++) {
        int cnt = m / T + (t < m % T);
        w[t] = (sample_slice){&e->samplers[t], side_compute_model(e), lo, cnt, o->max_new_tokens, pp, plen, rp, o, otok, olen, lp, 0, {0}};
        lo += cnt;
    }
    side_run_parallel(sample_slice_run, w, sizeof w[0], T);
    for (int t = 0; t < T; t++)
        if (w[t].rc) return TR_FAIL(err, w[t].rc, "sampling thread %d of %d: %s", t + 1, T, w[t].err.msg);
    return 0;
}

int engine_side_sample(engine_side *e, char *const *prompts, int n, rng *rngs, float temperature, int truncate,
                       int32_t *out, int *lens, double *timer, tr_error *err) {
    const int maxnew = e->spec.max_new_tokens;
    gpt_sample_opts o = gpt_sample_opts_default();
    o.temperature = temperature;
    o.top_k = truncate ? e->spec.top_k : 0;
    o.top_p = truncate ? (float)e->spec.top_p : 1.0f;
    o.bf16 = e->spec.sample_bf16 && !e->dev;
    o.max_new_tokens = maxnew;
    o.eot = e->tok.eot;
    if (gpt_is_coupled(&e->model.config)) o.position_fn = couple_position;   /* couple.h */
    int rc = 0;
    int *ptok = tr_malloc((size_t)ENGINE_MAX_SAMPLE * (size_t)e->max_tokens * sizeof(int), err);
    int *otok = tr_malloc((size_t)ENGINE_MAX_SAMPLE * (size_t)maxnew * sizeof(int), err);
    if (!ptok || !otok) { free(ptok); free(otok); return TR_ENOMEM; }
    const int *pp[ENGINE_MAX_SAMPLE];
    int plen[ENGINE_MAX_SAMPLE], olen[ENGINE_MAX_SAMPLE];
    rng *rp[ENGINE_MAX_SAMPLE];
    double lp[ENGINE_MAX_SAMPLE];
    double t0 = side_now_s();
    for (int start = 0; start < n && !rc; start += ENGINE_MAX_SAMPLE) {
        int m = n - start < ENGINE_MAX_SAMPLE ? n - start : ENGINE_MAX_SAMPLE;
        for (int i = 0; i < m; i++) {
            int *dst = ptok + (size_t)i * (size_t)e->max_tokens;
            plen[i] = engine_encode(&e->tok, prompts[start + i], dst, e->max_tokens - maxnew);
            if (plen[i] < 1) { rc = TR_FAIL(err, TR_EINTERNAL, "prompt of %zu bytes does not fit", strlen(prompts[start + i])); break; }
            pp[i] = dst;
            rp[i] = &rngs[start + i];
        }
        if (rc) break;
        rc = sample_split(e, m, pp, plen, rp, &o, otok, olen, lp, err);
        for (int i = 0; i < m && !rc; i++) {
            lens[start + i] = olen[i];
            for (int t = 0; t < olen[i]; t++) out[(size_t)(start + i) * (size_t)maxnew + (size_t)t] = otok[(size_t)i * (size_t)maxnew + (size_t)t];
            e->counts.tokens_sampled += olen[i] + 1;
            e->counts.sample_digest += sample_hash(otok + (size_t)i * (size_t)maxnew, olen[i], lp[i]);
        }
    }
    *timer += side_now_s() - t0;
    free(ptok);
    free(otok);
    return rc;
}

static int check_tokens(engine_side *e, const task_example *ex, const int32_t *tok, int len) {
    double t0 = side_now_s();
    engine_decode(&e->tok, tok, len, e->text, e->text_cap);
    int ok = task_check_example(&e->task, ex, e->text);
    e->counts.check_s += side_now_s() - t0;
    return ok;
}

int engine_side_memory_init(engine_side *e, int *n_valid, tr_error *err) {
    const int n = e->mem.n, maxnew = e->spec.max_new_tokens;
    int rc = 0;
    if (e->spec.memory_init == MEMINIT_GIVEN || e->spec.method == METHOD_SFT) {
        int32_t *tok = tr_malloc((size_t)e->max_tokens * sizeof *tok, err);
        if (!tok) return TR_ENOMEM;
        for (int i = 0; i < n && !rc; i++) {
            const task_example *ex = task_get(&e->task, e->mem.ids[i]);
            int len = engine_encode(&e->tok, ex->rationale, (int *)tok, e->max_tokens);
            if (len < 0) { rc = TR_FAIL(err, TR_EINVAL, "example %lld: rationale longer than the context", (long long)ex->id); break; }
            rc = memory_set(&e->mem, i, tok, len, task_check_example(&e->task, ex, ex->rationale), err);
        }
        free(tok);
    } else if (e->spec.method == METHOD_TRICE || e->spec.method == METHOD_TRICE_NOCV) {
        /* hint: one draw from the hinted prompt; sample: up to K draws, keep the first correct */
        int tries = e->spec.memory_init == MEMINIT_SAMPLE ? e->spec.init_tries : 1;
        char **prompts = tr_calloc((size_t)(n ? n : 1), sizeof *prompts, err);
        rng *rngs = tr_malloc((size_t)(n ? n : 1) * sizeof *rngs, err);
        int32_t *out = tr_malloc((size_t)(n ? n : 1) * (size_t)maxnew * sizeof *out, err);
        int *lens = tr_malloc((size_t)(n ? n : 1) * sizeof *lens, err);
        if (!prompts || !rngs || !out || !lens) rc = TR_ENOMEM;
        int shots = e->spec.memory_init == MEMINIT_SAMPLE ? e->spec.init_shots : 0, fewer = 0;
        for (int i = 0; i < n && !rc; i++) {
            const task_example *ex = task_get(&e->task, e->mem.ids[i]);
            if (shots > 0) {
                int used = 0;
                rc = init_prompt(e, ex, &prompts[i], &used, err);
                fewer += used < shots;
            } else {
                rc = prompt_for(e, ex, e->spec.memory_init == MEMINIT_HINT, &prompts[i], err);
            }
            stream_memory_init(&rngs[i], e->spec.seed, ex->id);
        }
        if (fewer)
            LOG_I("memory initialisation: %d of %d examples' %d-shot prompts leave no room for %d new tokens in a context "
                  "of %d; they use fewer exemplars", fewer, n, shots, maxnew, e->max_tokens);
        for (int t = 0; t < tries && !rc; t++) {
            rc = engine_side_sample(e, prompts, n, rngs, (float)e->spec.temperature, 1, out, lens, &e->counts.sample_s, err);
            for (int i = 0; i < n && !rc; i++) {
                if (memory_valid(&e->mem, i)) continue;
                const task_example *ex = task_get(&e->task, e->mem.ids[i]);
                const int32_t *tok = out + (size_t)i * (size_t)maxnew;
                int ok = check_tokens(e, ex, tok, lens[i]);
                if (ok || t == 0) rc = memory_set(&e->mem, i, tok, lens[i], ok, err);
            }
        }
        if (prompts) for (int i = 0; i < n; i++) free(prompts[i]);
        free(prompts); free(rngs); free(out); free(lens);
    }
    if (n_valid) *n_valid = memory_count_valid(&e->mem);
    return rc;
}

int engine_side_propose(engine_side *e, int64_t step, const int64_t *ids, int n, uint8_t *a, uint8_t *mask, tr_error *err) {
    if (n > e->cap) return TR_FAIL(err, TR_EINTERNAL, "step has %d examples here, capacity %d", n, e->cap);
    e->n = n;
    e->step = step;
    /* one side holds every example: the minibatch is these ids (with more sides the fleet
     * hands every side the whole minibatch, engine_side_set_minibatch) */
    if (e->nworkers <= 1) TR_TRY(engine_side_set_minibatch(e, ids, n, err));
    for (int i = 0; i < n; i++) {
        e->ids[i] = ids[i];
        e->mem_idx[i] = memory_find(&e->mem, ids[i]);
        if (e->mem_idx[i] < 0) return TR_FAIL(err, TR_EINTERNAL, "example %lld is not in this shard", (long long)ids[i]);
    }
    const spec_method m = e->spec.method;
    if (m == METHOD_SFT || m == METHOD_DIRECT || m == METHOD_STAR) {
        for (int i = 0; i < n; i++) {
            a[i] = 0;
            mask[i] = m == METHOD_DIRECT ? 1 : (uint8_t)memory_valid(&e->mem, e->mem_idx[i]);
        }
        return 0;
    }
    const int K = e->K, maxnew = e->spec.max_new_tokens;
    const int nk = n * K;
    char **prompts = tr_calloc((size_t)(nk ? nk : 1), sizeof *prompts, err);
    rng *rngs = tr_malloc((size_t)(nk ? nk : 1) * sizeof *rngs, err);
    int rc = (!prompts || !rngs) ? TR_ENOMEM : 0;
    for (int i = 0; i < n && !rc; i++) {
        const task_example *ex = task_get(&e->task, ids[i]);
        for (int k = 0; k < K && !rc; k++) {
            rc = prompt_for(e, ex, 0, &prompts[i * K + k], err);
            stream_proposal(&rngs[i * K + k], e->spec.seed, ids[i], step, k);
        }
    }
    if (!rc) rc = engine_side_sample(e, prompts, nk, rngs, (float)e->spec.temperature, 1, e->prop, e->prop_len, &e->counts.sample_s, err);
    for (int i = 0; i < n && !rc; i++) {
        const task_example *ex = task_get(&e->task, ids[i]);
        int correct = 0;
        for (int k = 0; k < K; k++) {
            const int32_t *tok = e->prop + (size_t)(i * K + k) * (size_t)maxnew;
            e->prop_correct[i * K + k] = (uint8_t)check_tokens(e, ex, tok, e->prop_len[i * K + k]);
            correct += e->prop_correct[i * K + k];
        }
        if (m == METHOD_RS) {
            a[i] = (uint8_t)(correct > 255 ? 255 : correct);
            mask[i] = correct > 0;
            continue;
        }
        /* independence MH with the posterior as target: accept exactly the correct proposals */
        a[i] = e->prop_correct[i * K];
        rc = memory_update(&e->mem, e->mem_idx[i], e->prop + (size_t)(i * K) * (size_t)maxnew, e->prop_len[i * K], a[i], NULL, err);
        mask[i] = (uint8_t)memory_valid(&e->mem, e->mem_idx[i]);
    }
    if (prompts) for (int i = 0; i < nk; i++) free(prompts[i]);
    free(prompts);
    free(rngs);
    return rc;
}
