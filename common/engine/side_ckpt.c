/* side_ckpt.c - a side's part of a sharded checkpoint (engine.h, engine_side_ckpt_*; the
 * files are ckptshard.h's, the folder and manifest ckptdir.h's).
 *
 * Why the sides write it: every side holds the parameters and the whole optimiser state
 * (side_optim.c), so the coordinator need not pull them over MPI to checkpoint; each side
 * writes a W-th of the moments and side 0 the parameters, into the run folder every rank
 * sees (a shared filesystem when the ranks are on several hosts). */
#include <math.h>
#include <string.h>

#include "common/engine/ckptdir.h"
#include "common/engine/side_impl.h"
#include "common/util/path.h"

#define MODEL_FILE "model.bin"
#define PROMPT_FILE "prompt.bin"

int engine_side_ckpt_write(engine_side *e, const char *dir, int index, int W, ckpt_file *files, int *n, tr_error *err) {
    *n = 0;
    const float *p;
    const optim_state *o;
    size_t nt;
    TR_TRY(engine_side_state_get(e, &p, &o, &nt, err));
    char path[PATH_BUF];
    if (index == 0) {   /* the parameters once: every side holds the same bits */
        TR_TRY(path_fmt(path, sizeof path, err, "%s/%s", dir, MODEL_FILE));
        TR_TRY(gpt_ckpt_save(&e->model, path, err));
        TR_TRY(ckpt_file_describe(dir, MODEL_FILE, -1, -1, &files[(*n)++], err));
        if (e->spec.tunable == TUNABLE_PROMPT) {
            TR_TRY(path_fmt(path, sizeof path, err, "%s/%s", dir, PROMPT_FILE));
            TR_TRY(ckptdir_prompt_save(path, &e->model, err));
            TR_TRY(ckpt_file_describe(dir, PROMPT_FILE, -1, -1, &files[(*n)++], err));
        }
    }
    return ckptshard_write(dir, o, index, W, &files[(*n)++], err);
}

/* Every file is checked against the manifest before the side's state is touched, so a damaged
 * checkpoint leaves it as it was (the coordinator then offers the previous one); only
 * non-finite weights are found after loading them. */
int engine_side_ckpt_read(engine_side *e, const char *dir, const ckpt_file *files, int n, tr_error *err) {
    const int prompt = e->spec.tunable == TUNABLE_PROMPT;
    TR_TRY(side_device_pull(e, err));   /* the host's copy is the newest before it is replaced */
    const ckpt_file *mf = ckpt_file_find(files, n, MODEL_FILE), *pf = ckpt_file_find(files, n, PROMPT_FILE);
    if (!mf) return TR_FAIL(err, TR_EFORMAT, "%s: the manifest names no %s", dir, MODEL_FILE);
    if (prompt && !pf) return TR_FAIL(err, TR_EFORMAT, "%s: the manifest names no %s (this experiment trains a soft prompt)", dir, PROMPT_FILE);
    TR_TRY(ckpt_file_verify(dir, mf, err));
    if (prompt) TR_TRY(ckpt_file_verify(dir, pf, err));
    optim_state st;
    TR_TRY(optim_init(&st, e->n_tunable, err));
    int rc = ckptshard_read_all(dir, files, n, &st, err);
    char path[PATH_BUF];
    if (!rc) rc = path_fmt(path, sizeof path, err, "%s/%s", dir, MODEL_FILE);
    if (!rc) e->dev_stale = 2;   /* the frozen weights too (a soft-prompt run) */
    if (!rc) rc = gpt_ckpt_load(&e->model, path, err);
    if (!rc) rc = ckptdir_params_finite(&e->model, path, err);
    if (!rc && prompt) rc = path_fmt(path, sizeof path, err, "%s/%s", dir, PROMPT_FILE);
    if (!rc && prompt) rc = ckptdir_prompt_load(path, &e->model, err);
    size_t nt;
    float *p = engine_side_tunable(e, &nt);
    if (!rc) rc = engine_side_state_set(e, p, st.m, st.v, st.step, nt, err);
    optim_free(&st);
    return rc;
}
