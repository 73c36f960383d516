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
        "  \"model\": {\"layers\": 2, \"heads\": 2, \"channels\": 64},\n"
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
    {"{\"steps\": 1, \"steps\": 2}", {"invalid JSON", "duplicate", ""}},
};

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
