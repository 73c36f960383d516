/* stage_rule.c - answers-only recipes: rationales only on strictly smaller instances. */
#include <stdio.h>
#include <string.h>

#include "common/data/gen.h"
#include "common/data/task.h"

static int gives_rationales(spec_method m, spec_meminit init) { return m == METHOD_SFT || init == MEMINIT_GIVEN; }

/* One rationale stage (task name, difficulty) against the target. */
static int check_one(const experiment_spec *s, const char *what, const char *name, int difficulty, tr_error *err) {
    if (strcmp(name, s->task.name) != 0) {
        if (gen_exists(name)) return 0;   /* another built-in task's rationales: allowed */
        return TR_FAIL(err, TR_EINVAL, "answers_only: %s is given rationales of task '%s'; only the built-in generators' "
                       "program-written rationales may be given (%s)", what, name, gen_names());
    }
    if (!gen_exists(s->task.name))
        return TR_FAIL(err, TR_EINVAL, "answers_only: %s is given rationales of the target's own data '%s'; with a data file "
                       "the target is trained from answers only, rationales may come only from the built-in generators", what, name);
    int tlo, thi, lo, hi;
    const char *unit;
    if (gen_size_range(name, s->task.difficulty, &tlo, &thi, &unit) || gen_size_range(name, difficulty, &lo, &hi, NULL))
        return TR_FAIL(err, TR_EINVAL, "answers_only: %s: difficulty %d or %d of '%s' is unknown", what, difficulty, s->task.difficulty, name);
    if (hi < tlo) return 0;
    return TR_FAIL(err, TR_EINVAL, "answers_only: %s is given rationales at difficulty %d of '%s' (%d-%d %s), which is not "
                   "strictly smaller than the target, difficulty %d (%d-%d %s): rationales may be given only on instances smaller "
                   "than every target instance (a difficulty whose largest size is below %d %s), or from another built-in task; "
                   "train larger settings from answers only (method trice, memory_init sample or hint)",
                   what, difficulty, name, lo, hi, unit, s->task.difficulty, tlo, thi, unit, tlo, unit);
}

/* A stage given rationales: its own task and every part of its mix. */
static int check_task(const experiment_spec *s, const char *what, const spec_task *t, int difficulty, tr_error *err) {
    TR_TRY(check_one(s, what, t->name, difficulty, err));
    for (int k = 0; k < t->n_mix; k++) {
        char part[160];
        snprintf(part, sizeof part, "%s, task.mix[%d],", what, k);
        TR_TRY(check_one(s, part, t->mix[k].name, t->mix[k].difficulty, err));
    }
    return 0;
}

int task_check_stage_rule(const experiment_spec *s, tr_error *err) {
    if (!s->answers_only) return 0;
    if (gives_rationales(s->method, s->memory_init))
        return TR_FAIL(err, TR_EINVAL, "answers_only: the target stage (method %s, memory_init %s) would be given rationales; "
                       "it must learn from answers only (method trice, trice-nocv, rs, star or direct; memory_init sample or hint)",
                       spec_method_name(s->method), spec_meminit_name(s->memory_init));
    /* Few-shot exemplars are the target's own rationales (program-written at the target setting
     * for a generator, the data file's for a file), shown to the model when memory is sampled. */
    if (s->init_shots > 0)
        return TR_FAIL(err, TR_EINVAL, "answers_only: init_shots %d would show the model %d rationales of the target '%s' "
                       "(%s) when memory is initialised; the target must learn from answers only (use init_shots 0)",
                       s->init_shots, s->init_shots, s->task.name,
                       gen_exists(s->task.name) ? "program-written at the target setting" : "from its own data file");
    if (s->warmup_sft_steps > 0)
        TR_TRY(check_task(s, "the warm-up (warmup_sft_steps)", &s->task, s->warmup_difficulty, err));
    for (int i = 0; i < s->n_stages; i++) {
        const spec_stage *st = &s->stages[i];
        if (!gives_rationales(st->method, st->memory_init)) continue;
        char what[96];
        snprintf(what, sizeof what, "stages[%d] '%s'", i, st->name);
        TR_TRY(check_task(s, what, &st->task, st->task.difficulty, err));
    }
    return 0;
}
