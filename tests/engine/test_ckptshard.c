/* Sharded checkpoints (common/engine/ckptshard.c, ckptdir.c's manifest part): the slice rule,
 * shards written with one W read back with another, and the resume policy when a shard or
 * the manifest is missing or damaged: the previous checkpoint, or a failure naming the file. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/comm/msg.h"
#include "common/engine/ckptdir.h"
#include "common/train/memory.h"
#include "tests/engine/ckpt_fixture.h"

#define N 1001
static char dir[64];
static optim_state opt;
static uint8_t *mem;
static size_t mem_len;

static void setup(void) {
    strcpy(dir, "/tmp/trice_ckptshard_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tr_error err = {0};
    cr_assert_eq(optim_init(&opt, N, &err), 0, "%s", err.msg);
    ckpt_fixture_memory(&mem, &mem_len);
}

static void teardown(void) {
    ckpt_fixture_rmdir(dir);
    optim_free(&opt);
    free(mem);
}

TestSuite(ckptshard, .init = setup, .fini = teardown);

/* A checkpoint at step written by W sides, moments marked by step. */
static void write_at(int64_t step, int W) {
    tr_error err = {0};
    for (size_t i = 0; i < N; i++) {
        opt.m[i] = (float)step + (float)i * 1e-3f;
        opt.v[i] = (float)step * 2 + (float)i;
    }
    opt.step = step;
    char d[256];
    cr_assert_eq(ckptdir_begin(dir, step, d, sizeof d, &err), 0, "%s", err.msg);
    ckpt_file files[16];
    for (int w = 0; w < W; w++) cr_assert_eq(ckptshard_write(d, &opt, w, W, &files[w], &err), 0, "%s", err.msg);
    ckptdir_extras x = {step, 10 * step, NAN, 0.5, 4};
    cr_assert_eq(ckptdir_commit(dir, d, &x, N, W, files, W, mem, mem_len, 5, &err), 0, "%s", err.msg);
}

/* ckptdir_resume's hand-over, as a side would do it: every shard into *ctx. */
static int load_shards(void *ctx, const char *d, const ckptdir_manifest *m, tr_error *err) {
    cr_assert_not_null(m, "a sharded checkpoint comes with its manifest");
    return ckptshard_read_all(d, m->files, m->n_files, ctx, err);
}

static int resume(optim_state *out, ckptdir_extras *x, char *d, tr_error *err) {
    uint8_t *m = NULL;
    size_t ml = 0;
    int rc = ckptdir_resume(dir, N, NULL, NULL, x, &m, &ml, load_shards, out, d, 256, err);
    if (!rc) cr_assert(ml == mem_len && memcmp(m, mem, ml) == 0, "the memory comes back");
    free(m);
    return rc;
}

static void damage(const char *rel) {
    char p[256];
    snprintf(p, sizeof p, "%s/checkpoints/%s", dir, rel);
    FILE *f = fopen(p, "r+b");
    cr_assert_not_null(f, "%s", p);
    fseek(f, 80, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 80, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void rm(const char *rel) {
    char p[256];
    snprintf(p, sizeof p, "%s/checkpoints/%s", dir, rel);
    cr_assert_eq(unlink(p), 0, "%s", p);
}

Test(ckptshard, slices_are_contiguous_and_cover_every_moment) {
    const size_t ns[] = {0, 1, 2, 10, 1001, 124439808};
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
        for (int W = 1; W <= 9; W++) {
            size_t at = 0;
            for (int w = 0; w < W; w++) {
                size_t b, e;
                ckptshard_slice(ns[k], W, w, &b, &e);
                cr_assert_eq(b, at, "n %zu W %d slice %d starts at %zu, not %zu", ns[k], W, w, b, at);
                cr_assert(e - b == ns[k] / W || e - b == ns[k] / W + 1, "balanced slices");
                at = e;
            }
            cr_assert_eq(at, ns[k]);
        }
    char name[CKPT_FILE_NAME_MAX];
    ckptshard_name(1, 3, name);
    cr_assert_str_eq(name, "optim-00002-of-00003.bin");
}

Test(ckptshard, shards_of_W_2_read_back_bit_for_bit_and_the_manifest_names_them) {
    write_at(10, 2);
    float *m0 = malloc(N * sizeof *m0), *v0 = malloc(N * sizeof *v0);
    memcpy(m0, opt.m, N * sizeof *m0);
    memcpy(v0, opt.v, N * sizeof *v0);
    optim_state back;
    tr_error err = {0};
    cr_assert_eq(optim_init(&back, N, &err), 0);
    ckptdir_extras x;
    char d[256];
    cr_assert_eq(resume(&back, &x, d, &err), 0, "%s", err.msg);
    cr_assert(strstr(d, "step-00000010"));
    cr_assert_eq(back.step, 10);
    cr_assert_eq(x.step, 10);
    cr_assert_eq(x.tokens_sampled, 100);
    cr_assert(isnan(x.acc_before) && x.maj_before == 0.5 && x.n_eval == 4);
    cr_assert(memcmp(back.m, m0, N * sizeof *m0) == 0 && memcmp(back.v, v0, N * sizeof *v0) == 0);
    ckptdir_manifest mf;
    cr_assert_eq(ckptdir_manifest_read(d, &mf, &err), 0, "%s", err.msg);
    cr_assert_eq(mf.workers, 2);
    cr_assert_eq(mf.n_files, 3, "two shards and memory.bin");
    cr_assert_str_eq(mf.files[1].name, "optim-00002-of-00002.bin");
    cr_assert_eq(mf.files[1].begin, 501);
    cr_assert_eq(mf.files[1].end, N);
    cr_assert_str_eq(mf.files[2].name, "memory.bin");
    ckptdir_manifest_free(&mf);
    optim_free(&back);
    free(m0);
    free(v0);
}

Test(ckptshard, a_damaged_or_missing_shard_or_manifest_falls_back_to_the_previous_checkpoint) {
    write_at(10, 2);
    write_at(20, 3);
    optim_state back;
    tr_error err = {0};
    cr_assert_eq(optim_init(&back, N, &err), 0);
    ckptdir_extras x;
    char d[256];
    damage("step-00000020/optim-00002-of-00003.bin");
    cr_assert_eq(resume(&back, &x, d, &err), 0, "%s", err.msg);
    cr_assert_eq(x.step, 10, "the damaged step 20 is skipped");
    cr_assert_eq(back.step, 10);
    cr_assert_eq(back.m[0], 10.0f);

    write_at(20, 3);
    rm("step-00000020/optim-00003-of-00003.bin");
    cr_assert_eq(resume(&back, &x, d, &err), 0, "%s", err.msg);
    cr_assert_eq(x.step, 10, "a missing shard: step 20 is skipped");

    write_at(20, 3);
    rm("step-00000020/manifest.json");
    cr_assert_eq(resume(&back, &x, d, &err), 0, "%s", err.msg);
    cr_assert_eq(x.step, 10, "no manifest, no checkpoint");

    /* both damaged: a failure naming the newest damage, nothing deleted */
    write_at(20, 3);
    damage("step-00000020/optim-00001-of-00003.bin");
    rm("step-00000010/optim-00002-of-00002.bin");
    err = (tr_error){0};
    cr_assert_eq(resume(&back, &x, d, &err), TR_EFORMAT);
    cr_assert(strstr(err.msg, "no usable checkpoint") && strstr(err.msg, "step-00000020/optim-00001-of-00003.bin"),
              "the message names the damaged file: %s", err.msg);
    char p[256];
    snprintf(p, sizeof p, "%s/checkpoints/step-00000020/optim-00001-of-00003.bin", dir);
    cr_assert_eq(access(p, F_OK), 0, "nothing is deleted");
    optim_free(&back);
}

Test(ckptshard, a_step_folder_rewritten_with_another_W_keeps_only_the_new_shards) {
    write_at(10, 3);
    write_at(10, 2);
    char p[256];
    snprintf(p, sizeof p, "%s/checkpoints/step-00000010/optim-00003-of-00003.bin", dir);
    cr_assert_neq(access(p, F_OK), 0, "the W=3 shards of the old checkpoint are gone");
    snprintf(p, sizeof p, "%s/checkpoints/step-00000010/optim-00002-of-00002.bin", dir);
    cr_assert_eq(access(p, F_OK), 0);
}

Test(ckptshard, a_folder_counts_once_its_manifest_is_written) {
    write_at(10, 2);
    rm("latest");
    cr_assert(ckptdir_exists(dir), "a manifest without a marker counts");
    rm("step-00000010/manifest.json");
    cr_assert_not(ckptdir_exists(dir), "shards and memory without a manifest: a checkpoint cut short");
}

Test(ckptshard, file_records_never_carry_a_path) {
    ckpt_file f = {.begin = 3, .end = 9, .bytes = 77, .sum = 0x0123456789abcdefULL}, g;
    strcpy(f.name, "optim-00001-of-00002.bin");
    uint8_t rec[MSG_FILE_BYTES];
    msg_file_encode(&f, rec);
    tr_error err = {0};
    cr_assert_eq(msg_file_decode(rec, &g, &err), 0, "%s", err.msg);
    cr_assert(strcmp(g.name, f.name) == 0 && g.begin == 3 && g.end == 9 && g.bytes == 77 && g.sum == f.sum);
    memcpy(rec, "../../etc/passwd", 17);
    cr_assert_eq(msg_file_decode(rec, &g, &err), TR_EFORMAT);
    memset(rec, 'a', CKPT_FILE_NAME_MAX);
    cr_assert_eq(msg_file_decode(rec, &g, &err), TR_EFORMAT, "a name without its NUL");
}
