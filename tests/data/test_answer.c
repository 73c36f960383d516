/* Answer extraction and c(z, y): table-driven, with the tricky cases a model produces. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/data/answer.h"

typedef struct check_case {
    answer_kind kind;
    const char *generated;
    const char *gold;
    int want;
} check_case;

static const check_case cases[] = {
    /* integers, GSM8K normalisation */
    {ANSWER_INT, "48 + 24 = 72. So the answer is 72.", "72", 1},
    {ANSWER_INT, "So the answer is 1,080.", "1080", 1},
    {ANSWER_INT, "So the answer is 1080.", "1,080", 1},
    {ANSWER_INT, "So the answer is -7.", "-7", 1},
    {ANSWER_INT, "So the answer is 7.", "-7", 0},
    {ANSWER_INT, "So the answer is -7.", "7", 0},
    {ANSWER_INT, "So the answer is $18.", "18", 1},
    {ANSWER_INT, "So the answer is 18.00.", "18", 1},
    {ANSWER_INT, "So the answer is 18.5.", "18", 0},
    {ANSWER_INT, "So the answer is 007.", "7", 1},
    {ANSWER_INT, "So the answer is -0.", "0", 1},
    {ANSWER_INT, "So the answer is +3.", "3", 1},
    {ANSWER_INT, "So the answer is 72 clips.", "72", 1},
    {ANSWER_INT, "So the answer is 720.", "72", 0},         /* prefix is not a match */
    {ANSWER_INT, "So the answer is 7.2.", "72", 0},
    {ANSWER_INT, "So the answer is 1,0800.", "10800", 1},
    {ANSWER_INT, "So the answer is seventy-two.", "72", 0},  /* no number */
    {ANSWER_INT, "So the answer is .", "0", 0},
    {ANSWER_INT, "The total is 72.", "72", 0},                /* no marker */
    {ANSWER_INT, "", "72", 0},
    {ANSWER_INT, "So the answer is 72. Wait, so the answer is 73.", "72", 1},  /* first one counts */
    {ANSWER_INT, "So the answer is 73. So the answer is 72.", "72", 0},
    {ANSWER_INT, "so the answer is 72.", "72", 1},
    {ANSWER_INT, "So the answer is 72", "72", 1},            /* cut off before the period */
    {ANSWER_INT, "A = 5.\nB = 3.\nA * B = 15. So the answer is 15.\nQ: next question", "15", 1},
    {ANSWER_INT, "So the answer is 99999999999999999999999.", "99999999999999999999999", 1},
    /* BBH exact strings */
    {ANSWER_TEXT, "So the answer is (B).", "(B)", 1},
    {ANSWER_TEXT, "So the answer is (A).", "(B)", 0},
    {ANSWER_TEXT, "So the answer is (B) the blue one.", "(B)", 1},
    {ANSWER_TEXT, "So the answer is (B)x.", "(B)", 0},
    {ANSWER_TEXT, "So the answer is B.", "(B)", 0},
    {ANSWER_TEXT, "So the answer is True.", "True", 1},
    {ANSWER_TEXT, "So the answer is true.", "True", 1},
    {ANSWER_TEXT, "So the answer is False.", "True", 0},
    {ANSWER_TEXT, "So the answer is Yes.", "Yes", 1},
    {ANSWER_TEXT, "So the answer is yes.", "Yes", 1},
    {ANSWER_TEXT, "So the answer is no.", "yes", 0},
    {ANSWER_TEXT, "So the answer is valid.", "valid", 1},
    {ANSWER_TEXT, "So the answer is invalid.", "valid", 0},
    {ANSWER_TEXT, "So the answer is valid.", "invalid", 0},
    {ANSWER_TEXT, "So the answer is ] } ].", "] } ]", 1},
    {ANSWER_TEXT, "So the answer is ]  }   ].", "] } ]", 1},   /* spacing is normalised */
    {ANSWER_TEXT, "So the answer is ] } ] ).", "] } ]", 0},
    {ANSWER_TEXT, "So the answer is ] }.", "] } ]", 0},
    {ANSWER_TEXT, "So the answer is ) ].\n\nQ: Complete the rest ... So the answer is >.", ") ]", 1},
    {ANSWER_TEXT, "So the answer is apple banana cherry.", "apple banana cherry", 1},
    {ANSWER_TEXT, "So the answer is apple cherry banana.", "apple banana cherry", 0},
    {ANSWER_TEXT, "So the answer is Monsters, Inc.", "Monsters, Inc", 1},
    {ANSWER_TEXT, "So the answer is dearth, wind, & fire.", "dearth, wind, & fire", 1},
    {ANSWER_TEXT, "So the answer is 3929.", "3929", 1},
    {ANSWER_TEXT, "So the answer is No. Yes, I am sure.", "No", 1},
    {ANSWER_TEXT, "So the answer is", "No", 0},
    {ANSWER_TEXT, "So the answer is \n No.", "No", 0},
    {ANSWER_TEXT, "The answer is No.", "No", 0},
    {ANSWER_TEXT, "Yes. No. Maybe.", "No", 0},
};

Test(answer, table_of_checks) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const check_case *c = &cases[i];
        cr_expect_eq(answer_check(c->kind, c->generated, c->gold), c->want,
                     "case %zu: kind %d, generated '%s', gold '%s': want %d", i, c->kind, c->generated, c->gold, c->want);
    }
}

Test(answer, extract_reports_missing_and_normalises) {
    char out[ANSWER_MAX];
    cr_assert_eq(answer_extract(ANSWER_INT, "So the answer is -1,234,567.", out, sizeof out), 0);
    cr_assert_str_eq(out, "-1234567");
    cr_assert_eq(answer_extract(ANSWER_TEXT, "blah. So the answer is  (C)  .", out, sizeof out), 0);
    cr_assert_str_eq(out, "(C)");
    cr_assert_neq(answer_extract(ANSWER_TEXT, "no marker here", out, sizeof out), 0);
    cr_assert_str_eq(out, "");
    cr_assert_neq(answer_extract(ANSWER_INT, NULL, out, sizeof out), 0);
    /* an answer that does not fit is an error, not a silent truncation */
    char tiny[3];
    cr_assert_eq(answer_extract(ANSWER_TEXT, "So the answer is abcdef.", tiny, sizeof tiny), 2);
    cr_assert_eq(answer_extract(ANSWER_INT, "So the answer is 12345.", tiny, sizeof tiny), 2);
}

Test(answer, normalise_gold) {
    char out[ANSWER_MAX];
    cr_assert_eq(answer_normalise(ANSWER_INT, " 1,080 ", out, sizeof out), 0);
    cr_assert_str_eq(out, "1080");
    cr_assert_neq(answer_normalise(ANSWER_INT, "12 apples", out, sizeof out), 0);
    cr_assert_neq(answer_normalise(ANSWER_INT, "3.5", out, sizeof out), 0);
    cr_assert_neq(answer_normalise(ANSWER_INT, "", out, sizeof out), 0);
    cr_assert_eq(answer_normalise(ANSWER_TEXT, "  ] \t }  ", out, sizeof out), 0);
    cr_assert_str_eq(out, "] }");
    cr_assert_neq(answer_normalise(ANSWER_TEXT, "   ", out, sizeof out), 0);
    cr_assert(answer_is_integer("-7"));
    cr_assert(answer_is_integer("1,080"));
    cr_assert(!answer_is_integer("(A)"));
    cr_assert(!answer_is_integer("True"));
}
