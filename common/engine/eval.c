/* eval.c - held-out evaluation (greedy accuracy, maj@k) and STaR's collection pass. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/engine/engine.h"
#include "common/util/log.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int eside_eval_ids(const engine_side *e, int index, int nworkers, int64_t **ids, int *n, tr_error *err) {
    *ids = tr_malloc((size_t)(e->task.n_eval ? e->task.n_eval : 1) * sizeof **ids, err);
    if (!*ids) return TR_ENOMEM;
    int k = 0;
    for (int64_t i = 0; i < e->task.n_eval; i++)
        if (nworkers <= 1 || shard_owner(e->spec.seed, e->task.eval_ids[i], nworkers) == index) (*ids)[k++] = e->task.eval_ids[i];
    *n = k;
    return 0;
}

/* One batch of generations for held-out examples; texts[i] gets a malloc'ed decoded answer text. */
static int generate(engine_side *e, const int64_t *ids, int n, float temperature, int sample_idx, char **texts, tr_error *err) {
    const int maxnew = e->spec.max_new_tokens;
    gpt_sample_opts o = gpt_sample_opts_default();
    o.temperature = temperature;
    o.max_new_tokens = maxnew;
    o.eot = ENGINE_EOT;
    int *ptok = tr_malloc((size_t)ENGINE_MAX_SAMPLE * (size_t)e->max_tokens * sizeof(int), err);
    int *otok = tr_malloc((size_t)ENGINE_MAX_SAMPLE * (size_t)maxnew * sizeof(int), err);
    int32_t *tmp = tr_malloc((size_t)maxnew * sizeof(int32_t), err);
    if (!ptok || !otok || !tmp) { free(ptok); free(otok); free(tmp); return TR_ENOMEM; }
    int rc = 0;
    const int *pp[ENGINE_MAX_SAMPLE];
    int plen[ENGINE_MAX_SAMPLE], olen[ENGINE_MAX_SAMPLE];
    rng rs[ENGINE_MAX_SAMPLE];
    rng *rp[ENGINE_MAX_SAMPLE];
    double lp[ENGINE_MAX_SAMPLE];
    double t0 = now_s();
    for (int start = 0; start < n && !rc; start += ENGINE_MAX_SAMPLE) {
        int m = n - start < ENGINE_MAX_SAMPLE ? n - start : ENGINE_MAX_SAMPLE;
        for (int i = 0; i < m && !rc; i++) {
            const task_example *ex = task_get(&e->task, ids[start + i]);
            char *prompt = NULL;
            rc = e->spec.method == METHOD_DIRECT ? task_direct_prompt(&e->task, ex, &prompt, err)
                                                 : task_rationale_prompt(&e->task, ex, &prompt, err);
            if (rc) break;
            int *dst = ptok + (size_t)i * (size_t)e->max_tokens;
            plen[i] = engine_encode(prompt, dst, e->max_tokens - maxnew);
            free(prompt);
            if (plen[i] < 1) { rc = TR_FAIL(err, TR_EINTERNAL, "held-out example %lld does not fit", (long long)ex->id); break; }
            pp[i] = dst;
            rng_init(&rs[i], e->spec.seed, RNG_PURPOSE_EVAL, (uint64_t)ex->id);
            rng_skip_blocks(&rs[i], (uint64_t)sample_idx << 20);
            rp[i] = &rs[i];
        }
        if (!rc) rc = gpt_sample(&e->sampler, &e->model, m, pp, plen, rp, &o, otok, olen, lp, err);
        for (int i = 0; i < m && !rc; i++) {
            for (int t = 0; t < olen[i]; t++) tmp[t] = otok[(size_t)i * (size_t)maxnew + (size_t)t];
            texts[start + i] = tr_malloc((size_t)olen[i] + 1, err);
            if (!texts[start + i]) { rc = TR_ENOMEM; break; }
            engine_decode(tmp, olen[i], texts[start + i], (size_t)olen[i] + 1);
            e->counts.tokens_sampled += olen[i] + 1;
        }
    }
    e->counts.eval_s += now_s() - t0;
    free(ptok); free(otok); free(tmp);
    return rc;
}

int eside_eval(engine_side *e, const int64_t *ids, int n, int maj_k, int *correct, int *maj_correct,
               FILE *per_example, tr_error *err) {
    if (n == 0) return 0;
    char **greedy = tr_calloc((size_t)n, sizeof *greedy, err);
    char **samples = maj_k > 0 ? tr_calloc((size_t)n * (size_t)maj_k, sizeof *samples, err) : NULL;
    if (!greedy || (maj_k > 0 && !samples)) { free(greedy); free(samples); return TR_ENOMEM; }
    int rc = generate(e, ids, n, 0.0f, 0, greedy, err);
    for (int k = 0; k < maj_k && !rc; k++) {
        char **col = tr_calloc((size_t)n, sizeof *col, err);
        if (!col) { rc = TR_ENOMEM; break; }
        rc = generate(e, ids, n, 1.0f, k + 1, col, err);
        for (int i = 0; i < n; i++) samples[(size_t)i * (size_t)maj_k + (size_t)k] = col[i];
        free(col);
    }
    char ans[256], best[256];
    for (int i = 0; i < n && !rc; i++) {
        const task_example *ex = task_get(&e->task, ids[i]);
        int ok = task_check(&e->task, greedy[i], ex->answer);
        *correct += ok;
        int maj_ok = 0;
        best[0] = '\0';
        if (maj_k > 0) {
            /* majority over extracted answers; texts without an answer do not vote */
            int best_votes = 0;
            for (int k = 0; k < maj_k; k++) {
                if (task_extract_answer(&e->task, samples[(size_t)i * (size_t)maj_k + (size_t)k], ans, sizeof ans)) continue;
                int votes = 0;
                char other[256];
                for (int j = 0; j < maj_k; j++)
                    if (!task_extract_answer(&e->task, samples[(size_t)i * (size_t)maj_k + (size_t)j], other, sizeof other) && strcmp(ans, other) == 0) votes++;
                if (votes > best_votes) { best_votes = votes; memcpy(best, ans, sizeof best); }
            }
            if (best_votes > 0) {
                char probe[300];
                snprintf(probe, sizeof probe, "So the answer is %s.", best);
                maj_ok = task_check(&e->task, probe, ex->answer);
            }
            *maj_correct += maj_ok;
        }
        if (per_example) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_integer(ex->id));
            json_object_set_new(o, "question", json_string(ex->question));
            json_object_set_new(o, "gold", json_string(ex->answer));
            json_object_set_new(o, "output", json_string(greedy[i]));
            if (!task_extract_answer(&e->task, greedy[i], ans, sizeof ans)) json_object_set_new(o, "answer", json_string(ans));
            else json_object_set_new(o, "answer", json_null());
            json_object_set_new(o, "correct", json_boolean(ok));
            if (maj_k > 0) {
                json_object_set_new(o, "maj_answer", best[0] ? json_string(best) : json_null());
                json_object_set_new(o, "maj_correct", json_boolean(maj_ok));
            }
            char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
            if (line) { fputs(line, per_example); fputc('\n', per_example); free(line); }
            json_decref(o);
        }
    }
    for (int i = 0; i < n; i++) free(greedy[i]);
    if (samples) for (size_t i = 0; i < (size_t)n * (size_t)maj_k; i++) free(samples[i]);
    free(greedy);
    free(samples);
    return rc;
}

int eside_star_collect(engine_side *e, int iter, int *n_valid, tr_error *err) {
    const int n = e->mem.n, maxnew = e->spec.max_new_tokens;
    if (iter < 0) { /* resumed mid-iteration: the memory already holds this iteration's set */
        if (n_valid) *n_valid = memory_count_valid(&e->mem);
        return 0;
    }
    char **prompts = tr_calloc((size_t)(n ? n : 1), sizeof *prompts, err);
    rng *rngs = tr_malloc((size_t)(n ? n : 1) * sizeof *rngs, err);
    int32_t *out = tr_malloc((size_t)(n ? n : 1) * (size_t)maxnew * sizeof *out, err);
    int *lens = tr_malloc((size_t)(n ? n : 1) * sizeof *lens, err);
    uint8_t *ok = tr_calloc((size_t)(n ? n : 1), 1, err);
    int rc = (!prompts || !rngs || !out || !lens || !ok) ? TR_ENOMEM : 0;
    float temp = (float)e->spec.temperature;
    gpt_sample_opts o = gpt_sample_opts_default();
    o.temperature = temp;
    o.top_k = e->spec.top_k;
    o.top_p = (float)e->spec.top_p;
    o.max_new_tokens = maxnew;
    o.eot = ENGINE_EOT;
    /* two passes: 0 = plain rationale prompt, 1 = hinted prompt for the failures */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int m = 0;
        int *which = tr_malloc((size_t)(n ? n : 1) * sizeof *which, err);
        if (!which) { rc = TR_ENOMEM; break; }
        for (int i = 0; i < n && !rc; i++) {
            if (pass == 1 && ok[i]) continue;
            const task_example *ex = task_get(&e->task, e->mem.ids[i]);
            rc = pass == 0 ? task_rationale_prompt(&e->task, ex, &prompts[m], err) : task_hinted_prompt(&e->task, ex, &prompts[m], err);
            rng_init(&rngs[m], e->spec.seed, RNG_PURPOSE_MEMORY_INIT, (uint64_t)ex->id);
            rng_skip_blocks(&rngs[m], ((uint64_t)iter << 24) + ((uint64_t)pass << 20));
            which[m++] = i;
        }
        /* sample all m prompts in chunks */
        int *ptok = tr_malloc((size_t)ENGINE_MAX_SAMPLE * (size_t)e->max_tokens * sizeof(int), err);
        int *otok = tr_malloc((size_t)ENGINE_MAX_SAMPLE * (size_t)maxnew * sizeof(int), err);
        if (!ptok || !otok) rc = TR_ENOMEM;
        double t0 = now_s();
        for (int start = 0; start < m && !rc; start += ENGINE_MAX_SAMPLE) {
            int c = m - start < ENGINE_MAX_SAMPLE ? m - start : ENGINE_MAX_SAMPLE;
            const int *pp[ENGINE_MAX_SAMPLE];
            int plen[ENGINE_MAX_SAMPLE], olen[ENGINE_MAX_SAMPLE];
            rng *rp[ENGINE_MAX_SAMPLE];
            double lp[ENGINE_MAX_SAMPLE];
            for (int j = 0; j < c; j++) {
                int *dst = ptok + (size_t)j * (size_t)e->max_tokens;
                plen[j] = engine_encode(prompts[start + j], dst, e->max_tokens - maxnew);
                pp[j] = dst;
                rp[j] = &rngs[start + j];
            }
            rc = gpt_sample(&e->sampler, &e->model, c, pp, plen, rp, &o, otok, olen, lp, err);
            for (int j = 0; j < c && !rc; j++) {
                int i = which[start + j];
                const task_example *ex = task_get(&e->task, e->mem.ids[i]);
                int32_t *tok = out + (size_t)i * (size_t)maxnew;
                for (int t = 0; t < olen[j]; t++) tok[t] = otok[(size_t)j * (size_t)maxnew + (size_t)t];
                lens[i] = olen[j];
                e->counts.tokens_sampled += olen[j] + 1;
                engine_decode(tok, olen[j], e->text, (size_t)e->max_tokens * 4 + 16);
                ok[i] = (uint8_t)task_check(&e->task, e->text, ex->answer);
            }
        }
        e->counts.sample_s += now_s() - t0;
        free(ptok); free(otok);
        for (int j = 0; j < m; j++) { free(prompts[j]); prompts[j] = NULL; }
        free(which);
    }
    /* STaR rebuilds its data set each iteration: keep the correct rationales only */
    for (int i = 0; i < n && !rc; i++)
        rc = memory_set(&e->mem, i, out + (size_t)i * (size_t)maxnew, ok[i] ? lens[i] : 0, ok[i], err);
    if (n_valid) *n_valid = memory_count_valid(&e->mem);
    free(prompts); free(rngs); free(out); free(lens); free(ok);
    return rc;
}
