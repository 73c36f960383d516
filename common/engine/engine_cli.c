/* engine_cli.c - `trice train SPEC` and `trice eval --checkpoint C --data D`. */
#include "common/engine/engine_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/engine/ckptdir.h"
#include "common/data/gen.h"
#include "common/engine/trainer.h"
#include "common/tok/bpe.h"
#include "common/util/log.h"
#include "common/util/sig.h"

static int local_factory(void *ctx, const experiment_spec *spec, fleet **out, tr_error *err) {
    (void)ctx;
    return fleet_local(spec, out, err);
}

static int hook_stop(void *ctx) { (void)ctx; return sig_stop_requested() != 0; }

int engine_cli_train(int argc, char **argv) {
    const char *spec_path = NULL, *out = NULL;
    int resume = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--resume") == 0) resume = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: trice train SPEC.json [--out DIR] [--resume]\n"
                   "Runs one experiment in this process (no MPI, no daemon); see README 'Experiment spec'.\n");
            return 0;
        } else if (!spec_path && argv[i][0] != '-') spec_path = argv[i];
        else { fprintf(stderr, "trice train: unknown argument '%s' (see --help)\n", argv[i]); return 2; }
    }
    if (!spec_path) { fprintf(stderr, "trice train: give a spec file (see --help)\n"); return 2; }
    log_init(-1, "train", log_get_level());
    sig_install();
    tr_error err = {0};
    experiment_spec s;
    if (spec_load_file(spec_path, &s, &err)) { fprintf(stderr, "trice train: %s\n", err.msg); return 2; }
    char dir[SPEC_PATH_MAX + 64];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else if (s.out_dir[0]) snprintf(dir, sizeof dir, "%s", s.out_dir);
    else snprintf(dir, sizeof dir, "runs/%s", s.name);
    trainer_hooks hooks = {NULL, hook_stop, NULL, NULL};
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

int engine_cli_eval(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *out = "eval-results.jsonl", *split = NULL;
    int maj_k = 0, n = 0, difficulty = 0, max_new = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int v = i + 1 < argc;
        if (strcmp(a, "--checkpoint") == 0 && v) ckpt = argv[++i];
        else if (strcmp(a, "--data") == 0 && v) data = argv[++i];
        else if (strcmp(a, "--out") == 0 && v) out = argv[++i];
        else if (strcmp(a, "--split") == 0 && v) split = argv[++i];
        else if (strcmp(a, "--maj-k") == 0 && v) maj_k = atoi(argv[++i]);
        else if (strcmp(a, "--n") == 0 && v) n = atoi(argv[++i]);
        else if (strcmp(a, "--difficulty") == 0 && v) difficulty = atoi(argv[++i]);
        else if (strcmp(a, "--max-new-tokens") == 0 && v) max_new = atoi(argv[++i]);
        else if (strcmp(a, "--seed") == 0 && v) seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(a, "--help") == 0) {
            printf("usage: trice eval --checkpoint MODEL.bin|EXPERIMENT_DIR --data TASK|FILE [options]\n"
                   "  --data D          a built-in task name, a BBH task JSON, a GSM8K JSONL or a generic JSONL\n"
                   "  --split S         heldout (the split training used; default for built-in tasks and BBH) or all\n"
                   "  --seed N          the experiment seed that made the split (default 1)\n"
                   "  --n N             evaluate at most N examples; --difficulty D for built-in tasks\n"
                   "  --maj-k K         also maj@K (majority of K samples at temperature 1)\n"
                   "  --max-new-tokens  rationale length limit (default: the experiment's, else 128)\n"
                   "  --out FILE        per-example results, one JSON line each (default eval-results.jsonl)\n");
            return 0;
        } else { fprintf(stderr, "trice eval: unknown or incomplete argument '%s' (see --help)\n", a); return 2; }
    }
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
    if (!is_dir(ckpt)) s.model.tokenizer = cfg.vocab_size == BPE_GPT2_VOCAB ? SPEC_TOKENIZER_GPT2 : SPEC_TOKENIZER_BYTE; /* a bare model file */
    fleet *f = NULL;
    if (fleet_local(&s, &f, &err)) { fprintf(stderr, "trice eval: %s\n", err.msg); return 1; }
    engine_side *e = fleet_local_side(f);
    int rc = 0;
    if (prompt[0] && (rc = ckpt_prompt_load(prompt, &e->model, &err))) goto out;
    /* --split all: every example is held out (a test file, or a task seen for the first time) */
    int all = split ? strcmp(split, "all") == 0 : !strcmp(kind, "jsonl") || !strcmp(kind, "gsm8k");
    if (all) {
        int64_t m = e->task.n_train + e->task.n_eval;
        int64_t *ids = malloc((size_t)(m ? m : 1) * sizeof *ids);
        if (!ids) { rc = TR_FAIL(&err, TR_ENOMEM, "out of memory"); goto out; }
        int64_t k = 0;
        for (int64_t i = 0; i < e->task.n_eval; i++) ids[k++] = e->task.eval_ids[i];
        for (int64_t i = 0; i < e->task.n_train; i++) ids[k++] = e->task.train_ids[i];
        free(e->task.eval_ids);
        e->task.eval_ids = ids;
        e->task.n_eval = n > 0 && n < k ? n : k;
    }
    if ((rc = engine_require_fit(&s, &e->task, 0, &err))) goto out;
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
