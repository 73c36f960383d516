#include "coordinator/control/http.h"

#include <jansson.h>
#include <math.h>
#include <unistd.h>
#include <sys/resource.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"
#include "coordinator/control/rpc.h"
#include "trice_config.h"

int http_ready(state_core *c, char *reason, size_t cap) {
    state_snapshot *s = &c->st;
    pthread_mutex_lock(&s->mu);
    int alive = state_workers_alive(s, state_now()), ok = 0;
    if (s->fatal[0]) snprintf(reason, cap, "fatal: %s", s->fatal);
    else if (!s->world_set) snprintf(reason, cap, "the workers have not registered yet");
    else if (alive < s->nworkers) {
        char who[256];
        state_silent_ranks(s, state_now(), who, sizeof who);
        snprintf(reason, cap, "%d of %d workers heard from in the last %.0f s (%s)", alive, s->nworkers, s->heartbeat_timeout_s, who);
    }
    else if (s->shutdown) snprintf(reason, cap, "shutting down");
    else ok = 1;
    pthread_mutex_unlock(&s->mu);
    if (ok) snprintf(reason, cap, "ready");
    return ok;
}

/* JSON has no NaN: unknown numbers become null. */
static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

/* A posted step as JSON. latest: the experiment's latest step, every field, with its ETA
 * when running. Otherwise a point of the page's charts: the plotted fields, the global step
 * for the x axis, held-out accuracy only where measured, and the time as "t". */
static json_t *progress_json(const state_sample *smp, int latest, int running) {
    const control_progress *p = &smp->p;
    json_t *g = json_object();
    json_object_set_new(g, "step", json_integer(p->step));
    if (latest) json_object_set_new(g, "total_steps", json_integer(p->total_steps));
    else json_object_set_new(g, "global_step", json_integer(control_progress_global_step(p)));
    json_object_set_new(g, "stage", json_string(p->stage));
    json_object_set_new(g, "stage_index", json_integer(p->stage_index));
    json_object_set_new(g, "proposal_acc", jnum(p->proposal_acc));
    json_object_set_new(g, "memory_acc", jnum(p->memory_acc));
    json_object_set_new(g, "beta", jnum(p->beta));
    json_object_set_new(g, "loss", jnum(p->loss));
    if (!latest) {
        json_object_set_new(g, "eval_acc", jnum(control_progress_eval_here(p)));
        json_object_set_new(g, "t", json_real(smp->at));
        return g;
    }
    json_object_set_new(g, "eval_acc", jnum(p->eval_acc));
    json_object_set_new(g, "tokens", json_integer(p->tokens));
    json_object_set_new(g, "step_seconds", jnum(control_progress_step_seconds(p)));
    json_object_set_new(g, "eta_seconds", jnum(running ? p->eta_s : NAN));
    json_object_set_new(g, "stage_count", json_integer(p->stage_count));
    json_object_set_new(g, "eval_step", json_integer(p->eval_step));
    json_object_set_new(g, "step_offset", json_integer(p->step_offset));
    json_object_set_new(g, "updated_at", json_real(smp->at));
    return g;
}

static json_t *exp_json(const state_snapshot *s, const state_exp *e) {
    json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:f,s:f,s:s,s:b,s:b,s:i}", "id", e->id, "name", e->name, "state",
                          exp_state_name(e->state), "created_at", e->created_at, "started_at", e->started_at,
                          "finished_at", e->finished_at, "out_dir", e->out_dir, "resume", e->resume,
                          "cancel_requested", e->cancel_requested, "queue_position", state_queue_position(s, e));
    if (!o) return NULL;
    if (e->error) json_object_set_new(o, "error", json_string(e->error));
    if (e->result_json) {
        json_t *r = json_loads(e->result_json, 0, NULL);
        json_object_set_new(o, "result", r ? r : json_string(e->result_json));
    }
    if (e->has_progress) json_object_set_new(o, "progress", progress_json(&e->progress, 1, e->state == EXP_RUNNING));
    return o;
}

char *http_render_status(state_core *c) {
    char reason[600];
    int ready = http_ready(c, reason, sizeof reason);
    state_snapshot *s = &c->st;
    pthread_mutex_lock(&s->mu);
    double now = state_now();
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string(TRICE_VERSION));
    json_object_set_new(root, "now", json_real(now));
    json_object_set_new(root, "started_at", json_real(s->started_at));
    json_object_set_new(root, "ready", json_boolean(ready));
    json_object_set_new(root, "ready_reason", json_string(reason));
    json_object_set_new(root, "fatal", s->fatal[0] ? json_string(s->fatal) : json_null());
    json_object_set_new(root, "shutdown_requested", json_boolean(s->shutdown));
    json_object_set_new(root, "world", json_pack("{s:i,s:i,s:b,s:f}", "workers", s->nworkers, "alive",
                                                 state_workers_alive(s, now), "registered", s->world_set,
                                                 "heartbeat_timeout_s", s->heartbeat_timeout_s));
    json_t *ws = json_array();
    for (int i = 0; i < s->nworkers; i++) {
        const control_worker *w = &s->workers[i];
        json_array_append_new(ws, json_pack("{s:i,s:s,s:I,s:s,s:i,s:s,s:f,s:b}", "rank", w->rank, "host", w->host,
                                            "pid", (json_int_t)w->pid, "version", w->version, "cores", w->cores,
                                            "backend", w->backend, "last_heartbeat", s->last_heartbeat[i], "alive",
                                            now - s->last_heartbeat[i] <= s->heartbeat_timeout_s));
    }
    json_object_set_new(root, "workers", ws);
    state_exp *cur = state_running(s);
    json_object_set_new(root, "current", cur ? exp_json(s, cur) : json_null());
    /* The newest finished experiment, so that the page still shows a result after the end. */
    state_exp *last = NULL;
    for (int i = 0; i < s->nexps; i++)
        if (exp_state_final(s->exps[i].state) && (!last || s->exps[i].finished_at >= last->finished_at)) last = &s->exps[i];
    json_object_set_new(root, "last_finished", last ? exp_json(s, last) : json_null());
    /* past experiments for the page's table, newest first */
    json_t *hist = json_array();
    for (int i = s->nexps - 1; i >= 0 && json_array_size(hist) < 50; i--)
        if (exp_state_final(s->exps[i].state)) json_array_append_new(hist, exp_json(s, &s->exps[i]));
    json_object_set_new(root, "history", hist);
    json_t *rec = json_array();
    for (int i = 0; i < s->ring_n; i++) json_array_append_new(rec, progress_json(state_ring_at(s, i), 0, 0));
    json_object_set_new(root, "recent_id", json_string(s->ring_id));
    json_object_set_new(root, "recent", rec);
    json_t *q = json_array();
    int counts[EXP_NSTATES] = {0};
    for (int i = 0; i < s->nexps; i++) {
        counts[s->exps[i].state]++;
        if (s->exps[i].state == EXP_QUEUED && json_array_size(q) < 100) json_array_append_new(q, exp_json(s, &s->exps[i]));
    }
    json_object_set_new(root, "queue", q);
    json_object_set_new(root, "queue_length", json_integer(counts[EXP_QUEUED]));
    json_t *cn = json_object();
    for (int i = 0; i < EXP_NSTATES; i++) json_object_set_new(cn, exp_state_name((exp_state)i), json_integer(counts[i]));
    json_object_set_new(root, "counts", cn);
    pthread_mutex_unlock(&s->mu);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

/* Prometheus label values escape backslash, double quote and newline. */
static void label_esc(FILE *f, const char *v) {
    for (; *v; v++) {
        if (*v == '\\') fputs("\\\\", f);
        else if (*v == '"') fputs("\\\"", f);
        else if (*v == '\n') fputs("\\n", f);
        else fputc(*v, f);
    }
}

static void head(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void val(FILE *f, double v) {
    if (isnan(v)) fputs(" NaN\n", f);
    else if (isinf(v)) fputs(v > 0 ? " +Inf\n" : " -Inf\n", f);
    else fprintf(f, " %.17g\n", v);
}

static void gauge(FILE *f, const char *name, const char *help, double v) {
    head(f, name, "gauge", help);
    fputs(name, f);
    val(f, v);
}

/* The standard process_* families (as Prometheus client libraries export them), from /proc. */
static void process_metrics(FILE *f) {
    long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, btime = 0;
    long rss = 0;
    FILE *st = fopen("/proc/self/stat", "r");
    if (st) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, st);
        buf[n] = '\0';
        fclose(st);
        const char *q = strrchr(buf, ')');  /* the command name may hold spaces */
        /* fields from 3 (state) on: utime is 14, stime 15, starttime 22, vsize 23, rss 24 */
        if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %ld",
                        &utime, &stime, &start, &vsize, &rss) != 5)
            utime = stime = start = vsize = 0, rss = 0;
    }
    FILE *ps = fopen("/proc/stat", "r");
    if (ps) {
        char line[256];
        while (fgets(line, sizeof line, ps))
            if (sscanf(line, "btime %llu", &btime) == 1) break;
        fclose(ps);
    }
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) fds += e->d_name[0] != '.';
        closedir(d);
        fds--;  /* the descriptor of this listing */
    }
    struct rlimit rl;
    double maxfds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : NAN;
    head(f, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    fprintf(f, "process_cpu_seconds_total");
    val(f, hz > 0 ? (double)(utime + stime) / (double)hz : NAN);
    gauge(f, "process_resident_memory_bytes", "Resident memory size in bytes.", (double)rss * (double)page);
    gauge(f, "process_virtual_memory_bytes", "Virtual memory size in bytes.", (double)vsize);
    gauge(f, "process_open_fds", "Number of open file descriptors.", fds);
    gauge(f, "process_max_fds", "Maximum number of open file descriptors.", maxfds);
    gauge(f, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          btime && hz > 0 ? (double)btime + (double)start / (double)hz : NAN);
}

char *http_render_metrics(state_core *c) {
    char reason[600];
    int ready = http_ready(c, reason, sizeof reason);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    state_snapshot *s = &c->st;
    pthread_mutex_lock(&s->mu);
    double now = state_now();
    head(f, "trice_build_info", "gauge", "Build of the daemon (always 1; the labels carry the version).");
    fprintf(f, "trice_build_info{version=\"%s\"} 1\n", TRICE_VERSION);
    gauge(f, "trice_start_time_seconds", "Unix time the control plane started.", s->started_at);
    gauge(f, "trice_ready", "1 when every worker is registered and alive and nothing is fatal.", ready);
    gauge(f, "trice_workers", "Workers registered in the MPI world.", s->nworkers);
    gauge(f, "trice_workers_alive", "Workers heard from within the heartbeat timeout.", state_workers_alive(s, now));
    head(f, "trice_worker_last_heartbeat_timestamp_seconds", "gauge", "Unix time of each worker's last heartbeat.");
    for (int i = 0; i < s->nworkers; i++) {
        fprintf(f, "trice_worker_last_heartbeat_timestamp_seconds{rank=\"%d\",host=\"", s->workers[i].rank);
        label_esc(f, s->workers[i].host);
        fputs("\"}", f);
        val(f, s->last_heartbeat[i]);
    }
    int counts[EXP_NSTATES] = {0};
    for (int i = 0; i < s->nexps; i++) counts[s->exps[i].state]++;
    head(f, "trice_experiments", "gauge", "Experiments in the registry by state.");
    for (int i = 0; i < EXP_NSTATES; i++) fprintf(f, "trice_experiments{state=\"%s\"} %d\n", exp_state_name((exp_state)i), counts[i]);
    head(f, "trice_experiments_submitted_total", "counter", "Experiments accepted by Submit since the daemon started.");
    fprintf(f, "trice_experiments_submitted_total %llu\n", (unsigned long long)s->submitted_total);
    head(f, "trice_experiments_finished_total", "counter", "Experiments that ended since the daemon started, by outcome.");
    for (int i = EXP_SUCCEEDED; i < EXP_NSTATES; i++)
        fprintf(f, "trice_experiments_finished_total{state=\"%s\"} %llu\n", exp_state_name((exp_state)i), (unsigned long long)s->finished_total[i]);
    head(f, "trice_rpc_requests_total", "counter", "RPC requests received, by kind.");
    for (int i = 1; i < STATE_RPC_KINDS; i++) fprintf(f, "trice_rpc_requests_total{kind=\"%s\"} %llu\n", rpc_kind_name(i), (unsigned long long)s->rpc_requests[i]);
    head(f, "trice_rpc_errors_total", "counter", "RPC requests answered with an error.");
    fprintf(f, "trice_rpc_errors_total %llu\n", (unsigned long long)s->rpc_errors);
    head(f, "trice_http_requests_total", "counter", "HTTP requests served by the status endpoint.");
    fprintf(f, "trice_http_requests_total %llu\n", (unsigned long long)s->http_requests);
    state_exp *cur = state_running(s);
    gauge(f, "trice_running", "1 while an experiment is running.", cur != NULL);
    /* the running experiment's series carry its id and stage; with none running the
     * families are declared but have no samples (rather than NaN under no name) */
    char lab[256] = "";
    const control_progress *p = cur && cur->has_progress ? &cur->progress.p : NULL;
    if (p) {
        char *l = NULL;
        size_t ll = 0;
        FILE *lf = open_memstream(&l, &ll);
        if (lf) {
            fputs("{experiment=\"", lf);
            label_esc(lf, cur->id);
            fputs("\",stage=\"", lf);
            label_esc(lf, p->stage[0] ? p->stage : "unknown");
            fputs("\"}", lf);
            fclose(lf);
            snprintf(lab, sizeof lab, "%s", l ? l : "");
            free(l);
        }
    }
    static const struct { const char *name, *help; } run_gauges[] = {
        {"trice_step", "Optimiser steps done in the running experiment's current stage."},
        {"trice_total_steps", "Optimiser steps the running experiment's current stage will take."},
        {"trice_proposal_acceptance_ratio", "Share of proposals accepted in the last step."},
        {"trice_memory_accuracy_ratio", "Share of memory rationales with a correct answer."},
        {"trice_beta", "Mean control-variate weight beta in the last step."},
        {"trice_loss", "Training objective of the last step: the estimator's weighted sum over sequences of their "
                       "negative log-likelihood in nats (not per token)."},
        {"trice_eval_accuracy_ratio", "Latest held-out accuracy of the current stage (absent before its first evaluation)."},
        {"trice_eval_step", "The step the latest held-out accuracy was measured after."},
        {"trice_eta_seconds", "Estimated seconds until the running experiment's current stage ends."},
    };
    double vals[9] = {0};
    if (p) {
        double v[9] = {(double)p->step, (double)p->total_steps, p->proposal_acc, p->memory_acc, p->beta, p->loss,
                       p->eval_acc, (double)p->eval_step, p->eta_s};
        memcpy(vals, v, sizeof vals);
    }
    for (int i = 0; i < 9; i++) {
        head(f, run_gauges[i].name, "gauge", run_gauges[i].help);
        if (!p || ((i == 6 || i == 7) && (p->eval_step <= 0 || !isfinite(p->eval_acc)))) continue;
        fprintf(f, "%s%s", run_gauges[i].name, lab);
        val(f, vals[i]);
    }
    head(f, "trice_steps_total", "counter", "Optimiser steps taken since the daemon started.");
    fprintf(f, "trice_steps_total %.17g\n", s->steps_total);
    head(f, "trice_tokens_total", "counter", "Tokens sampled since the daemon started.");
    fprintf(f, "trice_tokens_total %.17g\n", s->tokens_total);
    /* the names of the log's "phases" line */
    static const char *phases[STATE_NPHASES] = {"sample", "gradient", "reduce", "update"};
    head(f, "trice_phase_seconds_total", "counter", "Seconds spent per training-step phase since the daemon started.");
    for (int i = 0; i < STATE_NPHASES; i++) fprintf(f, "trice_phase_seconds_total{phase=\"%s\"} %.17g\n", phases[i], s->phase_total[i]);
    gauge(f, "trice_last_checkpoint_timestamp_seconds", "Unix time of the last checkpoint written (0 = none yet).", s->last_checkpoint_at);
    pthread_mutex_unlock(&s->mu);
    process_metrics(f);
    fclose(f);
    return buf;
}
