/* Loaders: committed fixtures, the real files in ../shared/data (skipped when absent),
 * and malformed input, whose errors must name the file and the line or record. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/load.h"

static void fixture(char *out, size_t cap, const char *name) {
    const char *root = getenv("TRICE_SOURCE_ROOT");
    snprintf(out, cap, "%s/tests/data/fixtures/%s", root ? root : ".", name);
}

static const char *shared_or_skip(void) {
    const char *root = getenv("TRICE_SHARED_DATA");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/gsm8k/test.jsonl", root ? root : "");
    FILE *f = root ? fopen(probe, "r") : NULL;
    if (!f) cr_skip_test("../shared/data is absent (TRICE_SHARED_DATA unset or no %s): real-file test skipped", probe);
    fclose(f);
    return root;
}

static void free_ex(task_example *ex, int64_t n) { task_examples_free(ex, n); free(ex); }

Test(loaders, gsm8k_fixture) {
    char path[1024];
    fixture(path, sizeof path, "gsm8k_mini.jsonl");
    task_example *ex;
    int64_t n;
    tr_error err;
    cr_assert_eq(load_gsm8k_file(path, 0, &ex, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 4);
    cr_assert_eq(ex[0].id, 0);
    cr_assert_eq(ex[3].id, 3);
    cr_assert(strncmp(ex[0].question, "Natalia sold clips", 18) == 0);
    cr_assert_str_eq(ex[0].answer, "72");
    cr_assert_str_eq(ex[0].rationale, "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May. So the answer is 72.");
    cr_assert_str_eq(ex[2].answer, "1080", "thousands comma removed");
    cr_assert_str_eq(ex[3].answer, "-7");
    for (int64_t i = 0; i < n; i++) {
        cr_assert_null(strstr(ex[i].rationale, "<<"), "annotation left in %s", ex[i].rationale);
        cr_assert_null(strstr(ex[i].rationale, "####"));
        cr_assert_eq(answer_check(ANSWER_INT, ex[i].rationale, ex[i].answer), 1);
    }
    cr_assert_not_null(strstr(ex[1].rationale, "years\xe2\x80\x99 ship"), "\\u2019 decoded to UTF-8: %s", ex[1].rationale);
    free_ex(ex, n);
}

Test(loaders, bbh_fixture) {
    char path[1024];
    fixture(path, sizeof path, "bbh_mini.json");
    task_example *ex;
    int64_t n;
    tr_error err;
    cr_assert_eq(load_bbh_file(path, 100, &ex, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 6);
    cr_assert_eq(ex[0].id, 100);
    cr_assert_str_eq(ex[0].answer, "(B)");
    cr_assert_not_null(strstr(ex[0].question, "\nOptions:\n(A) yes"));
    cr_assert_str_eq(ex[4].answer, ") ]");
    cr_assert_str_eq(ex[5].question, "Does \xc3\xa9 decode?");
    cr_assert_null(ex[0].rationale);
    free_ex(ex, n);
}

Test(loaders, generic_jsonl_fixture) {
    char path[1024];
    fixture(path, sizeof path, "generic.jsonl");
    task_example *ex;
    int64_t n;
    tr_error err;
    cr_assert_eq(load_jsonl_file(path, 0, &ex, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(ex[1].id, 2, "ids are line indices; the blank line 2 is skipped");
    cr_assert_str_eq(ex[0].rationale, "2 + 3 = 5. So the answer is 5.");
    cr_assert_null(ex[1].rationale);
    cr_assert_str_eq(ex[2].answer, "-7", "integer answers are accepted");
    free_ex(ex, n);
}

Test(loaders, cot_fixture) {
    char path[1024];
    fixture(path, sizeof path, "cot_mini.txt");
    cot_prompt c;
    tr_error err;
    cr_assert_eq(load_cot_file(path, &c, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.description, "Answer tiny questions.");
    cr_assert_eq(c.n, 2);
    cr_assert_str_eq(c.ex[0].question, "What is 1 + 1?");
    cr_assert_str_eq(c.ex[0].rationale, "One and one make two. So the answer is 2.");
    cr_assert_str_eq(c.ex[1].question, "Is it raining?\nOptions:\n- Yes\n- No");
    cr_assert_str_eq(c.ex[1].answer, "No");
    cot_prompt_free(&c);
}

Test(loaders, real_gsm8k) {
    const char *root = shared_or_skip();
    char path[1024];
    const char *files[] = {"train.jsonl", "test.jsonl"};
    const int64_t want[] = {7473, 1319};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/gsm8k/%s", root, files[k]);
        task_example *ex;
        int64_t n;
        tr_error err;
        cr_assert_eq(load_gsm8k_file(path, 0, &ex, &n, &err), 0, "%s", err.msg);
        cr_assert_eq(n, want[k]);
        int commas = 0;
        for (int64_t i = 0; i < n; i++) {
            cr_assert(answer_is_integer(ex[i].answer) && !strchr(ex[i].answer, ','), "%s record %lld: %s", path, (long long)i, ex[i].answer);
            cr_assert_eq(answer_check(ANSWER_INT, ex[i].rationale, ex[i].answer), 1, "%s:%lld", path, (long long)i + 1);
            cr_assert_null(strstr(ex[i].rationale, "<<"), "%s:%lld", path, (long long)i + 1);
            commas += strlen(ex[i].answer) >= 4;
        }
        cr_assert_gt(commas, 0);
        free_ex(ex, n);
    }
}

Test(loaders, real_bbh_tasks_and_cot_prompts) {
    const char *root = shared_or_skip();
    static const struct { const char *name; int64_t n; } tasks[] = {
        {"causal_judgement", 187}, {"date_understanding", 250}, {"disambiguation_qa", 250},
        {"formal_fallacies", 250}, {"geometric_shapes", 250}, {"hyperbaton", 250},
        {"movie_recommendation", 250}, {"penguins_in_a_table", 146},
        {"reasoning_about_colored_objects", 250}, {"ruin_names", 250},
        {"salient_translation_error_detection", 250}, {"snarks", 178},
        {"sports_understanding", 250}, {"temporal_sequences", 250},
    };
    char path[1024];
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        snprintf(path, sizeof path, "%s/bbh/%s.json", root, tasks[i].name);
        task_example *ex;
        int64_t n;
        tr_error err;
        cr_assert_eq(load_bbh_file(path, 0, &ex, &n, &err), 0, "%s", err.msg);
        cr_assert_eq(n, tasks[i].n, "%s", tasks[i].name);
        free_ex(ex, n);
        /* each CoT prompt: 3 exemplars whose rationales state an answer */
        snprintf(path, sizeof path, "%s/bbh/cot-prompts/%s.txt", root, tasks[i].name);
        cot_prompt c;
        cr_assert_eq(load_cot_file(path, &c, &err), 0, "%s", err.msg);
        cr_assert_eq(c.n, 3, "%s", path);
        for (int64_t k = 0; k < c.n; k++) cr_assert_eq(answer_check(ANSWER_TEXT, c.ex[k].rationale, c.ex[k].answer), 1);
        cot_prompt_free(&c);
    }
}

typedef int (*text_loader)(const char *, size_t, const char *, int64_t, task_example **, int64_t *, tr_error *);

typedef struct bad_case {
    text_loader fn;
    const char *text;
    const char *expect[2];   /* substrings the message must contain */
} bad_case;

static int cot_adapter(const char *t, size_t len, const char *src, int64_t base, task_example **out, int64_t *n, tr_error *err) {
    (void)base;
    cot_prompt c;
    int rc = load_cot_text(t, len, src, &c, err);
    *out = NULL; *n = 0;
    if (rc == 0) cot_prompt_free(&c);
    return rc;
}

#define OKLINE "{\"question\": \"q\", \"answer\": \"a\\n#### 5\"}\n"

static const bad_case bad[] = {
    {load_gsm8k_text, OKLINE OKLINE "{\"question\": \"q\", \"answer\": \n", {"in.jsonl:3:", "not valid JSON"}},
    {load_gsm8k_text, OKLINE "{\"answer\": \"#### 5\"}\n", {"in.jsonl:2:", "\"question\""}},
    {load_gsm8k_text, OKLINE "{\"question\": \"q\", \"answer\": 5}\n", {"in.jsonl:2:", "\"answer\""}},
    {load_gsm8k_text, "{\"question\": \"q\", \"answer\": \"no final line\"}\n", {"in.jsonl:1:", "####"}},
    {load_gsm8k_text, "{\"question\": \"q\", \"answer\": \"x\\n#### five\"}\n", {"in.jsonl:1:", "not a whole number"}},
    {load_gsm8k_text, "{\"question\": \"q\", \"answer\": \"x\\n#### 2.5\"}\n", {"in.jsonl:1:", "2.5"}},
    {load_gsm8k_text, "[1, 2]\n", {"in.jsonl:1:", "JSON object"}},
    {load_gsm8k_text, "\n\n", {"in.jsonl", "no records"}},
    {load_jsonl_text, "{\"question\": \"q\", \"answer\": \"a\", \"rationle\": \"r\"}\n", {"in.jsonl:1:", "rationle"}},
    {load_jsonl_text, "{\"question\": \"q\", \"answer\": \"a\"}\n{\"question\": \"\", \"answer\": \"a\"}\n", {"in.jsonl:2:", "empty"}},
    {load_jsonl_text, "{\"question\": \"q\", \"answer\": [1]}\n", {"in.jsonl:1:", "answer"}},
    {load_jsonl_text, "{\"question\": \"q\", \"answer\": \"a\", \"rationale\": 3}\n", {"in.jsonl:1:", "rationale"}},
    {load_jsonl_text, "{\"question\": \"q\\u0000x\", \"answer\": \"a\"}\n", {"in.jsonl:1:", "JSON"}},
    {load_bbh_text, "{\"examples\": [{\"input\": \"a\", \"target\": \"b\"}, {\"input\": \"c\"}]}", {"in.jsonl", "examples[1]"}},
    {load_bbh_text, "{\"examples\": {}}", {"in.jsonl", "\"examples\""}},
    {load_bbh_text, "{\"examples\": []}", {"in.jsonl", "empty"}},
    {load_bbh_text, "{\"examples\": [", {"in.jsonl:1:", "not valid JSON"}},
    {load_bbh_text, "{\"examples\": [{\"input\": \"a\", \"target\": \" \"}]}", {"examples[0]", "target"}},
    {cot_adapter, "canary\nno separator\n", {"in.jsonl:1:", "-----"}},
    {cot_adapter, "canary\n-----\ndesc\n\nQ: a\nA: b\n", {"in.jsonl:5:", "think step by step"}},
    {cot_adapter, "canary\n-----\ndesc\n\nQ: a\nA: Let's think step by step.\nno answer", {"in.jsonl:5:", "So the answer is"}},
    {cot_adapter, "canary\n-----\ndesc\n\nQ: a\nA: Let's think step by step.\nSo the answer is 1.\n\nQ: b\nno A line", {"in.jsonl:9:", "exemplar 2"}},
    {cot_adapter, "canary\n-----\ndesc\n\n", {"in.jsonl:3:", "exemplars"}},
};

Test(loaders, malformed_input_names_file_and_line) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        task_example *ex = (task_example *)1;
        int64_t n = 5;
        tr_error err;
        memset(&err, 0, sizeof err);
        int rc = bad[i].fn(bad[i].text, strlen(bad[i].text), "in.jsonl", 0, &ex, &n, &err);
        cr_assert_neq(rc, 0, "case %zu was accepted: %s", i, bad[i].text);
        cr_assert_null(ex, "case %zu", i);
        cr_assert_eq(n, 0, "case %zu", i);
        for (int k = 0; k < 2; k++)
            cr_assert_not_null(strstr(err.msg, bad[i].expect[k]), "case %zu: message '%s' lacks '%s'", i, err.msg, bad[i].expect[k]);
    }
}

Test(loaders, missing_file_is_an_error) {
    task_example *ex;
    int64_t n;
    tr_error err;
    cr_assert_neq(load_gsm8k_file("/nonexistent/train.jsonl", 0, &ex, &n, &err), 0);
    cr_assert_not_null(strstr(err.msg, "/nonexistent/train.jsonl"), "%s", err.msg);
}

Test(loaders, embedded_nul_and_crlf) {
    const char text[] = "{\"question\": \"q\", \"answer\": \"a\\n#### 5\"}\r\n{\"question\": \"q\"\0, \"answer\": \"x\"}\n";
    task_example *ex;
    int64_t n;
    tr_error err;
    cr_assert_neq(load_gsm8k_text(text, sizeof text - 1, "nul.jsonl", 0, &ex, &n, &err), 0);
    cr_assert_not_null(strstr(err.msg, "nul.jsonl:2:"), "%s", err.msg);
    const char *crlf = "{\"question\": \"q\", \"answer\": \"a\\n#### 5\"}\r\n\r\n";
    cr_assert_eq(load_gsm8k_text(crlf, strlen(crlf), "crlf.jsonl", 0, &ex, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ex[0].answer, "5");
    free_ex(ex, n);
}
