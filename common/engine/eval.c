/* eval.c - held-out evaluation (greedy accuracy, maj@k). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/engine/side_impl.h"
#include "common/engine/streams.h"
#include "common/util/log.h"


int engine_side_eval_ids(const engine_side *e, int index, int nworkers, int64_t **ids, int *n, tr_error *err) {
    *ids = tr_malloc((size_t)(e->task.n_eval ? e->task.n_eval : 1) * sizeof **ids, err);
    if (!*ids) return TR_ENOMEM;
    int k = 0;
    for (int64_t i = 0; i < e->task.n_eval; i++)
        if (nworkers <= 1 || shard_owner(e->spec.seed, e->task.eval_ids[i], nworkers) == index) (*ids)[k++] = e->task.eval_ids[i];
    *n = k;
    return 0;
}

/* Generations for held-out examples; texts[i] gets a malloc'ed decoded output. */
static int generate(engine_side *e, const int64_t *ids, int n, float temperature, int sample_idx, char **texts, tr_error *err) {
    const int maxnew = e->spec.max_new_tokens;
    char **prompts = tr_calloc((size_t)n, sizeof *prompts, err);
    rng *rngs = tr_malloc((size_t)n * sizeof *rngs, err);
    int32_t *out = tr_malloc((size_t)n * (size_t)maxnew * sizeof *out, err);
    int *lens = tr_malloc((size_t)n * sizeof *lens, err);
    int rc = (!prompts || !rngs || !out || !lens) ? TR_ENOMEM : 0;
    for (int i = 0; i < n && !rc; i++) {
        const task_example *ex = task_get(&e->task, ids[i]);
        rc = e->spec.method == METHOD_DIRECT ? task_direct_prompt(&e->task, ex, &prompts[i], err)
                                             : task_rationale_prompt(&e->task, ex, &prompts[i], err);
        stream_eval(&rngs[i], e->spec.seed, ex->id, sample_idx);
    }
    if (!rc) rc = engine_side_sample(e, prompts, n, rngs, temperature, 0, out, lens, &e->counts.eval_s, err);
    for (int i = 0; i < n && !rc; i++) {
        size_t cap = (size_t)lens[i] * e->tok.max_bytes + 1;
        texts[i] = tr_malloc(cap, err);
        if (!texts[i]) { rc = TR_ENOMEM; break; }
        engine_decode(&e->tok, out + (size_t)i * (size_t)maxnew, lens[i], texts[i], cap);
    }
    if (prompts) for (int i = 0; i < n; i++) free(prompts[i]);
    free(prompts); free(rngs); free(out); free(lens);
    return rc;
}

int engine_side_eval(engine_side *e, const int64_t *ids, int n, int maj_k, int *correct, int *maj_correct,
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
        int ok = task_check_example(&e->task, ex, greedy[i]);
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
