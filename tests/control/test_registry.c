/* The registry across daemon restarts, and the token file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util/log.h"
#include "coordinator/control/paths.h"
#include "coordinator/control/registry.h"
#include "coordinator/control/token.h"
#include "helpers.h"

static void quiet(void) { log_init(-1, "test", LOG_ERROR); }

Test(registry, restart_keeps_queue_and_resumes_the_running_one_first, .init = quiet) {
    char dir[256], tok[300], ids[4][64];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    for (int i = 0; i < 4; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "{\"name\": \"r%d\", \"steps\": %d}", i, 10 + i);
        Trice__Rpc__Response *r = th_submit(control_rpc_url(c), tok, spec);
        cr_assert_eq(r->code, 0, "%s", r->error);
        snprintf(ids[i], 64, "%s", r->id);
        trice__rpc__response__free_unpacked(r, NULL);
    }
    control_claim *cl = malloc(sizeof *cl);
    cr_assert_eq(control_next_experiment(c, cl), 1);          /* r0 succeeds */
    control_finish(c, ids[0], CONTROL_SUCCEEDED, "{\"eval_acc\": 0.5}", NULL);
    cr_assert_eq(control_next_experiment(c, cl), 1);          /* r1 is running when the daemon stops */
    cr_assert_str_eq(cl->id, ids[1]);
    char out1[1024];
    snprintf(out1, sizeof out1, "%s", cl->out_dir);
    control_free(c);                                          /* "crash"/stop with r1 running */

    c = th_start(dir, 0);
    Trice__Rpc__Response *r = th_list(control_rpc_url(c));
    cr_assert_eq(r->n_experiments, 4);
    cr_assert_str_eq(r->experiments[0]->id, ids[1], "the resumed experiment is at the head");
    cr_assert_str_eq(r->experiments[0]->state, "queued");
    cr_assert(r->experiments[0]->resume);
    cr_assert_eq(r->experiments[0]->queue_position, 1);
    int found0 = 0;
    for (size_t i = 0; i < r->n_experiments; i++)
        if (strcmp(r->experiments[i]->id, ids[0]) == 0) {
            found0 = 1;
            cr_assert_str_eq(r->experiments[i]->state, "succeeded");
            cr_assert_str_eq(r->experiments[i]->result_json, "{\"eval_acc\": 0.5}");
        }
    cr_assert(found0);
    trice__rpc__response__free_unpacked(r, NULL);

    cr_assert_eq(control_next_experiment(c, cl), 1);
    cr_assert_str_eq(cl->id, ids[1]);
    cr_assert_eq(cl->resume, 1);
    cr_assert_str_eq(cl->out_dir, out1, "resumes in the same folder");
    cr_assert_eq(cl->spec.steps, 11);
    control_finish(c, cl->id, CONTROL_SUCCEEDED, "{}", NULL);
    for (int i = 2; i < 4; i++) {
        cr_assert_eq(control_next_experiment(c, cl), 1);
        cr_assert_str_eq(cl->id, ids[i], "FIFO order after the resumed one");
        cr_assert_eq(cl->resume, 0);
        control_finish(c, cl->id, CONTROL_FAILED, "boom", NULL);
    }
    cr_assert_eq(control_next_experiment(c, cl), 0);
    control_free(c);

    c = th_start(dir, 0);
    r = th_get(control_rpc_url(c), ids[3]);
    cr_assert_str_eq(r->experiment->state, "failed");
    cr_assert_str_eq(r->experiment->error, "boom");
    cr_assert_gt(r->experiment->finished_at, 0);
    trice__rpc__response__free_unpacked(r, NULL);
    free(cl);
    control_free(c);
}

static void submit_n(control *c, const char *tok, int n, char ids[][64], const char *extra) {
    for (int i = 0; i < n; i++) {
        char spec[256];
        snprintf(spec, sizeof spec, "{\"name\": \"c%d\", \"steps\": 10%s}", i, extra ? extra : "");
        Trice__Rpc__Response *r = th_submit(control_rpc_url(c), tok, spec);
        cr_assert_eq(r->code, 0, "%s", r->error);
        snprintf(ids[i], 64, "%s", r->id);
        trice__rpc__response__free_unpacked(r, NULL);
    }
}

static char *state_of(control *c, const char *id, char *err_out, size_t cap) {
    static char st[32];
    Trice__Rpc__Response *r = th_get(control_rpc_url(c), id);
    cr_assert_eq(r->code, 0, "%s", r->error);
    snprintf(st, sizeof st, "%s", r->experiment->state);
    if (err_out) snprintf(err_out, cap, "%s", r->experiment->error ? r->experiment->error : "");
    trice__rpc__response__free_unpacked(r, NULL);
    return st;
}

/* Issue 11, defect 1: an experiment that kills the daemon every time it runs was resumed
 * first after every restart, forever. Now: after 2 crashes it is failed and the queue moves on. */
Test(registry, an_experiment_running_at_two_crashes_is_failed_and_the_queue_moves_on, .init = quiet) {
    char dir[256], tok[300], ids[2][64], msg[1024];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    submit_n(c, tok, 2, ids, NULL);
    control_claim *cl = malloc(sizeof *cl);
    for (int crash = 1; crash <= 2; crash++) {
        cr_assert_eq(control_next_experiment(c, cl), 1);
        cr_assert_str_eq(cl->id, ids[0], "crash %d: the crashing experiment is resumed first", crash);
        control_free(c);   /* the process dies with it running: nothing requeues it */
        c = th_start(dir, 0);
    }
    cr_assert_str_eq(state_of(c, ids[0], msg, sizeof msg), "failed");
    cr_assert(strstr(msg, "stopped 2 times") && strstr(msg, "resubmit"), "the error says why: %s", msg);
    cr_assert_eq(control_next_experiment(c, cl), 1);
    cr_assert_str_eq(cl->id, ids[1], "the queue behind it runs");
    control_free(c);
    free(cl);
}

Test(registry, a_clean_shutdown_is_not_a_crash, .init = quiet) {
    char dir[256], tok[300], ids[1][64];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    submit_n(c, tok, 1, ids, NULL);
    control_claim *cl = malloc(sizeof *cl);
    for (int stop = 0; stop < 4; stop++) {
        cr_assert_eq(control_next_experiment(c, cl), 1, "stop %d", stop);
        cr_assert_str_eq(cl->id, ids[0]);
        control_requeue(c, cl->id);   /* checkpointed for shutdown */
        control_free(c);
        c = th_start(dir, 0);
        cr_assert_str_eq(state_of(c, ids[0], NULL, 0), "queued", "after %d clean stops", stop + 1);
    }
    control_free(c);
    free(cl);
}

/* Issue 11, defect 8: an acknowledged cancel was lost. */
Test(registry, an_acknowledged_cancel_of_a_running_experiment_survives_a_crash, .init = quiet) {
    char dir[256], tok[300], ids[1][64];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    submit_n(c, tok, 1, ids, NULL);
    control_claim *cl = malloc(sizeof *cl);
    cr_assert_eq(control_next_experiment(c, cl), 1);
    Trice__Rpc__Response *r = th_simple(control_rpc_url(c), TRICE__RPC__REQUEST__KIND__CANCEL, tok, ids[0]);
    cr_assert_eq(r->code, 0, "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    control_free(c);   /* dies before the training loop saw the cancel */
    c = th_start(dir, 0);
    cr_assert_str_eq(state_of(c, ids[0], NULL, 0), "cancelled");
    cr_assert_eq(control_next_experiment(c, cl), 0, "nothing resumes");
    control_free(c);
    free(cl);
}

typedef struct locker { sqlite3 *db; int hold_ms; } locker;
static void *release_later(void *p) {
    locker *l = p;
    th_sleep_ms(l->hold_ms);
    sqlite3_exec(l->db, "COMMIT;", NULL, NULL, NULL);
    return NULL;
}

Test(registry, a_write_meeting_a_locked_database_waits_and_is_durable_when_acknowledged, .init = quiet) {
    char dir[256], tok[300], ids[1][64], db[400];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    submit_n(c, tok, 1, ids, NULL);
    /* another process (a backup, sqlite3 at the prompt) holds the write lock for 1.5 s */
    snprintf(db, sizeof db, "%s/registry.db", dir);
    locker l = {NULL, 1500};
    cr_assert_eq(sqlite3_open(db, &l.db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(l.db, "BEGIN EXCLUSIVE;", NULL, NULL, NULL), SQLITE_OK);
    pthread_t t;
    pthread_create(&t, NULL, release_later, &l);
    Trice__Rpc__Response *r = th_simple(control_rpc_url(c), TRICE__RPC__REQUEST__KIND__CANCEL, tok, ids[0]);
    cr_assert_eq(r->code, 0, "the cancel waits for the lock instead of failing: %s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    pthread_join(t, NULL);
    sqlite3_close(l.db);
    control_free(c);
    c = th_start(dir, 0);
    cr_assert_str_eq(state_of(c, ids[0], NULL, 0), "cancelled", "acknowledged, so on disk");
    control_free(c);
}

/* Issue 11, defect 5: two experiments shared an out_dir; B resumed from A's checkpoint. */
Test(registry, experiments_never_share_a_folder, .init = quiet) {
    char dir[256], tok[300], ids[1][64], path[600];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    submit_n(c, tok, 1, ids, ", \"out_dir\": \"shared\"");
    Trice__Rpc__Response *r = th_submit(control_rpc_url(c), tok, "{\"name\": \"b\", \"out_dir\": \"shared\"}");
    cr_assert_eq(r->code, TR_EINVAL);
    cr_assert(strstr(r->error, "already experiment") && strstr(r->error, ids[0]), "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    /* a folder that exists already (another experiment's, or anything else) is refused too */
    snprintf(path, sizeof path, "%s/runs/old", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    r = th_submit(control_rpc_url(c), tok, "{\"name\": \"b\", \"out_dir\": \"old\"}");
    cr_assert(r->code == TR_EINVAL && strstr(r->error, "already exists"), "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    /* a symbolic link inside the runs root is not followed */
    snprintf(path, sizeof path, "%s/runs/link", dir);
    cr_assert_eq(symlink("/tmp", path), 0);
    r = th_submit(control_rpc_url(c), tok, "{\"name\": \"b\", \"out_dir\": \"link/x\"}");
    cr_assert(r->code == TR_EINVAL && strstr(r->error, "symbolic link"), "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    /* at claim time a folder holding another experiment's owner file is refused */
    control_claim *cl = malloc(sizeof *cl);
    snprintf(path, sizeof path, "%s/runs/shared", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/runs/shared/" PATHS_OWNER_FILE, dir);
    FILE *f = fopen(path, "w");
    fputs("exp-000099-abcd\n", f);
    fclose(f);
    cr_assert_eq(control_next_experiment(c, cl), 0, "not started");
    char msg[1024];
    cr_assert_str_eq(state_of(c, ids[0], msg, sizeof msg), "failed");
    cr_assert(strstr(msg, "belongs to another experiment") && !strstr(msg, "000099"), "%s", msg);
    free(cl);
    control_free(c);
}

Test(registry, a_version_1_registry_is_migrated_and_keeps_its_rows, .init = quiet) {
    char dir[256], db[400];
    th_tmpdir(dir);
    snprintf(db, sizeof db, "%s/v1.db", dir);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    const char *v1 =
        "CREATE TABLE experiments (id TEXT PRIMARY KEY, name TEXT NOT NULL, spec_json TEXT NOT NULL,"
        " state TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),"
        " created_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, finished_at REAL NOT NULL DEFAULT 0,"
        " result_json TEXT, error TEXT, out_dir TEXT NOT NULL, resume INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL UNIQUE);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "INSERT INTO experiments(id,name,spec_json,state,created_at,out_dir,seq) VALUES ('exp-000001-aaaa','old','{}','running',1,'/x',1);";
    cr_assert_eq(sqlite3_exec(h, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    registry *r = NULL;
    tr_error err = {0};
    cr_assert_eq(registry_open(db, &r, &err), 0, "%s", err.msg);
    int nres = 0, nfail = 0;
    cr_assert_eq(registry_recover(r, 2, &nres, &nfail, &err), 0, "%s", err.msg);
    cr_assert_eq(nres, 1, "the running row of the old file resumes (its first counted crash)");
    reg_row *rows = NULL;
    int n = 0;
    cr_assert_eq(registry_load_all(r, &rows, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0].crashes, 1);
    cr_assert_eq(rows[0].state, EXP_QUEUED);
    reg_row_free(&rows[0]);
    free(rows);
    registry_close(r);
}

Test(registry, uses_wal_and_rejects_a_damaged_file, .init = quiet) {
    char dir[256], db[400], cmd[1200], out[256];
    th_tmpdir(dir);
    snprintf(db, sizeof db, "%s/x.db", dir);
    registry *r = NULL;
    tr_error err = {0};
    cr_assert_eq(registry_open(db, &r, &err), 0, "%s", err.msg);
    registry_close(r);
    snprintf(cmd, sizeof cmd, "sqlite3 %s 'PRAGMA journal_mode;'", db);
    if (th_run("command -v sqlite3 >/dev/null", out, sizeof out) == 0) {
        th_run(cmd, out, sizeof out);
        cr_assert(strstr(out, "wal"), "journal mode: %s", out);
    }
    FILE *f = fopen(db, "w");
    fputs("this is not a database, just text that is long enough to look like a header..........", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "rm -f %s-wal %s-shm", db, db);
    th_run(cmd, out, sizeof out);
    cr_assert_neq(registry_open(db, &r, &err), 0);
    cr_assert(strstr(err.msg, db), "names the file: %s", err.msg);
}

Test(token, created_with_mode_0600_and_stable, .init = quiet) {
    char dir[256], p[400], a[TOKEN_HEX_LEN + 1], b[TOKEN_HEX_LEN + 1];
    th_tmpdir(dir);
    snprintf(p, sizeof p, "%s/tok", dir);
    tr_error err = {0};
    cr_assert_eq(token_load_or_create(p, a, &err), 0, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(strlen(a), TOKEN_HEX_LEN);
    cr_assert_eq(strspn(a, "0123456789abcdef"), TOKEN_HEX_LEN);
    cr_assert_eq(token_load_or_create(p, b, &err), 0, "%s", err.msg);
    cr_assert_str_eq(a, b, "an existing token is kept");
    char q[400];
    snprintf(q, sizeof q, "%s/tok2", dir);
    cr_assert_eq(token_load_or_create(q, b, &err), 0);
    cr_assert_str_neq(a, b, "fresh random tokens differ");
}

/* Issue 11, defect 9: a pre-existing token file others can read (or did write) was accepted. */
Test(token, an_existing_file_others_can_read_or_link_to_is_refused_with_the_fix, .init = quiet) {
    char dir[256], p[400], q[400], a[TOKEN_HEX_LEN + 1];
    th_tmpdir(dir);
    snprintf(p, sizeof p, "%s/tok", dir);
    tr_error err = {0};
    cr_assert_eq(token_load_or_create(p, a, &err), 0, "%s", err.msg);
    cr_assert_eq(chmod(p, 0644), 0);
    cr_assert_eq(token_load_or_create(p, a, &err), TR_EAUTH);
    cr_assert(strstr(err.msg, "mode 644") && strstr(err.msg, "chmod 600"), "%s", err.msg);
    cr_assert_eq(chmod(p, 0600), 0);
    snprintf(q, sizeof q, "%s/link", dir);
    cr_assert_eq(symlink(p, q), 0);
    cr_assert_eq(token_load_or_create(q, a, &err), TR_EAUTH);
    cr_assert(strstr(err.msg, "symbolic link"), "%s", err.msg);
    if (geteuid() == 0) {   /* root can hand the file to another user */
        cr_assert_eq(chown(p, 65534, 65534), 0);
        cr_assert_eq(token_load_or_create(p, a, &err), TR_EAUTH);
        cr_assert(strstr(err.msg, "owned by uid 65534") && strstr(err.msg, "chown 0"), "%s", err.msg);
    }
}

Test(token, compare_rejects_prefixes_and_extensions) {
    const char *s = "abcdef0123456789";
    cr_assert(token_equal(s, "abcdef0123456789", 16));
    cr_assert_not(token_equal(s, "abcdef012345678", 15));
    cr_assert_not(token_equal(s, "abcdef01234567890", 17));
    cr_assert_not(token_equal(s, "abcdef0123456788", 16));
    cr_assert_not(token_equal(s, "", 0));
    cr_assert_not(token_equal("", "", 0), "an empty secret never matches");
}
