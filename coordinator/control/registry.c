#include "coordinator/control/registry.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util/log.h"
#include "common/util/path.h"

static double reg_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct registry {
    sqlite3 *db;
    char path[PATH_BUF];
};

static const char *state_names[EXP_NSTATES] = {"queued", "running", "succeeded", "failed", "cancelled"};

const char *exp_state_name(exp_state s) { return (unsigned)s < EXP_NSTATES ? state_names[s] : "?"; }
int exp_state_final(exp_state s) { return s == EXP_SUCCEEDED || s == EXP_FAILED || s == EXP_CANCELLED; }

static int state_parse(const char *s) {
    for (int i = 0; i < EXP_NSTATES; i++)
        if (s && strcmp(s, state_names[i]) == 0) return i;
    return -1;
}

void reg_row_free(reg_row *r) {
    if (!r) return;
    free(r->spec_json);
    free(r->result_json);
    free(r->error);
    r->spec_json = r->result_json = r->error = NULL;
}

static int db_fail(registry *r, tr_error *err, const char *what) {
    return TR_FAIL(err, TR_EIO, "registry %s: %s: %s", r->path, what, sqlite3_errmsg(r->db));
}

static int exec(registry *r, const char *sql, tr_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = TR_FAIL(err, TR_EIO, "registry %s: '%.60s': %s", r->path, sql, msg ? msg : "?");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static const char *schema =
    "CREATE TABLE IF NOT EXISTS experiments ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, spec_json TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),"
    " created_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, finished_at REAL NOT NULL DEFAULT 0,"
    " result_json TEXT, error TEXT, out_dir TEXT NOT NULL, resume INTEGER NOT NULL DEFAULT 0,"
    " seq INTEGER NOT NULL UNIQUE, crashes INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '2');";

/* Version 1 had no crash count and no durable cancel request: add them (every row starts at 0). */
static const char *migrate_1_2 =
    "ALTER TABLE experiments ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE experiments ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;"
    "UPDATE meta SET value = '2' WHERE key = 'schema_version';";

static int schema_version(registry *r) {
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        v = t ? atoi(t) : -1;
    }
    sqlite3_finalize(st);
    return v;
}

int registry_open(const char *path, registry **out, tr_error *err) {
    *out = NULL;
    registry *r = tr_calloc(1, sizeof *r, err);
    if (!r) return TR_ENOMEM;
    int prc = path_fmt(r->path, sizeof r->path, err, "%s", path);
    if (prc) {
        free(r);
        return prc;
    }
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        int rc = TR_FAIL(err, TR_EIO, "cannot open registry %s: %s (hint: does its folder exist and is it writable?)",
                         path, r->db ? sqlite3_errmsg(r->db) : "out of memory");
        registry_close(r);
        return rc;
    }
    /* Another process holding the file (a backup, sqlite3 at the prompt, a second daemon)
     * makes a write wait up to REGISTRY_BUSY_MS instead of failing at once. */
    sqlite3_busy_timeout(r->db, REGISTRY_BUSY_MS);
    int rc = 0;
    if (strcmp(path, ":memory:") != 0) rc = exec(r, "PRAGMA journal_mode=WAL;", err);
    if (!rc) rc = exec(r, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", err);
    if (!rc) rc = exec(r, "BEGIN IMMEDIATE;", err);
    if (!rc) {
        rc = exec(r, schema, err);
        int v = rc ? 0 : schema_version(r);
        if (!rc && v == 1) rc = exec(r, migrate_1_2, err);
        else if (!rc && v != 2)
            rc = TR_FAIL(err, TR_EFORMAT, "registry %s has schema version %d; this daemon reads versions 1 and 2", path, v);
        if (!rc) rc = exec(r, "COMMIT;", err);
        else exec(r, "ROLLBACK;", NULL);
    }
    if (rc) { registry_close(r); return rc; }
    *out = r;
    return 0;
}

void registry_close(registry *r) {
    if (!r) return;
    if (r->db) sqlite3_close(r->db);
    free(r);
}

int registry_recover(registry *r, int max_crashes, int *n_resumed, int *n_failed, tr_error *err) {
    *n_resumed = *n_failed = 0;
    TR_TRY(exec(r, "BEGIN IMMEDIATE;", err));
    /* A row still 'running' means the daemon died while running it (a clean shutdown
     * requeues it first): one more crash. */
    int rc = exec(r, "UPDATE experiments SET crashes = crashes + 1 WHERE state = 'running';"
                     /* a cancel acknowledged before the crash stands */
                     "UPDATE experiments SET state = 'cancelled', resume = 0, error = 'cancelled by request (the daemon"
                     " stopped before the experiment did; its latest checkpoint is kept)' WHERE state = 'running'"
                     " AND cancel_requested = 1;", err);
    sqlite3_stmt *st = NULL;
    if (!rc && sqlite3_prepare_v2(r->db,
                                  "UPDATE experiments SET state = 'failed', resume = 0, finished_at = ?,"
                                  " error = 'the daemon stopped ' || crashes || ' times while this experiment was running"
                                  " (a crash, a killed process or a lost worker); marked failed after ' || ? ||"
                                  " ' attempts so that the queue moves on. Its checkpoints are kept in ' || out_dir ||"
                                  " '; resubmit it to try again' WHERE state = 'running' AND crashes >= ?;",
                                  -1, &st, NULL) != SQLITE_OK)
        rc = db_fail(r, err, "prepare recover");
    if (!rc) {
        sqlite3_bind_double(st, 1, reg_now());
        sqlite3_bind_int(st, 2, max_crashes);
        sqlite3_bind_int(st, 3, max_crashes);
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(r, err, "mark crashed experiments failed");
        else *n_failed = sqlite3_changes(r->db);
    }
    sqlite3_finalize(st);
    /* Move the other running rows in front of the smallest seq, keeping their relative order. */
    if (!rc)
        rc = exec(r,
                  "UPDATE experiments SET seq = seq - (SELECT COALESCE(MAX(seq),0) - COALESCE(MIN(seq),0) + 1 FROM experiments),"
                  " state = 'queued', resume = 1 WHERE state = 'running';",
                  err);
    if (!rc) *n_resumed = sqlite3_changes(r->db);
    if (!rc) rc = exec(r, "COMMIT;", err);
    else exec(r, "ROLLBACK;", NULL);
    return rc;
}

int64_t registry_max_seq(registry *r) {
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(r->db, "SELECT COALESCE(MAX(seq),0) FROM experiments", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int registry_insert(registry *r, reg_row *row, tr_error *err) {
    TR_TRY(exec(r, "BEGIN IMMEDIATE;", err));
    sqlite3_stmt *st = NULL;
    int rc = 0;
    row->seq = registry_max_seq(r) + 1;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT INTO experiments(id,name,spec_json,state,created_at,out_dir,resume,seq)"
                           " VALUES (?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(r, err, "prepare insert");
    } else {
        sqlite3_bind_text(st, 1, row->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, row->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, row->spec_json ? row->spec_json : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, exp_state_name(row->state), -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, row->created_at);
        sqlite3_bind_text(st, 6, row->out_dir, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 7, row->resume);
        sqlite3_bind_int64(st, 8, row->seq);
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(r, err, "insert experiment");
    }
    sqlite3_finalize(st);
    if (!rc) rc = exec(r, "COMMIT;", err);
    else exec(r, "ROLLBACK;", NULL);
    return rc;
}

int registry_update(registry *r, const char *id, exp_state state, double started_at, double finished_at,
                    const char *result_json, const char *error, int resume, tr_error *err) {
    TR_TRY(exec(r, "BEGIN IMMEDIATE;", err));
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(r->db,
                           "UPDATE experiments SET state=?, started_at=?, finished_at=?,"
                           " result_json=COALESCE(?, result_json), error=COALESCE(?, error), resume=? WHERE id=?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(r, err, "prepare update");
    } else {
        sqlite3_bind_text(st, 1, exp_state_name(state), -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, started_at);
        sqlite3_bind_double(st, 3, finished_at);
        if (result_json) sqlite3_bind_text(st, 4, result_json, -1, SQLITE_STATIC); else sqlite3_bind_null(st, 4);
        if (error) sqlite3_bind_text(st, 5, error, -1, SQLITE_STATIC); else sqlite3_bind_null(st, 5);
        sqlite3_bind_int(st, 6, resume);
        sqlite3_bind_text(st, 7, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(r, err, "update experiment");
        else if (sqlite3_changes(r->db) != 1) rc = TR_FAIL(err, TR_ENOTFOUND, "registry %s: no experiment '%s'", r->path, id);
    }
    sqlite3_finalize(st);
    if (!rc) rc = exec(r, "COMMIT;", err);
    else exec(r, "ROLLBACK;", NULL);
    return rc;
}

static char *dup_col(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

int registry_load_all(registry *r, reg_row **rows, int *n, tr_error *err) {
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT id,name,spec_json,state,created_at,started_at,finished_at,result_json,error,out_dir,resume,seq,crashes,cancel_requested"
                           " FROM experiments ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return db_fail(r, err, "prepare select");
    int cap = 0, rc = 0, s;
    reg_row *v = NULL;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            reg_row *nv = tr_realloc(v, (size_t)cap * sizeof *v, err);
            if (!nv) { rc = TR_ENOMEM; break; }
            v = nv;
        }
        reg_row *row = &v[*n];
        memset(row, 0, sizeof *row);
        snprintf(row->id, sizeof row->id, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(row->name, sizeof row->name, "%s", (const char *)sqlite3_column_text(st, 1));
        row->spec_json = dup_col(st, 2);
        int stv = state_parse((const char *)sqlite3_column_text(st, 3));
        row->created_at = sqlite3_column_double(st, 4);
        row->started_at = sqlite3_column_double(st, 5);
        row->finished_at = sqlite3_column_double(st, 6);
        row->result_json = dup_col(st, 7);
        row->error = dup_col(st, 8);
        snprintf(row->out_dir, sizeof row->out_dir, "%s", (const char *)sqlite3_column_text(st, 9));
        row->resume = sqlite3_column_int(st, 10);
        row->seq = sqlite3_column_int64(st, 11);
        row->crashes = sqlite3_column_int(st, 12);
        row->cancel_requested = sqlite3_column_int(st, 13);
        (*n)++;
        if (stv < 0 || !row->spec_json) { rc = TR_FAIL(err, TR_EFORMAT, "registry %s: row '%s' is damaged", r->path, row->id); break; }
        row->state = (exp_state)stv;
    }
    if (!rc && s != SQLITE_DONE) rc = db_fail(r, err, "select experiments");
    sqlite3_finalize(st);
    if (rc) {
        for (int i = 0; i < *n; i++) reg_row_free(&v[i]);
        free(v);
        *n = 0;
        return rc;
    }
    *rows = v;
    return 0;
}

int registry_set_cancel_requested(registry *r, const char *id, tr_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(r->db, "UPDATE experiments SET cancel_requested = 1 WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return db_fail(r, err, "prepare cancel request");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(r, err, "record cancel request");
    else if (sqlite3_changes(r->db) != 1) rc = TR_FAIL(err, TR_ENOTFOUND, "registry %s: no experiment '%s'", r->path, id);
    sqlite3_finalize(st);
    return rc;
}
