/* load.h - readers for the data files users bring (formats: ../shared/data/README.md).
 *
 *   GSM8K JSONL   {"question": "...", "answer": "reasoning\n...\n#### N"} per line.
 *                 answer -> gold N with thousands commas removed; the reasoning lines,
 *                 with every calculator annotation <<...>> deleted, become the rationale,
 *                 ending "... So the answer is N.". id = line index - 1 + id_base.
 *   BBH task JSON {"canary": "...", "examples": [{"input": "...", "target": "..."}]};
 *                 id = index in examples + id_base; the target is kept as written.
 *   generic JSONL {"question": "...", "answer": "..." or integer, "rationale": "..."?};
 *                 other keys are errors (a typo must not silently drop a field);
 *                 id = line index - 1 + id_base. Blank lines are skipped (still counted).
 *   BBH CoT file  canary line, "-----", description, blank line, then exemplars
 *                 "Q: {question}\nA: Let's think step by step.\n{rationale}" separated
 *                 by blank lines; answers are read from "So the answer is X.".
 *
 * Every *_text function parses len bytes at text (NUL bytes inside are input errors, not
 * terminators) and names `source` plus the line or record in every error; *_file reads a
 * file and calls it. On success *out holds *n examples (free with task_examples_free, then
 * free); on error *out is NULL and *n is 0. Answers are trimmed but not yet normalised
 * (task_load does that once it knows the task's answer kind), except GSM8K's.
 */
#ifndef TRICE_DATA_LOAD_H
#define TRICE_DATA_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/data/answer.h"
#include "common/data/task_example.h"
#include "common/util/err.h"

#define LOAD_FILE_LIMIT ((size_t)1 << 30)   /* refuse data files over 1 GiB */

int load_gsm8k_text(const char *text, size_t len, const char *source, int64_t id_base,
                    task_example **out, int64_t *n, tr_error *err);
int load_gsm8k_file(const char *path, int64_t id_base, task_example **out, int64_t *n, tr_error *err);

int load_bbh_text(const char *text, size_t len, const char *source, int64_t id_base,
                  task_example **out, int64_t *n, tr_error *err);
int load_bbh_file(const char *path, int64_t id_base, task_example **out, int64_t *n, tr_error *err);

int load_jsonl_text(const char *text, size_t len, const char *source, int64_t id_base,
                    task_example **out, int64_t *n, tr_error *err);
int load_jsonl_file(const char *path, int64_t id_base, task_example **out, int64_t *n, tr_error *err);

typedef struct cot_prompt {
    char *description;     /* the one-line task description (owned) */
    task_example *ex;      /* the exemplars; id = 0, 1, 2 (owned) */
    int64_t n;
} cot_prompt;

int load_cot_text(const char *text, size_t len, const char *source, cot_prompt *out, tr_error *err);
int load_cot_file(const char *path, cot_prompt *out, tr_error *err);
void cot_prompt_free(cot_prompt *c);

#endif
