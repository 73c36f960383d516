/* trice: the command-line client of the trice daemon, and the local tools.
 *
 *   trice [--endpoint URL] [--token-file PATH] [--timeout S] COMMAND [ARGS]
 *   trice help [COMMAND]        trice COMMAND --help
 *
 * Every command answers -h/--help (exit 0) before it needs a daemon or a token. Options
 * are parsed with getopt_long (common/util/cliopt.h); the global options may also follow
 * the command ("trice submit --token-file T spec.json").
 *
 * Exit status: 0 success; 1 the daemon answered with an error (or a watched experiment
 * did not succeed); 2 bad usage; 3 the daemon is not reachable.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/data/cli.h"
#include "common/engine/engine_cli.h"
#include "common/tok/tok_cli.h"
#include "common/util/cliopt.h"
#include "common/util/err.h"
#include "common/util/suggest.h"
#include "coordinator/control/client.h"
#include "coordinator/control/protocol.h"
#include "coordinator/control/token.h"
#include "coordinator/cli/show.h"
#include "trice_config.h"

/* Where the CLI looks for the token when neither --token-file nor $TRICE_TOKEN_FILE is
 * given: the daemon's default (deploy/launch-local.sh and a bare trice-coordinator keep
 * their state in ./trice-state), then ~/.trice/token. */
#define DEFAULT_STATE_TOKEN "trice-state/token"

typedef struct cli {
    const char *endpoint;
    const char *token_file;      /* NULL = search the defaults */
    char home_token[1024];
    int timeout_ms;
    double interval_s;
    int json, follow;
    const char *cmd;             /* "trice submit", for messages */
} cli;

typedef Trice__Rpc__Request Req;
typedef Trice__Rpc__Response Resp;

enum { EXIT_DAEMON_ERROR = 1, EXIT_USAGE = CLIOPT_USAGE, EXIT_UNREACHABLE = 3 };

/* One request/response. Returns NULL after printing why (and sets *code to the exit status). */
static Resp *call(const cli *o, Req *q, int *code) {
    tr_error err = {0};
    rpc_client *c = NULL;
    q->protocol = RPC_PROTOCOL_VERSION;
    if (rpc_client_open(o->endpoint, o->timeout_ms, &c, &err)) {
        fprintf(stderr, "trice: %s\n", err.msg);
        *code = err.code == TR_EINVAL ? EXIT_USAGE : EXIT_UNREACHABLE;  /* a malformed --endpoint */
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
        fprintf(stderr, "trice: the daemon refused (%s): %s\n", r->code_name, r->error);
        trice__rpc__response__free_unpacked(r, NULL);
        *code = EXIT_DAEMON_ERROR;
        return NULL;
    }
    *code = 0;
    return r;
}

static int load_token(const cli *o, char *tok, size_t cap) {
    tr_error err = {0};
    if (o->token_file) {
        if (token_read(o->token_file, tok, cap, &err) == 0) return 0;
        fprintf(stderr, "trice: %s\n  (%s needs the daemon's token: the file the daemon prints at start, "
                "by default trice-state/token next to its registry)\n", err.msg, o->cmd);
        return -1;
    }
    const char *tries[2] = {DEFAULT_STATE_TOKEN, o->home_token};
    for (int i = 0; i < 2; i++)
        if (access(tries[i], R_OK) == 0 && token_read(tries[i], tok, cap, &err) == 0) return 0;
    fprintf(stderr, "trice: %s needs the daemon's token, and none was found at %s or %s\n"
            "  pass --token-file PATH or set TRICE_TOKEN_FILE (the daemon writes it next to its registry, "
            "by default trice-state/token; deploy/launch-local.sh prints the export line)\n",
            o->cmd, tries[0], tries[1]);
    return -1;
}

/* --- commands ---------------------------------------------------------------------- */

static int cmd_submit(cli *o, int argc, char **argv) {
    if (argc != 1) { fprintf(stderr, "%s: give one spec file (see '%s --help')\n", o->cmd, o->cmd); return EXIT_USAGE; }
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

static int cmd_list(cli *o, int argc, char **argv) {
    (void)argv;
    if (argc != 0) { fprintf(stderr, "%s: takes no arguments (see '%s --help')\n", o->cmd, o->cmd); return EXIT_USAGE; }
    Req q = TRICE__RPC__REQUEST__INIT;
    q.kind = TRICE__RPC__REQUEST__KIND__LIST;
    int code;
    Resp *r = call(o, &q, &code);
    if (!r) return code;
    if (o->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_experiments; i++) json_array_append_new(a, show_experiment_json(r->experiments[i]));
        show_print_json(a);
        trice__rpc__response__free_unpacked(r, NULL);
        return 0;
    }
    printf("%-20s %-10s %-13s %-20s %s\n", "ID", "STATE", "STEP", "CREATED", "NAME");
    for (size_t i = 0; i < r->n_experiments; i++) {
        const Trice__Rpc__Experiment *e = r->experiments[i];
        char step[32], created[32];
        if (e->progress) snprintf(step, sizeof step, "%lld/%lld", (long long)e->progress->step, (long long)e->progress->total_steps);
        else if (e->queue_position) snprintf(step, sizeof step, "queue #%d", e->queue_position);
        else snprintf(step, sizeof step, "-");
        show_time(e->created_at, created, sizeof created);
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

static int status_summary(cli *o) {
    Req q = TRICE__RPC__REQUEST__INIT;
    q.kind = TRICE__RPC__REQUEST__KIND__LIST;
    int code;
    Resp *r = call(o, &q, &code);
    if (!r) return code;
    int counts[5] = {0};
    static const char *names[5] = {"queued", "running", "succeeded", "failed", "cancelled"};
    json_t *running = json_array();
    if (!o->json) printf("daemon at %s is up\n", o->endpoint);
    for (size_t i = 0; i < r->n_experiments; i++) {
        const Trice__Rpc__Experiment *e = r->experiments[i];
        for (int k = 0; k < 5; k++) counts[k] += strcmp(e->state, names[k]) == 0;
        if (strcmp(e->state, "running") == 0) {
            char line[512];
            show_progress_line(e, line, sizeof line);
            if (o->json) json_array_append_new(running, show_experiment_json(e));
            else printf("running: %s\n", line);
        }
    }
    json_t *workers = json_array();
    for (size_t i = 0; i < r->n_workers; i++) {
        const Trice__Rpc__Worker *w = r->workers[i];
        if (o->json)
            json_array_append_new(workers, json_pack("{s:i,s:s,s:s,s:b}", "rank", w->rank, "host", w->host, "backend",
                                                     w->backend, "alive", w->alive));
        else printf("worker:  rank %d on %s, %s%s\n", w->rank, w->host, w->backend, w->alive ? "" : " (not heard from)");
    }
    if (o->json) {
        json_t *j = json_object(), *c = json_object();
        json_object_set_new(j, "endpoint", json_string(o->endpoint));
        json_object_set_new(j, "up", json_true());
        json_object_set_new(j, "workers", workers);
        for (int k = 0; k < 5; k++) json_object_set_new(c, names[k], json_integer(counts[k]));
        json_object_set_new(j, "counts", c);
        json_object_set_new(j, "running", running);
        show_print_json(j);
    } else {
        json_decref(running);
        json_decref(workers);
        printf("experiments: %d queued, %d running, %d succeeded, %d failed, %d cancelled\n", counts[0], counts[1], counts[2],
               counts[3], counts[4]);
    }
    trice__rpc__response__free_unpacked(r, NULL);
    return 0;
}

static int cmd_status(cli *o, int argc, char **argv) {
    if (argc > 1) { fprintf(stderr, "%s: give at most one experiment id (see '%s --help')\n", o->cmd, o->cmd); return EXIT_USAGE; }
    if (argc == 0) return status_summary(o);
    Resp *r;
    int code = get_one(o, argv[0], &r);
    if (!r) return code;
    const Trice__Rpc__Experiment *e = r->experiment;
    if (o->json) {
        show_print_json(show_experiment_json(e));
        trice__rpc__response__free_unpacked(r, NULL);
        return 0;
    }
    char t1[32], t2[32], t3[32], line[512];
    show_time(e->created_at, t1, sizeof t1);
    show_time(e->started_at, t2, sizeof t2);
    show_time(e->finished_at, t3, sizeof t3);
    printf("id:        %s\nname:      %s\nstate:     %s%s%s\n", e->id, e->name, e->state, e->resume ? " (resumes from its checkpoint)" : "",
           e->cancel_requested ? " (cancel requested)" : "");
    if (e->queue_position) printf("queue:     #%d\n", e->queue_position);
    printf("created:   %s\nstarted:   %s\nfinished:  %s\nfolder:    %s\n", t1, t2, t3, e->out_dir);
    if (e->progress) { show_progress_line(e, line, sizeof line); printf("progress:  %s\n", line); }
    if (e->result_json[0]) { char sum[1024]; show_result(e, sum, sizeof sum); printf("result:    %s\n", sum); }
    if (e->error[0]) printf("error:     %s\n", e->error);
    trice__rpc__response__free_unpacked(r, NULL);
    return 0;
}

static int is_final(const char *state) {
    return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0;
}

static int cmd_watch(cli *o, int argc, char **argv) {
    if (argc != 1) { fprintf(stderr, "%s: give one experiment id (see '%s --help')\n", o->cmd, o->cmd); return EXIT_USAGE; }
    int tty = !o->json && isatty(STDOUT_FILENO);
    char last[512] = "";
    for (;;) {
        Resp *r;
        int code = get_one(o, argv[0], &r);
        if (!r) { if (tty && last[0]) printf("\n"); return code; }
        const Trice__Rpc__Experiment *e = r->experiment;
        char line[512];
        show_progress_line(e, line, sizeof line);
        int done = is_final(e->state);
        if (strcmp(line, last) != 0 || done) {
            if (o->json) show_print_json(show_experiment_json(e));
            else if (strcmp(line, last) != 0) {
                if (tty) printf("\r\033[K%s", line);
                else printf("%s\n", line);
                fflush(stdout);
            }
            snprintf(last, sizeof last, "%s", line);
        }
        if (done) {
            if (!o->json) {
                if (tty) printf("\n");
                printf("%s %s%s%s\n", e->id, e->state, e->error[0] ? ": " : "", e->error);
                if (e->result_json[0]) { char sum[1024]; show_result(e, sum, sizeof sum); printf("result: %s\n", sum); }
            }
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

static int cmd_cancel(cli *o, int argc, char **argv) {
    if (argc != 1) { fprintf(stderr, "%s: give one experiment id (see '%s --help')\n", o->cmd, o->cmd); return EXIT_USAGE; }
    return simple_mutation(o, TRICE__RPC__REQUEST__KIND__CANCEL, argv[0],
                           "cancel requested (a running experiment stops at its next step and checkpoints)");
}

static int cmd_shutdown(cli *o, int argc, char **argv) {
    (void)argv;
    if (argc != 0) { fprintf(stderr, "%s: takes no arguments (see '%s --help')\n", o->cmd, o->cmd); return EXIT_USAGE; }
    return simple_mutation(o, TRICE__RPC__REQUEST__KIND__SHUTDOWN, NULL,
                           "shutdown requested (the running experiment checkpoints, then the daemon exits)");
}

/* Copy what f has beyond *pos to stdout. */
static void copy_new(FILE *f, long *pos) {
    char buf[8192];
    size_t n;
    fseek(f, *pos, SEEK_SET);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        fwrite(buf, 1, n, stdout);
        *pos += (long)n;
    }
    clearerr(f);
    fflush(stdout);
}

/* The experiment's log.txt lives in its folder on the daemon's host (the CLI reads it there;
 * by default the daemon listens on loopback only, so client and daemon share the disk). */
static int cmd_logs(cli *o, int argc, char **argv) {
    if (argc != 1) { fprintf(stderr, "%s: give one experiment id (see '%s --help')\n", o->cmd, o->cmd); return EXIT_USAGE; }
    Resp *r;
    int code = get_one(o, argv[0], &r);
    if (!r) return code;
    char path[1200];
    snprintf(path, sizeof path, "%s/log.txt", r->experiment->out_dir);
    int final = is_final(r->experiment->state);
    int queued = strcmp(r->experiment->state, "queued") == 0;
    trice__rpc__response__free_unpacked(r, NULL);
    FILE *f = fopen(path, "rb");
    if (!f && !(o->follow && queued)) {
        fprintf(stderr, "trice: cannot read %s: %s%s\n", path, strerror(errno),
                queued ? " (the experiment is still queued; 'trice logs -f' waits for it)"
                       : " (the log is in the experiment's folder on the daemon's host)");
        return EXIT_DAEMON_ERROR;
    }
    long pos = 0;
    if (f) copy_new(f, &pos);
    while (o->follow && !final) {
        struct timespec d = {(time_t)o->interval_s, (long)(fmod(o->interval_s, 1.0) * 1e9)};
        nanosleep(&d, NULL);
        code = get_one(o, argv[0], &r);
        if (!r) { if (f) fclose(f); return code; }
        final = is_final(r->experiment->state);
        trice__rpc__response__free_unpacked(r, NULL);
        if (!f) f = fopen(path, "rb");
        if (f) copy_new(f, &pos);
    }
    if (f) fclose(f);
    return 0;
}

/* --- the command table and option parsing ----------------------------------------------- */

/* Options a daemon command may take (bit per option), parsed by parse_command(). */
enum { O_CONN = 1, O_TOKEN = 2, O_JSON = 4, O_INTERVAL = 8, O_FOLLOW = 16 };

typedef struct cli_command {
    const char *name;
    int (*fn)(cli *o, int argc, char **argv);   /* argv = the operands after the options */
    int local;                                  /* 1 = parses its own argv (argv[0] = name) */
    int opts;                                   /* O_* */
    const char *args, *summary, *details;
} cli_command;

static int cmd_help(cli *o, int argc, char **argv);
static int run_local(const struct cli_command *c, int argc, char **argv);

static const cli_command commands[] = {
    {"submit", cmd_submit, 0, O_CONN | O_TOKEN, "SPEC.json", "queue an experiment; prints its id",
     "The spec is checked by the daemon; every problem is reported at once with the field and line.\n"},
    {"list", cmd_list, 0, O_CONN | O_JSON, "", "experiments with state and progress",
     "--json prints one JSON array of experiments (id, name, state, times, out_dir, progress, result).\n"},
    {"status", cmd_status, 0, O_CONN | O_JSON, "[ID]", "one experiment in detail, or the daemon's summary",
     "Without ID: whether the daemon is up and how many experiments are in each state.\n"
     "--json prints one JSON object.\n"},
    {"watch", cmd_watch, 0, O_CONN | O_JSON | O_INTERVAL, "ID", "a live progress line until the experiment ends",
     "Exit status 0 when the experiment succeeds, 1 when it fails or is cancelled.\n"
     "--json prints one JSON object per change (JSON Lines), the last one in its final state.\n"},
    {"logs", cmd_logs, 0, O_CONN | O_INTERVAL | O_FOLLOW, "ID", "print an experiment's log lines",
     "The log is log.txt in the experiment's folder, read on this host (the daemon's, by default).\n"
     "-f, --follow prints new lines as they come until the experiment ends.\n"},
    {"cancel", cmd_cancel, 0, O_CONN | O_TOKEN, "ID", "cancel a queued or running experiment", ""},
    {"shutdown", cmd_shutdown, 0, O_CONN | O_TOKEN, "", "checkpoint the running experiment and stop the daemon", ""},
    {"data", NULL, 1, 0, "show|stats TASK", "print a task's examples as the model sees them, or statistics (local)", ""},
    {"eval", NULL, 1, 0, "--checkpoint C --data D", "held-out accuracy of a model on a task or data file (local)", ""},
    {"train", NULL, 1, 0, "SPEC.json", "run one experiment in this process, no MPI or daemon (local)", ""},
    {"tokenize", NULL, 1, 0, "[--decode] [--file F]", "text to token ids (byte or GPT-2) and back, per line (local)", ""},
    {"help", cmd_help, 0, 0, "[COMMAND]", "this overview, or one command's options", ""},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char *const conn_help =
    "  --endpoint URL     daemon RPC address, tcp://HOST:PORT (default $TRICE_ENDPOINT or " CONTROL_DEFAULT_RPC_URL ")\n"
    "  --timeout S        seconds to wait for each answer (default 10)\n";
static const char *const token_help =
    "  --token-file PATH  the daemon's token file (default $TRICE_TOKEN_FILE, else " DEFAULT_STATE_TOKEN
    ", else ~/.trice/token)\n";

static void usage(FILE *f) {
    fprintf(f, "trice %s: client of the trice training daemon, and local tools\n"
               "usage: trice [--endpoint URL] [--token-file PATH] [--timeout S] COMMAND [ARGS]\n"
               "commands:\n", TRICE_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %-25s %s\n", commands[i].name, commands[i].args, commands[i].summary);
    fprintf(f, "options (also accepted after a daemon command):\n%s%s"
               "  -h, --help         this text; 'trice COMMAND --help' or 'trice help COMMAND' for one command\n"
               "  --version          print the version\n"
               "environment: TRICE_ENDPOINT (default endpoint), TRICE_TOKEN_FILE (default token file)\n"
               "exit status: 0 ok, 1 the daemon said no (or the watched experiment did not succeed), 2 usage, 3 daemon unreachable\n",
            conn_help, token_help);
}

static void command_usage(const cli_command *c, FILE *f) {
    fprintf(f, "usage: trice %s%s%s%s\n%s.\n%s", c->name, c->opts ? " [options]" : "", c->args[0] ? " " : "", c->args,
            c->summary, c->details);
    if (c->opts || !c->local) fprintf(f, "options:\n  -h, --help         this text\n");
    if (c->opts & O_JSON) fprintf(f, "  --json             machine-readable output (JSON)\n");
    if (c->opts & O_FOLLOW) fprintf(f, "  -f, --follow       keep printing new lines until the experiment ends\n");
    if (c->opts & O_INTERVAL) fprintf(f, "  --interval S       seconds between polls (default 1)\n");
    if (c->opts & O_CONN) fprintf(f, "%s", conn_help);
    if (c->opts & O_TOKEN) fprintf(f, "%s", token_help);
}

static const cli_command *find_command(const char *name) {
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (strcmp(name, commands[k].name) == 0) return &commands[k];
    return NULL;
}

static int unknown_command(const char *name) {
    const char *names[NCOMMANDS];
    for (size_t k = 0; k < NCOMMANDS; k++) names[k] = commands[k].name;
    int k = suggest_closest(name, names, (int)NCOMMANDS);
    if (k >= 0) fprintf(stderr, "trice: unknown command '%s' (did you mean '%s'?); see 'trice --help'\n", name, names[k]);
    else fprintf(stderr, "trice: unknown command '%s'; see 'trice --help'\n", name);
    return EXIT_USAGE;
}

static int cmd_help(cli *o, int argc, char **argv) {
    (void)o;
    if (argc == 0) { usage(stdout); return 0; }
    const cli_command *c = find_command(argv[0]);
    if (!c) return unknown_command(argv[0]);
    if (c->local) { char *hv[] = {(char *)c->name, (char *)"--help", NULL}; return run_local(c, 2, hv); }
    command_usage(c, stdout);
    return 0;
}

/* Local subcommands (no daemon) parse their own argv; argv[0] is their name. */
static int run_local(const cli_command *c, int argc, char **argv) {
    if (strcmp(c->name, "data") == 0) return data_cli_main(argc, argv);
    if (strcmp(c->name, "eval") == 0) return engine_cli_eval(argc, argv);
    if (strcmp(c->name, "tokenize") == 0) return tok_cli_main(argc, argv);
    return engine_cli_train(argc, argv);
}

enum { OPT_ENDPOINT = 256, OPT_TOKEN_FILE, OPT_TIMEOUT, OPT_INTERVAL, OPT_JSON, OPT_VERSION };

/* Apply one connection option (shared by the global and the per-command parse). */
static int apply_conn(cli *o, int c, const char *v) {
    double s;
    switch (c) {
    case OPT_ENDPOINT: o->endpoint = v; return 0;
    case OPT_TOKEN_FILE: o->token_file = v; return 0;
    case OPT_TIMEOUT:
        if (cliopt_double(o->cmd, "timeout", v, 0.1, 3600, &s)) return EXIT_USAGE;
        o->timeout_ms = (int)(s * 1000);
        return 0;
    case OPT_INTERVAL:
        if (cliopt_double(o->cmd, "interval", v, 0.05, 3600, &s)) return EXIT_USAGE;
        o->interval_s = s;
        return 0;
    default: return EXIT_USAGE;
    }
}

/* Parse a daemon command's options and run it. argv[0] is the command's name. */
static int run_command(cli *o, const cli_command *c, int argc, char **argv) {
    char prog[64];
    snprintf(prog, sizeof prog, "trice %s", c->name);
    o->cmd = prog;
    struct option lo[10];
    int n = 0;
    lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
    if (c->opts & O_JSON) lo[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
    if (c->opts & O_INTERVAL) lo[n++] = (struct option){"interval", required_argument, NULL, OPT_INTERVAL};
    if (c->opts & O_FOLLOW) lo[n++] = (struct option){"follow", no_argument, NULL, 'f'};
    if (c->opts & O_CONN) {
        lo[n++] = (struct option){"endpoint", required_argument, NULL, OPT_ENDPOINT};
        lo[n++] = (struct option){"timeout", required_argument, NULL, OPT_TIMEOUT};
    }
    if (c->opts & O_TOKEN) lo[n++] = (struct option){"token-file", required_argument, NULL, OPT_TOKEN_FILE};
    lo[n] = (struct option){NULL, 0, NULL, 0};
    cliopt_reset();
    int ch;
    while ((ch = getopt_long(argc, argv, c->opts & O_FOLLOW ? ":hf" : ":h", lo, NULL)) != -1) {
        if (ch == 'h') { command_usage(c, stdout); return 0; }
        if (ch == '?' || ch == ':') return cliopt_report(prog, ch, argv, lo);
        if (ch == OPT_JSON) o->json = 1;
        else if (ch == 'f') o->follow = 1;
        else if (apply_conn(o, ch, optarg)) return EXIT_USAGE;
    }
    return c->fn(o, argc - optind, argv + optind);
}

int main(int argc, char **argv) {
    cli o;
    memset(&o, 0, sizeof o);
    o.cmd = "trice";
    o.endpoint = getenv("TRICE_ENDPOINT") && *getenv("TRICE_ENDPOINT") ? getenv("TRICE_ENDPOINT") : CONTROL_DEFAULT_RPC_URL;
    o.token_file = getenv("TRICE_TOKEN_FILE") && *getenv("TRICE_TOKEN_FILE") ? getenv("TRICE_TOKEN_FILE") : NULL;
    snprintf(o.home_token, sizeof o.home_token, "%s/.trice/token", getenv("HOME") ? getenv("HOME") : ".");
    o.timeout_ms = 10000;
    o.interval_s = 1.0;
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {NULL, 0, NULL, 0},
    };
    cliopt_reset();
    int ch;
    /* '+': stop at the command name; what follows belongs to the command */
    while ((ch = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
        if (ch == 'h') { usage(stdout); return 0; }
        if (ch == OPT_VERSION) { printf("trice %s\n", TRICE_VERSION); return 0; }
        if (ch == '?' || ch == ':') return cliopt_report("trice", ch, argv, lo);
        if (apply_conn(&o, ch, optarg)) return EXIT_USAGE;
    }
    if (optind >= argc) { usage(stderr); return EXIT_USAGE; }
    const cli_command *c = find_command(argv[optind]);
    if (!c) return unknown_command(argv[optind]);
    if (c->local) return run_local(c, argc - optind, argv + optind);
    return run_command(&o, c, argc - optind, argv + optind);
}
