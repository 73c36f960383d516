/* experiment.c - an experiment as stages: the optional supervised warm-up, then the method. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/engine/ckptdir.h"
#include "common/engine/trainer.h"
#include "common/util/afile.h"
#include "common/util/log.h"

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static json_t *num_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

static int write_result(const char *dir, const experiment_spec *s, const trainer_result *r, tr_error *err) {
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "method", json_string(spec_method_name(s->method)));
    json_object_set_new(o, "task", json_string(s->task.name));
    json_object_set_new(o, "seed", json_integer((json_int_t)s->seed));
    json_object_set_new(o, "acc_before", num_or_null(r->acc_before));
    json_object_set_new(o, "acc_after", num_or_null(r->acc_after));
    if (s->maj_k) {
        json_object_set_new(o, "maj_k", json_integer(s->maj_k));
        json_object_set_new(o, "maj_before", num_or_null(r->maj_before));
        json_object_set_new(o, "maj_after", num_or_null(r->maj_after));
    }
    json_object_set_new(o, "n_eval", json_integer(r->n_eval));
    json_object_set_new(o, "steps", json_integer(r->steps_done));
    json_object_set_new(o, "tokens_sampled", json_integer(r->tokens_sampled));
    char *text = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    if (!text) return TR_FAIL(err, TR_ENOMEM, "cannot encode result.json");
    char p[4200];
    snprintf(p, sizeof p, "%s/result.json", dir);
    int rc = afile_write(p, text, strlen(text), err);
    free(text);
    return rc;
}

static int write_spec(const char *dir, const char *name, const experiment_spec *s, tr_error *err) {
    char *text = spec_to_json(s, err);
    if (!text) return TR_ENOMEM;
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int rc = afile_write(p, text, strlen(text), err);
    free(text);
    return rc;
}

static int run_stage(const experiment_spec *s, const char *dir, fleet_factory make, void *ctx, int resume,
                     const trainer_hooks *hooks, trainer_result *res, tr_error *err) {
    TR_TRY(afile_mkdirs(dir, err));
    ckpt_clean_temps(dir);
    /* any checkpoint, even a damaged one, means resume: ckpt_read falls back to an older
     * one or fails naming the damage; starting over would discard the run's metrics */
    int can_resume = resume && ckpt_exists(dir);
    if (resume && !can_resume) LOG_I("%s: no checkpoint yet; starting the stage from the beginning", dir);
    TR_TRY(write_spec(dir, "spec.json", s, err));
    fleet *f = NULL;
    TR_TRY(make(ctx, s, &f, err));
    int rc = trainer_run(s, dir, f, can_resume, hooks, res, err);
    f->ops->free(f);
    if (rc) return rc;
    return write_result(dir, s, res, err);
}

int experiment_run(const experiment_spec *spec, const char *out_dir, fleet_factory make, void *make_ctx,
                   int resume, const trainer_hooks *hooks, trainer_result *res, tr_error *err) {
    TR_TRY(afile_mkdirs(out_dir, err));
    /* the experiment as submitted, all stages: what `--resume DIR` restarts from */
    TR_TRY(write_spec(out_dir, "experiment.json", spec, err));
    experiment_spec main_spec = *spec;
    if (spec->warmup_sft_steps > 0) {
        experiment_spec w = *spec;
        w.method = METHOD_SFT;
        w.memory_init = MEMINIT_GIVEN;
        w.tunable = TUNABLE_FULL;
        w.prompt_len = 0;
        w.task.difficulty = spec->warmup_difficulty;
        w.steps = spec->warmup_sft_steps;
        w.subsample = 0;
        w.warmup_sft_steps = 0;
        w.max_sampled_tokens = 0;
        w.optim.warmup_steps = 0;
        w.optim.lr = spec->warmup_lr;
        w.optim.schedule = SCHEDULE_CONSTANT;
        w.maj_k = 0;
        snprintf(w.name, sizeof w.name, "%.100s-warmup", spec->name);
        char wdir[4200], wmodel[4300], wres[4300];
        snprintf(wdir, sizeof wdir, "%s/warmup", out_dir);
        snprintf(wmodel, sizeof wmodel, "%s/model.bin", wdir);
        snprintf(wres, sizeof wres, "%s/result.json", wdir);
        if (resume && file_exists(wres) && file_exists(wmodel)) {
            LOG_I("warm-up already finished (%s); going on with %s", wres, spec_method_name(spec->method));
        } else {
            LOG_I("stage 1/2: supervised warm-up, %d steps on program-written rationales at difficulty %d",
                  w.steps, w.task.difficulty);
            trainer_result wr;
            TR_TRY(run_stage(&w, wdir, make, make_ctx, resume, hooks, &wr, err));
        }
        if (strlen(wmodel) >= sizeof main_spec.model.init)
            return TR_FAIL(err, TR_EINVAL, "experiment folder path too long: '%s'", out_dir);
        memcpy(main_spec.model.init, wmodel, strlen(wmodel) + 1);  /* length checked above */
        main_spec.warmup_sft_steps = 0;
        LOG_I("stage 2/2: %s from the warmed-up model", spec_method_name(spec->method));
    }
    return run_stage(&main_spec, out_dir, make, make_ctx, resume, hooks, res, err);
}
