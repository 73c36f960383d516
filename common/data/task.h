/* task.h - reasoning tasks: examples, train/held-out splits, prompts and the answer check.
 *
 * A task is a list of examples (question, gold answer, optional rationale), a split into
 * training and held-out ids, and an answer kind that decides how c(z, y) compares answers.
 * Sources (spec_task.name):
 *   built-in generators  multistep_arithmetic_two, boolean_expressions, dyck_languages,
 *                        navigate (see gen.h; no files needed)
 *   "bbh"               BIG-Bench Hard task JSON at path (split by train_fraction, seeded)
 *   "gsm8k"             GSM8K JSONL: path = train file, test_path = test file
 *   "jsonl"             generic JSONL {question, answer, rationale?} (see load.h)
 *
 * Prompts (../shared/ALGORITHM.md §2), byte for byte:
 *   rationale prompt  "Q: {question}\nA: Let's think step by step.\n"
 *   hinted prompt     "Q: {question}\nA: The answer is {answer}. Let's think step by step.\n"
 *   direct prompt     "Q: {question}\nA:"   with target " So the answer is {answer}."
 * A rationale is the text the model writes after the prompt (no trailing newline; the
 * engine appends end-of-text) and ends with "So the answer is {answer}.". The direct
 * target ends the same way, so one check c(z, y) serves all three.
 */
#ifndef TRICE_DATA_TASK_H
#define TRICE_DATA_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "common/spec/spec.h"
#include "common/util/err.h"
#include "common/data/answer.h"
#include "common/data/task_example.h"

typedef enum {
    TASK_SRC_GENERATOR = 0,
    TASK_SRC_BBH,
    TASK_SRC_GSM8K,
    TASK_SRC_JSONL,
} task_source;

typedef struct task {
    char name[SPEC_NAME_MAX];  /* generator name, or "bbh", "gsm8k", "jsonl" */
    task_source source;
    answer_kind kind;          /* how answers are normalised and compared */
    int difficulty;            /* generators only */
    task_example *ex;          /* n_ex examples, sorted by id (owned) */
    int64_t n_ex;
    int64_t *train_ids;        /* n_train ids of training examples (owned) */
    int64_t n_train;
    int64_t *eval_ids;         /* n_eval held-out ids, disjoint from train_ids (owned) */
    int64_t n_eval;
    int n_mix;                 /* parts of spec_task.mix appended to the training ids */
    answer_kind mix_kind[SPEC_MIX_MAX];  /* each part's own answer check */
} task;

/* Id offset of the held-out examples of a task that has a separate test file (GSM8K):
 * test record k gets id TASK_TEST_ID_BASE + k, so ids never collide with training records
 * and stay the same whatever the size of the training file. */
#define TASK_TEST_ID_BASE INT64_C(1000000000)

/* Ids of the examples of a mix (spec_task.mix): part k, generator index i has id
 * TASK_MIX_ID_BASE + k * TASK_MIX_ID_STRIDE + i, above every id of the task's own. */
#define TASK_MIX_ID_BASE INT64_C(2000000000)
#define TASK_MIX_ID_STRIDE INT64_C(1000000000)

/* Build the task the spec names. seed drives the split (RNG_PURPOSE_SPLIT) and the
 * generators (RNG_PURPOSE_GENERATOR). Caps: n_train / n_eval (0 = all, files only; for
 * generators n_train >= 1 and n_eval = 0 means 200). On error *out is left empty (safe to
 * task_free) and err names the file and line/record.
 * A mix (st->mix) appends each part's n_train generated examples, with their rationales, to
 * the training ids (never to the held-out set): part k is drawn with its own seed, and a question that is also one of the held-out questions is left out, as
 * for the task's own training examples. */
int task_load(const spec_task *st, uint64_t seed, task *out, tr_error *err);
void task_free(task *t);

/* Example with this id, or NULL (binary search). */
const task_example *task_get(const task *t, int64_t id);

/* Split ids into train and held-out: a seeded shuffle (seed, RNG_PURPOSE_SPLIT, 0), the
 * first round(n * train_fraction) go to train (at least 1 and at most n - 1 when n >= 2).
 * Both outputs are sorted ascending; caller frees them. */
int task_split(const int64_t *ids, int64_t n, double train_fraction, uint64_t seed,
               int64_t **train, int64_t *n_train, int64_t **eval, int64_t *n_eval, tr_error *err);

/* The stage rule of an answers-only spec (s->answers_only = 1; otherwise 0 at once): the
 * target (the top-level stage) learns from answers alone (method trice, trice-nocv, rs, star or
 * direct, memory_init not 'given'), and every stage that is given rationales (method sft,
 * memory_init 'given', the warm-up of warmup_sft_steps) uses another built-in task, or the
 * target's own generator at a difficulty whose instances are all strictly smaller than every
 * instance of the target (gen_size_range: hi < the target's lo). Error names the stage, the
 * sizes and what is allowed. Checked where experiments start (experiment_run) and are
 * submitted (the daemon). */
int task_check_stage_rule(const experiment_spec *s, tr_error *err);

/* Prompts; *out is a new string the caller frees. */
int task_rationale_prompt(const task *t, const task_example *ex, char **out, tr_error *err);
int task_hinted_prompt(const task *t, const task_example *ex, char **out, tr_error *err);
int task_direct_prompt(const task *t, const task_example *ex, char **out, tr_error *err);
/* Few-shot exemplars (spec init_shots): the first k training examples, by id, that have a
 * rationale, leaving out the example `self` (so an example is never its own exemplar; the next
 * one takes its place). Writes up to k ids to out, ascending; returns how many there were. */
int task_exemplars(const task *t, int64_t self, int k, int64_t *out);
/* The k-shot rationale prompt: each exemplar as "Q: {question}\nA: Let's think step by
 * step.\n{rationale}\n\n", then the rationale prompt of ex. k = 0 is the rationale prompt.
 * Every exemplar must have a rationale (task_exemplars picks only such). */
int task_fewshot_prompt(const task *t, const int64_t *shots, int k, const task_example *ex, char **out, tr_error *err);
/* The text the direct baseline is trained to write after the direct prompt. */
int task_direct_target(const task *t, const task_example *ex, char **out, tr_error *err);

/* Answer read out of generated text (see answer.h). Returns 0 when found, nonzero when the
 * text gives no answer. */
int task_extract_answer(const task *t, const char *generated, char *out, size_t cap);
/* c(z, y): 1 when the answer in generated equals gold under the task's normalisation. */
int task_check(const task *t, const char *generated, const char *gold);
/* c(z, y) for an example of the task: a mixed-in example is checked by its own generator's rule
 * (an arithmetic task may mix in True/False answers). */
int task_check_example(const task *t, const task_example *ex, const char *generated);

/* The worker (0..nworkers-1) that owns example id: a hash of (seed, RNG_PURPOSE_SHARD, id),
 * so every process computes the same owner without talking. nworkers >= 1. */
int shard_owner(uint64_t seed, int64_t id, int nworkers);

#endif
