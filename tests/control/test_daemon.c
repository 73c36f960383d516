/* test_daemon - the control plane with a fake training loop, for end-to-end tests
 * without MPI. The loop claims experiments, posts progress for spec.steps steps (one
 * every --step-ms), honours cancel and shutdown, and finishes with a result that says
 * whether the run was a resume. It writes "RPC_URL HTTP_PORT" to --port-file when up.
 *
 *   test_daemon --db PATH --port-file PATH [--step-ms 50] [--workers 2] [--token-file PATH]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util/afile.h"
#include "common/util/log.h"
#include "coordinator/control/control.h"

static void sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

int main(int argc, char **argv) {
    const char *db = NULL, *port_file = NULL, *token_file = NULL;
    int step_ms = 50, nworkers = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0) db = argv[i + 1];
        else if (strcmp(argv[i], "--port-file") == 0) port_file = argv[i + 1];
        else if (strcmp(argv[i], "--token-file") == 0) token_file = argv[i + 1];
        else if (strcmp(argv[i], "--step-ms") == 0) step_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--workers") == 0) nworkers = atoi(argv[i + 1]);
        else { fprintf(stderr, "test_daemon: unknown option %s\n", argv[i]); return 2; }
    }
    if (!db || !port_file) { fprintf(stderr, "test_daemon: --db and --port-file are required\n"); return 2; }
    log_init(-1, "test-daemon", LOG_WARN);
    control_opts o = {0};
    o.db_path = db;
    o.rpc_url = "tcp://127.0.0.1:0";
    o.http_addr = "127.0.0.1:0";
    o.token_file = token_file;
    o.handle_signals = 1;
    control *c = NULL;
    tr_error err = {0};
    if (control_start(&o, &c, &err)) { fprintf(stderr, "test_daemon: %s\n", err.msg); return 1; }
    control_worker ws[16];
    if (nworkers > 16) nworkers = 16;
    for (int i = 0; i < nworkers; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].rank = i + 1;
        snprintf(ws[i].host, sizeof ws[i].host, "node%d", i + 1);
        ws[i].pid = 1000 + i;
        snprintf(ws[i].version, sizeof ws[i].version, "test");
        ws[i].cores = 1;
        snprintf(ws[i].backend, sizeof ws[i].backend, "cpu-fake");
    }
    control_set_world(c, ws, nworkers, NULL);
    char line[600];
    int n = snprintf(line, sizeof line, "%s %d\n", control_rpc_url(c), control_http_port(c));
    if (afile_write(port_file, line, (size_t)n, &err)) { fprintf(stderr, "test_daemon: %s\n", err.msg); control_free(c); return 1; }

    control_claim *cl = malloc(sizeof *cl);
    while (!control_shutdown_requested(c)) {
        for (int i = 0; i < nworkers; i++) control_worker_heartbeat(c, ws[i].rank);
        if (!control_next_experiment(c, cl)) { sleep_ms(20); continue; }
        /* a spec with warmup_sft_steps runs as two stages, like experiment_run: "warm-up", then the method */
        int nstages = cl->spec.warmup_sft_steps > 0 ? 2 : 1, stopped = 0, cancelled = 0, steps = cl->spec.steps;
        int64_t offset = 0;
        for (int st = 1; st <= nstages && !stopped && !cancelled; st++) {
            int stage_steps = nstages == 2 && st == 1 ? cl->spec.warmup_sft_steps : cl->spec.steps;
            int64_t eval_step = 0;
            double eval_acc = NAN;
            for (int step = 1; step <= stage_steps; step++) {
                if (control_shutdown_requested(c)) { stopped = 1; break; }   /* leave it running: it resumes on restart */
                if (control_cancel_requested(c, cl->id)) { cancelled = 1; break; }
                control_progress p;
                memset(&p, 0, sizeof p);
                p.step = step;
                p.total_steps = stage_steps;
                snprintf(p.stage, sizeof p.stage, "%s", nstages == 2 && st == 1 ? "warm-up" : spec_method_name(cl->spec.method));
                p.stage_index = st;
                p.stage_count = nstages;
                p.step_offset = offset;
                p.proposal_acc = 0.2 + 0.5 * step / stage_steps;
                p.memory_acc = 0.3 + 0.6 * step / stage_steps;
                p.beta = 0.5 + 0.3 * sin(step);
                p.loss = 3.0 / (1.0 + step);
                if (step % 2 == 0) { eval_acc = 0.1 + 0.8 * step / stage_steps; eval_step = step; }
                p.eval_acc = eval_acc;
                p.eval_step = eval_step;
                p.tokens = 1000;
                p.sample_s = 0.01;
                p.grad_s = 0.02;
                p.reduce_s = 0.001;
                p.optim_s = 0.001;
                p.eta_s = (double)(stage_steps - step) * step_ms / 1000.0;
                control_progress_post(c, cl->id, &p);
                for (int i = 0; i < nworkers; i++) control_worker_heartbeat(c, ws[i].rank);
                if (step % 5 == 0) control_checkpoint_saved(c, cl->id);
                sleep_ms(step_ms);
            }
            offset += stage_steps;
        }
        if (stopped) break;
        if (cancelled) {
            control_finish(c, cl->id, CONTROL_CANCELLED, "cancelled by the user", NULL);
        } else {
            char res[160];
            if (nstages == 2)   /* the shape of a real result.json */
                snprintf(res, sizeof res, "{\"acc_before\": 0.25, \"acc_after\": 0.75, \"n_eval\": 8, \"steps\": %d, "
                         "\"tokens_sampled\": %d}", steps, 1000 * steps);
            else
                snprintf(res, sizeof res, "{\"eval_acc\": 0.9, \"steps\": %d, \"resumed\": %d}", steps, cl->resume);
            control_finish(c, cl->id, CONTROL_SUCCEEDED, res, NULL);
        }
    }
    free(cl);
    control_free(c);
    return 0;
}
