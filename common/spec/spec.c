/* spec.c - experiment spec: defaults, JSON parsing with located errors, validation. */
#include "common/spec/spec.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/jsonpos.h"

static const char *method_names[] = {"trice", "trice-nocv", "sft", "direct", "rs", "star"};
static const char *tunable_names[] = {"full", "prompt"};
static const char *meminit_names[] = {"hint", "sample", "given"};
static const char *schedule_names[] = {"constant", "cosine"};
static const char *tokenizer_names[] = {"byte", "gpt2"};
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

typedef enum { F_STR, F_INT, F_U64, F_I64, F_DBL, F_ENUM, F_TASK } field_type;

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
    INT("task.n_eval", task.n_eval, 0, 10000000, "held-out examples"),
    DBL("task.train_fraction", task.train_fraction, 0.01, 0.99, "training share of a split"),
    STR("model.init", model.init, "llm.c checkpoint"),
    INT("model.layers", model.layers, 1, 96, "transformer layers"),
    INT("model.heads", model.heads, 1, 128, "attention heads"),
    INT("model.channels", model.channels, 8, 8192, "channels"),
    INT("model.context", model.context, 16, 8192, "context length"),
    ENUM("model.tokenizer", model.tokenizer, tokenizer_names, "tokenizer (byte or gpt2)"),
    ENUM("method", method, method_names, "training method"),
    ENUM("tunable", tunable, tunable_names, "tunable parameters"),
    INT("prompt_len", prompt_len, 0, 1024, "soft-prompt vectors"),
    INT("steps", steps, 1, 100000000, "optimiser steps"),
    INT("batch_size", batch_size, 1, 65536, "examples per step"),
    INT("subsample", subsample, 0, 131072, "gradient terms L (0 = all)"),
    ENUM("memory_init", memory_init, meminit_names, "memory initialisation"),
    INT("init_tries", init_tries, 1, 1000, "tries for memory_init=sample"),
    INT("particles", particles, 1, 1000, "rs particles"),
    INT("star_iterations", star_iterations, 1, 1000, "STaR outer iterations"),
    INT("max_new_tokens", max_new_tokens, 1, 8192, "rationale token limit"),
    DBL("temperature", temperature, 0.0, 10.0, "proposal temperature"),
    INT("top_k", top_k, 0, 1000000, "top-k truncation (0 = off)"),
    DBL("top_p", top_p, 0.0, 1.0, "nucleus truncation (1 = off)"),
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
    INT("checkpoint_every", checkpoint_every, 0, 100000000, "steps between checkpoints"),
    INT("keep_checkpoints", keep_checkpoints, 1, 1000, "checkpoints kept"),
    STR("out_dir", out_dir, "experiment folder"),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static int field_fail(tr_error *err, const char *text, const char *source, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int field_fail(tr_error *err, const char *text, const char *source, const char *path, const char *fmt, ...) {
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = text ? jsonpos_key_line(text, path) : 0;
    if (line > 0)
        return TR_FAIL(err, TR_EINVAL, "%s:%d: field '%s': %s", source, line, path, what);
    return TR_FAIL(err, TR_EINVAL, "%s: field '%s': %s", source, path, what);
}

static void list_names(char *out, size_t cap, const char **names, int n) {
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; (n < 0 ? names[i] != NULL : i < n) && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? ", " : "", names[i]);
}

static int set_field(const field *f, json_t *v, experiment_spec *s, const char *text, const char *source, tr_error *err) {
    char *base = (char *)s + f->off;
    switch (f->type) {
    case F_STR:
    case F_TASK: {
        if (!json_is_string(v)) return field_fail(err, text, source, f->path, "must be a string (%s)", f->help);
        const char *str = json_string_value(v);
        if (strlen(str) >= f->size)
            return field_fail(err, text, source, f->path, "is %zu bytes long; at most %zu allowed", strlen(str), f->size - 1);
        if (f->type == F_TASK) {
            int ok = 0;
            for (int i = 0; task_names[i]; i++) ok |= strcmp(task_names[i], str) == 0;
            if (!ok) {
                char allowed[512];
                list_names(allowed, sizeof allowed, task_names, -1);
                return field_fail(err, text, source, f->path, "unknown task '%s' (allowed: %s)", str, allowed);
            }
        }
        memcpy(base, str, strlen(str) + 1);
        return 0;
    }
    case F_INT:
    case F_I64:
    case F_U64: {
        if (!json_is_integer(v)) return field_fail(err, text, source, f->path, "must be an integer (%s)", f->help);
        json_int_t x = json_integer_value(v);
        if ((double)x < f->min || (double)x > f->max)
            return field_fail(err, text, source, f->path, "value %lld is out of range (allowed %.0f..%.0f)", (long long)x, f->min, f->max);
        if (f->type == F_INT) *(int *)(void *)base = (int)x;
        else if (f->type == F_I64) *(int64_t *)(void *)base = (int64_t)x;
        else *(uint64_t *)(void *)base = (uint64_t)x;
        return 0;
    }
    case F_DBL: {
        if (!json_is_number(v)) return field_fail(err, text, source, f->path, "must be a number (%s)", f->help);
        double x = json_number_value(v);
        if (!isfinite(x) || x < f->min || x > f->max)
            return field_fail(err, text, source, f->path, "value %g is out of range (allowed %g..%g)", x, f->min, f->max);
        *(double *)(void *)base = x;
        return 0;
    }
    case F_ENUM: {
        char allowed[256];
        list_names(allowed, sizeof allowed, f->names, f->nnames);
        if (!json_is_string(v)) return field_fail(err, text, source, f->path, "must be a string, one of: %s", allowed);
        const char *str = json_string_value(v);
        for (int i = 0; i < f->nnames; i++)
            if (strcmp(str, f->names[i]) == 0) { *(int *)(void *)base = i; return 0; }
        return field_fail(err, text, source, f->path, "unknown value '%s' (allowed: %s)", str, allowed);
    }
    }
    return TR_FAIL(err, TR_EINTERNAL, "bad field type");
}

/* Walk obj (at prefix) and set every known field; any unknown key is an error. */
static int walk(json_t *obj, const char *prefix, experiment_spec *s, const char *text, const char *source, tr_error *err) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        const field *f = NULL;
        int is_group = 0;
        size_t plen = strlen(path);
        for (size_t i = 0; i < NFIELDS; i++) {
            if (strcmp(fields[i].path, path) == 0) f = &fields[i];
            else if (strncmp(fields[i].path, path, plen) == 0 && fields[i].path[plen] == '.') is_group = 1;
        }
        if (f) { TR_TRY(set_field(f, v, s, text, source, err)); continue; }
        if (is_group) {
            if (!json_is_object(v)) return field_fail(err, text, source, path, "must be an object");
            TR_TRY(walk(v, path, s, text, source, err));
            continue;
        }
        char known[1200];
        size_t k = 0;
        known[0] = '\0';
        for (size_t i = 0; i < NFIELDS && k < sizeof known; i++) {
            const char *fp = fields[i].path;
            size_t pl = strlen(prefix);
            if (pl && (strncmp(fp, prefix, pl) != 0 || fp[pl] != '.')) continue;
            const char *rest = pl ? fp + pl + 1 : fp;
            const char *dot = strchr(rest, '.');
            if (dot) continue;
            k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", k ? ", " : "", rest);
        }
        return field_fail(err, text, source, path, "unknown field (known fields here: %s%s)", known,
                          *prefix ? "" : ", task.*, model.*, optim.*");
    }
    return 0;
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
    int rc = walk(root, "", s, text, source, err);
    json_decref(root);
    if (rc) return rc;
    rc = spec_validate(s, err);
    if (rc) {
        /* spec_validate names the field first: "field 'x': ..."; add the line when we can */
        const char *q = strstr(err->msg, "field '");
        if (q) {
            char fpath[128];
            const char *e = strchr(q + 7, '\'');
            size_t n = e ? (size_t)(e - (q + 7)) : 0;
            if (n && n < sizeof fpath) {
                memcpy(fpath, q + 7, n);
                fpath[n] = '\0';
                int line = jsonpos_key_line(text, fpath);
                if (line > 0) tr_error_wrap(err, "%s:%d", source, line);
                else tr_error_wrap(err, "%s", source);
            }
        }
    }
    return rc;
}

int spec_load_file(const char *path, experiment_spec *s, tr_error *err) {
    char *text;
    TR_TRY(tr_read_file(path, 1 << 20, &text, NULL, err));
    int rc = spec_parse_json(text, path, s, err);
    free(text);
    return rc;
}

int spec_validate(const experiment_spec *s, tr_error *err) {
    if (s->model.channels % s->model.heads != 0)
        return TR_FAIL(err, TR_EINVAL, "field 'model.heads': %d does not divide model.channels = %d", s->model.heads, s->model.channels);
    if (s->tunable == TUNABLE_PROMPT && s->prompt_len < 1)
        return TR_FAIL(err, TR_EINVAL, "field 'prompt_len': tunable 'prompt' needs prompt_len >= 1 (got %d)", s->prompt_len);
    if (s->tunable == TUNABLE_FULL && s->prompt_len != 0)
        return TR_FAIL(err, TR_EINVAL, "field 'prompt_len': %d soft-prompt vectors given but tunable is 'full' (set tunable to 'prompt' or prompt_len to 0)", s->prompt_len);
    int is_file = strcmp(s->task.name, "bbh") == 0 || strcmp(s->task.name, "gsm8k") == 0 || strcmp(s->task.name, "jsonl") == 0;
    if (is_file && s->task.path[0] == '\0')
        return TR_FAIL(err, TR_EINVAL, "field 'task.path': task '%s' reads a data file; give its path", s->task.name);
    if (!is_file && s->task.path[0] != '\0')
        return TR_FAIL(err, TR_EINVAL, "field 'task.path': task '%s' is a built-in generator and reads no file (use task.name 'bbh', 'gsm8k' or 'jsonl' for files)", s->task.name);
    if (!is_file && s->task.n_train < 1)
        return TR_FAIL(err, TR_EINVAL, "field 'task.n_train': a built-in generator needs n_train >= 1");
    if (s->max_new_tokens >= s->model.context)
        return TR_FAIL(err, TR_EINVAL, "field 'max_new_tokens': %d leaves no room for the prompt in a context of %d", s->max_new_tokens, s->model.context);
    if (s->optim.warmup_steps > s->steps)
        return TR_FAIL(err, TR_EINVAL, "field 'optim.warmup_steps': %d is more than steps = %d", s->optim.warmup_steps, s->steps);
    if ((s->method == METHOD_TRICE || s->method == METHOD_TRICE_NOCV) && s->subsample > 2 * s->batch_size)
        return TR_FAIL(err, TR_EINVAL, "field 'subsample': L = %d exceeds the 2M = %d terms; use 0 for no subsampling", s->subsample, 2 * s->batch_size);
    if (s->variance_probe == 1)
        return TR_FAIL(err, TR_EINVAL, "field 'variance_probe': a variance needs at least 2 draws (or 0 = off)");
    if (s->warmup_sft_steps > 0 && is_file)
        return TR_FAIL(err, TR_EINVAL, "field 'warmup_sft_steps': the warm-up uses program-written rationales, which only the built-in generators have (task '%s' is a file)", s->task.name);
    if (s->temperature == 0.0 && (s->method == METHOD_TRICE || s->method == METHOD_TRICE_NOCV || s->method == METHOD_RS))
        return TR_FAIL(err, TR_EINVAL, "field 'temperature': %s needs samples (temperature > 0; 1 keeps the estimator exact)", spec_method_name(s->method));
    return 0;
}

char *spec_to_json(const experiment_spec *s, tr_error *err) {
    json_t *root = json_object();
    for (size_t i = 0; i < NFIELDS; i++) {
        const field *f = &fields[i];
        const char *base = (const char *)s + f->off;
        json_t *v = NULL;
        switch (f->type) {
        case F_STR: case F_TASK: v = json_string(base); break;
        case F_INT: v = json_integer(*(const int *)(const void *)base); break;
        case F_U64: v = json_integer((json_int_t)*(const uint64_t *)(const void *)base); break;
        case F_I64: v = json_integer((json_int_t)*(const int64_t *)(const void *)base); break;
        case F_DBL: v = json_real(*(const double *)(const void *)base); break;
        case F_ENUM: v = json_string(f->names[*(const int *)(const void *)base]); break;
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
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!out) TR_FAIL(err, TR_ENOMEM, "cannot serialise the spec");
    return out;
}
