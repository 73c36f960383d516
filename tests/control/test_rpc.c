/* RPC round trips through the socket, and a table of bad requests that each get a clear
 * error after which the daemon still answers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util/log.h"
#include "coordinator/control/rpc.h"
#include "helpers.h"

static void quiet(void) { log_init(-1, "test", LOG_ERROR); }

Test(rpc, submit_get_claim_progress_cancel_round_trip, .init = quiet) {
    char dir[256], tok[300];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    const char *url = control_rpc_url(c);

    Trice__Rpc__Response *r = th_submit(url, tok, "{\"name\": \"round\", \"steps\": 7, \"seed\": 3}");
    cr_assert_eq(r->code, 0, "%s", r->error);
    char id[64];
    snprintf(id, sizeof id, "%s", r->id);
    cr_assert(strncmp(id, "exp-", 4) == 0, "id '%s'", id);
    trice__rpc__response__free_unpacked(r, NULL);

    r = th_get(url, id);
    cr_assert_eq(r->code, 0, "%s", r->error);
    cr_assert_str_eq(r->experiment->state, "queued");
    cr_assert_str_eq(r->experiment->name, "round");
    cr_assert_eq(r->experiment->queue_position, 1);
    cr_assert(strstr(r->experiment->spec_json, "\"steps\": 7") || strstr(r->experiment->spec_json, "\"steps\":7"),
              "canonical spec keeps the steps: %s", r->experiment->spec_json);
    trice__rpc__response__free_unpacked(r, NULL);

    control_claim *cl = malloc(sizeof *cl);
    cr_assert_eq(control_next_experiment(c, cl), 1);
    cr_assert_str_eq(cl->id, id);
    cr_assert_eq(cl->spec.steps, 7);
    cr_assert_eq(cl->resume, 0);
    cr_assert_eq(control_next_experiment(c, cl), 0, "one experiment at a time");
    struct stat st;
    cr_assert_eq(stat(cl->out_dir, &st), 0, "out dir %s created", cl->out_dir);

    control_progress p = {0};
    p.step = 3; p.total_steps = 7; p.proposal_acc = 0.25; p.memory_acc = 0.5; p.beta = 0.7; p.loss = 1.5; p.eval_acc = NAN;
    control_progress_post(c, id, &p);
    p.step = 4; p.eval_acc = 0.4;
    control_progress_post(c, id, &p);
    r = th_get(url, id);
    cr_assert_str_eq(r->experiment->state, "running");
    cr_assert_not_null(r->experiment->progress);
    cr_assert_eq(r->experiment->progress->step, 4);
    cr_assert_float_eq(r->experiment->progress->eval_acc, 0.4, 1e-12);
    cr_assert_eq(r->n_recent, 2);
    cr_assert_eq(r->recent[0]->step, 3);
    cr_assert(isnan(r->recent[0]->eval_acc));
    trice__rpc__response__free_unpacked(r, NULL);

    r = th_simple(url, TRICE__RPC__REQUEST__KIND__CANCEL, tok, id);
    cr_assert_eq(r->code, 0, "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    cr_assert_eq(control_cancel_requested(c, id), 1);
    cr_assert_eq(control_finish(c, id, CONTROL_CANCELLED, "stopped at step 4", NULL), 0);
    r = th_get(url, id);
    cr_assert_str_eq(r->experiment->state, "cancelled");
    cr_assert_str_eq(r->experiment->error, "stopped at step 4");
    trice__rpc__response__free_unpacked(r, NULL);

    cr_assert_eq(control_shutdown_requested(c), 0);
    r = th_simple(url, TRICE__RPC__REQUEST__KIND__SHUTDOWN, tok, NULL);
    cr_assert_eq(r->code, 0, "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    cr_assert_eq(control_shutdown_requested(c), 1);
    free(cl);
    control_free(c);
}

Test(rpc, list_is_fifo_and_cancel_of_queued_is_immediate, .init = quiet) {
    char dir[256], tok[300], ids[3][64];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    const char *url = control_rpc_url(c);
    for (int i = 0; i < 3; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "{\"name\": \"n%d\", \"steps\": 5}", i);
        Trice__Rpc__Response *r = th_submit(url, tok, spec);
        cr_assert_eq(r->code, 0, "%s", r->error);
        snprintf(ids[i], 64, "%s", r->id);
        trice__rpc__response__free_unpacked(r, NULL);
    }
    Trice__Rpc__Response *r = th_simple(url, TRICE__RPC__REQUEST__KIND__CANCEL, tok, ids[1]);
    cr_assert_eq(r->code, 0, "%s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    r = th_list(url);
    cr_assert_eq(r->n_experiments, 3);
    for (int i = 0; i < 3; i++) cr_assert_str_eq(r->experiments[i]->id, ids[i]);
    cr_assert_str_eq(r->experiments[1]->state, "cancelled");
    cr_assert_eq(r->experiments[2]->queue_position, 2);
    trice__rpc__response__free_unpacked(r, NULL);
    control_claim *cl = malloc(sizeof *cl);
    cr_assert_eq(control_next_experiment(c, cl), 1);
    cr_assert_str_eq(cl->id, ids[0]);
    control_finish(c, cl->id, CONTROL_SUCCEEDED, "{\"eval_acc\": 1}", NULL);
    cr_assert_eq(control_next_experiment(c, cl), 1);
    cr_assert_str_eq(cl->id, ids[2], "the cancelled one is skipped");
    free(cl);
    control_free(c);
}

/* ---- bad requests ---- */

typedef struct bad_case {
    const char *what;
    int kind;              /* -1: raw bytes below */
    int token;             /* 0 none, 1 right, 2 wrong, 3 other length */
    const char *spec;
    const char *id;
    int protocol, limit;
    const char *raw;
    size_t raw_len;
    int big;               /* 1: a 2 MiB request */
    int code;
    const char *expect;    /* substring of the error */
} bad_case;

Test(rpc, bad_requests_get_clear_errors_and_the_daemon_keeps_serving, .init = quiet) {
    char dir[256], tok[300], missing[400], folder[400], longid[200];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    const char *url = control_rpc_url(c);
    /* A finished experiment, for the cancel-after-the-end case. */
    Trice__Rpc__Response *r = th_submit(url, tok, TSPEC_OK);
    cr_assert_eq(r->code, 0, "%s", r->error);
    char done_id[64];
    snprintf(done_id, sizeof done_id, "%s", r->id);
    trice__rpc__response__free_unpacked(r, NULL);
    control_claim *cl = malloc(sizeof *cl);
    cr_assert_eq(control_next_experiment(c, cl), 1);
    control_finish(c, done_id, CONTROL_SUCCEEDED, "{}", NULL);
    free(cl);

    char spec_missing[600], spec_folder[600], spec_test_missing[600];
    snprintf(missing, sizeof missing, "%s/nope.jsonl", dir);
    snprintf(folder, sizeof folder, "%s/runs", dir);   /* inside the runs root, but a folder */
    snprintf(spec_missing, sizeof spec_missing, "{\"task\": {\"name\": \"jsonl\", \"path\": \"%s\"}}", missing);
    snprintf(spec_folder, sizeof spec_folder, "{\"task\": {\"name\": \"jsonl\", \"path\": \"%s\"}}", folder);
    snprintf(spec_test_missing, sizeof spec_test_missing, "{\"model\": {\"init\": \"%s\"}}", missing);
    memset(longid, 'x', 100);
    longid[100] = '\0';
    char *bigspec = malloc(300 * 1024);
    memset(bigspec, ' ', 300 * 1024 - 3);
    bigspec[0] = '{';
    bigspec[300 * 1024 - 3] = '}';
    bigspec[300 * 1024 - 2] = '\0';

    const int S = TRICE__RPC__REQUEST__KIND__SUBMIT, G = TRICE__RPC__REQUEST__KIND__GET, C = TRICE__RPC__REQUEST__KIND__CANCEL,
              D = TRICE__RPC__REQUEST__KIND__SHUTDOWN, L = TRICE__RPC__REQUEST__KIND__LIST;
    const bad_case cases[] = {
        {"garbage bytes", -1, 0, 0, 0, 0, 0, "\xff\xff\xff\xff\xff", 5, 0, TR_EFORMAT, "malformed request"},
        {"truncated length-delimited field", -1, 0, 0, 0, 0, 0, "\x1a\x40{", 3, 0, TR_EFORMAT, "malformed request"},
        {"wrong wire type for kind", -1, 0, 0, 0, 0, 0, "\x0a\x01x", 3, 0, TR_EFORMAT, "malformed request"},
        {"empty message (kind 0)", -1, 0, 0, 0, 0, 0, "", 0, 0, TR_EINVAL, "unknown request kind 0"},
        {"unknown kind", 99, 0, 0, 0, 0, 0, 0, 0, 0, TR_EINVAL, "unknown request kind 99"},
        {"request over the size limit", -1, 0, 0, 0, 0, 0, 0, 0, 1, TR_EINVAL, "the limit is"},
        {"future protocol", L, 0, 0, 0, 99, 0, 0, 0, 0, TR_EINVAL, "protocol version 99"},
        {"submit without token", S, 0, TSPEC_OK, 0, 0, 0, 0, 0, 0, TR_EAUTH, "needs the daemon's token"},
        {"submit with wrong token", S, 2, TSPEC_OK, 0, 0, 0, 0, 0, 0, TR_EAUTH, "does not match"},
        {"submit with short token", S, 3, TSPEC_OK, 0, 0, 0, 0, 0, 0, TR_EAUTH, "does not match"},
        {"cancel without token", C, 0, 0, "exp-1", 0, 0, 0, 0, 0, TR_EAUTH, "token"},
        {"shutdown with wrong token", D, 2, 0, 0, 0, 0, 0, 0, 0, TR_EAUTH, "does not match"},
        {"empty spec", S, 1, "", 0, 0, 0, 0, 0, 0, TR_EINVAL, "spec_json' is empty"},
        {"spec not JSON", S, 1, "{\"steps\": 5,,}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "invalid JSON"},
        {"spec not an object", S, 1, "[1, 2]", 0, 0, 0, 0, 0, 0, TR_EINVAL, "JSON object"},
        {"spec unknown field", S, 1, "{\"stpes\": 5}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "stpes"},
        {"spec out-of-range steps", S, 1, "{\n\"steps\": -4\n}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "steps"},
        {"spec out-of-range lr", S, 1, "{\"optim\": {\"lr\": 1e9}}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "optim.lr"},
        {"spec unknown task", S, 1, "{\"task\": {\"name\": \"chess\"}}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "unknown task 'chess'"},
        {"spec file task without path", S, 1, "{\"task\": {\"name\": \"jsonl\"}}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "task.path"},
        {"spec data file missing", S, 1, spec_missing, 0, 0, 0, 0, 0, 0, TR_EINVAL, "does not exist"},
        {"spec data path is a folder", S, 1, spec_folder, 0, 0, 0, 0, 0, 0, TR_EINVAL, "not a regular file"},
        {"spec model.init missing", S, 1, spec_test_missing, 0, 0, 0, 0, 0, 0, TR_EINVAL, "model.init"},
        {"spec reads a file outside the roots", S, 1, "{\"task\": {\"name\": \"jsonl\", \"path\": \"/etc/passwd\"}}", 0, 0, 0, 0, 0, 0,
         TR_EINVAL, "outside the folders this daemon reads"},
        {"spec model.init outside the roots", S, 1, "{\"model\": {\"init\": \"/etc/hostname\"}}", 0, 0, 0, 0, 0, 0,
         TR_EINVAL, "outside the folders"},
        {"spec out_dir absolute", S, 1, "{\"out_dir\": \"/tmp/elsewhere\"}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "is absolute"},
        {"spec out_dir climbs out", S, 1, "{\"out_dir\": \"a/../../x\"}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "no '.', '..'"},
        {"spec name with an escape", S, 1, "{\"name\": \"x\\u001b[2Jy\"}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "control character 0x1b"},
        {"spec name with a newline", S, 1, "{\"name\": \"x\\nINFO forged\"}", 0, 0, 0, 0, 0, 0, TR_EINVAL, "control character 0x0a"},
        {"spec over the size limit", S, 1, bigspec, 0, 0, 0, 0, 0, 0, TR_EINVAL, "the limit is"},
        {"get without id", G, 0, 0, "", 0, 0, 0, 0, 0, TR_EINVAL, "'id' is required"},
        {"get unknown id", G, 0, 0, "exp-999999-ffff", 0, 0, 0, 0, 0, TR_ENOTFOUND, "no experiment with id"},
        {"get id too long", G, 0, 0, longid, 0, 0, 0, 0, 0, TR_EINVAL, "characters"},
        {"cancel unknown id", C, 1, 0, "exp-424242-0000", 0, 0, 0, 0, 0, TR_ENOTFOUND, "no experiment"},
        {"cancel finished experiment", C, 1, 0, done_id, 0, 0, 0, 0, 0, TR_ESTATE, "already succeeded"},
        {"list negative limit", L, 0, 0, 0, 0, -5, 0, 0, 0, TR_EINVAL, "limit"},
    };
    size_t ncases = sizeof cases / sizeof cases[0];
    cr_assert_geq(ncases, 20);
    for (size_t i = 0; i < ncases; i++) {
        const bad_case *b = &cases[i];
        if (b->big) {
            size_t n = 2u << 20;
            char *buf = malloc(n);
            /* field 3 (spec_json), length-delimited, 2 MiB - 5 bytes long: valid framing, too big */
            size_t L2 = n - 5;
            buf[0] = 0x1a;
            buf[1] = (char)(0x80 | (L2 & 0x7f));
            buf[2] = (char)(0x80 | ((L2 >> 7) & 0x7f));
            buf[3] = (char)(0x80 | ((L2 >> 14) & 0x7f));
            buf[4] = (char)((L2 >> 21) & 0x7f);
            memset(buf + 5, 'a', L2);
            r = th_call_raw(url, buf, n);
            free(buf);
        } else if (b->kind < 0) {
            r = th_call_raw(url, b->raw, b->raw_len);
        } else {
            Trice__Rpc__Request q = TRICE__RPC__REQUEST__INIT;
            q.kind = (Trice__Rpc__Request__Kind)b->kind;
            q.token = b->token == 1 ? tok : b->token == 2 ? (char *)"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                      : b->token == 3 ? (char *)"abc" : (char *)"";
            if (b->spec) q.spec_json = (char *)b->spec;
            if (b->id) q.id = (char *)b->id;
            q.protocol = b->protocol;
            q.limit = b->limit;
            r = th_call(url, &q);
        }
        cr_assert_eq(r->code, b->code, "case '%s': code %d (%s), want %d; error: %s", b->what, r->code, r->code_name, b->code, r->error);
        cr_assert(strstr(r->error, b->expect), "case '%s': error '%s' should mention '%s'", b->what, r->error, b->expect);
        trice__rpc__response__free_unpacked(r, NULL);
        /* ... and the daemon still answers */
        r = th_list(url);
        cr_assert_eq(r->code, 0, "after case '%s': list failed: %s", b->what, r->error);
        cr_assert_eq(r->n_experiments, 1, "after case '%s': nothing was queued by a bad request", b->what);
        trice__rpc__response__free_unpacked(r, NULL);
    }
    /* A spec error names the line of the field. */
    r = th_submit(url, tok, "{\n  \"name\": \"x\",\n  \"steps\": 0\n}");
    cr_assert(strstr(r->error, ":3:"), "error names line 3: %s", r->error);
    trice__rpc__response__free_unpacked(r, NULL);
    free(bigspec);
    control_free(c);
}

Test(rpc, remote_bind_needs_the_explicit_option, .init = quiet) {
    char dir[256], db[400];
    th_tmpdir(dir);
    snprintf(db, sizeof db, "%s/r.db", dir);
    control_opts o = {0};
    o.db_path = db;
    o.rpc_url = "tcp://0.0.0.0:0";
    o.http_addr = "";
    control *c = NULL;
    tr_error err = {0};
    cr_assert_neq(control_start(&o, &c, &err), 0);
    cr_assert(strstr(err.msg, "not loopback"), "%s", err.msg);
    o.rpc_url = "";
    o.http_addr = "0.0.0.0:0";
    cr_assert_neq(control_start(&o, &c, &err), 0);
    cr_assert(strstr(err.msg, "not loopback"), "%s", err.msg);
    /* Issue 11, defect 7: other schemes and disguised hosts passed a string match */
    const char *rpc_bad[] = {"ws://0.0.0.0:0/x", "tls+tcp://0.0.0.0:0", "tcp://127.0.0.1@0.0.0.0:0", "tcp://127.evil.example:0",
                             "wss://[::]:0/x", "tcp4://0.0.0.0:0"};
    for (size_t i = 0; i < sizeof rpc_bad / sizeof *rpc_bad; i++) {
        o.rpc_url = rpc_bad[i];
        o.http_addr = "";
        c = NULL;
        cr_assert_neq(control_start(&o, &c, &err), 0, "RPC %s was accepted", rpc_bad[i]);
        cr_assert_null(c);
    }
    const char *http_bad[] = {"127.0.0.1@0.0.0.0:0", "127.evil.example:0", "localhost.evil.example:0", "[::]:0", "0:0"};
    for (size_t i = 0; i < sizeof http_bad / sizeof *http_bad; i++) {
        o.rpc_url = "";
        o.http_addr = http_bad[i];
        c = NULL;
        cr_assert_neq(control_start(&o, &c, &err), 0, "HTTP %s was accepted", http_bad[i]);
        cr_assert_null(c);
    }
}

Test(rpc, client_says_when_the_daemon_is_not_reachable, .init = quiet) {
    rpc_client *c = NULL;
    tr_error err = {0};
    /* port 1 on loopback: nobody listens there */
    cr_assert_neq(rpc_client_open("tcp://127.0.0.1:1", 2000, &c, &err), 0);
    cr_assert(strstr(err.msg, "not reachable"), "%s", err.msg);
}
