/* side_state.c - what the fleets and `trice eval` read and write of an example side. */
#include <stdlib.h>
#include <string.h>

#include "common/engine/ckptdir.h"
#include "common/engine/side_impl.h"
#include "common/util/log.h"

const experiment_spec *engine_side_spec(const engine_side *e) { return &e->spec; }

const task *engine_side_task(const engine_side *e) { return &e->task; }

const gpt *engine_side_model(const engine_side *e) { return &e->model; }

int engine_side_particles(const engine_side *e) { return e->K; }

float *engine_side_tunable(engine_side *e, size_t *n) {
    *n = e->n_tunable;
    return e->spec.tunable == TUNABLE_PROMPT ? e->model.prompt : e->model.params;
}

const fixsum *engine_side_grad(engine_side *e, size_t *n) {
    *n = e->n_tunable;
    /* the sum a device update would read in place: copied here for whoever asked (the
     * coordinator's gradient probe); a failed copy leaves zeros, and the log says why */
    tr_error err = {0};
    if (side_device_pull_sum(e, &err)) {
        LOG_E("%s", err.msg);
        memset(e->grad_fix, 0, e->n_tunable * sizeof *e->grad_fix);
    }
    return e->grad_fix;
}

const uint8_t *engine_side_correct(const engine_side *e) { return e->prop_correct; }

int engine_side_valid_ids(const engine_side *e, int64_t **ids, int *n, tr_error *err) {
    *ids = tr_malloc((size_t)(e->mem.n ? e->mem.n : 1) * sizeof **ids, err);
    if (!*ids) return TR_ENOMEM;
    int k = 0;
    for (int i = 0; i < e->mem.n; i++)
        if (memory_valid(&e->mem, i)) (*ids)[k++] = e->mem.ids[i];
    *n = k;
    return 0;
}

int engine_side_memory_save(const engine_side *e, uint8_t **buf, size_t *len, tr_error *err) {
    return memory_serialize(&e->mem, buf, len, err);
}

int engine_side_memory_merge(engine_side *e, const uint8_t *buf, size_t len, int *taken, tr_error *err) {
    return memory_deserialize_merge(&e->mem, buf, len, "checkpoint memory", taken, err);
}

int engine_side_memory_size(const engine_side *e) { return e->mem.n; }

int engine_side_load_prompt(engine_side *e, const char *path, tr_error *err) {
    TR_TRY(side_device_pull(e, err));   /* the device's moments stay valid: bring them along */
    if (e->dev_stale < 1) e->dev_stale = 1;
    return ckptdir_prompt_load(path, &e->model, err);
}

int engine_side_hold_out_all(engine_side *e, int64_t n, tr_error *err) {
    int64_t m = e->task.n_train + e->task.n_eval;
    int64_t *ids = tr_malloc((size_t)(m ? m : 1) * sizeof *ids, err);
    if (!ids) return TR_ENOMEM;
    int64_t k = 0;
    for (int64_t i = 0; i < e->task.n_eval; i++) ids[k++] = e->task.eval_ids[i];
    for (int64_t i = 0; i < e->task.n_train; i++) ids[k++] = e->task.train_ids[i];
    free(e->task.eval_ids);
    e->task.eval_ids = ids;
    e->task.n_eval = n > 0 && n < k ? n : k;
    return 0;
}
