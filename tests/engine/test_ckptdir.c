/* Checkpoint folders (common/engine/ckptdir.c) under damage: a corrupt or empty `latest`
 * marker, a damaged newest checkpoint, non-finite weights, pruning across a digit boundary,
 * and temp files left by a killed writer. Nothing is ever silently discarded. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/engine/ckptdir.h"
#include "common/model/gpt.h"
#include "common/model/optim.h"
#include "common/train/memory.h"
#include "tests/engine/ckpt_fixture.h"
#include "common/util/afile.h"

static const gpt_config cfg = {.max_seq_len = 8, .vocab_size = 257, .num_layers = 1, .num_heads = 1, .channels = 8};
static char dir[64];
static gpt g;
static optim_state opt;
static uint8_t *mem;
static size_t mem_len;

static void setup(void) {
    strcpy(dir, "/tmp/trice_ckptdir_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tr_error err = {0};
    cr_assert_eq(gpt_init(&g, &cfg, 1, 0, &err), 0, "%s", err.msg);
    gpt_init_random(&g, 3);
    cr_assert_eq(optim_init(&opt, g.num_params, &err), 0, "%s", err.msg);
    ckpt_fixture_memory(&mem, &mem_len);
}

static void teardown(void) {
    ckpt_fixture_rmdir(dir);
    gpt_free(&g);
    optim_free(&opt);
    free(mem);
}

TestSuite(ckptdir, .init = setup, .fini = teardown);

/* Write a checkpoint at `step` whose first parameter is `mark` (to tell them apart). */
static void write_at(int64_t step, float mark, int keep) {
    tr_error err = {0};
    g.params[0] = mark;
    opt.step = step;
    ckptdir_extras x = {step, 100 * step, NAN, NAN, 4};
    cr_assert_eq(ckptdir_write(dir, &g, &opt, &x, mem, mem_len, keep, NULL, 0, &err), 0, "%s", err.msg);
}

/* Read back: returns the step and the first parameter. */
static int read_back(int64_t *step, float *mark, tr_error *err) {
    ckptdir_extras x;
    uint8_t *m = NULL;
    size_t ml = 0;
    g.params[0] = -1;
    int rc = ckptdir_read(dir, &g, &opt, &x, &m, &ml, NULL, 0, err);
    free(m);
    *step = rc ? -1 : x.step;
    *mark = g.params[0];
    return rc;
}

static void put(const char *rel, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *rel) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return access(p, F_OK) == 0;
}

Test(ckptdir, corrupt_or_empty_marker_falls_back_to_the_newest_complete_checkpoint) {
    write_at(10, 1.5f, 3);
    write_at(20, 2.5f, 3);
    const char *markers[] = {"", "garbage\n", "step-\n", "step-00000020/../../etc\n", "\x01\x02\x03"};
    for (size_t i = 0; i < sizeof markers / sizeof *markers; i++) {
        put("checkpoints/latest", markers[i]);
        cr_assert(ckptdir_exists(dir));
        int64_t step;
        float mark;
        tr_error err = {0};
        cr_assert_eq(read_back(&step, &mark, &err), 0, "marker %zu: %s", i, err.msg);
        cr_assert_eq(step, 20, "marker %zu: resumed at step %lld, not the newest complete one", i, (long long)step);
        cr_assert_eq(mark, 2.5f);
    }
    /* the marker deleted outright: the folders still count */
    char p[256];
    snprintf(p, sizeof p, "%s/checkpoints/latest", dir);
    unlink(p);
    cr_assert(ckptdir_exists(dir));
    int64_t step;
    float mark;
    tr_error err = {0};
    cr_assert_eq(read_back(&step, &mark, &err), 0, "%s", err.msg);
    cr_assert_eq(step, 20);
}

Test(ckptdir, a_damaged_newest_checkpoint_costs_only_the_steps_since_the_previous_one) {
    write_at(10, 1.5f, 3);
    write_at(20, 2.5f, 3);
    /* flip one byte of the newest model.bin's weights: the header still parses */
    char p[256];
    snprintf(p, sizeof p, "%s/checkpoints/step-00000020/model.bin", dir);
    FILE *f = fopen(p, "r+b");
    cr_assert_not_null(f);
    fseek(f, 1024 + 40, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 1024 + 40, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    int64_t step;
    float mark;
    tr_error err = {0};
    cr_assert_eq(read_back(&step, &mark, &err), 0, "%s", err.msg);
    cr_assert_eq(step, 10, "fell back to step 10, got %lld", (long long)step);
    cr_assert_eq(mark, 1.5f);
    cr_assert(exists("checkpoints/step-00000020/model.bin"), "the damaged checkpoint is kept for inspection");
}

Test(ckptdir, every_checkpoint_damaged_fails_with_a_message_and_deletes_nothing) {
    write_at(10, 1.5f, 3);
    put("checkpoints/step-00000010/memory.bin", "not a memory file");
    put("checkpoints/latest", "");
    int64_t step;
    float mark;
    tr_error err = {0};
    int rc = read_back(&step, &mark, &err);
    cr_assert_neq(rc, 0);
    cr_assert_neq(rc, TR_ENOTFOUND, "a damaged checkpoint is not 'no checkpoint' (that would restart from step 0)");
    cr_assert(strstr(err.msg, "no usable checkpoint") && strstr(err.msg, "Nothing was deleted"), "%s", err.msg);
    cr_assert(exists("checkpoints/step-00000010/model.bin"));
}

Test(ckptdir, non_finite_weights_are_refused_on_resume) {
    g.params[5] = NAN;
    write_at(10, 1.5f, 3);   /* checksum matches the NaN: only the finiteness check catches it */
    int64_t step;
    float mark;
    tr_error err = {0};
    cr_assert_neq(read_back(&step, &mark, &err), 0);
    cr_assert(strstr(err.msg, "parameter 5 is NaN"), "%s", err.msg);
}

Test(ckptdir, pruning_keeps_the_newest_by_step_number) {
    /* step-99999999 sorts after step-100000000 by name: a name sort deleted the new one */
    write_at(99999998, 1.0f, 2);
    write_at(99999999, 2.0f, 2);
    write_at(100000000, 3.0f, 2);
    cr_assert(exists("checkpoints/step-100000000/model.bin"), "the checkpoint just written survives pruning");
    cr_assert(exists("checkpoints/step-99999999/model.bin"));
    cr_assert(!exists("checkpoints/step-99999998"), "the oldest is pruned");
    int64_t step;
    float mark;
    tr_error err = {0};
    cr_assert_eq(read_back(&step, &mark, &err), 0, "%s", err.msg);
    cr_assert_eq(step, 100000000);
}

Test(ckptdir, temp_files_of_a_killed_writer_are_cleaned) {
    write_at(10, 1.5f, 1);
    put("checkpoints/step-00000010/model.bin.tmp.4242", "partial");
    put("checkpoints/latest.tmp.4242", "step-");
    put("metrics.jsonl.tmp.77", "{");
    put("keep.txt", "a user's file");
    cr_assert_eq(ckptdir_clean_temps(dir), 3);
    cr_assert(!exists("checkpoints/step-00000010/model.bin.tmp.4242"));
    cr_assert(!exists("metrics.jsonl.tmp.77"));
    cr_assert(exists("keep.txt") && exists("checkpoints/step-00000010/model.bin"));
    /* a temp file in a folder being pruned does not keep the folder alive */
    put("checkpoints/step-00000010/state.bin.tmp.99", "x");
    write_at(20, 2.5f, 1);
    cr_assert(!exists("checkpoints/step-00000010"), "pruned despite the temp file");
}

Test(ckptdir, an_over_long_folder_is_refused_naming_it_not_cut) {
    /* a cut path names another folder: writing or reading there would be a silent bug */
    static char longdir[PATH_MAX + 16];
    memset(longdir, 'a', sizeof longdir - 1);
    memcpy(longdir, "/tmp/too-long-", 14);
    longdir[sizeof longdir - 1] = '\0';
    tr_error err = {0};
    ckptdir_extras x = {1, 0, NAN, NAN, 0};
    cr_assert_eq(ckptdir_write(longdir, &g, &opt, &x, mem, mem_len, 1, NULL, 0, &err), TR_EINVAL);
    cr_assert(strstr(err.msg, "/tmp/too-long-"), "the message names the path: %s", err.msg);
    uint8_t *m = NULL;
    size_t ml = 0;
    err = (tr_error){0};
    cr_assert_eq(ckptdir_read(longdir, &g, &opt, &x, &m, &ml, NULL, 0, &err), TR_EINVAL);
    cr_assert_null(m);
    cr_assert_eq(ckptdir_exists(longdir), 0);
    cr_assert_eq(ckptdir_clean_temps(longdir), 0);
}

/* A kill during the very first checkpoint: model.bin is written, state.bin and memory.bin are
 * not, and there is no marker yet. That is no checkpoint (the run starts over and rewrites the
 * folder) rather than a damaged one (which would fail the resume); the soak test's kills found it.
 * Once a marker exists, even an empty one, a damaged folder does count. */
Test(ckptdir, an_interrupted_first_checkpoint_is_not_a_checkpoint) {
    write_at(3, 2.5f, 3);
    cr_assert(ckptdir_exists(dir));
    char p[256];
    snprintf(p, sizeof p, "%s/checkpoints/latest", dir);
    cr_assert_eq(unlink(p), 0);
    cr_assert(ckptdir_exists(dir), "a complete step folder counts without a marker");
    snprintf(p, sizeof p, "%s/checkpoints/step-00000003/memory.bin", dir);
    cr_assert_eq(unlink(p), 0);
    snprintf(p, sizeof p, "%s/checkpoints/step-00000003/state.bin", dir);
    cr_assert_eq(unlink(p), 0);
    cr_assert_not(ckptdir_exists(dir), "model.bin alone, no marker: nothing to resume");
    put("checkpoints/latest", "");
    cr_assert(ckptdir_exists(dir), "a marker, even a damaged one, means resume (and fail naming the damage)");
}
