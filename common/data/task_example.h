/* task_example.h - one example of a reasoning task: the record the generators (gen.h),
 * the file loaders (load.h) and tasks (task.h) share.
 *
 * It has its own header so that the producers of examples do not include task.h, which
 * builds tasks from them: task.c includes gen.h and load.h, and they include only this
 * (no include cycle between the data modules). */
#ifndef TRICE_DATA_TASK_EXAMPLE_H
#define TRICE_DATA_TASK_EXAMPLE_H

#include <stdint.h>

typedef struct task_example {
    int64_t id;        /* stable: record index in the source file, or the generator index */
    char *question;    /* owned, NUL-terminated */
    char *answer;      /* gold, normalised (answer_normalise of the task's kind); owned */
    char *rationale;   /* ends in "So the answer is {answer}."; NULL when the source has none */
} task_example;

/* Free the strings of n examples (not the array). NULL is fine. */
void task_examples_free(task_example *ex, int64_t n);

#endif
