/* task_example.c - see task_example.h. */
#include "common/data/task_example.h"

#include <stdlib.h>

void task_examples_free(task_example *ex, int64_t n) {
    if (!ex) return;
    for (int64_t i = 0; i < n; i++) {
        free(ex[i].question);
        free(ex[i].answer);
        free(ex[i].rationale);
    }
}
