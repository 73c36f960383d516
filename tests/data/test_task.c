/* task_load, splits, prompts and shards. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/gen.h"
#include "common/data/task.h"

static spec_task gen_spec(const char *name, int difficulty, int n_train, int n_eval) {
    spec_task st;
    memset(&st, 0, sizeof st);
    snprintf(st.name, sizeof st.name, "%s", name);
    st.difficulty = difficulty;
    st.n_train = n_train;
    st.n_eval = n_eval;
    st.train_fraction = 0.6;
    return st;
}

static spec_task file_spec(const char *name, const char *fixture, const char *test_fixture) {
    spec_task st = gen_spec(name, 0, 0, 0);
    const char *root = getenv("TRICE_SOURCE_ROOT");
    snprintf(st.path, sizeof st.path, "%s/tests/data/fixtures/%s", root ? root : ".", fixture);
    if (test_fixture) snprintf(st.test_path, sizeof st.test_path, "%s/tests/data/fixtures/%s", root ? root : ".", test_fixture);
    return st;
}

static int contains(const int64_t *a, int64_t n, int64_t v) {
    for (int64_t i = 0; i < n; i++) if (a[i] == v) return 1;
    return 0;
}

static void assert_disjoint_and_known(const task *t) {
    for (int64_t i = 0; i < t->n_eval; i++) {
        cr_assert(!contains(t->train_ids, t->n_train, t->eval_ids[i]), "id %lld is both train and held-out", (long long)t->eval_ids[i]);
        cr_assert_not_null(task_get(t, t->eval_ids[i]));
    }
    for (int64_t i = 0; i < t->n_train; i++) cr_assert_not_null(task_get(t, t->train_ids[i]));
}

Test(task, generator_train_and_eval_are_disjoint) {
    const char *names[] = {"multistep_arithmetic_two", "boolean_expressions", "dyck_languages", "navigate"};
    for (int k = 0; k < 4; k++) {
        spec_task st = gen_spec(names[k], 0, 400, 100);
        task t;
        tr_error err;
        cr_assert_eq(task_load(&st, 9, &t, &err), 0, "%s", err.msg);
        cr_assert_eq(t.n_train, 400);
        cr_assert_eq(t.n_eval, 100);
        cr_assert_eq(t.source, TASK_SRC_GENERATOR);
        assert_disjoint_and_known(&t);
        /* no held-out question text equals a training question */
        for (int64_t i = 0; i < t.n_eval; i++) {
            const char *q = task_get(&t, t.eval_ids[i])->question;
            for (int64_t j = 0; j < t.n_train; j++)
                cr_assert_str_neq(q, task_get(&t, t.train_ids[j])->question, "%s: held-out question is a training question", names[k]);
            cr_assert_geq(t.eval_ids[i], TASK_TEST_ID_BASE);
        }
        task_free(&t);
    }
}

Test(task, generator_too_small_for_request_is_an_error) {
    /* difficulty 1 of boolean_expressions (3-5 tokens) has about a hundred distinct questions:
     * 500 held-out draws take nearly all of them, so the training side runs dry */
    spec_task st = gen_spec("boolean_expressions", 1, 20000, 500);
    task t;
    tr_error err;
    cr_assert_neq(task_load(&st, 1, &t, &err), 0);
    cr_assert(strstr(err.msg, "boolean_expressions") && strstr(err.msg, "n_train"), "%s", err.msg);
    cr_assert_null(t.ex);
}

static int distinct_train_questions(const task *t) {
    int n = 0;
    for (int64_t i = 0; i < t->n_train; i++) {
        const char *q = task_get(t, t->train_ids[i])->question;
        int seen = 0;
        for (int64_t j = 0; j < i && !seen; j++) seen = strcmp(q, task_get(t, t->train_ids[j])->question) == 0;
        n += !seen;
    }
    return n;
}

Test(task, generator_without_held_out_set_trains_on_every_question) {
    /* A warm-up stage on a small setting: boolean_expressions difficulty 1 has 62 distinct
     * questions. With 50 held-out draws about half of them never reach training (and the
     * warm-up cannot learn "not ( True )" at all); with n_eval 0 all of them do. */
    spec_task none = gen_spec("boolean_expressions", 1, 2000, 0), some = gen_spec("boolean_expressions", 1, 2000, 50);
    task a, b;
    tr_error err;
    cr_assert_eq(task_load(&none, 1, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(task_load(&some, 1, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(a.n_eval, 0);
    cr_assert_eq(a.n_train, 2000);
    int da = distinct_train_questions(&a), db = distinct_train_questions(&b);
    cr_assert_geq(da, 55, "only %d distinct training questions without a held-out set", da);
    cr_assert_lt(db, da - 10, "a held-out set of 50 left %d of %d distinct questions in training", db, da);
    task_free(&a);
    task_free(&b);
}

Test(task, mix_adds_other_settings_to_training_only_and_checks_each_by_its_own_rule) {
    /* arithmetic at the target with 300 boolean_expressions (8-11 tokens) and 200 navigate
     * examples mixed in: they join the training ids with their rationales, never the held-out
     * set, and a True/False answer is checked as text although the task's answers are integers */
    spec_task st = gen_spec("multistep_arithmetic_two", 0, 100, 40);
    st.n_mix = 2;
    st.mix[0] = (spec_mix_part){"boolean_expressions", 3, 300};
    st.mix[1] = (spec_mix_part){"navigate", 0, 200};
    task t, again;
    tr_error err;
    cr_assert_eq(task_load(&st, 7, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_train, 600);
    cr_assert_eq(t.n_eval, 40);
    assert_disjoint_and_known(&t);
    int nbool = 0, nnav = 0;
    for (int64_t i = 0; i < t.n_train; i++) {
        const task_example *ex = task_get(&t, t.train_ids[i]);
        cr_assert_not_null(ex->rationale);
        cr_assert(task_check_example(&t, ex, ex->rationale), "id %lld: its own rationale fails its check", (long long)ex->id);
        if (i > 0) cr_assert_gt(t.train_ids[i], t.train_ids[i - 1], "training ids not ascending");
        size_t ql = strlen(ex->question);
        nbool += ql > 3 && strcmp(ex->question + ql - 3, " is") == 0;
        nnav += strncmp(ex->question, "If you follow", 13) == 0;
    }
    cr_assert_eq(nbool, 300, "%d boolean_expressions questions in training", nbool);
    cr_assert_eq(nnav, 200, "%d navigate questions in training", nnav);
    /* a mixed-in answer checked with the task's own (integer) rule would never match */
    const task_example *b = task_get(&t, TASK_MIX_ID_BASE);
    cr_assert_not_null(b);
    cr_assert(!task_check(&t, b->rationale, b->answer), "'%s' matched as an integer", b->answer);
    for (int64_t i = 0; i < t.n_eval; i++)
        cr_assert_eq(strncmp(task_get(&t, t.eval_ids[i])->question, "((", 2), 0, "a held-out question is not arithmetic");
    /* reproducible, and the mix leaves the task's own examples as they were */
    cr_assert_eq(task_load(&st, 7, &again, &err), 0, "%s", err.msg);
    for (int64_t i = 0; i < t.n_ex; i++) cr_assert_str_eq(t.ex[i].question, again.ex[i].question);
    task plain;
    st.n_mix = 0;
    cr_assert_eq(task_load(&st, 7, &plain, &err), 0, "%s", err.msg);
    cr_assert_eq(plain.n_ex, 140);
    for (int64_t i = 0; i < plain.n_ex; i++) cr_assert_str_eq(plain.ex[i].question, t.ex[i].question);
    task_free(&t);
    task_free(&again);
    task_free(&plain);
}

Test(task, mix_of_the_tasks_own_setting_never_trains_on_a_held_out_question) {
    /* boolean_expressions at the target has few distinct questions (about a quarter of the
     * draws repeat a held-out one): a mix part of the same setting must leave those out too */
    spec_task st = gen_spec("boolean_expressions", 0, 50, 300);
    st.n_mix = 1;
    st.mix[0] = (spec_mix_part){"boolean_expressions", 0, 2000};
    task t;
    tr_error err;
    cr_assert_eq(task_load(&st, 1, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_train, 2050);
    for (int64_t i = 0; i < t.n_train; i++)
        for (int64_t j = 0; j < t.n_eval; j++)
            cr_assert_str_neq(task_get(&t, t.train_ids[i])->question, task_get(&t, t.eval_ids[j])->question,
                              "training id %lld repeats a held-out question", (long long)t.train_ids[i]);
    task_free(&t);
}

Test(task, mix_part_at_an_unknown_difficulty_is_named_in_the_error) {
    spec_task st = gen_spec("navigate", 1, 20, 0);
    st.n_mix = 2;
    st.mix[0] = (spec_mix_part){"dyck_languages", 1, 10};
    st.mix[1] = (spec_mix_part){"boolean_expressions", 42, 10};
    task t;
    tr_error err;
    cr_assert_neq(task_load(&st, 1, &t, &err), 0);
    /* "task.mix[1] (boolean_expressions difficulty 42): generator ...: difficulty 42 is out of range (allowed: ...)" */
    cr_assert(strstr(err.msg, "task.mix[1]") && strstr(err.msg, "boolean_expressions difficulty 42") && strstr(err.msg, "allowed"),
              "%s", err.msg);
    cr_assert_eq(t.n_ex, 0, "a failed load leaves the task empty");
    task_free(&t);
}

Test(task, generator_held_out_set_is_a_fixed_sample_of_the_distribution) {
    /* the held-out set is generator indices 1e9.. whatever n_train is, repeats included */
    spec_task small = gen_spec("boolean_expressions", 0, 50, 300), big = gen_spec("boolean_expressions", 0, 3000, 300);
    task a, b;
    tr_error err;
    cr_assert_eq(task_load(&small, 4, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(task_load(&big, 4, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(a.n_eval, 300);
    cr_assert_eq(b.n_eval, 300);
    task_example ref[300];
    cr_assert_eq(gen_make("boolean_expressions", 0, TASK_TEST_ID_BASE, 300, 4, ref, &err), 0, "%s", err.msg);
    int repeats = 0;
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(a.eval_ids[i], TASK_TEST_ID_BASE + i);
        cr_assert_eq(b.eval_ids[i], TASK_TEST_ID_BASE + i);
        cr_assert_str_eq(task_get(&a, a.eval_ids[i])->question, ref[i].question);
        cr_assert_str_eq(task_get(&b, b.eval_ids[i])->question, ref[i].question);
        for (int j = 0; j < i && !repeats; j++) repeats += strcmp(ref[i].question, ref[j].question) == 0;
    }
    /* short expressions are common at the target setting: a fair sample repeats some */
    cr_assert_gt(repeats, 0, "300 draws of boolean_expressions held no repeated question");
    /* the training side left out every held-out question and kept its size */
    cr_assert_eq(b.n_train, 3000);
    for (int64_t j = 0; j < b.n_train; j++)
        for (int i = 0; i < 300; i++)
            cr_assert_str_neq(task_get(&b, b.train_ids[j])->question, ref[i].question);
    cr_assert_gt(b.train_ids[b.n_train - 1], 2999, "no training draw was skipped");
    task_examples_free(ref, 300);
    task_free(&a);
    task_free(&b);
}

Test(task, load_is_reproducible) {
    spec_task st = gen_spec("navigate", 2, 50, 20);
    task a, b;
    cr_assert_eq(task_load(&st, 4, &a, NULL), 0);
    cr_assert_eq(task_load(&st, 4, &b, NULL), 0);
    cr_assert_eq(a.n_ex, b.n_ex);
    for (int64_t i = 0; i < a.n_ex; i++) {
        cr_assert_eq(a.ex[i].id, b.ex[i].id);
        cr_assert_str_eq(a.ex[i].question, b.ex[i].question);
    }
    task_free(&a);
    task_free(&b);
}

Test(task, split_is_seeded_disjoint_and_complete) {
    int64_t ids[250];
    for (int i = 0; i < 250; i++) ids[i] = 1000 + 3 * i;
    int64_t *tr, *ev, ntr, nev;
    cr_assert_eq(task_split(ids, 250, 0.6, 5, &tr, &ntr, &ev, &nev, NULL), 0);
    cr_assert_eq(ntr, 150);
    cr_assert_eq(nev, 100);
    for (int i = 0; i < 250; i++)
        cr_assert_eq(contains(tr, ntr, ids[i]) + contains(ev, nev, ids[i]), 1, "id %lld must be in exactly one side", (long long)ids[i]);
    /* same seed, shuffled input order: same split; another seed: another split */
    int64_t rev[250];
    for (int i = 0; i < 250; i++) rev[i] = ids[249 - i];
    int64_t *tr2, *ev2, ntr2, nev2;
    cr_assert_eq(task_split(rev, 250, 0.6, 5, &tr2, &ntr2, &ev2, &nev2, NULL), 0);
    cr_assert_eq(memcmp(tr, tr2, (size_t)ntr * sizeof *tr), 0);
    free(tr2); free(ev2);
    cr_assert_eq(task_split(ids, 250, 0.6, 6, &tr2, &ntr2, &ev2, &nev2, NULL), 0);
    cr_assert_neq(memcmp(tr, tr2, (size_t)ntr * sizeof *tr), 0);
    free(tr2); free(ev2);
    free(tr); free(ev);
    tr_error err;
    cr_assert_neq(task_split(ids, 1, 0.6, 5, &tr, &ntr, &ev, &nev, &err), 0);
}

Test(task, bbh_file_split_and_kind) {
    spec_task st = file_spec("bbh", "bbh_mini.json", NULL);
    task t;
    tr_error err;
    cr_assert_eq(task_load(&st, 1, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_ex, 6);
    cr_assert_eq(t.n_train, 4);   /* round(0.6 * 6) */
    cr_assert_eq(t.n_eval, 2);
    cr_assert_eq(t.kind, ANSWER_TEXT);
    assert_disjoint_and_known(&t);
    task_free(&t);
}

Test(task, gsm8k_uses_its_own_test_file) {
    spec_task st = file_spec("gsm8k", "gsm8k_mini.jsonl", "gsm8k_mini.jsonl");
    task t;
    tr_error err;
    cr_assert_eq(task_load(&st, 1, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.kind, ANSWER_INT);
    cr_assert_eq(t.n_train, 4);
    cr_assert_eq(t.n_eval, 4);
    assert_disjoint_and_known(&t);
    cr_assert_eq(t.eval_ids[0], TASK_TEST_ID_BASE);
    cr_assert_str_eq(task_get(&t, TASK_TEST_ID_BASE + 2)->answer, "1080");
    task_free(&t);
    /* caps take a subset */
    st.n_train = 2;
    st.n_eval = 1;
    cr_assert_eq(task_load(&st, 1, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_train, 2);
    cr_assert_eq(t.n_eval, 1);
    task_free(&t);
}

Test(task, jsonl_integer_answers_become_int_kind) {
    spec_task st = file_spec("jsonl", "generic.jsonl", NULL);
    task t;
    tr_error err;
    cr_assert_eq(task_load(&st, 1, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.kind, ANSWER_INT);
    cr_assert_str_eq(task_get(&t, 2)->answer, "1000");
    cr_assert_eq(task_check(&t, "So the answer is 1,000.", "1000"), 1);
    task_free(&t);
}

Test(task, jsonl_rationale_must_state_the_answer) {
    char path[] = "/tmp/trice_test_data_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"question\": \"a\", \"answer\": \"x\", \"rationale\": \"So the answer is y.\"}\n"
          "{\"question\": \"b\", \"answer\": \"z\"}\n", f);
    fclose(f);
    spec_task st = gen_spec("jsonl", 0, 0, 0);
    snprintf(st.path, sizeof st.path, "%s", path);
    task t;
    tr_error err;
    cr_assert_neq(task_load(&st, 1, &t, &err), 0);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "id 0"), "%s", err.msg);
    remove(path);
}

Test(task, unknown_task_and_missing_path) {
    spec_task st = gen_spec("word_sorting", 0, 10, 10);
    task t;
    tr_error err;
    cr_assert_neq(task_load(&st, 1, &t, &err), 0);
    cr_assert(strstr(err.msg, "word_sorting"), "%s", err.msg);
    st = gen_spec("bbh", 0, 0, 0);
    cr_assert_neq(task_load(&st, 1, &t, &err), 0);
    cr_assert(strstr(err.msg, "path"), "%s", err.msg);
}

Test(task, prompts_are_byte_exact) {
    task t;
    memset(&t, 0, sizeof t);
    char q[] = "not True is", a[] = "False", r[] = "not True = False. So the answer is False.";
    task_example e = {3, q, a, r};
    char *p;
    cr_assert_eq(task_rationale_prompt(&t, &e, &p, NULL), 0);
    cr_assert_str_eq(p, "Q: not True is\nA: Let's think step by step.\n");
    free(p);
    cr_assert_eq(task_hinted_prompt(&t, &e, &p, NULL), 0);
    cr_assert_str_eq(p, "Q: not True is\nA: The answer is False. Let's think step by step.\n");
    free(p);
    cr_assert_eq(task_direct_prompt(&t, &e, &p, NULL), 0);
    cr_assert_str_eq(p, "Q: not True is\nA:");
    free(p);
    cr_assert_eq(task_direct_target(&t, &e, &p, NULL), 0);
    cr_assert_str_eq(p, " So the answer is False.");
    cr_assert_eq(task_check(&t, p, e.answer), 1, "the direct target passes c(z, y)");
    free(p);
    char out[64];
    cr_assert_eq(task_extract_answer(&t, e.rationale, out, sizeof out), 0);
    cr_assert_str_eq(out, "False");
}

Test(task, fewshot_prompt_is_byte_exact_and_never_shows_an_example_itself) {
    /* every record of the mini GSM8K file is a training example (the test file is separate) */
    spec_task st = file_spec("gsm8k", "gsm8k_mini.jsonl", "gsm8k_mini.jsonl");
    task t;
    tr_error err;
    cr_assert_eq(task_load(&st, 1, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_train, 4);
    int64_t ids[8];
    /* the first k by id, the example itself left out (the next one takes its place) */
    cr_assert_eq(task_exemplars(&t, 3, 2, ids), 2);
    cr_assert(ids[0] == 0 && ids[1] == 1);
    cr_assert_eq(task_exemplars(&t, 0, 2, ids), 2);
    cr_assert(ids[0] == 1 && ids[1] == 2, "example 0 is not its own exemplar: got %lld %lld", (long long)ids[0], (long long)ids[1]);
    cr_assert_eq(task_exemplars(&t, 1, 2, ids), 2);
    cr_assert(ids[0] == 0 && ids[1] == 2);
    cr_assert_eq(task_exemplars(&t, 2, 8, ids), 3, "only the other three examples can be exemplars");
    for (int i = 0; i < 3; i++) cr_assert_neq(ids[i], 2);

    const task_example *ex = task_get(&t, 3);
    char *p;
    cr_assert_eq(task_exemplars(&t, 3, 1, ids), 1);
    cr_assert_eq(task_fewshot_prompt(&t, ids, 1, ex, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(p,
        "Q: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did "
        "Natalia sell altogether in April and May?\nA: Let's think step by step.\n"
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May. So the answer is 72.\n\n"
        "Q: Three days' temperatures were recorded for Bucyrus, Ohio. The temperatures were -14 degrees Fahrenheit, -8 degrees "
        "Fahrenheit, and +1 degree Fahrenheit. What was the average number of degrees (Fahrenheit) in Bucyrus, Ohio on the 3 "
        "days recorded?\nA: Let's think step by step.\n");
    free(p);
    /* k = 0 is the plain rationale prompt */
    char *z;
    cr_assert_eq(task_fewshot_prompt(&t, ids, 0, ex, &p, &err), 0);
    cr_assert_eq(task_rationale_prompt(&t, ex, &z, &err), 0);
    cr_assert_str_eq(p, z);
    free(p);
    free(z);
    /* two shots: both exemplars in id order, each ending in a blank line, then the question */
    int64_t two[2] = {0, 3};
    cr_assert_eq(task_fewshot_prompt(&t, two, 2, task_get(&t, 1), &p, &err), 0);
    const char *second = strstr(p, "\n\nQ: Three days'");
    cr_assert_not_null(second);
    cr_assert_not_null(strstr(second, "The average temperature was -7 degrees Fahrenheit. So the answer is -7.\n\nQ: A deep-sea monster"));
    const char *tail = "people were on the ship the monster ate in the first hundred years?\nA: Let's think step by step.\n";
    cr_assert_str_eq(p + strlen(p) - strlen(tail), tail);
    free(p);
    task_free(&t);
}

Test(task, shards_are_reproducible_and_cover_workers) {
    int count[4] = {0};
    for (int64_t id = 0; id < 4000; id++) {
        int w = shard_owner(11, id, 4);
        cr_assert(w >= 0 && w < 4);
        cr_assert_eq(w, shard_owner(11, id, 4), "same (seed, id) gives the same owner");
        count[w]++;
    }
    for (int w = 0; w < 4; w++) cr_assert(count[w] > 800 && count[w] < 1200, "worker %d owns %d of 4000", w, count[w]);
    int moved = 0;
    for (int64_t id = 0; id < 400; id++) moved += shard_owner(11, id, 4) != shard_owner(12, id, 4);
    cr_assert_gt(moved, 100, "another seed shards differently");
    cr_assert_eq(shard_owner(11, 5, 1), 0);
}

Test(task, real_bbh_split_is_60_40) {
    const char *root = getenv("TRICE_SHARED_DATA");
    spec_task st = gen_spec("bbh", 0, 0, 0);
    snprintf(st.path, sizeof st.path, "%s/bbh/date_understanding.json", root ? root : "");
    FILE *f = root ? fopen(st.path, "r") : NULL;
    if (!f) cr_skip_test("../shared/data is absent (no %s): real BBH split test skipped", st.path);
    fclose(f);
    task t;
    tr_error err;
    cr_assert_eq(task_load(&st, 1, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_train, 150);
    cr_assert_eq(t.n_eval, 100);
    assert_disjoint_and_known(&t);
    task_free(&t);
}

/* ---- the stage rule of answers-only recipes ---- */

static experiment_spec rule_spec(const char *stages, const char *top) {
    char text[1200];
    snprintf(text, sizeof text,
             "{\"answers_only\": true, \"task\": {\"name\": \"boolean_expressions\", \"difficulty\": 0},"
             " \"memory_init\": \"sample\"%s%s%s}",
             stages ? ", \"stages\": " : "", stages ? stages : "", top ? top : ", \"method\": \"trice\"");
    experiment_spec s;
    tr_error err;
    cr_assert_eq(spec_parse_json(text, "rule.json", &s, &err), 0, "%s\n%s", err.msg, text);
    return s;
}

Test(stage_rule, rationales_only_on_strictly_smaller_instances) {
    tr_error err;
    /* difficulty 1 (3-5 tokens) is below every target instance (6-9): allowed, and so are
     * answers-only stages at any size and another built-in task's rationales */
    experiment_spec ok = rule_spec("[{\"name\": \"w\", \"method\": \"sft\", \"memory_init\": \"given\", \"task\": {\"difficulty\": 1}},"
                                   " {\"name\": \"d3\", \"task\": {\"difficulty\": 3}},"
                                   " {\"name\": \"nav\", \"method\": \"sft\", \"task\": {\"name\": \"navigate\"}}]", NULL);
    cr_assert_eq(task_check_stage_rule(&ok, &err), 0, "%s", err.msg);
    /* difficulty 2 (5-7 tokens) overlaps the target: refused, with both ranges named */
    experiment_spec bad = rule_spec("[{\"name\": \"w\", \"method\": \"sft\", \"task\": {\"difficulty\": 2}}]", NULL);
    cr_assert_neq(task_check_stage_rule(&bad, &err), 0);
    cr_assert(strstr(err.msg, "stages[0] 'w'") && strstr(err.msg, "5-7 tokens") && strstr(err.msg, "6-9 tokens") &&
              strstr(err.msg, "strictly smaller"), "%s", err.msg);
    /* rationales at the target itself, through memory_init given */
    bad = rule_spec("[{\"name\": \"t\", \"memory_init\": \"given\"}]", NULL);
    cr_assert_neq(task_check_stage_rule(&bad, &err), 0);
    cr_assert(strstr(err.msg, "difficulty 0"), "%s", err.msg);
    /* the warm-up shorthand follows the same rule */
    bad = rule_spec(NULL, ", \"warmup_sft_steps\": 10, \"warmup_difficulty\": 3");
    cr_assert_neq(task_check_stage_rule(&bad, &err), 0);
    cr_assert(strstr(err.msg, "warm-up") && strstr(err.msg, "8-11 tokens"), "%s", err.msg);
    /* the target stage itself must learn from answers */
    bad = rule_spec(NULL, ", \"method\": \"sft\"");
    cr_assert_neq(task_check_stage_rule(&bad, &err), 0);
    cr_assert(strstr(err.msg, "target stage") && strstr(err.msg, "sft"), "%s", err.msg);
    /* a mix in a rationale stage follows the rule part by part: another task at any size is
     * allowed, the target's own generator only below the target */
    ok = rule_spec("[{\"name\": \"w\", \"method\": \"sft\", \"task\": {\"difficulty\": 1, \"mix\": [{\"name\": \"dyck_languages\","
                   " \"difficulty\": 0, \"n_train\": 10}, {\"name\": \"boolean_expressions\", \"difficulty\": 1, \"n_train\": 10}]}}]", NULL);
    cr_assert_eq(task_check_stage_rule(&ok, &err), 0, "%s", err.msg);
    bad = rule_spec("[{\"name\": \"w\", \"method\": \"sft\", \"task\": {\"difficulty\": 1, \"mix\": [{\"name\": \"dyck_languages\","
                    " \"difficulty\": 0, \"n_train\": 10}, {\"name\": \"boolean_expressions\", \"difficulty\": 3, \"n_train\": 10}]}}]", NULL);
    cr_assert_neq(task_check_stage_rule(&bad, &err), 0);
    cr_assert(strstr(err.msg, "task.mix[1]") && strstr(err.msg, "8-11 tokens") && strstr(err.msg, "6-9 tokens"), "%s", err.msg);
    /* an answers-only stage may mix in anything: nothing there is given rationales */
    ok = rule_spec("[{\"name\": \"a\", \"task\": {\"mix\": [{\"name\": \"boolean_expressions\", \"difficulty\": 3, \"n_train\": 10}]}}]", NULL);
    cr_assert_eq(task_check_stage_rule(&ok, &err), 0, "%s", err.msg);
    /* without answers_only nothing is checked (a supervised ceiling is a legitimate run) */
    bad.answers_only = 0;
    cr_assert_eq(task_check_stage_rule(&bad, &err), 0);
}

Test(stage_rule, no_fewshot_exemplars_of_the_target_under_answers_only) {
    tr_error err;
    experiment_spec s = rule_spec(NULL, ", \"init_shots\": 2");
    cr_assert_neq(task_check_stage_rule(&s, &err), 0, "init_shots accepted under answers_only");
    cr_assert(strstr(err.msg, "init_shots 2") && strstr(err.msg, "boolean_expressions") &&
              strstr(err.msg, "program-written at the target setting"), "%s", err.msg);
    s.answers_only = 0;   /* a plain TRICE run may sample its memory with exemplars */
    cr_assert_eq(task_check_stage_rule(&s, &err), 0, "%s", err.msg);
}

/* Every committed recipe of a built-in task (deploy/recipes/TASK.json) is a valid spec that
 * trains the BBH setting from answers only and keeps rationales on smaller instances. */
Test(stage_rule, committed_recipes_follow_the_rule) {
    const char *root = getenv("TRICE_SOURCE_ROOT");
    cr_assert_not_null(root, "TRICE_SOURCE_ROOT is set by meson");
    const char *tasks[] = {"boolean_expressions", "navigate", "dyck_languages", "multistep_arithmetic_two"};
    int found = 0;
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/deploy/recipes/%s.json", root, tasks[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        fclose(f);
        found++;
        experiment_spec s;
        tr_error err;
        cr_assert_eq(spec_load_file(path, &s, &err), 0, "%s", err.msg);
        cr_assert_str_eq(s.task.name, tasks[i], "%s", path);
        cr_assert_eq(s.task.difficulty, 0, "%s: the target is the BBH setting", path);
        cr_assert_eq(s.answers_only, 1, "%s: a recipe declares answers_only", path);
        cr_assert_eq(s.method, METHOD_TRICE, "%s", path);
        cr_assert_geq(s.task.n_eval, 500, "%s: held-out accuracy on at least 500 examples", path);
        cr_assert_eq(task_check_stage_rule(&s, &err), 0, "%s: %s", path, err.msg);
    }
    cr_assert_geq(found, 1, "no recipe found under %s/deploy/recipes", root);
}
