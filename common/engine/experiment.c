/* experiment.c - an experiment as stages: the optional supervised warm-up, then the method. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/data/task.h"
#include "common/engine/ckptdir.h"
#include "common/engine/trainer.h"
#include "common/util/afile.h"
#include "common/util/log.h"
#include "common/util/path.h"

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
    char p[PATH_BUF];
    int rc = path_fmt(p, sizeof p, err, "%s/result.json", dir);
    if (!rc) rc = afile_write(p, text, strlen(text), err);
    free(text);
    return rc;
}

static int write_spec(const char *dir, const char *name, const experiment_spec *s, tr_error *err) {
    char *text = spec_to_json(s, err);
    if (!text) return TR_ENOMEM;
    char p[PATH_BUF];
    int rc = path_fmt(p, sizeof p, err, "%s/%s", dir, name);
    if (!rc) rc = afile_write(p, text, strlen(text), err);
    free(text);
    return rc;
}

static int run_stage(const experiment_spec *s, const char *dir, fleet_factory make, void *ctx, int resume,
                     const trainer_hooks *hooks, trainer_result *res, tr_error *err) {
    TR_TRY(afile_mkdirs(dir, err));
    ckptdir_clean_temps(dir);
    /* any checkpoint, even a damaged one, means resume: ckptdir_read falls back to an older
     * one or fails naming the damage; starting over would discard the run's metrics. A first
     * checkpoint cut short (no marker, no memory.bin) is none: see ckptdir_exists */
    int can_resume = resume && ckptdir_exists(dir);
    if (resume && !can_resume) LOG_I("%s: no checkpoint yet; starting the stage from the beginning", dir);
    TR_TRY(write_spec(dir, "spec.json", s, err));
    fleet *f = NULL;
    TR_TRY(make(ctx, s, &f, err));
    int rc = trainer_run(s, dir, f, can_resume, hooks, res, err);
    f->ops->free(f);
    if (rc) return rc;
    return write_result(dir, s, res, err);
}

/* A stop names the folder to resume and how (the stage's message says where it stopped). */
static int resume_hint(tr_error *err, const char *out_dir) {
    char what[TR_ERRMSG_MAX / 2];
    snprintf(what, sizeof what, "%.900s", err->msg);
    return TR_FAIL(err, TR_ECANCELED, "%s; to continue, resume the experiment folder %s ('trice train SPEC --out %s --resume', "
                   "or 'trice-coordinator --resume %s' under mpirun)", what, out_dir, out_dir, out_dir);
}

/* Where the stages stand: the current one's index, the count and the steps before it. */
typedef struct stage_walk {
    const trainer_hooks *hooks;
    int k, n;
    int64_t steps_before;
} stage_walk;

static void stage_begin(stage_walk *w, const char *name, int steps) {
    w->k++;
    if (w->hooks && w->hooks->stage) w->hooks->stage(w->hooks->ctx, w->k, w->n, name, w->steps_before);
    w->steps_before += steps;
}

/* Run one earlier stage into out_dir/<folder> from the model at *init (empty = the spec's
 * own), unless a resume finds it finished; *init becomes the stage's final model. */
static int run_prior_stage(experiment_spec *st, const char *out_dir, const char *folder, stage_walk *w,
                           char *init, size_t init_cap, fleet_factory make, void *make_ctx, int resume, tr_error *err) {
    char dir[PATH_BUF], model[PATH_BUF], res[PATH_BUF];
    TR_TRY(path_fmt(dir, sizeof dir, err, "%s/%s", out_dir, folder));
    TR_TRY(path_fmt(model, sizeof model, err, "%s/model.bin", dir));
    TR_TRY(path_fmt(res, sizeof res, err, "%s/result.json", dir));
    if (strlen(model) >= init_cap) return TR_FAIL(err, TR_EINVAL, "experiment folder path too long: '%s'", out_dir);
    if (init[0]) memcpy(st->model.init, init, strlen(init) + 1);
    stage_begin(w, folder, st->steps);
    if (resume && file_exists(res) && file_exists(model)) {
        LOG_I("stage %d/%d (%s) already finished (%s); going on", w->k, w->n, folder, res);
    } else {
        char mix[8 * 64] = "";
        for (int k = 0, n = 0; k < st->task.n_mix && n >= 0 && (size_t)n < sizeof mix; k++)
            n += snprintf(mix + n, sizeof mix - (size_t)n, "%s %d of %s difficulty %d", k ? "," : ", with", st->task.mix[k].n_train,
                          st->task.mix[k].name, st->task.mix[k].difficulty);
        LOG_I("stage %d/%d (%s): %s, %d steps on %s difficulty %d%s%s", w->k, w->n, folder, spec_method_name(st->method), st->steps,
              st->task.name, st->task.difficulty, mix,
              st->method == METHOD_SFT || st->memory_init == MEMINIT_GIVEN ? " (program-written rationales)" : " (answers only)");
        trainer_result r;
        int rc = run_stage(st, dir, make, make_ctx, resume, w->hooks, &r, err);
        if (rc == TR_ECANCELED) return resume_hint(err, out_dir);
        if (rc) return rc;
    }
    memcpy(init, model, strlen(model) + 1);
    return 0;
}

static int run_stages(const experiment_spec *spec, const char *out_dir, fleet_factory make, void *make_ctx,
                      int resume, const trainer_hooks *hooks, trainer_result *res, tr_error *err) {
    /* the experiment as submitted, all stages: what `--resume DIR` restarts from */
    TR_TRY(write_spec(out_dir, "experiment.json", spec, err));
    stage_walk w = {hooks, 0, (spec->warmup_sft_steps > 0) + spec->n_stages + 1, 0};
    char init[SPEC_PATH_MAX] = "";
    if (spec->warmup_sft_steps > 0) {
        experiment_spec ws = *spec;
        ws.method = METHOD_SFT;
        ws.memory_init = MEMINIT_GIVEN;
        ws.tunable = TUNABLE_FULL;
        ws.prompt_len = 0;
        ws.task.difficulty = spec->warmup_difficulty;
        ws.steps = spec->warmup_sft_steps;
        ws.subsample = 0;
        ws.warmup_sft_steps = 0;
        ws.n_stages = 0;
        ws.answers_only = 0;
        ws.max_sampled_tokens = 0;
        ws.optim.warmup_steps = 0;
        ws.optim.lr = spec->warmup_lr;
        ws.optim.schedule = SCHEDULE_CONSTANT;
        ws.maj_k = 0;
        snprintf(ws.name, sizeof ws.name, "%.100s-warmup", spec->name);
        TR_TRY(run_prior_stage(&ws, out_dir, "warmup", &w, init, sizeof init, make, make_ctx, resume, err));
    }
    for (int i = 0; i < spec->n_stages; i++) {
        experiment_spec st;
        spec_stage_apply(spec, &spec->stages[i], &st);
        TR_TRY(run_prior_stage(&st, out_dir, spec->stages[i].name, &w, init, sizeof init, make, make_ctx, resume, err));
    }
    experiment_spec main_spec = *spec;
    main_spec.warmup_sft_steps = 0;
    main_spec.n_stages = 0;
    if (init[0]) {
        memcpy(main_spec.model.init, init, strlen(init) + 1);
        LOG_I("stage %d/%d (target): %s on %s difficulty %d from the model of the stage before", w.k + 1, w.n,
              spec_method_name(spec->method), spec->task.name, spec->task.difficulty);
    }
    stage_begin(&w, spec_method_name(spec->method), spec->steps);
    int rc = run_stage(&main_spec, out_dir, make, make_ctx, resume, hooks, res, err);
    if (rc == TR_ECANCELED) return resume_hint(err, out_dir);
    return rc;
}

int experiment_run(const experiment_spec *spec, const char *out_dir, fleet_factory make, void *make_ctx,
                   int resume, const trainer_hooks *hooks, trainer_result *res, tr_error *err) {
    TR_TRY(task_check_stage_rule(spec, err));
    TR_TRY(afile_mkdirs(out_dir, err));
    /* this process's log lines while the experiment runs also go to its folder (`trice logs`) */
    char lp[PATH_BUF];
    TR_TRY(path_fmt(lp, sizeof lp, err, "%s/log.txt", out_dir));
    tr_error lerr = {0};
    if (log_tee_open(lp, &lerr)) LOG_W("no experiment log: %s", lerr.msg);
    int rc = run_stages(spec, out_dir, make, make_ctx, resume, hooks, res, err);
    log_tee_close();
    /* the caller logs the outcome on its own stream; the folder's log ends with it too */
    FILE *f = rc ? fopen(lp, "a") : NULL;
    if (f) {
        fprintf(f, "%s: %s\n", rc == TR_ECANCELED ? "stopped" : "failed", err->msg);
        fclose(f);
    }
    return rc;
}
