/* trice: the command-line client of the trice daemon.
 *
 *   trice [--endpoint URL] [--token-file PATH] [--timeout S] COMMAND [ARGS]
 *
 * Exit status: 0 success; 1 the daemon answered with an error (or a watched experiment
 * did not succeed); 2 bad usage; 3 the daemon is not reachable.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/data/cli.h"
#include "common/engine/engine_cli.h"
#include "common/tok/tok_cli.h"
#include "common/util/err.h"
#include "coordinator/control/client.h"
#include "coordinator/control/control.h"
#include "coordinator/control/rpc.h"
#include "coordinator/control/token.h"
#include "trice_config.h"

typedef struct cli {
    const char *endpoint;
    const char *token_file;
    char token_file_buf[1024];
    int timeout_ms;
    double interval_s;
} cli;

typedef Trice__Rpc__Request Req;
typedef Trice__Rpc__Response Resp;

enum { EXIT_DAEMON_ERROR = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static void usage(FILE *f);

/* One request/response. Returns NULL after printing why (and sets *code to the exit status). */
static Resp *call(const cli *o, Req *q, int *code) {
    tr_error err = {0};
    rpc_client *c = NULL;
    q->protocol = RPC_PROTOCOL_VERSION;
    if (rpc_client_open(o->endpoint, o->timeout_ms, &c, &err)) {
        fprintf(stderr, "trice: %s\n", err.msg);
        *code = EXIT_UNREACHABLE;
        return NULL;
    }
    Resp *r = NULL;
    int rc = rpc_client_call(c, q, &r, &err);
    rpc_client_close(c);
    if (rc) {
        fprintf(stderr, "trice: %s\n", err.msg);
        *code = EXIT_UNREACHABLE;
        return NULL;
    }
    if (r->code) {
        fprintf(stderr, "trice: error (%s): %s\n", r->code_name, r->error);
        trice__rpc__response__free_unpacked(r, NULL);
        *code = EXIT_DAEMON_ERROR;
        return NULL;
    }
    *code = 0;
    return r;
}

static int load_token(const cli *o, char *tok, size_t cap) {
    tr_error err = {0};
    if (token_read(o->token_file, tok, cap, &err)) {
        fprintf(stderr, "trice: %s\n  (this command needs the daemon's token; pass --token-file or set TRICE_TOKEN_FILE)\n", err.msg);
        return -1;
    }
    return 0;
}

static void fmt_time(double t, char *out, size_t cap) {
    if (t <= 0) { snprintf(out, cap, "-"); return; }
    time_t s = (time_t)t;
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void fmt_num(double v, int prec, char *out, size_t cap) {
    if (isfinite(v)) snprintf(out, cap, "%.*f", prec, v);
    else snprintf(out, cap, "-");
}

static void fmt_dur(double s, char *out, size_t cap) {
    if (!isfinite(s) || s < 0) snprintf(out, cap, "-");
    else if (s < 90) snprintf(out, cap, "%.0fs", s);
    else if (s < 5400) snprintf(out, cap, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(out, cap, "%.0fh%02.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
}

static void progress_line(const Trice__Rpc__Experiment *e, char *out, size_t cap) {
    const Trice__Rpc__Progress *p = e->progress;
    if (!p) { snprintf(out, cap, "%s  %s", e->id, e->state); return; }
    char acc[16], pa[16], beta[16], loss[16], eta[16];
    fmt_num(p->eval_acc, 3, acc, sizeof acc);
    fmt_num(p->proposal_acc, 3, pa, sizeof pa);
    fmt_num(p->beta, 3, beta, sizeof beta);
    fmt_num(p->loss, 4, loss, sizeof loss);
    fmt_dur(p->eta_seconds, eta, sizeof eta);
    snprintf(out, cap, "%s  %s  step %lld/%lld  eval-acc %s  accept %s  beta %s  loss %s  eta %s", e->id, e->state,
             (long long)p->step, (long long)p->total_steps, acc, pa, beta, loss, eta);
}

static int cmd_submit(const cli *o, int argc, char **argv) {
    if (argc != 1) { fprintf(stderr, "usage: trice submit SPEC.json\n"); return EXIT_USAGE; }
    char tok[TOKEN_MAX + 1];
    if (load_token(o, tok, sizeof tok)) return EXIT_USAGE;
    char *text = NULL;
    size_t len = 0;
    tr_error err = {0};
    if (tr_read_file(argv[0], RPC_MAX_SPEC, &text, &len, &err)) { fprintf(stderr, "trice: %s\n", err.msg); return EXIT_USAGE; }
    Req q = TRICE__RPC__REQUEST__INIT;
    q.kind = TRICE__RPC__REQUEST__KIND__SUBMIT;
    q.token = tok;
    q.spec_json = text;
    q.source = argv[0];
    int code;
    Resp *r = call(o, &q, &code);
    free(text);
    if (!r) return code;
    printf("%s\n", r->id);
    trice__rpc__response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_list(const cli *o, int argc, char **argv) {
    (void)argv;
    if (argc != 0) { fprintf(stderr, "usage: trice list\n"); return EXIT_USAGE; }
    Req q = TRICE__RPC__REQUEST__INIT;
    q.kind = TRICE__RPC__REQUEST__KIND__LIST;
    int code;
    Resp *r = call(o, &q, &code);
    if (!r) return code;
    printf("%-20s %-10s %-13s %-20s %s\n", "ID", "STATE", "STEP", "CREATED", "NAME");
    for (size_t i = 0; i < r->n_experiments; i++) {
        const Trice__Rpc__Experiment *e = r->experiments[i];
        char step[32], created[32];
        if (e->progress) snprintf(step, sizeof step, "%lld/%lld", (long long)e->progress->step, (long long)e->progress->total_steps);
        else if (e->queue_position) snprintf(step, sizeof step, "queue #%d", e->queue_position);
        else snprintf(step, sizeof step, "-");
        fmt_time(e->created_at, created, sizeof created);
        printf("%-20s %-10s %-13s %-20s %s%s\n", e->id, e->state, step, created, e->name, e->resume ? " (resumes)" : "");
    }
    if (r->n_experiments == 0) printf("(no experiments; submit one with 'trice submit SPEC.json')\n");
    trice__rpc__response__free_unpacked(r, NULL);
    return 0;
}

static int get_one(const cli *o, const char *id, Resp **out) {
    Req q = TRICE__RPC__REQUEST__INIT;
    q.kind = TRICE__RPC__REQUEST__KIND__GET;
    q.id = (char *)id;
    int code;
    *out = call(o, &q, &code);
    return code;
}

static int cmd_status(const cli *o, int argc, char **argv) {
    if (argc > 1) { fprintf(stderr, "usage: trice status [ID]\n"); return EXIT_USAGE; }
    if (argc == 0) {
        Req q = TRICE__RPC__REQUEST__INIT;
        q.kind = TRICE__RPC__REQUEST__KIND__LIST;
        int code;
        Resp *r = call(o, &q, &code);
        if (!r) return code;
        int counts[5] = {0};
        static const char *names[5] = {"queued", "running", "succeeded", "failed", "cancelled"};
        printf("daemon at %s is up\n", o->endpoint);
        for (size_t i = 0; i < r->n_experiments; i++) {
            const Trice__Rpc__Experiment *e = r->experiments[i];
            for (int k = 0; k < 5; k++) counts[k] += strcmp(e->state, names[k]) == 0;
            if (strcmp(e->state, "running") == 0) {
                char line[512];
                progress_line(e, line, sizeof line);
                printf("running: %s\n", line);
            }
        }
        printf("experiments: %d queued, %d running, %d succeeded, %d failed, %d cancelled\n", counts[0], counts[1], counts[2],
               counts[3], counts[4]);
        trice__rpc__response__free_unpacked(r, NULL);
        return 0;
    }
    Resp *r;
    int code = get_one(o, argv[0], &r);
    if (!r) return code;
    const Trice__Rpc__Experiment *e = r->experiment;
    char t1[32], t2[32], t3[32], line[512];
    fmt_time(e->created_at, t1, sizeof t1);
    fmt_time(e->started_at, t2, sizeof t2);
    fmt_time(e->finished_at, t3, sizeof t3);
    printf("id:        %s\nname:      %s\nstate:     %s%s%s\n", e->id, e->name, e->state, e->resume ? " (resumes from its checkpoint)" : "",
           e->cancel_requested ? " (cancel requested)" : "");
    if (e->queue_position) printf("queue:     #%d\n", e->queue_position);
    printf("created:   %s\nstarted:   %s\nfinished:  %s\nfolder:    %s\n", t1, t2, t3, e->out_dir);
    if (e->progress) { progress_line(e, line, sizeof line); printf("progress:  %s\n", line); }
    if (e->result_json[0]) printf("result:    %s\n", e->result_json);
    if (e->error[0]) printf("error:     %s\n", e->error);
    trice__rpc__response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_watch(const cli *o, int argc, char **argv) {
    if (argc != 1) { fprintf(stderr, "usage: trice watch ID\n"); return EXIT_USAGE; }
    int tty = isatty(STDOUT_FILENO);
    char last[512] = "";
    for (;;) {
        Resp *r;
        int code = get_one(o, argv[0], &r);
        if (!r) { if (tty) printf("\n"); return code; }
        const Trice__Rpc__Experiment *e = r->experiment;
        char line[512];
        progress_line(e, line, sizeof line);
        if (strcmp(line, last) != 0) {
            if (tty) printf("\r\033[K%s", line);
            else printf("%s\n", line);
            fflush(stdout);
            snprintf(last, sizeof last, "%s", line);
        }
        int done = strcmp(e->state, "succeeded") == 0 || strcmp(e->state, "failed") == 0 || strcmp(e->state, "cancelled") == 0;
        if (done) {
            if (tty) printf("\n");
            printf("%s %s%s%s\n", e->id, e->state, e->error[0] ? ": " : "", e->error);
            if (e->result_json[0]) printf("result: %s\n", e->result_json);
            int ok = strcmp(e->state, "succeeded") == 0;
            trice__rpc__response__free_unpacked(r, NULL);
            return ok ? 0 : EXIT_DAEMON_ERROR;
        }
        trice__rpc__response__free_unpacked(r, NULL);
        struct timespec d = {(time_t)o->interval_s, (long)(fmod(o->interval_s, 1.0) * 1e9)};
        nanosleep(&d, NULL);
    }
}

static int simple_mutation(const cli *o, Trice__Rpc__Request__Kind kind, const char *id, const char *done) {
    char tok[TOKEN_MAX + 1];
    if (load_token(o, tok, sizeof tok)) return EXIT_USAGE;
    Req q = TRICE__RPC__REQUEST__INIT;
    q.kind = kind;
    q.token = tok;
    if (id) q.id = (char *)id;
    int code;
    Resp *r = call(o, &q, &code);
    if (!r) return code;
    printf("%s\n", done);
    trice__rpc__response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_cancel(const cli *o, int argc, char **argv) {
    if (argc != 1) { fprintf(stderr, "usage: trice cancel ID\n"); return EXIT_USAGE; }
    return simple_mutation(o, TRICE__RPC__REQUEST__KIND__CANCEL, argv[0],
                           "cancel requested (a running experiment stops at its next step and checkpoints)");
}

static int cmd_shutdown(const cli *o, int argc, char **argv) {
    (void)argv;
    if (argc != 0) { fprintf(stderr, "usage: trice shutdown\n"); return EXIT_USAGE; }
    return simple_mutation(o, TRICE__RPC__REQUEST__KIND__SHUTDOWN, NULL,
                           "shutdown requested (the running experiment checkpoints, then the daemon exits)");
}

/* Local subcommands (no daemon): argv - 1 is the subcommand's own name, which these
 * functions take as their argv[0]. */
static int cmd_data(const cli *o, int argc, char **argv) { (void)o; return data_cli_main(argc + 1, argv - 1); }
static int cmd_eval(const cli *o, int argc, char **argv) { (void)o; return engine_cli_eval(argc + 1, argv - 1); }
static int cmd_train(const cli *o, int argc, char **argv) { (void)o; return engine_cli_train(argc + 1, argv - 1); }
static int cmd_tokenize(const cli *o, int argc, char **argv) { (void)o; return tok_cli_main(argc + 1, argv - 1); }

/* The subcommands. */
typedef struct cli_command {
    const char *name;
    int (*fn)(const cli *o, int argc, char **argv);   /* argv = the arguments after the name */
    const char *args, *help;
} cli_command;

static const cli_command commands[] = {
    {"submit", cmd_submit, "SPEC.json", "queue an experiment; prints its id"},
    {"list", cmd_list, "", "experiments with state and progress"},
    {"status", cmd_status, "[ID]", "one experiment in detail, or the daemon's summary"},
    {"watch", cmd_watch, "ID", "a live progress line until the experiment ends"},
    {"cancel", cmd_cancel, "ID", "cancel a queued or running experiment"},
    {"shutdown", cmd_shutdown, "", "checkpoint the running experiment and stop the daemon"},
    {"data", cmd_data, "show|stats TASK", "print a task's examples as the model sees them, or statistics (local)"},
    {"eval", cmd_eval, "--checkpoint C --data D", "held-out accuracy of a model on a task or data file (local)"},
    {"train", cmd_train, "SPEC.json", "run one experiment in this process, no MPI or daemon (local)"},
    {"tokenize", cmd_tokenize, "[--decode] [--file F]", "text to token ids (byte or GPT-2) and back, per line (local)"},
};

static void usage(FILE *f) {
    fprintf(f, "trice %s: client of the trice training daemon\n"
               "usage: trice [--endpoint URL] [--token-file PATH] [--timeout S] [--interval S] COMMAND [ARGS]\n"
               "commands:\n", TRICE_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %-25s %s\n", commands[i].name, commands[i].args, commands[i].help);
    fprintf(f, "options:\n"
               "  --endpoint URL     daemon RPC address (default $TRICE_ENDPOINT or %s)\n"
               "  --token-file PATH  the daemon's token file, needed by submit/cancel/shutdown\n"
               "                     (default $TRICE_TOKEN_FILE or ~/.trice/token)\n"
               "  --timeout S        seconds to wait for each answer (default 10)\n"
               "  --interval S       seconds between polls of 'watch' (default 1)\n"
               "exit status: 0 ok, 1 the daemon said no (or the watched experiment did not succeed), 2 usage, 3 daemon unreachable\n",
            CONTROL_DEFAULT_RPC_URL);
}

static int parse_seconds(const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    double s = strtod(v, &end);
    if (*end || !(s >= lo && s <= hi)) {
        fprintf(stderr, "trice: %s '%s': want seconds in [%g, %g]\n", opt, v, lo, hi);
        return -1;
    }
    *out = s;
    return 0;
}

int main(int argc, char **argv) {
    cli o;
    memset(&o, 0, sizeof o);
    o.endpoint = getenv("TRICE_ENDPOINT") ? getenv("TRICE_ENDPOINT") : CONTROL_DEFAULT_RPC_URL;
    o.token_file = getenv("TRICE_TOKEN_FILE");
    if (!o.token_file) {
        snprintf(o.token_file_buf, sizeof o.token_file_buf, "%s/.trice/token", getenv("HOME") ? getenv("HOME") : ".");
        o.token_file = o.token_file_buf;
    }
    o.timeout_ms = 10000;
    o.interval_s = 1.0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        double s;
        if (strcmp(a, "--endpoint") == 0 && has) o.endpoint = argv[++i];
        else if (strcmp(a, "--token-file") == 0 && has) o.token_file = argv[++i];
        else if (strcmp(a, "--timeout") == 0 && has) {
            if (parse_seconds(a, argv[++i], 0.1, 3600, &s)) return EXIT_USAGE;
            o.timeout_ms = (int)(s * 1000);
        } else if (strcmp(a, "--interval") == 0 && has) {
            if (parse_seconds(a, argv[++i], 0.05, 3600, &s)) return EXIT_USAGE;
            o.interval_s = s;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
        else if (strcmp(a, "--version") == 0) { printf("trice %s\n", TRICE_VERSION); return 0; }
        else { fprintf(stderr, "trice: unknown option or missing value: '%s' (see trice --help)\n", a); return EXIT_USAGE; }
    }
    if (i >= argc) { usage(stderr); return EXIT_USAGE; }
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(argv[i], commands[k].name) == 0) return commands[k].fn(&o, argc - i - 1, argv + i + 1);
    fprintf(stderr, "trice: unknown command '%s' (see trice --help)\n", argv[i]);
    return EXIT_USAGE;
}
