/* side_device.c - where a side computes: the host (the CPU backend) or a CUDA device
 * (TRICE_DEVICE; README "GPU workers").
 *
 * On a device the side keeps a second model, dmodel, whose weights mirror the host model's:
 * proposals, evaluation samples and term gradients run on it, and only tokens, logits rows
 * (for the host's token draws) and each gradient group cross back. The optimiser replica
 * stays on the host (side_optim.c), after the exact gradient sum, so that every side of a
 * fleet, CPU or GPU, applies the same update to the same bits; the updated tunable weights
 * then go to the device once before its next use. That is the same number of bytes as moving
 * the summed gradient there for a device update would be.
 *
 * TRICE_DEVICE: cpu; cuda (one device per process by local rank: the rank's place on its host,
 * from Open MPI or Slurm, modulo the devices it sees); cuda:N; auto (the default: cuda by
 * local rank when a device is visible, else cpu); cpu-mirror, for tests: this file's device
 * path with the CPU backend as the "device", whose results must equal cpu's bit for bit (so
 * that the mirroring is tested where there is no GPU). */
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

int side_device_choose(int *device, tr_error *err)
{
    const char *v = getenv("TRICE_DEVICE");
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
            return TR_FAIL(err, TR_EINVAL, "TRICE_DEVICE 'cuda': no CUDA device is visible to this process "
                           "(use cpu, or auto to fall back to the CPU)");
        *device = local_rank() % n;
        return 0;
    }
    if (!strncmp(v, "cuda:", 5)) {
        char *end;
        long k = strtol(v + 5, &end, 10);
        if (v[5] && !*end && k >= 0 && k < 4096) { *device = (int)k; return 0; }
    }
    return TR_FAIL(err, TR_EINVAL, "TRICE_DEVICE '%.40s': expected cpu, cuda, cuda:N (a device number), auto, or "
                   "cpu-mirror (tests)", v);
}

int side_device_open(engine_side *e, tr_error *err)
{
    int device;
    TR_TRY(side_device_choose(&device, err));
    if (device == -1) return 0;
    char why[256];
    const gpt_backend *be = device == DEVICE_CPU_MIRROR ? gpt_backend_cpu() : gpt_backend_cuda(device, why, sizeof why);
    if (!be) return TR_FAIL(err, TR_EINVAL, "TRICE_DEVICE asks for CUDA device %d: %s", device, why);
    TR_TRY(gpt_init_on(&e->dmodel, &e->model.config, e->G, e->model.prompt_len, be, err));
    e->dev = be;
    e->dev_index = device;
    e->dev_stale = 2;   /* everything, frozen weights included, before the first use */
    if (!(e->hgrad = tr_malloc((e->n_tunable ? e->n_tunable : 1) * sizeof *e->hgrad, err))) return TR_ENOMEM;
    if (device == DEVICE_CPU_MIRROR) snprintf(e->dev_name, sizeof e->dev_name, "cpu-mirror");
    else snprintf(e->dev_name, sizeof e->dev_name, "cuda:%d (%s)", device, gpt_backend_cuda_device_name());
    return 0;
}

void side_device_close(engine_side *e)
{
    if (e->dev) gpt_free(&e->dmodel);
    free(e->hgrad);
    e->hgrad = NULL;
    e->dev = NULL;
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
    if (rc) return TR_FAIL(err, TR_EIO, "copying the weights to %s failed (see the CUDA error above)", e->dev_name);
    e->dev_stale = 0;
    return 0;
}

gpt *side_compute_model(engine_side *e) { return e->dev ? &e->dmodel : &e->model; }

int side_device_grad(engine_side *e, const gpt *m, const float **grad, tr_error *err)
{
    const float *g = e->spec.tunable == TUNABLE_PROMPT ? m->prompt_grad : m->grads;
    if (!e->dev) { *grad = g; return 0; }
    if (e->dev->to_host(e->hgrad, g, e->n_tunable * sizeof(float)))
        return TR_FAIL(err, TR_EIO, "reading a gradient back from %s failed (see the CUDA error above)", e->dev_name);
    *grad = e->hgrad;
    return 0;
}

const char *engine_side_device(const engine_side *e) { return e->dev ? e->dev_name : "cpu"; }

int engine_device_set(const char *value, tr_error *err)
{
    const char *old = getenv("TRICE_DEVICE");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", old ? old : "");
    setenv("TRICE_DEVICE", value, 1);
    int device;
    int rc = side_device_choose(&device, err);
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
    if (side_device_choose(&device, &e)) { snprintf(buf, n, "cpu-openblas (TRICE_DEVICE: %s)", e.msg); return; }
    if (device == -1) { snprintf(buf, n, "cpu-openblas"); return; }
    if (device == DEVICE_CPU_MIRROR) { snprintf(buf, n, "cpu-mirror"); return; }
    char why[256];
    if (gpt_backend_cuda(device, why, sizeof why))
        snprintf(buf, n, "cuda:%d (%s)", device, gpt_backend_cuda_device_name());
    else
        snprintf(buf, n, "cuda:%d unusable: %s", device, why);
}
