/* gen.h - built-in generators of four BIG-Bench Hard tasks (no data files needed).
 *
 * Questions copy the BBH format of each task byte for byte (phrasing, spacing, options);
 * rationales are compact program traces that keep the state explicit, one small local step
 * at a time, so that a small byte-level model can learn them and carry them to longer
 * instances; each ends "So the answer is X.".
 *
 * difficulty: 0 = the target (BBH format) setting, written from the task description and
 * the three CoT exemplars only (the real BBH items of these tasks are held-out data that no
 * setting is tuned to); 1 (and for arithmetic 2) = strictly smaller instances than any
 * target question (hi below the target's lo in the unit of gen_size_range: the only
 * settings a rationale warm-up may use); the others climb in size for an answers-only
 * curriculum (they may overlap the target). Byte lengths of prompt + rationale:
 * common/data/README.md.
 *
 *   multistep_arithmetic_two  "((-5 + 9 * -4 - 0) * (4 + -7 + 0 * -5)) ="
 *       numbers -9..9, operators + - * (no division: BBH answers are integers);
 *       numbers per bracket: d0 4 (as the exemplars), d1 2, d2 3, d3 5.
 *   boolean_expressions       "not ( True ) and ( True ) is"
 *       True/False, not/and/or, "( ... )"; tokens (parentheses included):
 *       d0: 6-9 (BBH: 7-8), d1: 3-5, d2: 5-7, d3: 8-11.
 *   dyck_languages            "Complete the rest of the sequence, making sure that the
 *       parentheses are closed properly. Input: [ { [" -> "] } ]"
 *       brackets ( [ { <; a prefix of a Dyck word that leaves 1-5 brackets open;
 *       d0: a random Dyck word of 3-20 pairs loses its last k <= 5 closers, i.e. 3-39
 *       brackets of the input; the others a uniform length with k of its parity:
 *       brackets of the input: d0 3-39, d1 1-2, d2 2-10, d3 11-30, d4 31-60, d5 61-99.
 *   navigate                  "If you follow these instructions, do you return to the
 *       starting point? Turn left. Take 7 steps.\nOptions:\n- Yes\n- No"
 *       two styles as in the exemplars: turns + "Take N steps." or "Always face forward." +
 *       "Take N steps forward/backward/left/right."; N 1..10; Yes/No balanced;
 *       instructions (sentences, "Always face forward." included): d0 3-9 (3-8 moves in
 *       either style: 3-8 turn style, 4-9 forward style), d1 1-2 (Yes questions only
 *       turn), d2 3-4, d3 5-7, d4 8-10.
 *
 * Binary answers (True/False, Yes/No) are balanced by drawing the answer first.
 * Example index i uses the stream rng(seed, RNG_PURPOSE_GENERATOR, i), so an example
 * depends only on (name, difficulty, seed, index).
 */
#ifndef TRICE_DATA_GEN_H
#define TRICE_DATA_GEN_H

#include <stdint.h>

#include "common/data/answer.h"
#include "common/data/task_example.h"
#include "common/util/err.h"

/* 1 when name is a built-in generator. */
int gen_exists(const char *name);
/* Highest difficulty the generator accepts (0 if unknown). */
int gen_max_difficulty(const char *name);
/* Answer kind of the generator's task. */
answer_kind gen_kind(const char *name);
/* The size of the generator's instances at a difficulty: every example has a size in
 * [*lo, *hi], measured in the generator's own unit (*unit, a static string: "tokens" of a
 * boolean expression, "numbers per bracket", "brackets of the input" of dyck_languages,
 * "instructions" of navigate). A setting is
 * strictly easier than another when its hi is below the other's lo: the stage rule of
 * answers-only recipes (rationales only on strictly smaller instances) is checked with it.
 * Returns 0, or TR_EINVAL for an unknown name or difficulty. */
int gen_size_range(const char *name, int difficulty, int *lo, int *hi, const char **unit);

/* Comma-separated list of the generator names (static string). */
const char *gen_names(void);

/* Generate n examples with indices first_index .. first_index + n - 1 into out[0..n)
 * (id = index; question, answer and rationale owned by out). On error nothing is left
 * allocated in out. */
int gen_make(const char *name, int difficulty, int64_t first_index, int n, uint64_t seed,
             task_example *out, tr_error *err);

#endif
