#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec/spec.h"

Test(spec, defaults_are_valid) {
    experiment_spec s;
    spec_defaults(&s);
    tr_error err;
    cr_assert_eq(spec_validate(&s, &err), 0, "%s", err.msg);
}

Test(spec, parse_full_spec) {
    const char *text =
        "{\n"
        "  \"name\": \"bbh-nav\",\n"
        "  \"seed\": 7,\n"
        "  \"task\": {\"name\": \"navigate\", \"difficulty\": 2, \"n_train\": 500},\n"
        "  \"model\": {\"layers\": 2, \"heads\": 2, \"channels\": 64, \"position\": \"alibi\"},\n"
        "  \"method\": \"trice-nocv\",\n"
        "  \"tunable\": \"prompt\", \"prompt_len\": 8,\n"
        "  \"optim\": {\"lr\": 0.5, \"schedule\": \"cosine\", \"warmup_steps\": 5},\n"
        "  \"subsample\": 16\n"
        "}\n";
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_parse_json(text, "x.json", &s, &err), 0, "%s", err.msg);
    cr_assert_str_eq(s.name, "bbh-nav");
    cr_assert_eq(s.seed, 7);
    cr_assert_str_eq(s.task.name, "navigate");
    cr_assert_eq(s.task.difficulty, 2);
    cr_assert_eq(s.model.channels, 64);
    cr_assert_eq(s.model.position, SPEC_POSITION_ALIBI);
    cr_assert_eq(s.method, METHOD_TRICE_NOCV);
    cr_assert_eq(s.tunable, TUNABLE_PROMPT);
    cr_assert_eq(s.optim.schedule, SCHEDULE_COSINE);
    cr_assert_float_eq(s.optim.lr, 0.5, 1e-12);
    cr_assert_eq(s.subsample, 16);
    cr_assert_eq(s.batch_size, 32); /* default kept */
}

Test(spec, round_trip_through_json) {
    experiment_spec a, b;
    spec_defaults(&a);
    a.method = METHOD_STAR;
    a.optim.lr = 0.25;
    a.model.position = SPEC_POSITION_NONE;
    snprintf(a.name, sizeof a.name, "rt");
    char *json = spec_to_json(&a, NULL);
    cr_assert_not_null(json);
    tr_error err;
    cr_assert_eq(spec_parse_json(json, "rt", &b, &err), 0, "%s\n%s", err.msg, json);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    free(json);
}

typedef struct bad_case {
    char text[400];
    char expect[3][80];  /* substrings the message must contain */
} bad_case;

static bad_case bad_cases[] = {
    {"{\"name\": \"x\",\n \"stepz\": 3}", {"'stepz'", "unknown field", "t.json:2"}},
    {"{\n\"steps\": 0}", {"'steps'", "out of range", "t.json:2"}},
    {"{\n\"steps\": \"ten\"}", {"'steps'", "must be an integer", "t.json:2"}},
    {"{\"method\":\n \"trice2\"}", {"'method'", "'trice2'", "allowed: trice, trice-nocv, sft"}},
    {"{\"task\": {\n\"name\": \"sudoku\"}}", {"'task.name'", "unknown task 'sudoku'", "t.json:2"}},
    {"{\"task\": {\"nme\": \"navigate\"}}", {"'task.nme'", "unknown field", "name"}},
    {"{\"model\": {\"heads\": 3,\n \"channels\": 64}}", {"'model.heads'", "does not divide", "t.json:1"}},
    {"{\"optim\": {\n\n\"lr\": -1}}", {"'optim.lr'", "out of range", "t.json:3"}},
    {"{\"tunable\": \"prompt\"}", {"'prompt_len'", "prompt_len >= 1", ""}},
    {"{\"task\": {\"name\": \"gsm8k\"}}", {"'task.path'", "give its path", ""}},
    {"{\"task\": 5}", {"'task'", "must be an object", ""}},
    {"{\"steps\": 3,}", {"invalid JSON", "t.json:1", ""}},
    {"[1, 2]", {"must be a JSON object", "", ""}},
    {"{\"max_new_tokens\": 300}", {"'max_new_tokens'", "context of 256", ""}},
    {"{\"subsample\": 65}", {"'subsample'", "2M = 64", ""}},
    {"{\"temperature\": 0}", {"'temperature'", "temperature > 0", ""}},
    {"{\"seed\": -1}", {"'seed'", "out of range", ""}},
    {"{\"model\": {\"position\": \"rope\"}}", {"'model.position'", "'rope'", "allowed: learned, alibi, none"}},
    {"{\"steps\": 1, \"steps\": 2}", {"invalid JSON", "duplicate", ""}},
    {"{\n\"device\": \"gpu\"}", {"'device'", "'gpu'", "allowed: cpu, cuda, cuda:N (a device number), auto"}},
    {"{\"device\": \"cuda:x\"}", {"'device'", "'cuda:x'", "t.json:1"}},
    {"{\"task\": {\"mix\": [{\"name\": \"sudoku\", \"n_train\": 5}]}}", {"'task.mix[0]'", "'sudoku' is not a built-in generator", "allowed: multistep_arithmetic_two"}},
    {"{\"task\": {\"mix\": [{\"name\": \"navigate\", \"n_train\": 5}, {\"name\": \"navigate\", \"n_train\": 0}]}}", {"'task.mix[1]'", "n_train must be an integer in 1..10000000", ""}},
    {"{\"task\": {\"mix\": [{\"name\": \"navigate\", \"n_train\": 3, \"level\": 2}]}}", {"'task.mix[0]'", "unknown field 'level'", "known: name, difficulty, n_train"}},
    {"{\"task\": {\"mix\": [{\"name\": \"navigate\"}]}}", {"'task.mix[0]'", "needs n_train >= 1", ""}},
    {"{\"task\": {\"mix\": {\"name\": \"navigate\"}}}", {"'task.mix'", "must be an array", ""}},
};

Test(spec, device_values) {
    const char *ok[] = {"{\"device\": \"cpu\"}", "{\"device\": \"cuda\"}", "{\"device\": \"cuda:3\"}", "{\"device\": \"auto\"}"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        experiment_spec s;
        tr_error err;
        cr_assert_eq(spec_parse_json(ok[i], "t.json", &s, &err), 0, "%s: %s", ok[i], err.msg);
    }
}

ParameterizedTestParameters(spec, bad_input_names_the_field) {
    return cr_make_param_array(bad_case, bad_cases, sizeof bad_cases / sizeof bad_cases[0]);
}

ParameterizedTest(bad_case *c, spec, bad_input_names_the_field) {
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_parse_json(c->text, "t.json", &s, &err), TR_EINVAL, "accepted: %s", c->text);
    for (int i = 0; i < 3; i++)
        if (c->expect[i][0]) cr_assert(strstr(err.msg, c->expect[i]) != NULL, "message '%s' lacks '%s'", err.msg, c->expect[i]);
}

Test(spec, load_missing_file) {
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_load_file("/no/such/spec.json", &s, &err), TR_ENOTFOUND);
    cr_assert(strstr(err.msg, "/no/such/spec.json") != NULL);
}

/* ---- multi-stage specs ---- */

static const char *stages_text =
    "{\n"
    "  \"name\": \"curriculum\",\n"
    "  \"stages\": [\n"
    "    {\"name\": \"warm\", \"method\": \"sft\", \"memory_init\": \"given\", \"task\": {\"difficulty\": 1, \"n_eval\": 20},\n"
    "     \"steps\": 50, \"optim\": {\"lr\": 0.002, \"schedule\": \"cosine\"}},\n"
    "    {\"name\": \"d2\", \"task\": {\"difficulty\": 2}, \"steps\": 30}\n"
    "  ],\n"
    "  \"task\": {\"name\": \"boolean_expressions\", \"difficulty\": 0, \"n_train\": 300},\n"
    "  \"method\": \"trice\", \"memory_init\": \"sample\", \"batch_size\": 8, \"steps\": 40,\n"
    "  \"tunable\": \"prompt\", \"prompt_len\": 4,\n"
    "  \"optim\": {\"lr\": 0.0005}\n"
    "}\n";

Test(spec, stages_are_resolved_from_the_top_level_whatever_the_key_order) {
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_parse_json(stages_text, "c.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n_stages, 2);
    const spec_stage *w = &s.stages[0], *d = &s.stages[1];
    cr_assert_str_eq(w->name, "warm");
    cr_assert_eq(w->method, METHOD_SFT);
    cr_assert_eq(w->memory_init, MEMINIT_GIVEN);
    cr_assert_eq(w->task.difficulty, 1);
    cr_assert_eq(w->task.n_eval, 20);
    cr_assert_eq(w->task.n_train, 300, "n_train comes from the top level, written after the stages");
    cr_assert_eq(w->batch_size, 8);
    cr_assert_float_eq(w->optim.lr, 0.002, 1e-12);
    cr_assert_eq(w->optim.schedule, SCHEDULE_COSINE);
    cr_assert_eq(d->method, METHOD_TRICE);
    cr_assert_eq(d->memory_init, MEMINIT_SAMPLE);
    cr_assert_float_eq(d->optim.lr, 0.0005, 1e-12);
    cr_assert_eq(d->steps, 30);
    experiment_spec a;
    spec_stage_apply(&s, w, &a);
    cr_assert_str_eq(a.name, "curriculum-warm");
    cr_assert_eq(a.steps, 50);
    cr_assert_eq(a.n_stages, 0);
    cr_assert_eq(a.tunable, TUNABLE_FULL, "earlier stages tune every weight");
    cr_assert_eq(a.prompt_len, 0);
    /* the canonical JSON carries the stages and reads back to the same spec */
    char *json = spec_to_json(&s, &err);
    cr_assert_not_null(json, "%s", err.msg);
    experiment_spec b;
    cr_assert_eq(spec_parse_json(json, "canonical", &b, &err), 0, "%s\n%s", err.msg, json);
    cr_assert_eq(memcmp(&s, &b, sizeof s), 0, "%s", json);
    free(json);
}

Test(spec, a_stage_mix_is_read_and_written_back) {
    const char *text = "{\"name\": \"m\", \"task\": {\"name\": \"multistep_arithmetic_two\"}, \"method\": \"trice\", \"stages\": ["
                       "{\"name\": \"w\", \"method\": \"sft\", \"task\": {\"difficulty\": 2, \"mix\": ["
                       "{\"name\": \"dyck_languages\", \"difficulty\": 3, \"n_train\": 400}, {\"name\": \"navigate\", \"n_train\": 7}]}}]}";
    experiment_spec s, b;
    tr_error err;
    cr_assert_eq(spec_parse_json(text, "m.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.task.n_mix, 0, "the mix is the stage's");
    const spec_task *w = &s.stages[0].task;
    cr_assert_eq(w->n_mix, 2);
    cr_assert_str_eq(w->mix[0].name, "dyck_languages");
    cr_assert_eq(w->mix[0].difficulty, 3);
    cr_assert_eq(w->mix[0].n_train, 400);
    cr_assert_str_eq(w->mix[1].name, "navigate");
    cr_assert_eq(w->mix[1].difficulty, 0, "difficulty defaults to the target setting");
    char *json = spec_to_json(&s, &err);
    cr_assert_not_null(json, "%s", err.msg);
    cr_assert_eq(spec_parse_json(json, "canonical", &b, &err), 0, "%s\n%s", err.msg, json);
    cr_assert_eq(memcmp(&s, &b, sizeof s), 0, "%s", json);
    free(json);
    /* a spec without a mix writes none: canonical specs read as they did before mixes */
    spec_defaults(&b);
    json = spec_to_json(&b, &err);
    cr_assert_not_null(json, "%s", err.msg);
    cr_assert_null(strstr(json, "mix"), "%s", json);
    free(json);
}

Test(spec, bad_stages_are_refused_with_the_stage_named) {
    static const struct { const char *stages; const char *expect[2]; } cases[] = {
        {"{\"name\": \"a\"}", {"must be an array", "stages"}},
        {"[{\"name\": \"a\", \"model\": {\"layers\": 2}}]", {"stages[0]", "belongs to the whole experiment"}},
        {"[{\"name\": \"a\", \"seed\": 2}]", {"stages[0]", "seed"}},
        {"[{\"name\": \"a\"}, {\"name\": \"a\"}]", {"stages[1]", "must differ"}},
        {"[{\"name\": \"Warm Up\"}]", {"stages[0]", "not a stage name"}},
        {"[{\"steps\": 3}]", {"stages[0]", "name"}},
        {"[{\"name\": \"warmup\"}]", {"stages[0]", "reserved"}},
        {"[{\"name\": \"a\", \"max_new_tokens\": 300}]", {"stages[0]", "max_new_tokens"}},
        {"[{\"name\": \"a\", \"metod\": \"sft\"}]", {"stages[0]", "unknown field"}},
        {"[3]", {"stages[0]", "object"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[600];
        snprintf(text, sizeof text, "{\"task\": {\"name\": \"navigate\"}, \"stages\": %s}", cases[i].stages);
        experiment_spec s;
        tr_error err;
        cr_assert_neq(spec_parse_json(text, "bad.json", &s, &err), 0, "case %zu accepted: %s", i, text);
        for (int k = 0; k < 2; k++)
            cr_assert(strstr(err.msg, cases[i].expect[k]), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].expect[k]);
    }
}

Test(spec, position_jitter_only_for_supervised_targets) {
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_parse_json("{\"method\": \"sft\", \"position_jitter\": true}", "j.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.position_jitter, 1);
    cr_assert_neq(spec_parse_json("{\"method\": \"trice\", \"position_jitter\": true}", "j.json", &s, &err), 0);
    cr_assert(strstr(err.msg, "position_jitter") && strstr(err.msg, "trice"), "%s", err.msg);
    /* a stage may switch it on for its own supervised warm-up */
    cr_assert_eq(spec_parse_json("{\"stages\": [{\"name\": \"w\", \"method\": \"sft\", \"position_jitter\": true}]}", "j.json", &s, &err),
                 0, "%s", err.msg);
    cr_assert_eq(s.stages[0].position_jitter, 1);
    cr_assert_eq(s.position_jitter, 0);
}

Test(spec, init_shots_only_with_sampled_memory) {
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_parse_json("{}", "f.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.init_shots, 0, "off by default");
    cr_assert_eq(spec_parse_json("{\"memory_init\": \"sample\", \"init_shots\": 4}", "f.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.init_shots, 4);
    cr_assert_neq(spec_parse_json("{\"memory_init\": \"hint\", \"init_shots\": 2}", "f.json", &s, &err), 0);
    cr_assert(strstr(err.msg, "init_shots") && strstr(err.msg, "memory_init 'hint'") && strstr(err.msg, "sample"), "%s", err.msg);
    cr_assert_neq(spec_parse_json("{\"memory_init\": \"sample\", \"init_shots\": 17}", "f.json", &s, &err), 0);
    cr_assert(strstr(err.msg, "init_shots"), "%s", err.msg);
    cr_assert_neq(spec_parse_json("{\"method\": \"sft\", \"memory_init\": \"sample\", \"init_shots\": 1}", "f.json", &s, &err), 0);
    cr_assert(strstr(err.msg, "init_shots") && strstr(err.msg, "sft"), "%s", err.msg);
    /* a top-level setting: stages cannot set it and run without exemplars */
    cr_assert_neq(spec_parse_json("{\"memory_init\": \"sample\", \"stages\": [{\"name\": \"a\", \"init_shots\": 2}]}",
                                  "f.json", &s, &err), 0);
    cr_assert(strstr(err.msg, "init_shots") && strstr(err.msg, "a stage cannot set this"), "%s", err.msg);
    cr_assert_eq(spec_parse_json("{\"memory_init\": \"sample\", \"init_shots\": 2, \"stages\": [{\"name\": \"a\"}]}",
                                 "f.json", &s, &err), 0, "%s", err.msg);
    experiment_spec st;
    spec_stage_apply(&s, &s.stages[0], &st);
    cr_assert_eq(st.init_shots, 0);
}

Test(spec, coupled_positions_need_the_byte_tokenizer) {
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_parse_json("{\"model\": {\"position\": \"coupled\"}}", "c.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.model.position, SPEC_POSITION_COUPLED);
    cr_assert_neq(spec_parse_json("{\"model\": {\"position\": \"coupled\", \"tokenizer\": \"gpt2\"}}",
                                  "c.json", &s, &err), 0);
    cr_assert(strstr(err.msg, "model.position") && strstr(err.msg, "byte") && strstr(err.msg, "gpt2"), "%s", err.msg);
    cr_assert_eq(spec_parse_json("{\"model\": {\"position\": \"coupled-alibi\"}}", "c.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.model.position, SPEC_POSITION_COUPLED_ALIBI);
    cr_assert_neq(spec_parse_json("{\"model\": {\"position\": \"coupled-alibi\", \"tokenizer\": \"gpt2\"}}", "c.json", &s, &err), 0);
    cr_assert(strstr(err.msg, "coupled-alibi") && strstr(err.msg, "byte"), "%s", err.msg);
}
