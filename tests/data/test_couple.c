/* The "columns" position rule (couple.h) on the built-in generators' real prompts and
 * rationales: a restated byte takes the id of the question byte it restates, every line after
 * an '=' is numbered from the question's column 0 again, and the sampler's per-token form
 * numbers every token as the whole-sequence form does. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/data/couple.h"
#include "common/data/gen.h"
#include "common/data/task.h"

enum { MAXLEN = 2048 };

/* the rationale prompt (task.c) ++ the rationale, as byte tokens */
static int layout(const task_example *ex, int *seq, int *plen) {
    char buf[MAXLEN], *prompt;
    task t;
    memset(&t, 0, sizeof t);
    cr_assert_eq(task_rationale_prompt(&t, ex, &prompt, NULL), 0);
    int p = (int)strlen(prompt);
    int n = snprintf(buf, sizeof buf, "%s%s", prompt, ex->rationale);
    free(prompt);
    cr_assert_lt(n, MAXLEN);
    for (int i = 0; i < n; i++) seq[i] = (unsigned char)buf[i];
    *plen = p;
    return n;
}

static void check_task(const char *name, int difficulty) {
    task_example ex[20];
    tr_error err;
    cr_assert_eq(gen_make(name, difficulty, 0, 20, 4, ex, &err), 0, "%s", err.msg);
    for (int k = 0; k < 20; k++) {
        int seq[MAXLEN], ids[MAXLEN], plen;
        int n = layout(&ex[k], seq, &plen);
        couple_positions(seq, plen, n, ids);
        const char *eq = strchr(ex[k].rationale, '=');
        cr_assert(eq, "%s: rationale without '=': %s", name, ex[k].rationale);
        int k_eq = (int)(eq - ex[k].rationale), qlen = (int)strlen(ex[k].question);
        for (int t = 0; t < plen; t++) cr_assert_eq(ids[t], t, "prompt token %d has id %d", t, ids[t]);
        for (int i = 0; i <= k_eq; i++) {
            int id = ids[plen + i];
            cr_assert_eq(id, 3 + i, "%s example %d: restated byte %d has id %d, want %d", name, k, i, id, 3 + i);
            /* the restated expression is the question's, byte for byte, at the same id
             * (up to the " = " that stands where the question has " is" or " =") */
            if (i + 1 < k_eq) cr_assert_eq(seq[plen + i], seq[id], "%s example %d: '%c' at id %d restates '%c'", name, k,
                                           seq[plen + i], id, seq[id]);
        }
        cr_assert_geq(qlen, k_eq - 1, "%s example %d: the restatement is longer than the question", name, k);
        int last_eq = k_eq;   /* every later line: the token after an '=' at id 2, then 3, 4, ... */
        for (int i = k_eq + 1; plen + i < n; i++) {
            cr_assert_eq(ids[plen + i], 2 + (i - last_eq - 1), "%s example %d: token %d, %d after an '='", name, k, i,
                         i - last_eq - 1);
            if (seq[plen + i] == '=') last_eq = i;
        }
        for (int i = 0; plen + i < n; i++)   /* the sampler's form: from the tokens so far only */
            cr_assert_eq(couple_position(seq, plen, seq + plen, i), ids[plen + i], "%s example %d token %d", name, k, i);
    }
    task_examples_free(ex, 20);
}

Test(couple, boolean_expressions_restatements_take_their_sources_ids) {
    check_task("boolean_expressions", 0);
    check_task("boolean_expressions", 1);
}

/* Nothing to restate: a prompt without "Q: " numbers the generated tokens from 0 (and from 0
 * again after an '='), and a rationale without '=' keeps restating (the ids never pass the
 * places). */
Test(couple, the_rule_is_defined_without_q_or_equals) {
    const int prompt[4] = {'a', 'b', 'c', 'd'}, gen[5] = {'x', 'y', 'z', '=', 'w'};
    int want0[5] = {0, 1, 2, 3, 0};
    for (int i = 0; i < 5; i++) cr_assert_eq(couple_position(prompt, 4, gen, i), want0[i], "token %d", i);
    const int q[6] = {'Q', ':', ' ', '1', ' ', '='}, g2[6] = {'1', '=', ' ', '2', '=', '3'};
    int want[6] = {3, 4, 2, 3, 4, 2};   /* restate "1=", then each line from the question's column 0 - 1 */
    for (int i = 0; i < 6; i++) cr_assert_eq(couple_position(q, 6, g2, i), want[i], "token %d", i);
}
