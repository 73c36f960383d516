/* spec.h - the experiment spec: what to train, how, and for how long.
 *
 * Users write it as JSON (see README "Experiment spec"); spec_parse_json() reads it into
 * this struct. Every error names the field (dotted path), the line in the file, the bad
 * value and what is allowed; unknown fields are errors (a typo must not silently fall
 * back to a default). Fields left out take the defaults of spec_defaults().
 */
#ifndef TRICE_SPEC_SPEC_H
#define TRICE_SPEC_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/util/err.h"

#define SPEC_PATH_MAX 1024
#define SPEC_NAME_MAX 128

typedef enum { METHOD_TRICE = 0, METHOD_TRICE_NOCV, METHOD_SFT, METHOD_DIRECT, METHOD_RS, METHOD_STAR, METHOD_COUNT } spec_method;
typedef enum { TUNABLE_FULL = 0, TUNABLE_PROMPT, TUNABLE_COUNT } spec_tunable;
typedef enum { MEMINIT_HINT = 0, MEMINIT_SAMPLE, MEMINIT_GIVEN, MEMINIT_COUNT } spec_meminit;
typedef enum { SCHEDULE_CONSTANT = 0, SCHEDULE_COSINE, SCHEDULE_COUNT } spec_schedule;
/* the values of common/tok/tok.h's tokenizer_kind */
typedef enum { SPEC_TOKENIZER_BYTE = 0, SPEC_TOKENIZER_GPT2, SPEC_TOKENIZER_COUNT } spec_tokenizer;

/* One part of a task mix (spec_task.mix): n_train examples of a built-in generator at a
 * difficulty, trained beside the task's own examples, with that generator's rationales and
 * answer check. The held-out set stays the task's own. */
#define SPEC_MIX_MAX 8
typedef struct spec_mix_part {
    char name[32];                 /* a built-in generator */
    int difficulty;
    int n_train;                   /* >= 1 */
} spec_mix_part;

typedef struct spec_task {
    char name[SPEC_NAME_MAX];      /* built-in generator (e.g. "multistep_arithmetic_two") or "bbh", "gsm8k", "jsonl" */
    char path[SPEC_PATH_MAX];      /* data file for bbh / gsm8k / jsonl (train file for gsm8k) */
    char test_path[SPEC_PATH_MAX]; /* held-out file (gsm8k test); empty = split path by train_fraction */
    int difficulty;                /* generator knob; 0 = the task's target (BBH) setting */
    int n_train;                   /* generator: examples to make; file: cap (0 = all) */
    int n_eval;                    /* held-out examples used for evaluation (0 = all) */
    double train_fraction;         /* share of examples for training when splitting one file (BBH: 0.6) */
    int n_mix;                     /* parts of other settings mixed into training (0 = none) */
    spec_mix_part mix[SPEC_MIX_MAX];
} spec_task;

/* gpt_config.position */
typedef enum { SPEC_POSITION_LEARNED = 0, SPEC_POSITION_ALIBI, SPEC_POSITION_NONE, SPEC_POSITION_COUPLED, SPEC_POSITION_COUPLED_ALIBI, SPEC_POSITION_COUPLED_ROPE, SPEC_POSITION_COUPLED_ROPE_ALIBI, SPEC_POSITION_COUNT } spec_position;

typedef struct spec_model {
    char init[SPEC_PATH_MAX];      /* llm.c GPT-2 checkpoint to start from; empty = random init */
    int layers, heads, channels, context;  /* used for random init */
    spec_tokenizer tokenizer;      /* byte (257 tokens) or gpt2 (GPT-2 BPE, 50,257); a checkpoint must match */
    spec_position position;        /* learned (GPT-2), alibi, none, coupled, coupled-alibi, coupled-rope or coupled-rope-alibi: gpt_config.position; a checkpoint's wins */
} spec_model;

typedef struct spec_optim {
    double lr, weight_decay, beta1, beta2, eps, grad_clip;
    spec_schedule schedule;
    int warmup_steps;
    double min_lr_ratio;           /* cosine ends at lr * min_lr_ratio */
} spec_optim;

/* One stage of a multi-stage experiment (a curriculum): the settings a stage may change,
 * fully resolved (what the stage's JSON object left out is the top-level spec's value).
 * A stage starts from the model the stage before it ended with; the top-level spec is the
 * last stage. */
#define SPEC_MAX_STAGES 8
#define SPEC_STAGE_NAME_MAX 32
typedef struct spec_stage {
    char name[SPEC_STAGE_NAME_MAX];  /* folder name under the experiment: [a-z0-9_-], unique */
    spec_method method;
    spec_task task;                  /* name, difficulty, n_train, n_eval (path fields stay the top level's) */
    int steps, batch_size, subsample;
    spec_meminit memory_init;
    int init_tries, max_new_tokens, eval_every, position_jitter;
    int64_t max_sampled_tokens;
    spec_optim optim;
} spec_stage;

typedef struct experiment_spec {
    char name[SPEC_NAME_MAX];
    uint64_t seed;
    spec_task task;
    spec_model model;
    spec_method method;
    spec_tunable tunable;
    int prompt_len;                /* P soft-prompt vectors (tunable = prompt) */
    int steps;                     /* optimiser steps (star: per outer iteration) */
    int batch_size;                /* M examples per step */
    int subsample;                 /* L gradient terms; 0 = no subsampling (all 2M) */
    spec_meminit memory_init;
    int init_tries;                /* K for memory_init = sample */
    int init_shots;                /* k worked exemplars before each memory_init = sample prompt
                                    * (the first k training examples with rationales); 0 = off.
                                    * Initialisation only: proposals and gradients stay zero-shot.
                                    * The top level's only; stages run with 0 */
    int particles;                 /* K for rs */
    int star_iterations;           /* outer iterations for star */
    int max_new_tokens;            /* rationale length limit */
    double temperature;            /* proposals; 1.0 keeps the estimator exact */
    int top_k;                     /* 0 = off; changes the proposal distribution */
    double top_p;                  /* 1.0 = off; changes the proposal distribution */
    int sample_bf16;               /* 1: every draw (proposals, memory init, held-out evaluation)
                                    * decodes with the weights rounded to bfloat16 (bf16.h): about
                                    * twice as fast on CPUs with AVX-512 BF16, but the proposals
                                    * then come from a slightly different distribution. CPU only */
    int train_bf16;                /* 1: the gradients' forward and backward passes multiply the
                                    * linear layers' operands rounded to bfloat16 with fp32 sums
                                    * (gpt.h, bf16.h); weights, optimiser and exact sums stay fp32.
                                    * CPU only */
    spec_optim optim;
    int eval_every;                /* steps between held-out evaluations; 0 = only at start and end */
    int maj_k;                     /* samples for maj@k; 0 = skip */
    int variance_probe;            /* R > 0: at each evaluation, measure the gradient-estimator variance over R proposal draws */
    int64_t max_sampled_tokens;    /* stop once this many tokens were sampled for training; 0 = off */
    int warmup_sft_steps;          /* supervised warm-up on program-written rationales before the method; 0 = none */
    int warmup_difficulty;         /* generator difficulty of the warm-up data (an easier setting) */
    double warmup_lr;              /* learning rate of the warm-up (training from scratch wants more than fine-tuning) */
    int n_stages;                  /* stages run before the top-level one, in order */
    spec_stage stages[SPEC_MAX_STAGES];
    int position_jitter;           /* 1: sft/direct terms sit at a random position offset (seed, id,
                                    * step), so every position embedding is trained (length generalisation) */
    int answers_only;              /* 1: the target is trained from answers only; rationales (sft,
                                    * memory_init given, the warm-up) only on strictly smaller instances */
    int checkpoint_every;          /* steps; 0 = only at the end and on signals */
    int keep_checkpoints;          /* keep the last N */
    char out_dir[SPEC_PATH_MAX];   /* experiment folder; empty = runs/<name> */
    char device[16];               /* where the sides compute: cpu, cuda, cuda:N, auto; empty =
                                    * auto. TRICE_DEVICE (--device) wins over it (side_device.c) */
} experiment_spec;

void spec_defaults(experiment_spec *s);

/* Parse JSON text (source names the file in messages). Fills *s starting from defaults. */
int spec_parse_json(const char *text, const char *source, experiment_spec *s, tr_error *err);
int spec_load_file(const char *path, experiment_spec *s, tr_error *err);

/* Cross-field checks (also called by spec_parse_json). */
int spec_validate(const experiment_spec *s, tr_error *err);

/* Canonical JSON (every field); caller frees. */
char *spec_to_json(const experiment_spec *s, tr_error *err);

/* The spec a stage runs with: *top with the stage's settings, no stages of its own. */
void spec_stage_apply(const experiment_spec *top, const spec_stage *st, experiment_spec *out);

const char *spec_method_name(spec_method m);
const char *spec_tunable_name(spec_tunable t);
const char *spec_meminit_name(spec_meminit m);
const char *spec_schedule_name(spec_schedule s);

#endif
