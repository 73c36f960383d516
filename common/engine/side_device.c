/* side_device.c - where a side computes: the host (the CPU backend) or a CUDA device
 * (TRICE_DEVICE; README "GPU workers").
 *
 * On a device the side keeps a second model, dmodel, whose weights mirror the host model's:
 * proposals, evaluation samples and term gradients run on it, and only tokens and logits rows
 * (for the host's token draws) cross back during sampling. Each gradient group is added
 * exactly (fixsum.h's integer format) into a sum that stays on the device.
 *
 * Then the update. With one side (W = 1: `trice train`, a single worker) it runs on the
 * device too: the sum is rounded to floats, clipped and applied by AdamW there, and the host's
 * weights and moments are brought back only when someone reads them (a checkpoint, the
 * coordinator's state pull). With several sides, every side must apply the same update to the
 * same bits whatever it computes on, so the sum comes to the host once per step for the
 * workers' all-reduce, the replica's update runs on the host (side_optim.c), and the tunable
 * weights go up again before the device's next use.
 *
 * Two flags say which copy is newer: dev_stale (the host's: 1 the tunable weights, 2 all of
 * them, after a checkpoint load; with a device update also the moments) and host_stale (the
 * device's tunable weights and moments, after a device update).
 *
 * TRICE_DEVICE (or --device; else the spec's "device"): cpu; cuda (one device per process by local rank: the rank's place on its host,
 * from Open MPI or Slurm, modulo the devices it sees); cuda:N; auto (the default: cuda by
 * local rank when a device is visible, else cpu); cpu-mirror, for tests: this file's device
 * path with the CPU backend as the "device", whose results must equal cpu's bit for bit (so
 * that the mirroring is tested where there is no GPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/engine/side_impl.h"
#include "common/util/log.h"

/* the rank's place on its host: Open MPI, then Slurm, else 0 */
static int local_rank(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

#define DEVICE_CPU_MIRROR (-2)

int side_device_choose(const char *spec_device, int *device, tr_error *err)
{
    const char *v = getenv("TRICE_DEVICE"), *from = "TRICE_DEVICE";
    if ((!v || !*v) && spec_device) { v = spec_device; from = "the spec's \"device\""; }
    *device = -1;
    if (v && !strcmp(v, "cpu-mirror")) { *device = DEVICE_CPU_MIRROR; return 0; }
    if (!v || !*v || !strcmp(v, "auto")) {
        int n = gpt_backend_cuda_count();
        if (n > 0) *device = local_rank() % n;
        return 0;
    }
    if (!strcmp(v, "cpu")) return 0;
    if (!strcmp(v, "cuda")) {
        int n = gpt_backend_cuda_count();
        if (n <= 0)
            return TR_FAIL(err, TR_EINVAL, "%s 'cuda': no CUDA device is visible to this process "
                           "(use cpu, or auto to fall back to the CPU)", from);
        *device = local_rank() % n;
        return 0;
    }
    if (!strncmp(v, "cuda:", 5)) {
        char *end;
        long k = strtol(v + 5, &end, 10);
        if (v[5] && !*end && k >= 0 && k < 4096) { *device = (int)k; return 0; }
    }
    return TR_FAIL(err, TR_EINVAL, "%s '%.40s': expected cpu, cuda, cuda:N (a device number), auto, or "
                   "cpu-mirror (tests)", from, v);
}

int side_device_open(engine_side *e, tr_error *err)
{
    int device;
    TR_TRY(side_device_choose(e->spec.device, &device, err));
    if (device == -1) return 0;
    char why[256];
    const gpt_backend *be = device == DEVICE_CPU_MIRROR ? gpt_backend_cpu() : gpt_backend_cuda(device, why, sizeof why);
    if (!be) return TR_FAIL(err, TR_EINVAL, "TRICE_DEVICE asks for CUDA device %d: %s", device, why);
    TR_TRY(gpt_init_on(&e->dmodel, &e->model.config, e->G, e->model.prompt_len, be, err));
    e->dev = be;
    e->dev_index = device;
    e->dev_stale = 2;   /* everything, frozen weights included, before the first use */
    size_t n = e->n_tunable ? e->n_tunable : 1;
    e->dev_update = e->nworkers <= 1;
    e->dfix = be->alloc(n * sizeof(fixsum));
    e->dgrad = be->alloc(n * sizeof(float));
    if (e->dev_update) { e->dm = be->alloc(n * sizeof(float)); e->dv = be->alloc(n * sizeof(float)); }
    if (!e->dfix || !e->dgrad || (e->dev_update && (!e->dm || !e->dv)))
        return TR_FAIL(err, TR_ENOMEM, "out of %s memory for the gradient sum and optimiser state of %zu parameters",
                       be->name, e->n_tunable);
    if (device == DEVICE_CPU_MIRROR) snprintf(e->dev_name, sizeof e->dev_name, "cpu-mirror");
    else snprintf(e->dev_name, sizeof e->dev_name, "cuda:%d (%s)", device, gpt_backend_cuda_device_name());
    LOG_I("side %d of %d computes on %s; the optimiser step runs %s", e->index + 1, e->nworkers > 1 ? e->nworkers : 1,
          e->dev_name, e->dev_update ? "there too (one side)" : "on the host (the replicas of several sides must agree)");
    return 0;
}

void side_device_close(engine_side *e)
{
    if (e->dev) {
        gpt_free(&e->dmodel);
        e->dev->free(e->dfix); e->dev->free(e->dgrad); e->dev->free(e->dm); e->dev->free(e->dv);
    }
    e->dfix = NULL; e->dgrad = e->dm = e->dv = NULL;
    e->dev = NULL;
}

/* the device's tunable weights (the prompt of a soft-prompt run) */
static float *dev_tunable(engine_side *e)
{
    return e->spec.tunable == TUNABLE_PROMPT ? e->dmodel.prompt : e->dmodel.params;
}

int side_device_sync(engine_side *e, tr_error *err)
{
    if (!e->dev || !e->dev_stale) return 0;
    const gpt *h = &e->model;
    gpt *d = &e->dmodel;
    size_t pn = (size_t)h->prompt_len * (size_t)h->config.channels;
    int all = e->dev_stale > 1 || e->spec.tunable != TUNABLE_PROMPT;
    int rc = all ? e->dev->to_device(d->params, h->params, h->num_params * sizeof(float)) : 0;
    if (!rc && pn) rc = e->dev->to_device(d->prompt, h->prompt, pn * sizeof(float));
    size_t nb = e->n_tunable * sizeof(float);
    if (!rc && e->dev_update && e->opt_ready) {   /* the moments live on the device */
        rc = e->dev->to_device(e->dm, e->opt.m, nb);
        if (!rc) rc = e->dev->to_device(e->dv, e->opt.v, nb);
    }
    if (rc) return TR_FAIL(err, TR_EIO, "copying the weights to %s failed (see the CUDA error above)", e->dev_name);
    e->dev_stale = 0;
    return 0;
}

int side_device_pull(engine_side *e, tr_error *err)
{
    if (!e->dev || !e->host_stale) return 0;
    size_t nb = e->n_tunable * sizeof(float);
    float *hp = e->spec.tunable == TUNABLE_PROMPT ? e->model.prompt : e->model.params;
    int rc = e->dev->to_host(hp, dev_tunable(e), nb);
    if (!rc && e->opt_ready) rc = e->dev->to_host(e->opt.m, e->dm, nb);
    if (!rc && e->opt_ready) rc = e->dev->to_host(e->opt.v, e->dv, nb);
    if (rc) return TR_FAIL(err, TR_EIO, "reading the weights back from %s failed (see the CUDA error above)", e->dev_name);
    e->host_stale = 0;
    return 0;
}

int side_device_sum_begin(engine_side *e, tr_error *err)
{
    if (e->dev && e->dev->zero(e->dfix, e->n_tunable * sizeof(fixsum)))
        return TR_FAIL(err, TR_EIO, "clearing the gradient sum on %s failed (see the CUDA error above)", e->dev_name);
    e->fix_on_device = 0;
    return 0;
}

int side_device_sum_add(engine_side *e, const gpt *m, tr_error *err)
{
    const float *g = e->spec.tunable == TUNABLE_PROMPT ? m->prompt_grad : m->grads;
    if (e->dev->fix_add(e->dfix, g, e->n_tunable))
        return TR_FAIL(err, TR_EINVAL, "a gradient entry is not finite or beyond the exact-sum range of +-2^31 "
                       "(diverging?), on %s", e->dev_name);
    return 0;
}

int side_device_sum_end(engine_side *e, tr_error *err)
{
    e->fix_on_device = 1;
    /* one side: the update reads the sum where it is (side_device_update); several: the
     * workers' all-reduce needs it on the host now */
    return e->dev_update ? 0 : side_device_pull_sum(e, err);
}

int side_device_pull_sum(engine_side *e, tr_error *err)
{
    if (!e->dev || !e->fix_on_device) return 0;
    if (e->dev->to_host(e->grad_fix, e->dfix, e->n_tunable * sizeof(fixsum)))
        return TR_FAIL(err, TR_EIO, "reading the gradient sum back from %s failed (see the CUDA error above)", e->dev_name);
    e->fix_on_device = 0;
    return 0;
}

int side_device_update(engine_side *e, float lr, double *norm, tr_error *err)
{
    const gpt_backend *be = e->dev;
    size_t n = e->n_tunable;
    TR_TRY(side_device_sync(e, err));   /* a state push since the last step: its moments first */
    be->fix_to_floats(e->dgrad, e->dfix, n);
    e->fix_on_device = 0;
    *norm = optim_clip_grad_norm_on(be, e->dgrad, n, e->spec.optim.grad_clip);
    /* optim_adamw_step's update, group by group, on the device */
    int64_t t = e->opt.step + 1;
    float b1 = e->hp.beta1, b2 = e->hp.beta2;
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    float *p = dev_tunable(e);
    for (int k = 0; k < e->nogroups; k++) {
        size_t o = e->ogroups[k].offset;
        be->adamw(p + o, e->dm + o, e->dv + o, e->dgrad + o, e->ogroups[k].count, lr, b1, b2, bc1, bc2, e->hp.eps,
                  e->ogroups[k].decay ? e->hp.weight_decay : 0.0f);
    }
    e->opt.step = t;
    e->host_stale = 1;
    if (!isfinite(*norm))
        return TR_FAIL(err, TR_EIO, "the update on %s failed (see the CUDA error above)", e->dev_name);
    return 0;
}

gpt *side_compute_model(engine_side *e) { return e->dev ? &e->dmodel : &e->model; }


const char *engine_side_device(const engine_side *e) { return e->dev ? e->dev_name : "cpu"; }

int engine_device_set(const char *value, tr_error *err)
{
    const char *old = getenv("TRICE_DEVICE");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", old ? old : "");
    setenv("TRICE_DEVICE", value, 1);
    int device;
    int rc = side_device_choose(NULL, &device, err);
    if (rc) {   /* leave the environment as it was */
        if (old) setenv("TRICE_DEVICE", keep, 1);
        else unsetenv("TRICE_DEVICE");
    }
    return rc;
}

void engine_device_describe(char *buf, size_t n)
{
    int device;
    tr_error e = {0};
    if (side_device_choose(NULL, &device, &e)) { snprintf(buf, n, "cpu-openblas (TRICE_DEVICE: %s)", e.msg); return; }
    if (device == -1) { snprintf(buf, n, "cpu-openblas"); return; }
    if (device == DEVICE_CPU_MIRROR) { snprintf(buf, n, "cpu-mirror"); return; }
    char why[256];
    if (gpt_backend_cuda(device, why, sizeof why))
        snprintf(buf, n, "cuda:%d (%s)", device, gpt_backend_cuda_device_name());
    else
        snprintf(buf, n, "cuda:%d unusable: %s", device, why);
}
