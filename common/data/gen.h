/* gen.h - built-in generators of four BIG-Bench Hard tasks (no data files needed).
 *
 * Questions copy the BBH format of each task byte for byte (phrasing, spacing, options);
 * rationales are compact and program-derived, so that a small byte-level model (context
 * 256 bytes = prompt + rationale) can learn them; each ends "So the answer is X.".
 *
 * difficulty: 0 = the target (BBH) setting; 1 = easiest (for warm-up), 2, 3 (, 4) harder.
 * Typical byte lengths (rationale prompt / rationale / both; measured with `data stats`,
 * see common/data/README.md for the table):
 *
 *   multistep_arithmetic_two  "((-5 + 9 * -4 - 0) * (4 + -7 + 0 * -5)) ="
 *       numbers -9..9, operators + - * (no division: BBH answers are integers),
 *       d0: 4 numbers per bracket (BBH); d = 1..4: d + 1 numbers per bracket.
 *   boolean_expressions       "not ( True ) and ( True ) is"
 *       True/False, not/and/or, "( ... )"; tokens (parentheses included):
 *       d0: 6-9 (BBH: 7-8), d1: 3-5, d2: 5-7, d3: 8-11.
 *   dyck_languages            "Complete the rest of the sequence, making sure that the
 *       parentheses are closed properly. Input: [ { [" -> "] } ]"
 *       brackets ( [ { <; a random Dyck word of m pairs loses its last k closers:
 *       d0: m 3-20, k <= 5; d1: m 2-4, k <= 2; d2: m 3-8, k <= 3; d3: m 6-16, k <= 4.
 *   navigate                  "If you follow these instructions, do you return to the
 *       starting point? Turn left. Take 7 steps.\nOptions:\n- Yes\n- No"
 *       two styles as in BBH: turns + "Take N steps." or "Always face forward." +
 *       "Take N steps forward/backward/left/right."; N 1..10; Yes/No balanced;
 *       moves (turn style / forward style): d0: 3-8 / 3-8, d1: 2-3 / 2,
 *       d2: 3-5 / 2-4, d3: 6-9 / 5-8.
 *
 * Binary answers (True/False, Yes/No) are balanced by drawing the answer first.
 * Example index i uses the stream rng(seed, RNG_PURPOSE_GENERATOR, i), so an example
 * depends only on (name, difficulty, seed, index).
 */
#ifndef TRICE_DATA_GEN_H
#define TRICE_DATA_GEN_H

#include <stdint.h>

#include "common/data/answer.h"
#include "common/data/task.h"
#include "common/util/err.h"

/* 1 when name is a built-in generator. */
int gen_exists(const char *name);
/* Highest difficulty the generator accepts (0 if unknown). */
int gen_max_difficulty(const char *name);
/* Answer kind of the generator's task. */
answer_kind gen_kind(const char *name);
/* The size of the generator's instances at a difficulty: every example has a size in
 * [*lo, *hi], measured in the generator's own unit (*unit, a static string: "tokens" of a
 * boolean expression, "numbers per bracket", "pairs" of a Dyck word, "moves"). A setting is
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
