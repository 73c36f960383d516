/* metrics.jsonl: lines parse as JSON with the section 7 fields; torn last lines are dropped;
 * truncation to a checkpoint step on resume. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/train/metrics.h"
#include "common/util/log.h"

static char dir[64], path[128];

static void setup(void) {
    log_init(-1, "test", LOG_ERROR);
    snprintf(dir, sizeof dir, "/tmp/trice_metrics_XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
}

static void teardown(void) {
    unlink(path);
    rmdir(dir);
}

static metrics_row row_for(int64_t step) {
    metrics_row r = {
        .step = step, .proposal_acc = 0.25 + step * 0.01, .memory_acc = 0.5, .beta_mean = 0.2,
        .nonzero_terms = 40, .L = 16, .loss = -1.5, .grad_norm = 3.25, .tokens_sampled = 1000 * step,
        .tokens_trained = 1500 * step + 7,
        .phases = {.sample = 1.5, .check = 0.01, .gradient = 2.0, .comm = 0.1, .update = 0.05,
                   .resample = 0.002, .reduce = 0.07, .wait = 0.375, .broadcast = 0.02, .total = 3.7},
        .bytes_moved = 10504008 + step, .bytes_worker = 3000000000LL + step,
        .lr = 1e-3, .time = 1790000000.125,
    };
    if (step % 3 == 0) {
        r.has_var = 1;
        r.var_cv = 12.5;
        r.var_nocv = 50.0;
    }
    if (step % 5 == 0) {
        r.has_eval = 1;
        r.eval_acc = 0.4;
        r.has_maj = 1;
        r.maj_acc = 0.45;
        r.maj_k = 8;
    }
    return r;
}

static void write_steps(int from, int to) {
    metrics_log log;
    tr_error err;
    cr_assert_eq(metrics_open(&log, path, &err), 0, "%s", err.msg);
    for (int s = from; s <= to; s++) {
        metrics_row r = row_for(s);
        cr_assert_eq(metrics_append(&log, &r, &err), 0, "%s", err.msg);
    }
    metrics_close(&log);
}

static void append_raw(const char *text) {
    FILE *f = fopen(path, "ab");
    fputs(text, f);
    fclose(f);
}

Test(metrics, lines_parse_as_json_with_all_fields, .init = setup, .fini = teardown) {
    write_steps(1, 5);
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        cr_assert_not_null(o, "line %d is not JSON: %s", n, je.text);
        const char *keys[] = {"step", "proposal_acc", "memory_acc", "beta_mean", "nonzero_terms", "L", "loss",
                              "grad_norm", "tokens_sampled", "tokens_trained", "phases", "lr", "time"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            cr_assert_not_null(json_object_get(o, keys[k]), "line %d lacks '%s'", n, keys[k]);
        cr_assert(json_is_object(json_object_get(o, "phases")));
        cr_assert(json_is_number(json_object_get(json_object_get(o, "phases"), "gradient")));
        cr_assert_eq(json_integer_value(json_object_get(o, "step")), n);
        cr_assert_eq(json_object_get(o, "eval_acc") != NULL, n == 5, "eval_acc only when measured");
        metrics_row r, want = row_for(n);
        cr_assert_eq(metrics_row_parse(o, &r, NULL), 0);
        cr_assert_eq(r.proposal_acc, want.proposal_acc);
        cr_assert_eq(r.time, want.time);
        cr_assert_eq(r.tokens_sampled, want.tokens_sampled);
        cr_assert_eq(r.tokens_trained, want.tokens_trained);
        cr_assert_eq(r.phases.sample, 1.5);
        cr_assert_eq(r.phases.reduce, want.phases.reduce);
        cr_assert_eq(r.phases.broadcast, want.phases.broadcast);
        cr_assert_eq(r.phases.total, want.phases.total);
        cr_assert_eq(r.bytes_moved, want.bytes_moved);
        cr_assert_eq(r.bytes_worker, want.bytes_worker);
        cr_assert_eq(r.phases.wait, want.phases.wait);
        cr_assert_eq(r.has_var, n % 3 == 0);
        if (r.has_var) cr_assert(r.var_cv == 12.5 && r.var_nocv == 50.0);
        cr_assert_eq(r.has_maj, n == 5);
        json_decref(o);
    }
    fclose(f);
    cr_assert_eq(n, 5);
}

Test(metrics, non_finite_numbers_become_null, .init = setup, .fini = teardown) {
    metrics_log log;
    cr_assert_eq(metrics_open(&log, path, NULL), 0);
    metrics_row r = row_for(1);
    r.loss = NAN;
    r.grad_norm = INFINITY;
    cr_assert_eq(metrics_append(&log, &r, NULL), 0);
    metrics_close(&log);
    char *text;
    cr_assert_eq(tr_read_file(path, 1 << 20, &text, NULL, NULL), 0);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert_not_null(o, "a NaN loss must still give a JSON line: %s", text);
    cr_assert(json_is_null(json_object_get(o, "loss")));
    json_decref(o);
    free(text);
}

Test(metrics, torn_last_line_is_dropped, .init = setup, .fini = teardown) {
    int64_t step;
    cr_assert_eq(metrics_read_last_step(path, &step, NULL), 0, "a missing file is an empty log");
    cr_assert_eq(step, -1);
    write_steps(1, 7);
    append_raw("{\"step\":8,\"proposal_acc\":0.3");   /* crash mid-line */
    cr_assert_eq(metrics_read_last_step(path, &step, NULL), 0);
    cr_assert_eq(step, 7);
    /* reopening for append cuts the torn tail, so the next line is whole */
    write_steps(8, 9);
    cr_assert_eq(metrics_read_last_step(path, &step, NULL), 0);
    cr_assert_eq(step, 9);
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "line %d does not parse after reopening: %s", n, line);
        json_decref(o);
    }
    fclose(f);
    cr_assert_eq(n, 9);
}

Test(metrics, resume_truncates_to_checkpoint_step, .init = setup, .fini = teardown) {
    write_steps(1, 12);
    append_raw("{\"step\":13,\"lo");
    int kept;
    tr_error err;
    cr_assert_eq(metrics_truncate_to_step(path, 10, &kept, &err), 0, "%s", err.msg);
    cr_assert_eq(kept, 10);
    int64_t step;
    cr_assert_eq(metrics_read_last_step(path, &step, NULL), 0);
    cr_assert_eq(step, 10);
    /* the resumed run appends 11.. again with no duplicates */
    write_steps(11, 12);
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_eq(json_integer_value(json_object_get(o, "step")), n, "line %d", n);
        json_decref(o);
    }
    fclose(f);
    cr_assert_eq(n, 12);
}

Test(metrics, corrupt_middle_line_is_an_error, .init = setup, .fini = teardown) {
    write_steps(1, 2);
    append_raw("garbage\n");
    write_steps(3, 3);
    int64_t step;
    tr_error err;
    cr_assert_eq(metrics_read_last_step(path, &step, &err), TR_EFORMAT);
    cr_assert(strstr(err.msg, ":3:") != NULL, "the message should name line 3: %s", err.msg);
    /* truncation refuses too, leaving the file as it was */
    cr_assert_eq(metrics_truncate_to_step(path, 2, NULL, &err), TR_EFORMAT);
    char *text;
    cr_assert_eq(tr_read_file(path, 1 << 20, &text, NULL, NULL), 0);
    cr_assert(strstr(text, "garbage") != NULL);
    free(text);
}
