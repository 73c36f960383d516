/* spec.c - experiment spec: defaults, JSON parsing with located errors, validation. */
#include "common/spec/spec.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/jsonpos.h"
#include "common/util/suggest.h"

static const char *method_names[] = {"trice", "trice-nocv", "sft", "direct", "rs", "star"};
static const char *tunable_names[] = {"full", "prompt"};
static const char *meminit_names[] = {"hint", "sample", "given"};
static const char *schedule_names[] = {"constant", "cosine"};
static const char *tokenizer_names[] = {"byte", "gpt2"};
static const char *position_names[] = {"learned", "alibi", "none", "coupled", "coupled-alibi", "coupled-rope", "coupled-rope-alibi"};
/* Task kinds a spec may name: the built-in generators, then the file formats. */
static const char *task_names[] = {"multistep_arithmetic_two", "boolean_expressions", "dyck_languages",
                                   "navigate", "bbh", "gsm8k", "jsonl", NULL};

const char *spec_method_name(spec_method m) { return (unsigned)m < METHOD_COUNT ? method_names[m] : "?"; }
const char *spec_tunable_name(spec_tunable t) { return (unsigned)t < TUNABLE_COUNT ? tunable_names[t] : "?"; }
const char *spec_meminit_name(spec_meminit m) { return (unsigned)m < MEMINIT_COUNT ? meminit_names[m] : "?"; }
const char *spec_schedule_name(spec_schedule s) { return (unsigned)s < SCHEDULE_COUNT ? schedule_names[s] : "?"; }

void spec_defaults(experiment_spec *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "default");
    s->seed = 1;
    snprintf(s->task.name, sizeof s->task.name, "multistep_arithmetic_two");
    s->task.difficulty = 0;
    s->task.n_train = 2000;
    s->task.n_eval = 200;
    s->task.train_fraction = 0.6;
    s->model.layers = 4;
    s->model.heads = 4;
    s->model.channels = 128;
    s->model.context = 256;
    s->method = METHOD_TRICE;
    s->tunable = TUNABLE_FULL;
    s->prompt_len = 0;
    s->steps = 100;
    s->batch_size = 32;
    s->subsample = 0;
    s->memory_init = MEMINIT_HINT;
    s->init_tries = 4;
    s->particles = 4;
    s->star_iterations = 3;
    s->max_new_tokens = 128;
    s->temperature = 1.0;
    s->top_k = 0;
    s->top_p = 1.0;
    s->optim.lr = 1e-3;
    s->optim.weight_decay = 0.0;
    s->optim.beta1 = 0.9;
    s->optim.beta2 = 0.999;
    s->optim.eps = 1e-8;
    s->optim.grad_clip = 1.0;
    s->optim.schedule = SCHEDULE_CONSTANT;
    s->optim.warmup_steps = 0;
    s->optim.min_lr_ratio = 0.1;
    s->warmup_difficulty = 1;
    s->warmup_lr = 2e-3;
    s->eval_every = 0;
    s->maj_k = 0;
    s->checkpoint_every = 0;
    s->keep_checkpoints = 3;
}

typedef enum { F_STR, F_INT, F_U64, F_I64, F_DBL, F_ENUM, F_TASK, F_BOOL, F_MIX } field_type;

typedef struct field {
    const char *path;      /* dotted JSON path */
    field_type type;
    size_t off;            /* offset in experiment_spec */
    size_t size;           /* F_STR: buffer size */
    double min, max;       /* F_INT / F_DBL / F_U64 inclusive range */
    const char **names;    /* F_ENUM: allowed names */
    int nnames;
    const char *help;      /* what the field means, for messages */
} field;

#define OFF(m) offsetof(experiment_spec, m)
#define STR(p, m, help) {p, F_STR, OFF(m), sizeof(((experiment_spec *)0)->m), 0, 0, NULL, 0, help}
#define INT(p, m, lo, hi, help) {p, F_INT, OFF(m), 0, lo, hi, NULL, 0, help}
#define DBL(p, m, lo, hi, help) {p, F_DBL, OFF(m), 0, lo, hi, NULL, 0, help}
#define ENUM(p, m, names, help) {p, F_ENUM, OFF(m), 0, 0, 0, names, (int)(sizeof names / sizeof names[0]), help}

static const field fields[] = {
    STR("name", name, "experiment name"),
    {"seed", F_U64, OFF(seed), 0, 0, 9007199254740991.0, NULL, 0, "random seed"},
    {"task.name", F_TASK, OFF(task.name), sizeof(((experiment_spec *)0)->task.name), 0, 0, NULL, 0, "task"},
    STR("task.path", task.path, "data file"),
    STR("task.test_path", task.test_path, "held-out data file"),
    INT("task.difficulty", task.difficulty, 0, 100, "generator difficulty (0 = target setting)"),
    INT("task.n_train", task.n_train, 0, 10000000, "training examples"),
    INT("task.n_eval", task.n_eval, 0, 10000000, "held-out examples (0: none, nothing evaluated)"),
    DBL("task.train_fraction", task.train_fraction, 0.01, 0.99, "training share of a split"),
    {"task.mix", F_MIX, OFF(task), 0, 0, 0, NULL, 0, "other generator settings trained beside the task"},
    STR("model.init", model.init, "llm.c checkpoint"),
    INT("model.layers", model.layers, 1, 96, "transformer layers"),
    INT("model.heads", model.heads, 1, 128, "attention heads"),
    INT("model.channels", model.channels, 8, 8192, "channels"),
    INT("model.context", model.context, 16, 8192, "context length"),
    ENUM("model.tokenizer", model.tokenizer, tokenizer_names, "tokenizer (byte or gpt2)"),
    ENUM("model.position", model.position, position_names, "position encoding (learned, alibi, none, coupled, coupled-alibi, coupled-rope or coupled-rope-alibi)"),
    ENUM("method", method, method_names, "training method"),
    ENUM("tunable", tunable, tunable_names, "tunable parameters"),
    INT("prompt_len", prompt_len, 0, 1024, "soft-prompt vectors"),
    INT("steps", steps, 1, 100000000, "optimiser steps"),
    INT("batch_size", batch_size, 1, 65536, "examples per step"),
    INT("subsample", subsample, 0, 131072, "gradient terms L (0 = all)"),
    ENUM("memory_init", memory_init, meminit_names, "memory initialisation"),
    INT("init_tries", init_tries, 1, 1000, "tries for memory_init=sample"),
    INT("init_shots", init_shots, 0, 16, "few-shot exemplars for memory_init=sample (0 = off)"),
    INT("particles", particles, 1, 1000, "rs particles"),
    INT("star_iterations", star_iterations, 1, 1000, "STaR outer iterations"),
    INT("max_new_tokens", max_new_tokens, 1, 8192, "rationale token limit"),
    DBL("temperature", temperature, 0.0, 10.0, "proposal temperature"),
    INT("top_k", top_k, 0, 1000000, "top-k truncation (0 = off)"),
    DBL("top_p", top_p, 0.0, 1.0, "nucleus truncation (1 = off)"),
    {"sample_bf16", F_BOOL, OFF(sample_bf16), 0, 0, 0, NULL, 0, "decode with bfloat16 weights (faster; proposals approximate)"},
    {"train_bf16", F_BOOL, OFF(train_bf16), 0, 0, 0, NULL, 0, "gradient passes multiply in bfloat16 (faster; fp32 sums)"},
    DBL("optim.lr", optim.lr, 0.0, 100.0, "learning rate"),
    DBL("optim.weight_decay", optim.weight_decay, 0.0, 10.0, "weight decay"),
    DBL("optim.beta1", optim.beta1, 0.0, 0.999999, "Adam beta1"),
    DBL("optim.beta2", optim.beta2, 0.0, 0.999999999, "Adam beta2"),
    DBL("optim.eps", optim.eps, 1e-30, 1.0, "Adam epsilon"),
    DBL("optim.grad_clip", optim.grad_clip, 0.0, 1e9, "gradient-norm clip (0 = off)"),
    ENUM("optim.schedule", optim.schedule, schedule_names, "learning-rate schedule"),
    INT("optim.warmup_steps", optim.warmup_steps, 0, 100000000, "warm-up steps"),
    DBL("optim.min_lr_ratio", optim.min_lr_ratio, 0.0, 1.0, "final lr / lr for cosine"),
    INT("eval_every", eval_every, 0, 100000000, "steps between evaluations"),
    INT("maj_k", maj_k, 0, 1000, "samples for maj@k"),
    INT("variance_probe", variance_probe, 0, 1000, "proposal draws per variance measurement (0 = off)"),
    {"max_sampled_tokens", F_I64, OFF(max_sampled_tokens), 0, 0, 1e15, NULL, 0, "sampled-token budget (0 = off)"},
    INT("warmup_sft_steps", warmup_sft_steps, 0, 100000000, "supervised warm-up steps"),
    INT("warmup_difficulty", warmup_difficulty, 0, 100, "warm-up generator difficulty"),
    DBL("warmup_lr", warmup_lr, 0.0, 100.0, "warm-up learning rate"),
    {"position_jitter", F_BOOL, OFF(position_jitter), 0, 0, 0, NULL, 0, "random position offsets for supervised terms (sft, direct)"},
    {"answers_only", F_BOOL, OFF(answers_only), 0, 0, 0, NULL, 0, "train the target from answers only (the stage rule)"},
    INT("checkpoint_every", checkpoint_every, 0, 100000000, "steps between checkpoints"),
    INT("keep_checkpoints", keep_checkpoints, 1, 1000, "checkpoints kept"),
    STR("out_dir", out_dir, "experiment folder"),
    STR("device", device, "where the sides compute: cpu, cuda, cuda:N or auto"),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* Every problem of a spec is collected and reported at once (a user fixes them in one go):
 * one problem reads "spec.json:4: field 'steps': ..."; several read
 * "spec.json: 3 problems:\n  spec.json:4: field ...\n  ...". */
typedef struct spec_errs {
    const char *text, *source;  /* for line numbers; either may be NULL */
    int n;
    size_t len;
    char list[TR_ERRMSG_MAX];   /* each entry starts with "\n  " */
} spec_errs;

static void errs_add(spec_errs *e, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errs_add(spec_errs *e, const char *path, const char *fmt, ...) {
    char what[700], loc[300] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = e->text && path ? jsonpos_key_line(e->text, path) : 0;
    if (e->source && line > 0) snprintf(loc, sizeof loc, "%s:%d: ", e->source, line);
    else if (e->source) snprintf(loc, sizeof loc, "%s: ", e->source);
    e->n++;
    if (e->len + 8 >= sizeof e->list) return;
    int k = path ? snprintf(e->list + e->len, sizeof e->list - e->len, "\n  %sfield '%s': %s", loc, path, what)
                 : snprintf(e->list + e->len, sizeof e->list - e->len, "\n  %s%s", loc, what);
    e->len += k > 0 ? (size_t)k : 0;
    if (e->len >= sizeof e->list) e->len = sizeof e->list - 1;
}

/* errs_add, as an expression that returns 1 (set_field's "failed"). */
#define errs_add_r(...) (errs_add(__VA_ARGS__), 1)

static int errs_finish(spec_errs *e, tr_error *err) {
    if (e->n == 0) return 0;
    if (e->n == 1) return TR_FAIL(err, TR_EINVAL, "%s", e->list + 3);
    return TR_FAIL(err, TR_EINVAL, "%s%s%d problems:%s", e->source ? e->source : "", e->source ? ": " : "", e->n, e->list);
}

static void list_names(char *out, size_t cap, const char **names, int n) {
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; (n < 0 ? names[i] != NULL : i < n) && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? ", " : "", names[i]);
}

/* task_names lists the generators first, up to "bbh" */
static int n_generators(void) {
    int n = 0;
    while (task_names[n] && strcmp(task_names[n], "bbh") != 0) n++;
    return n;
}

static int is_generator(const char *name) {
    for (int i = 0; i < n_generators(); i++)
        if (strcmp(task_names[i], name) == 0) return 1;
    return 0;
}

/* "mix": [{"name": GENERATOR, "difficulty": D, "n_train": N}, ...]; every problem is reported
 * with the part's index. */
static int set_mix(const char *path, json_t *v, spec_task *t, spec_errs *E) {
    static const char *const shape = "an array of {\"name\": GENERATOR, \"difficulty\": D, \"n_train\": N} objects";
    if (!json_is_array(v)) return errs_add_r(E, path, "must be %s", shape);
    if (json_array_size(v) > SPEC_MIX_MAX)
        return errs_add_r(E, path, "has %zu parts; at most %d allowed", json_array_size(v), SPEC_MIX_MAX);
    int bad = 0;
    t->n_mix = 0;
    size_t i;
    json_t *o;
    json_array_foreach(v, i, o) {
        char where[64];
        snprintf(where, sizeof where, "%s[%zu]", path, i);
        if (!json_is_object(o)) { bad = errs_add_r(E, where, "must be an object (%s)", shape); continue; }
        spec_mix_part p = {.difficulty = 0, .n_train = 0};
        int ok = 1;
        const char *key;
        json_t *x;
        json_object_foreach(o, key, x) {
            if (strcmp(key, "name") == 0) {
                const char *str = json_is_string(x) ? json_string_value(x) : NULL;
                if (!str || !is_generator(str)) {
                    char allowed[256];
                    list_names(allowed, sizeof allowed, task_names, n_generators());
                    ok = !errs_add_r(E, where, "name %s%s%s is not a built-in generator (allowed: %s)", str ? "'" : "",
                                     str ? str : "(not a string)", str ? "'" : "", allowed);
                } else snprintf(p.name, sizeof p.name, "%s", str);
            } else if (strcmp(key, "difficulty") == 0 || strcmp(key, "n_train") == 0) {
                int is_d = key[0] == 'd';
                json_int_t lo = is_d ? 0 : 1, hi = is_d ? 100 : 10000000;
                if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
                    ok = !errs_add_r(E, where, "%s must be an integer in %lld..%lld", key, (long long)lo, (long long)hi);
                else if (is_d) p.difficulty = (int)json_integer_value(x);
                else p.n_train = (int)json_integer_value(x);
            } else
                ok = !errs_add_r(E, where, "unknown field '%s' (known: name, difficulty, n_train)", key);
        }
        if (ok && (!p.name[0] || p.n_train < 1))
            ok = !errs_add_r(E, where, "needs %s (%s)", !p.name[0] ? "a name" : "n_train >= 1", shape);
        if (ok) t->mix[t->n_mix++] = p;
        else bad = 1;
    }
    return bad;
}

static int set_field(const field *f, json_t *v, experiment_spec *s, spec_errs *E) {
    char *base = (char *)s + f->off;
    switch (f->type) {
    case F_STR:
    case F_TASK: {
        if (!json_is_string(v)) return errs_add_r(E, f->path, "must be a string (%s)", f->help);
        const char *str = json_string_value(v);
        if (strlen(str) >= f->size)
            return errs_add_r(E, f->path, "is %zu bytes long; at most %zu allowed", strlen(str), f->size - 1);
        if (f->type == F_TASK) {
            int ok = 0;
            for (int i = 0; task_names[i]; i++) ok |= strcmp(task_names[i], str) == 0;
            if (!ok) {
                char allowed[512];
                list_names(allowed, sizeof allowed, task_names, -1);
                int k = suggest_closest(str, task_names, -1);
                return errs_add_r(E, f->path, "unknown task '%s'%s%s%s (allowed: %s)", str, k >= 0 ? "; did you mean '" : "",
                                  k >= 0 ? task_names[k] : "", k >= 0 ? "'?" : "", allowed);
            }
        }
        memcpy(base, str, strlen(str) + 1);
        return 0;
    }
    case F_INT:
    case F_I64:
    case F_U64: {
        if (!json_is_integer(v)) return errs_add_r(E, f->path, "must be an integer (%s)", f->help);
        json_int_t x = json_integer_value(v);
        if ((double)x < f->min || (double)x > f->max)
            return errs_add_r(E, f->path, "value %lld is out of range (allowed %.0f..%.0f)", (long long)x, f->min, f->max);
        if (f->type == F_INT) *(int *)(void *)base = (int)x;
        else if (f->type == F_I64) *(int64_t *)(void *)base = (int64_t)x;
        else *(uint64_t *)(void *)base = (uint64_t)x;
        return 0;
    }
    case F_MIX: return set_mix(f->path, v, (spec_task *)(void *)base, E);
    case F_BOOL:
        if (!json_is_boolean(v)) return errs_add_r(E, f->path, "must be true or false (%s)", f->help);
        *(int *)(void *)base = json_is_true(v);
        return 0;
    case F_DBL: {
        if (!json_is_number(v)) return errs_add_r(E, f->path, "must be a number (%s)", f->help);
        double x = json_number_value(v);
        if (!isfinite(x) || x < f->min || x > f->max)
            return errs_add_r(E, f->path, "value %g is out of range (allowed %g..%g)", x, f->min, f->max);
        *(double *)(void *)base = x;
        return 0;
    }
    case F_ENUM: {
        char allowed[256];
        list_names(allowed, sizeof allowed, f->names, f->nnames);
        if (!json_is_string(v)) return errs_add_r(E, f->path, "must be a string, one of: %s", allowed);
        const char *str = json_string_value(v);
        for (int i = 0; i < f->nnames; i++)
            if (strcmp(str, f->names[i]) == 0) { *(int *)(void *)base = i; return 0; }
        int k = suggest_closest(str, f->names, f->nnames);
        return errs_add_r(E, f->path, "unknown value '%s'%s%s%s (allowed: %s)", str, k >= 0 ? "; did you mean '" : "",
                          k >= 0 ? f->names[k] : "", k >= 0 ? "'?" : "", allowed);
    }
    }
    return errs_add_r(E, f->path, "internal error: bad field type");
}

/* The fields a stage of a multi-stage spec may set ("optim." = the whole group); the rest
 * (model, seed, tunable, checkpoints...) belong to the experiment as a whole. */
static const char *const stage_fields[] = {"name", "method", "task.name", "task.difficulty", "task.n_train", "task.n_eval", "task.mix",
                                           "steps", "batch_size", "subsample", "memory_init", "init_tries",
                                           "max_new_tokens", "eval_every", "max_sampled_tokens", "position_jitter", "optim.", NULL};

static int field_allowed(const char *path, const char *const *allowed) {
    if (!allowed) return 1;
    for (int i = 0; allowed[i]; i++) {
        size_t n = strlen(allowed[i]);
        if (allowed[i][n - 1] == '.' ? strncmp(path, allowed[i], n) == 0 : strcmp(path, allowed[i]) == 0) return 1;
    }
    return 0;
}

/* Walk obj (at prefix) and set every known field; every unknown key or bad value is
 * collected in E and the walk goes on. allowed: NULL for the top level (where "stages" is
 * skipped: it is read once the top level is known), or the fields a stage may set. */
static void walk(json_t *obj, const char *prefix, experiment_spec *s, const char *const *allowed, spec_errs *E) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (!allowed && !*prefix && strcmp(key, "stages") == 0) continue;
        const field *f = NULL;
        int is_group = 0;
        size_t plen = strlen(path);
        for (size_t i = 0; i < NFIELDS; i++) {
            if (strcmp(fields[i].path, path) == 0) f = &fields[i];
            else if (strncmp(fields[i].path, path, plen) == 0 && fields[i].path[plen] == '.') is_group = 1;
        }
        if (f && !field_allowed(path, allowed)) {
            errs_add(E, path, "a stage cannot set this; it belongs to the whole experiment (a stage may set: name, method, "
                     "task.name, task.difficulty, task.n_train, task.n_eval, task.mix, steps, batch_size, subsample, memory_init, "
                     "init_tries, max_new_tokens, eval_every, max_sampled_tokens, position_jitter, optim.*)");
            continue;
        }
        if (f) { set_field(f, v, s, E); continue; }
        if (is_group) {
            if (!json_is_object(v)) errs_add(E, path, "must be an object");
            else walk(v, path, s, allowed, E);
            continue;
        }
        /* the names valid at this level: fields and groups ("task", "model", "optim") */
        const char *here[NFIELDS];
        char names[NFIELDS][64];
        int nh = 0;
        size_t pl = strlen(prefix);
        for (size_t i = 0; i < NFIELDS; i++) {
            const char *fp = fields[i].path;
            if (pl && (strncmp(fp, prefix, pl) != 0 || fp[pl] != '.')) continue;
            const char *rest = pl ? fp + pl + 1 : fp;
            size_t n = strcspn(rest, ".");
            if (n >= sizeof names[0]) continue;
            int dup = 0;
            for (int j = 0; j < nh; j++) dup |= strncmp(here[j], rest, n) == 0 && here[j][n] == '\0';
            if (dup) continue;
            memcpy(names[nh], rest, n);
            names[nh][n] = '\0';
            here[nh] = names[nh];
            nh++;
        }
        int k = suggest_closest(key, here, nh);
        if (k >= 0) {
            errs_add(E, path, "unknown field; did you mean '%s%s%s'?", prefix, pl ? "." : "", here[k]);
            continue;
        }
        char known[600];
        size_t kl = 0;
        known[0] = '\0';
        for (int j = 0; j < nh && kl < sizeof known; j++)
            kl += (size_t)snprintf(known + kl, sizeof known - kl, "%s%s", j ? ", " : "", here[j]);
        errs_add(E, path, "unknown field (known fields here: %s%s)", known, !allowed && !pl ? ", stages" : "");
    }
}

static void validate(const experiment_spec *s, spec_errs *E);

static void stage_from_spec(const experiment_spec *t, spec_stage *st) {
    snprintf(st->name, sizeof st->name, "%s", t->name);
    st->method = t->method;
    st->task = t->task;
    st->steps = t->steps;
    st->batch_size = t->batch_size;
    st->subsample = t->subsample;
    st->memory_init = t->memory_init;
    st->init_tries = t->init_tries;
    st->max_new_tokens = t->max_new_tokens;
    st->eval_every = t->eval_every;
    st->max_sampled_tokens = t->max_sampled_tokens;
    st->position_jitter = t->position_jitter;
    st->optim = t->optim;
}

void spec_stage_apply(const experiment_spec *top, const spec_stage *st, experiment_spec *out) {
    *out = *top;
    snprintf(out->name, sizeof out->name, "%.80s-%s", top->name, st->name);
    out->method = st->method;
    out->task = st->task;
    if (strcmp(st->task.name, top->task.name) != 0) out->task.path[0] = out->task.test_path[0] = '\0';
    out->steps = st->steps;
    out->batch_size = st->batch_size;
    out->subsample = st->subsample;
    out->memory_init = st->memory_init;
    out->init_tries = st->init_tries;
    out->max_new_tokens = st->max_new_tokens;
    out->eval_every = st->eval_every;
    out->max_sampled_tokens = st->max_sampled_tokens;
    out->position_jitter = st->position_jitter;
    out->optim = st->optim;
    out->tunable = TUNABLE_FULL;   /* earlier stages tune every weight; a soft prompt is the last stage's */
    out->prompt_len = 0;
    out->n_stages = 0;
    out->warmup_sft_steps = 0;
    out->init_shots = 0;     /* exemplars are the target's: an earlier stage samples zero-shot */
    out->answers_only = 0;   /* the rule is about the experiment as a whole, checked on it */
}

/* "stages": [{...}, ...]: each object changes some settings of the top level (read first,
 * whatever the key order), so a stage is stored fully resolved. Problems are collected in E
 * with the stage named ("stages[1] ('d2'): field 'steps': ..."). */
static void parse_stages(json_t *arr, experiment_spec *s, spec_errs *E) {
    if (!arr) return;
    if (!json_is_array(arr)) {
        errs_add(E, "stages", "must be an array of stage objects, e.g. "
                 "[{\"name\": \"warmup\", \"method\": \"sft\", \"task\": {\"difficulty\": 1}, \"steps\": 500}]");
        return;
    }
    if (json_array_size(arr) > SPEC_MAX_STAGES) {
        errs_add(E, "stages", "%zu stages; at most %d are allowed", json_array_size(arr), SPEC_MAX_STAGES);
        return;
    }
    size_t i;
    json_t *obj;
    json_array_foreach(arr, i, obj) {
        char where[SPEC_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s%sstages[%zu]", E->source ? E->source : "", E->source ? ": " : "", i);
        spec_errs SE = {NULL, where, 0, 0, ""};   /* no line numbers: a key appears in several stages */
        if (!json_is_object(obj)) {
            errs_add(E, NULL, "%s: must be an object of stage settings", where);
            continue;
        }
        experiment_spec t = *s;
        t.name[0] = '\0';
        walk(obj, "", &t, stage_fields, &SE);
        size_t n = strlen(t.name);
        if (SE.n == 0 && (n == 0 || n >= SPEC_STAGE_NAME_MAX || strspn(t.name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n))
            errs_add(&SE, "name", "'%s' is not a stage name (give 1-%d characters of a-z, 0-9, '_' and '-': it names the "
                     "stage's folder)", t.name, SPEC_STAGE_NAME_MAX - 1);
        for (size_t j = 0; j < i && SE.n == 0; j++)
            if (strcmp(s->stages[j].name, t.name) == 0)
                errs_add(&SE, "name", "'%s' is also the name of stages[%zu]; stage names must differ", t.name, j);
        if (SE.n == 0 && (strcmp(t.name, "warmup") == 0 || strcmp(t.name, "checkpoints") == 0))
            errs_add(&SE, "name", "'%s' is reserved (a folder of the experiment already has it)", t.name);
        if (SE.n == 0) {
            stage_from_spec(&t, &s->stages[i]);
            experiment_spec applied;
            spec_stage_apply(s, &s->stages[i], &applied);
            validate(&applied, &SE);
        }
        if (SE.n) errs_add(E, NULL, "%s", SE.list + 3);   /* each stage's problems, in order */
    }
    if (E->n == 0) s->n_stages = (int)json_array_size(arr);
}

int spec_parse_json(const char *text, const char *source, experiment_spec *s, tr_error *err) {
    spec_defaults(s);
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return TR_FAIL(err, TR_EINVAL, "%s:%d:%d: invalid JSON: %s", source, je.line, je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return TR_FAIL(err, TR_EINVAL, "%s:1: the spec must be a JSON object ({...})", source);
    }
    spec_errs E = {text, source, 0, 0, ""};
    walk(root, "", s, NULL, &E);
    if (E.n == 0) parse_stages(json_object_get(root, "stages"), s, &E);
    json_decref(root);
    /* cross-field checks only on values that parsed: a rejected value left its default,
     * and a check against that default would confuse */
    if (E.n == 0) validate(s, &E);
    return errs_finish(&E, err);
}

int spec_load_file(const char *path, experiment_spec *s, tr_error *err) {
    char *text;
    TR_TRY(tr_read_file(path, 1 << 20, &text, NULL, err));
    int rc = spec_parse_json(text, path, s, err);
    free(text);
    return rc;
}

int spec_validate(const experiment_spec *s, tr_error *err) {
    spec_errs E = {NULL, NULL, 0, 0, ""};
    validate(s, &E);
    return errs_finish(&E, err);
}

static void validate(const experiment_spec *s, spec_errs *E) {
    if (s->model.channels % s->model.heads != 0)
        errs_add(E, "model.heads", "%d does not divide model.channels = %d", s->model.heads, s->model.channels);
    if (s->tunable == TUNABLE_PROMPT && s->prompt_len < 1)
        errs_add(E, "prompt_len", "tunable 'prompt' needs prompt_len >= 1 (got %d)", s->prompt_len);
    if (s->tunable == TUNABLE_FULL && s->prompt_len != 0)
        errs_add(E, "prompt_len", "%d soft-prompt vectors given but tunable is 'full' (set tunable to 'prompt' or prompt_len to 0)", s->prompt_len);
    int is_file = strcmp(s->task.name, "bbh") == 0 || strcmp(s->task.name, "gsm8k") == 0 || strcmp(s->task.name, "jsonl") == 0;
    if (is_file && s->task.path[0] == '\0')
        errs_add(E, "task.path", "task '%s' reads a data file; give its path", s->task.name);
    if (!is_file && s->task.path[0] != '\0')
        errs_add(E, "task.path", "task '%s' is a built-in generator and reads no file (use task.name 'bbh', 'gsm8k' or 'jsonl' for files)", s->task.name);
    if (!is_file && s->task.n_train < 1)
        errs_add(E, "task.n_train", "a built-in generator needs n_train >= 1");
    if (s->max_new_tokens >= s->model.context)
        errs_add(E, "max_new_tokens", "%d leaves no room for the prompt in a context of %d", s->max_new_tokens, s->model.context);
    if (s->optim.warmup_steps > s->steps)
        errs_add(E, "optim.warmup_steps", "%d is more than steps = %d", s->optim.warmup_steps, s->steps);
    if ((s->method == METHOD_TRICE || s->method == METHOD_TRICE_NOCV) && s->subsample > 2 * s->batch_size)
        errs_add(E, "subsample", "L = %d exceeds the 2M = %d terms; use 0 for no subsampling", s->subsample, 2 * s->batch_size);
    if (s->device[0] && strcmp(s->device, "cpu") && strcmp(s->device, "cuda") && strcmp(s->device, "auto")) {
        const char *d = s->device + 5;
        int ok = !strncmp(s->device, "cuda:", 5) && *d;
        for (; ok && *d; d++) ok = *d >= '0' && *d <= '9';
        if (!ok) errs_add(E, "device", "'%s' is not a device; allowed: cpu, cuda, cuda:N (a device number), auto", s->device);
    }
    if (s->position_jitter && s->method != METHOD_SFT && s->method != METHOD_DIRECT)
        errs_add(E, "position_jitter", "only for supervised targets (method sft or direct); with %s the gradient must be that "
                 "of the distribution proposals are sampled from, at position 0", spec_method_name(s->method));
    if (s->model.position >= SPEC_POSITION_COUPLED && s->model.tokenizer != SPEC_TOKENIZER_BYTE)
        errs_add(E, "model.position", "'%s' numbers positions by the bytes \"Q: \" and '=' (common/data/couple.h), so it "
                 "needs model.tokenizer 'byte' (got '%s')", position_names[s->model.position], tokenizer_names[s->model.tokenizer]);
    if (s->variance_probe == 1)
        errs_add(E, "variance_probe", "a variance needs at least 2 draws (or 0 = off)");
    if (s->warmup_sft_steps > 0 && is_file)
        errs_add(E, "warmup_sft_steps", "the warm-up uses program-written rationales, which only the built-in generators have (task '%s' is a file)", s->task.name);
    if (s->temperature == 0.0 && (s->method == METHOD_TRICE || s->method == METHOD_TRICE_NOCV || s->method == METHOD_RS))
        errs_add(E, "temperature", "%s needs samples (temperature > 0; 1 keeps the estimator exact)", spec_method_name(s->method));
    if (s->init_shots > 0 && (s->memory_init != MEMINIT_SAMPLE || (s->method != METHOD_TRICE && s->method != METHOD_TRICE_NOCV)))
        errs_add(E, "init_shots", "%d few-shot exemplars need memory_init 'sample' with method trice or trice-nocv "
                 "(got memory_init '%s', method %s; use init_shots 0)", s->init_shots, spec_meminit_name(s->memory_init),
                 spec_method_name(s->method));
}

static void put_fields(json_t *root, const experiment_spec *s, const char *const *allowed) {
    for (size_t i = 0; i < NFIELDS; i++) {
        const field *f = &fields[i];
        if (!field_allowed(f->path, allowed)) continue;
        const char *base = (const char *)s + f->off;
        json_t *v = NULL;
        switch (f->type) {
        case F_STR: case F_TASK: v = json_string(base); break;
        case F_INT: v = json_integer(*(const int *)(const void *)base); break;
        case F_U64: v = json_integer((json_int_t)*(const uint64_t *)(const void *)base); break;
        case F_I64: v = json_integer((json_int_t)*(const int64_t *)(const void *)base); break;
        case F_DBL: v = json_real(*(const double *)(const void *)base); break;
        case F_ENUM: v = json_string(f->names[*(const int *)(const void *)base]); break;
        case F_BOOL: v = json_boolean(*(const int *)(const void *)base); break;
        case F_MIX: {
            const spec_task *t = (const spec_task *)(const void *)base;
            if (t->n_mix == 0) continue;   /* no mix: the spec reads as it did before mixes existed */
            v = json_array();
            for (int k = 0; k < t->n_mix; k++)
                json_array_append_new(v, json_pack("{s:s, s:i, s:i}", "name", t->mix[k].name, "difficulty",
                                                   t->mix[k].difficulty, "n_train", t->mix[k].n_train));
            break;
        }
        }
        /* place v at its dotted path, creating groups */
        json_t *obj = root;
        char path[128];
        snprintf(path, sizeof path, "%s", f->path);
        char *p = path, *dot;
        while ((dot = strchr(p, '.'))) {
            *dot = '\0';
            json_t *g = json_object_get(obj, p);
            if (!g) { g = json_object(); json_object_set_new(obj, p, g); }
            obj = g;
            p = dot + 1;
        }
        json_object_set_new(obj, p, v);
    }
}

char *spec_to_json(const experiment_spec *s, tr_error *err) {
    json_t *root = json_object();
    put_fields(root, s, NULL);
    if (s->n_stages > 0) {
        json_t *arr = json_array();
        for (int i = 0; i < s->n_stages; i++) {
            experiment_spec t;
            spec_stage_apply(s, &s->stages[i], &t);
            snprintf(t.name, sizeof t.name, "%s", s->stages[i].name);
            json_t *o = json_object();
            put_fields(o, &t, stage_fields);
            json_array_append_new(arr, o);
        }
        json_object_set_new(root, "stages", arr);
    }
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!out) TR_FAIL(err, TR_ENOMEM, "cannot serialise the spec");
    return out;
}
