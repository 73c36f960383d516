/* fleet_local.c - the fleet of one: an in-process engine_side that owns every example. */
#include <stdlib.h>
#include <string.h>

#include "common/engine/fleet.h"

typedef struct local_fleet {
    fleet base;
    engine_side side;
} local_fleet;

static engine_side *side_of(fleet *f) { return &((local_fleet *)f)->side; }

engine_side *fleet_local_side(fleet *f) { return side_of(f); }

static int l_memory_init(fleet *f, int *n_valid, tr_error *err) { return eside_memory_init(side_of(f), n_valid, err); }

static int l_propose(fleet *f, int64_t step, const int64_t *ids, int M, uint8_t *a, uint8_t *mask, uint8_t *correct, tr_error *err) {
    engine_side *e = side_of(f);
    TR_TRY(eside_propose(e, step, ids, M, a, mask, err));
    if (correct) memcpy(correct, e->prop_ok, (size_t)M * (size_t)e->K);
    return 0;
}

static int l_gradient(fleet *f, const est_coef *coefs, int n, float *grads, size_t n_grads, double *loss, tr_error *err) {
    engine_side *e = side_of(f);
    if (n_grads != e->n_tunable) return TR_FAIL(err, TR_EINTERNAL, "gradient of %zu floats asked, side has %zu", n_grads, e->n_tunable);
    TR_TRY(eside_gradient(e, coefs, n, loss, err));
    for (size_t i = 0; i < n_grads; i++) grads[i] = (float)e->gacc[i];
    return 0;
}

static int l_set_params(fleet *f, const float *tunable, size_t n, tr_error *err) {
    engine_side *e = side_of(f);
    if (n != e->n_tunable) return TR_FAIL(err, TR_EINTERNAL, "set_params with %zu floats, side has %zu", n, e->n_tunable);
    float *dst = e->spec.tunable == TUNABLE_PROMPT ? e->model.prompt : e->model.params;
    if (dst != tunable) memcpy(dst, tunable, n * sizeof(float));
    return 0;
}

static int l_eval(fleet *f, int maj_k, int *n, int *correct, int *maj_correct, const char *per_example_path, tr_error *err) {
    engine_side *e = side_of(f);
    int64_t *ids;
    int m;
    TR_TRY(eside_eval_ids(e, 0, 1, &ids, &m, err));
    FILE *pf = NULL;
    if (per_example_path && tr_fopen(&pf, per_example_path, "w", err)) { free(ids); return err ? err->code : TR_EIO; }
    *n = m;
    *correct = *maj_correct = 0;
    int rc = eside_eval(e, ids, m, maj_k, correct, maj_correct, pf, err);
    if (pf) fclose(pf);
    free(ids);
    return rc;
}

static int l_star_collect(fleet *f, int iter, int64_t **valid_ids, int *n_valid, tr_error *err) {
    engine_side *e = side_of(f);
    int nv = 0;
    TR_TRY(eside_star_collect(e, iter, &nv, err));
    *valid_ids = tr_malloc((size_t)(nv ? nv : 1) * sizeof **valid_ids, err);
    if (!*valid_ids) return TR_ENOMEM;
    int k = 0;
    for (int i = 0; i < e->mem.n; i++)
        if (memory_valid(&e->mem, i)) (*valid_ids)[k++] = e->mem.ids[i];
    *n_valid = k;
    return 0;
}

static int l_memory_gather(fleet *f, uint8_t **buf, size_t *len, tr_error *err) {
    return memory_serialize(&side_of(f)->mem, buf, len, err);
}

static int l_memory_scatter(fleet *f, const uint8_t *buf, size_t len, tr_error *err) {
    return memory_deserialize_merge(&side_of(f)->mem, buf, len, "checkpoint memory", NULL, err);
}

static int l_take_counts(fleet *f, engine_counts *c, tr_error *err) {
    *c = eside_take_counts(side_of(f));
    return 0;
}

static void l_free(fleet *f) {
    eside_free(side_of(f));
    free(f);
}

static const fleet_ops local_ops = {
    l_memory_init, l_propose, l_gradient, l_set_params, l_eval, l_star_collect,
    l_memory_gather, l_memory_scatter, l_take_counts, l_free,
};

int fleet_local(const experiment_spec *spec, fleet **out, tr_error *err) {
    local_fleet *lf = tr_calloc(1, sizeof *lf, err);
    if (!lf) return TR_ENOMEM;
    int rc = eside_init(&lf->side, spec, 0, 1, err);
    if (rc) { free(lf); return rc; }
    lf->base.ops = &local_ops;
    lf->base.nsides = 1;
    *out = &lf->base;
    return 0;
}
