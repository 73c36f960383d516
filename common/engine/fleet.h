/* fleet.h - the example sides as the training loop sees them.
 *
 * The training loop (trainer.h) is written once against this table. fleet_local() drives one
 * in-process engine_side that owns every example (the single-process run, `trice eval`, the
 * tests); coordinator/fleet_mpi.c implements the same table by talking to W worker ranks.
 * Both speak the records of common/comm/msg.h, and every side serves them with
 * common/engine/dispatch.h. Every call is collective over the fleet: it returns when every
 * side is done.
 */
#ifndef TRICE_ENGINE_FLEET_H
#define TRICE_ENGINE_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "common/engine/engine.h"

typedef struct fleet fleet;

/* What take_counts reports: the sides' counters and the fleet's own traffic. */
typedef struct fleet_counts {
    engine_counts sides;            /* tokens summed; wall times and peer_bytes the slowest or busiest side's */
    /* at the coordinator: the gradient to rank 0 (the variance probe only), state pushes
     * (STaR restarts), and every other message of the control plane */
    double reduce_s, bcast_s, comm_s;
    int64_t bytes_moved;            /* bytes through rank 0: the coordinator sent and received (0 in process) */
} fleet_counts;

typedef struct fleet_ops {
    /* Fill every side's memory per spec (hint/sample/given); *n_valid summed. */
    int (*memory_init)(fleet *f, int *n_valid, tr_error *err);
    /* Propose/check/accept for the minibatch ids[M] (each side takes the ids it owns).
     * a[M], mask[M] in minibatch order; correct[M*K] per particle (rs) or NULL. */
    int (*propose)(fleet *f, int64_t step, const int64_t *ids, int M, uint8_t *a, uint8_t *mask,
                   uint8_t *correct, tr_error *err);
    /* One training update: the gradient of the coefficient list (ex = minibatch index), summed
     * exactly over the sides, clipped and applied by every side to its replica of the
     * parameters and optimiser state at learning rate lr (the sides never send parameters or
     * gradients to the caller). *loss summed, *norm the norm before clipping. */
    int (*step)(fleet *f, const est_coef *coefs, int n, float lr, double *loss, double *norm, tr_error *err);
    /* The gradient alone, summed over sides into grads[n_grads] (overwritten; n_grads = the
     * tunable count), no update; *loss summed. For the variance probe: it moves the gradient
     * to the caller, so it is not for every step. */
    int (*gradient)(fleet *f, const est_coef *coefs, int n, float *grads, size_t n_grads, double *loss, tr_error *err);
    /* Every side writes its part of a checkpoint into the step folder dir (ckptshard.h: its
     * optimiser shard; side 0 the parameters too); *files (malloc'ed, caller frees) gets
     * the files written, side by side, for the manifest. The parameters and the optimiser
     * state never pass through the caller. */
    int (*ckpt_save)(fleet *f, const char *dir, ckpt_file **files, int *n_files, tr_error *err);
    /* Every side loads the checkpoint in dir from the files[n] its manifest names (written by
     * any number of sides). A missing or damaged file fails with err naming it, and the
     * fleet stays usable: the caller may offer an older checkpoint. */
    int (*ckpt_load)(fleet *f, const char *dir, const ckpt_file *files, int n, tr_error *err);
    /* Replace every side's parameters and optimiser state (opt->n == n): a STaR restart, and
     * a resume from a checkpoint written before manifests (ckptdir.h). */
    int (*set_state)(fleet *f, const float *params, const optim_state *opt, size_t n, tr_error *err);
    /* Held-out evaluation over every side's share; counts summed. */
    int (*eval)(fleet *f, int maj_k, int *n, int *correct, int *maj_correct, const char *per_example_path,
                tr_error *err);
    /* STaR collection; *valid_ids (malloc'ed, sorted) gets the kept training ids. */
    int (*star_collect)(fleet *f, int iter, int64_t **valid_ids, int *n_valid, tr_error *err);
    /* Gather every side's memory into one buffer (memory.h format); caller frees. */
    int (*memory_gather)(fleet *f, uint8_t **buf, size_t *len, tr_error *err);
    /* Hand a gathered buffer to every side; each keeps the ids it owns (re-shard). */
    int (*memory_scatter)(fleet *f, const uint8_t *buf, size_t len, tr_error *err);
    /* Counters since the last call. */
    int (*take_counts)(fleet *f, fleet_counts *c, tr_error *err);
    void (*free)(fleet *f);
} fleet_ops;

struct fleet {
    const fleet_ops *ops;
    int nsides;
};

/* One in-process side owning every example (the caller's spec is copied). */
int fleet_local(const experiment_spec *spec, fleet **out, tr_error *err);
/* The side inside a fleet made by fleet_local (for `trice eval` and tests). */
engine_side *fleet_local_side(fleet *f);

#endif
