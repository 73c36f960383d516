/* engine_cli.c - `trice train SPEC` and `trice eval --checkpoint C --data D`. */
#include "common/engine/engine_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/engine/ckptdir.h"
#include "common/data/gen.h"
#include "common/engine/trainer.h"
#include "common/util/cliopt.h"
#include "common/tok/bpe.h"
#include "common/util/log.h"
#include "common/util/sig.h"

static int local_factory(void *ctx, const experiment_spec *spec, fleet **out, tr_error *err) {
    (void)ctx;
    return fleet_local(spec, out, err);
}

static int hook_stop(void *ctx) { (void)ctx; return sig_stop_requested() != 0; }

static void train_usage(FILE *f) {
    fprintf(f, "usage: trice train SPEC.json [--out DIR] [--resume] [--device D]\n"
               "Runs one experiment in this process (no MPI, no daemon); see README 'Experiment spec'\n"
               "and the templates in deploy/specs/.\n"
               "options:\n"
               "  --out DIR     experiment folder (default: the spec's out_dir, else runs/NAME)\n"
               "  --resume      continue from DIR's latest checkpoint (after a stop)\n"
               "  --device D    cpu, cuda, cuda:N or auto (default: TRICE_DEVICE, else auto: the GPU when\n"
               "                one is visible, else the CPU)\n"
               "  -h, --help    this text\n");
}

int engine_cli_train(int argc, char **argv) {
    const char *spec_path = NULL, *out = NULL;
    int resume = 0;
    enum { O_OUT = 256, O_RESUME, O_DEVICE };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'}, {"out", required_argument, NULL, O_OUT}, {"resume", no_argument, NULL, O_RESUME},
        {"device", required_argument, NULL, O_DEVICE}, {NULL, 0, NULL, 0},
    };
    cliopt_reset();
    int c;
    tr_error derr = {0};
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        if (c == 'h') { train_usage(stdout); return 0; }
        else if (c == O_OUT) out = optarg;
        else if (c == O_RESUME) resume = 1;
        else if (c == O_DEVICE) {
            if (engine_device_set(optarg, &derr)) { fprintf(stderr, "trice train: --device: %s\n", derr.msg); return 2; }
        }
        else return cliopt_report("trice train", c, argv, lo);
    }
    if (argc - optind != 1) { fprintf(stderr, "trice train: give one spec file; see 'trice train --help'\n"); return 2; }
    spec_path = argv[optind];
    log_init(-1, "train", log_get_level());
    sig_install();
    tr_error err = {0};
    experiment_spec s;
    if (spec_load_file(spec_path, &s, &err)) { fprintf(stderr, "trice train: %s\n", err.msg); return 2; }
    char dir[SPEC_PATH_MAX + 64];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else if (s.out_dir[0]) snprintf(dir, sizeof dir, "%s", s.out_dir);
    else snprintf(dir, sizeof dir, "runs/%s", s.name);
    trainer_hooks hooks = {NULL, hook_stop, NULL, NULL, NULL};
    trainer_result r;
    int rc = experiment_run(&s, dir, local_factory, NULL, resume, &hooks, &r, &err);
    if (rc == TR_ECANCELED) { LOG_I("%s", err.msg); return 0; }
    if (rc) { LOG_E("%s", err.msg); return 1; }
    printf("held-out accuracy: before %.4f, after %.4f (%d examples) -> %s/result.json\n", r.acc_before, r.acc_after, r.n_eval, dir);
    return 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Which loader a data argument needs: a built-in generator name, or a file by its content. */
static int data_kind(const char *d, char *name, size_t cap, tr_error *err) {
    if (gen_exists(d)) { snprintf(name, cap, "%s", d); return 0; }
    /* the loader reads the whole file later; its first 64 KiB are enough to tell the format */
    FILE *f = fopen(d, "rb");
    if (!f)
        return TR_FAIL(err, TR_ENOTFOUND, "--data '%s' is neither a built-in task (%s) nor a readable file", d, gen_names());
    static char text[65537];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    const char *p = text;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    if (*p == '{' && strstr(text, "\"examples\"") && strstr(text, "\"target\"")) snprintf(name, cap, "bbh");
    else if (strstr(text, "####")) snprintf(name, cap, "gsm8k");
    else snprintf(name, cap, "jsonl");
    return 0;
}

static void eval_usage(FILE *f) {
    fprintf(f, "usage: trice eval --checkpoint MODEL.bin|EXPERIMENT_DIR --data TASK|FILE [options]\n"
               "Held-out accuracy of a model, in this process (no MPI, no daemon).\n"
               "options:\n"
               "  --checkpoint C    an llm.c model file, or an experiment folder (its spec and final model)\n"
               "  --data D          a built-in task name, a BBH task JSON, a GSM8K JSONL or a generic JSONL\n"
               "  --split S         heldout (the split training used; default for built-in tasks and BBH) or all\n"
               "  --seed N          the experiment seed that made the split (default 1)\n"
               "  --n N             evaluate at most N examples; --difficulty D for built-in tasks\n"
               "  --maj-k K         also maj@K (majority of K samples at temperature 1)\n"
               "  --max-new-tokens  rationale length limit (default: the experiment's, else 128)\n"
               "  --device D        cpu, cuda, cuda:N or auto (default: TRICE_DEVICE, else auto)\n"
               "  --out FILE        per-example results, one JSON line each (default: eval-results.jsonl\n"
               "                    inside the experiment folder, or next to MODEL.bin)\n"
               "  -h, --help        this text\n");
}

int engine_cli_eval(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *out = NULL, *split = NULL;
    int maj_k = 0, n = 0, difficulty = 0, max_new = 0;
    uint64_t seed = 1;
    enum { O_CKPT = 256, O_DATA, O_OUT, O_SPLIT, O_MAJ, O_N, O_DIFF, O_MAXNEW, O_SEED, O_DEVICE };
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'}, {"checkpoint", required_argument, NULL, O_CKPT},
        {"data", required_argument, NULL, O_DATA}, {"out", required_argument, NULL, O_OUT},
        {"split", required_argument, NULL, O_SPLIT}, {"maj-k", required_argument, NULL, O_MAJ},
        {"n", required_argument, NULL, O_N}, {"difficulty", required_argument, NULL, O_DIFF},
        {"max-new-tokens", required_argument, NULL, O_MAXNEW}, {"seed", required_argument, NULL, O_SEED},
        {"device", required_argument, NULL, O_DEVICE}, {NULL, 0, NULL, 0},
    };
    static const char *P = "trice eval";
    cliopt_reset();
    int c;
    long x;
    while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        switch (c) {
        case 'h': eval_usage(stdout); return 0;
        case O_CKPT: ckpt = optarg; break;
        case O_DATA: data = optarg; break;
        case O_OUT: out = optarg; break;
        case O_SPLIT: split = optarg; break;
        case O_MAJ: if (cliopt_long(P, "maj-k", optarg, 0, 1000, &x)) return 2; maj_k = (int)x; break;
        case O_N: if (cliopt_long(P, "n", optarg, 0, 10000000, &x)) return 2; n = (int)x; break;
        case O_DIFF: if (cliopt_long(P, "difficulty", optarg, 0, 100, &x)) return 2; difficulty = (int)x; break;
        case O_MAXNEW: if (cliopt_long(P, "max-new-tokens", optarg, 1, 8192, &x)) return 2; max_new = (int)x; break;
        case O_SEED: if (cliopt_long(P, "seed", optarg, 0, 0x7fffffffL, &x)) return 2; seed = (uint64_t)x; break;
        case O_DEVICE: {
            tr_error derr = {0};
            if (engine_device_set(optarg, &derr)) { fprintf(stderr, "trice eval: --device: %s\n", derr.msg); return 2; }
            break;
        }
        default: return cliopt_report(P, c, argv, lo);
        }
    }
    if (optind < argc) { fprintf(stderr, "trice eval: unexpected argument '%s'; see 'trice eval --help'\n", argv[optind]); return 2; }
    if (!ckpt || !data) { fprintf(stderr, "trice eval: --checkpoint and --data are required (see --help)\n"); return 2; }
    if (split && strcmp(split, "heldout") != 0 && strcmp(split, "all") != 0) {
        fprintf(stderr, "trice eval: --split '%s': allowed values are heldout, all\n", split);
        return 2;
    }
    log_init(-1, "eval", log_get_level());
    tr_error err = {0};
    experiment_spec s;
    spec_defaults(&s);
    char model[SPEC_PATH_MAX], prompt[SPEC_PATH_MAX + 16] = "";
    if (is_dir(ckpt)) {
        /* an experiment folder: its spec (for prompt_len, max_new_tokens) and final model */
        char sp[SPEC_PATH_MAX + 16];
        snprintf(sp, sizeof sp, "%s/spec.json", ckpt);
        if (spec_load_file(sp, &s, &err)) { fprintf(stderr, "trice eval: %s\n", err.msg); return 2; }
        snprintf(model, sizeof model, "%s/model.bin", ckpt);
        if (s.tunable == TUNABLE_PROMPT) snprintf(prompt, sizeof prompt, "%s/prompt.bin", ckpt);
    } else {
        snprintf(model, sizeof model, "%s", ckpt);
    }
    /* results default to beside the model, not into whatever folder the user stands in */
    char out_buf[SPEC_PATH_MAX + 32];
    if (!out) {
        const char *slash = strrchr(model, '/');
        int dl = slash ? (int)(slash - model) : 0;
        if (slash) snprintf(out_buf, sizeof out_buf, "%.*s/eval-results.jsonl", dl, model);
        else snprintf(out_buf, sizeof out_buf, "eval-results.jsonl");
        out = out_buf;
    }
    snprintf(s.model.init, sizeof s.model.init, "%s", model);
    s.seed = seed;
    if (s.method == METHOD_SFT || s.method == METHOD_STAR || s.method == METHOD_RS) s.method = METHOD_TRICE; /* rationale prompts */
    s.memory_init = MEMINIT_HINT;
    if (max_new > 0) s.max_new_tokens = max_new;
    s.warmup_sft_steps = 0;
    char kind[SPEC_NAME_MAX];
    if (data_kind(data, kind, sizeof kind, &err)) { fprintf(stderr, "trice eval: %s\n", err.msg); return 2; }
    snprintf(s.task.name, sizeof s.task.name, "%s", kind);
    memset(s.task.path, 0, sizeof s.task.path);
    memset(s.task.test_path, 0, sizeof s.task.test_path);
    int builtin = strcmp(kind, "bbh") && strcmp(kind, "gsm8k") && strcmp(kind, "jsonl");
    if (!builtin) {
        snprintf(s.task.path, sizeof s.task.path, "%s", data);
        if (!strcmp(kind, "gsm8k")) snprintf(s.task.test_path, sizeof s.task.test_path, "%s", data); /* the file is the test set */
        s.task.n_train = 0;
    } else {
        s.task.difficulty = difficulty;
        if (s.task.n_train < 1) s.task.n_train = 1;
    }
    s.task.n_eval = n;
    /* the model's shape comes from the file */
    gpt_config cfg;
    int version;
    if (gpt_ckpt_read_config(model, &cfg, &version, &err)) { fprintf(stderr, "trice eval: %s\n", err.msg); return 1; }
    s.model.layers = cfg.num_layers; s.model.heads = cfg.num_heads; s.model.channels = cfg.channels; s.model.context = cfg.max_seq_len;
    s.model.position = spec_position_from_gpt(cfg.position);
    if (!is_dir(ckpt)) s.model.tokenizer = cfg.vocab_size == BPE_GPT2_VOCAB ? SPEC_TOKENIZER_GPT2 : SPEC_TOKENIZER_BYTE; /* a bare model file */
    fleet *f = NULL;
    if (fleet_local(&s, &f, &err)) { fprintf(stderr, "trice eval: %s\n", err.msg); return 1; }
    engine_side *e = fleet_local_side(f);
    int rc = 0;
    if (prompt[0] && (rc = engine_side_load_prompt(e, prompt, &err))) goto out;
    /* --split all: every example is held out (a test file, or a task seen for the first time) */
    int all = split ? strcmp(split, "all") == 0 : !strcmp(kind, "jsonl") || !strcmp(kind, "gsm8k");
    if (all && (rc = engine_side_hold_out_all(e, n, &err))) goto out;
    if ((rc = engine_require_fit(&s, engine_side_task(e), 0, &err))) goto out;
    int cnt = 0, correct = 0, maj = 0;
    rc = f->ops->eval(f, maj_k, &cnt, &correct, &maj, out, &err);
    if (!rc) {
        printf("accuracy %.4f (%d/%d)", cnt ? (double)correct / cnt : 0.0, correct, cnt);
        if (maj_k) printf(", maj@%d %.4f (%d/%d)", maj_k, cnt ? (double)maj / cnt : 0.0, maj, cnt);
        printf(" on %s [%s split]; per-example results in %s\n", data, all ? "all" : "held-out", out);
    }
out:
    if (rc) fprintf(stderr, "trice eval: %s\n", err.msg);
    f->ops->free(f);
    return rc ? 1 : 0;
}
