/* cli.h - the `data` subcommand: inspect tasks as the model sees them.
 *
 *   data show  TASK [options]   print examples: prompt, rationale, answer
 *   data stats TASK [options]   counts, byte lengths (= tokens: byte-level tokenizer),
 *                               share that fits the context, answer distribution
 * TASK: multistep_arithmetic_two | boolean_expressions | dyck_languages | navigate |
 *       bbh | gsm8k | jsonl (need --path) | cot (a BBH CoT prompt file at --path)
 * Options: --n N (examples to show, default 3; generators: examples to make, default
 * 1000 for stats), --difficulty D, --path FILE, --test-path FILE, --seed S (default 1),
 * --split train|eval (default train), --prompt rationale|hinted|direct, --context C
 * (default 256, for the "fits" figure), --train-fraction F (default 0.6).
 */
#ifndef TRICE_DATA_CLI_H
#define TRICE_DATA_CLI_H

/* argv[0] = "data". Returns a process exit code (0 ok, 1 failure, 2 usage). */
int data_cli_main(int argc, char **argv);

#endif
