/* side_star.c - STaR's collection pass on the example side (the outer loop is star.c). */
#include <stdlib.h>
#include <string.h>

#include "common/engine/side_impl.h"
#include "common/engine/streams.h"

int engine_side_star_collect(engine_side *e, int iter, int *n_valid, tr_error *err) {
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
    /* two passes: 0 = plain rationale prompt, 1 = hinted prompt for the failures */
    int32_t *pout = tr_malloc((size_t)(n ? n : 1) * (size_t)maxnew * sizeof *pout, err);
    int *plens = tr_malloc((size_t)(n ? n : 1) * sizeof *plens, err);
    int *which = tr_malloc((size_t)(n ? n : 1) * sizeof *which, err);
    if (!rc && (!pout || !plens || !which)) rc = TR_ENOMEM;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int m = 0;
        for (int i = 0; i < n && !rc; i++) {
            if (pass == 1 && ok[i]) continue;
            const task_example *ex = task_get(&e->task, e->mem.ids[i]);
            rc = pass == 0 ? task_rationale_prompt(&e->task, ex, &prompts[m], err) : task_hinted_prompt(&e->task, ex, &prompts[m], err);
            stream_star(&rngs[m], e->spec.seed, ex->id, iter, pass);
            which[m++] = i;
        }
        if (!rc) rc = engine_side_sample(e, prompts, m, rngs, (float)e->spec.temperature, 1, pout, plens, &e->counts.sample_s, err);
        for (int j = 0; j < m && !rc; j++) {
            int i = which[j];
            const task_example *ex = task_get(&e->task, e->mem.ids[i]);
            int32_t *tok = out + (size_t)i * (size_t)maxnew;
            memcpy(tok, pout + (size_t)j * (size_t)maxnew, (size_t)plens[j] * sizeof *tok);
            lens[i] = plens[j];
            engine_decode(&e->tok, tok, lens[i], e->text, e->text_cap);
            ok[i] = (uint8_t)task_check_example(&e->task, ex, e->text);
        }
        for (int j = 0; j < m; j++) { free(prompts[j]); prompts[j] = NULL; }
    }
    free(pout); free(plens); free(which);
    /* STaR rebuilds its data set each iteration: keep the correct rationales only */
    for (int i = 0; i < n && !rc; i++)
        rc = memory_set(&e->mem, i, out + (size_t)i * (size_t)maxnew, ok[i] ? lens[i] : 0, ok[i], err);
    if (n_valid) *n_valid = memory_count_valid(&e->mem);
    free(prompts); free(rngs); free(out); free(lens); free(ok);
    return rc;
}
