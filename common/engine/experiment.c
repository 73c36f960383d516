/* experiment.c - an experiment as stages: the optional supervised warm-up, then the method. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/data/task.h"
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
    char latest[4200];
    int can_resume = resume && trainer_latest_checkpoint(dir, latest, sizeof latest, NULL) == 0;
    if (resume && !can_resume) LOG_I("%s: no checkpoint yet; starting the stage from the beginning", dir);
    TR_TRY(write_spec(dir, "spec.json", s, err));
    fleet *f = NULL;
    TR_TRY(make(ctx, s, &f, err));
    int rc = trainer_run(s, dir, f, can_resume, hooks, res, err);
    f->ops->free(f);
    if (rc) return rc;
    return write_result(dir, s, res, err);
}

/* Run one earlier stage into out_dir/<folder> from the model at *init (empty = the spec's
 * own), unless a resume finds it finished; *init becomes the stage's final model. */
static int run_prior_stage(experiment_spec *st, const char *out_dir, const char *folder, const char *label,
                           char *init, size_t init_cap, fleet_factory make, void *make_ctx, int resume,
                           const trainer_hooks *hooks, tr_error *err) {
    char dir[4200], model[4300], res[4300];
    snprintf(dir, sizeof dir, "%s/%s", out_dir, folder);
    snprintf(model, sizeof model, "%s/model.bin", dir);
    snprintf(res, sizeof res, "%s/result.json", dir);
    if (strlen(model) >= init_cap) return TR_FAIL(err, TR_EINVAL, "experiment folder path too long: '%s'", out_dir);
    if (init[0]) memcpy(st->model.init, init, strlen(init) + 1);
    if (resume && file_exists(res) && file_exists(model)) {
        LOG_I("%s already finished (%s); going on", label, res);
    } else {
        LOG_I("%s: %s, %d steps on %s difficulty %d%s", label, spec_method_name(st->method), st->steps, st->task.name,
              st->task.difficulty, st->method == METHOD_SFT || st->memory_init == MEMINIT_GIVEN ? " (program-written rationales)" : " (answers only)");
        trainer_result r;
        TR_TRY(run_stage(st, dir, make, make_ctx, resume, hooks, &r, err));
    }
    memcpy(init, model, strlen(model) + 1);
    return 0;
}

int experiment_run(const experiment_spec *spec, const char *out_dir, fleet_factory make, void *make_ctx,
                   int resume, const trainer_hooks *hooks, trainer_result *res, tr_error *err) {
    TR_TRY(task_check_stage_rule(spec, err));
    TR_TRY(afile_mkdirs(out_dir, err));
    /* the experiment as submitted, all stages: what `--resume DIR` restarts from */
    TR_TRY(write_spec(out_dir, "experiment.json", spec, err));
    int n_prior = (spec->warmup_sft_steps > 0) + spec->n_stages, k = 0;
    char init[SPEC_PATH_MAX] = "";
    char label[96];
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
        w.n_stages = 0;
        w.answers_only = 0;
        w.max_sampled_tokens = 0;
        w.optim.warmup_steps = 0;
        w.optim.lr = spec->warmup_lr;
        w.optim.schedule = SCHEDULE_CONSTANT;
        w.maj_k = 0;
        snprintf(w.name, sizeof w.name, "%.100s-warmup", spec->name);
        snprintf(label, sizeof label, "stage %d/%d (warmup)", ++k, n_prior + 1);
        TR_TRY(run_prior_stage(&w, out_dir, "warmup", label, init, sizeof init, make, make_ctx, resume, hooks, err));
    }
    for (int i = 0; i < spec->n_stages; i++) {
        experiment_spec st;
        spec_stage_apply(spec, &spec->stages[i], &st);
        snprintf(label, sizeof label, "stage %d/%d (%s)", ++k, n_prior + 1, spec->stages[i].name);
        TR_TRY(run_prior_stage(&st, out_dir, spec->stages[i].name, label, init, sizeof init, make, make_ctx, resume, hooks, err));
    }
    experiment_spec main_spec = *spec;
    main_spec.warmup_sft_steps = 0;
    main_spec.n_stages = 0;
    if (init[0]) {
        memcpy(main_spec.model.init, init, strlen(init) + 1);
        LOG_I("stage %d/%d (target): %s on %s difficulty %d from the model of the stage before", k + 1, n_prior + 1,
              spec_method_name(spec->method), spec->task.name, spec->task.difficulty);
    }
    return run_stage(&main_spec, out_dir, make, make_ctx, resume, hooks, res, err);
}
