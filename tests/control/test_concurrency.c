/* 50 clients at once, each submitting and listing: nothing is lost or duplicated. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/util/log.h"
#include "coordinator/control/client.h"
#include "helpers.h"

#define NCLIENTS 50
#define PER_CLIENT 2

typedef struct job {
    const char *url, *token;
    int index, ok;
    char ids[PER_CLIENT][64];
    char why[TR_ERRMSG_MAX + 64];
} job;

static void *client_main(void *arg) {
    job *j = arg;
    rpc_client *c = NULL;
    tr_error err = {0};
    if (rpc_client_open(j->url, 30000, &c, &err)) { snprintf(j->why, sizeof j->why, "%s", err.msg); return NULL; }
    for (int k = 0; k < PER_CLIENT; k++) {
        char spec[128];
        snprintf(spec, sizeof spec, "{\"name\": \"c%d-%d\", \"steps\": 5}", j->index, k);
        Trice__Rpc__Request q = TRICE__RPC__REQUEST__INIT;
        q.kind = TRICE__RPC__REQUEST__KIND__SUBMIT;
        q.token = (char *)j->token;
        q.spec_json = spec;
        Trice__Rpc__Response *r = NULL;
        if (rpc_client_call(c, &q, &r, &err) || r->code) {
            snprintf(j->why, sizeof j->why, "submit: %s", r ? r->error : err.msg);
            if (r) trice__rpc__response__free_unpacked(r, NULL);
            rpc_client_close(c);
            return NULL;
        }
        snprintf(j->ids[k], 64, "%s", r->id);
        trice__rpc__response__free_unpacked(r, NULL);
        Trice__Rpc__Request l = TRICE__RPC__REQUEST__INIT;
        l.kind = TRICE__RPC__REQUEST__KIND__LIST;
        if (rpc_client_call(c, &l, &r, &err) || r->code) {
            snprintf(j->why, sizeof j->why, "list: %s", r ? r->error : err.msg);
            if (r) trice__rpc__response__free_unpacked(r, NULL);
            rpc_client_close(c);
            return NULL;
        }
        int seen = 0;   /* my own submission is visible to my next read */
        for (size_t i = 0; i < r->n_experiments; i++) seen |= strcmp(r->experiments[i]->id, j->ids[k]) == 0;
        trice__rpc__response__free_unpacked(r, NULL);
        if (!seen) { snprintf(j->why, sizeof j->why, "list after submit lacks %s", j->ids[k]); rpc_client_close(c); return NULL; }
    }
    rpc_client_close(c);
    j->ok = 1;
    return NULL;
}

Test(concurrency, fifty_clients_submit_and_list_nothing_lost, .timeout = 120) {
    log_init(-1, "test", LOG_ERROR);
    char dir[256], tok[300];
    th_tmpdir(dir);
    control *c = th_start(dir, 0);
    th_token(dir, tok, sizeof tok);
    static job jobs[NCLIENTS];
    pthread_t th[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].url = control_rpc_url(c);
        jobs[i].token = tok;
        jobs[i].index = i;
        cr_assert_eq(pthread_create(&th[i], NULL, client_main, &jobs[i]), 0);
    }
    for (int i = 0; i < NCLIENTS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NCLIENTS; i++) cr_assert(jobs[i].ok, "client %d: %s", i, jobs[i].why);
    Trice__Rpc__Response *r = th_list(control_rpc_url(c));
    cr_assert_eq(r->n_experiments, NCLIENTS * PER_CLIENT);
    for (int i = 0; i < NCLIENTS; i++)
        for (int k = 0; k < PER_CLIENT; k++) {
            int n = 0;
            for (size_t e = 0; e < r->n_experiments; e++) n += strcmp(r->experiments[e]->id, jobs[i].ids[k]) == 0;
            cr_assert_eq(n, 1, "id %s appears %d times", jobs[i].ids[k], n);
        }
    trice__rpc__response__free_unpacked(r, NULL);
    control_free(c);
    /* ... and all of them were persisted */
    c = th_start(dir, 0);
    r = th_list(control_rpc_url(c));
    cr_assert_eq(r->n_experiments, NCLIENTS * PER_CLIENT);
    trice__rpc__response__free_unpacked(r, NULL);
    control_free(c);
}
