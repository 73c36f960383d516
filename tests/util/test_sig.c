/* Stop signals: the first asks for a clean stop and the process keeps running; a second one,
 * 2 s or more later, quits at once with 128 + the signal (a user who cannot wait for a long
 * phase to end); one sooner is the same request delivered twice. */
#include <criterion/criterion.h>
#include <signal.h>
#include <unistd.h>

#include "common/util/sig.h"

Test(sig, first_signal_only_requests_a_stop)
{
    sig_install();
    cr_assert_eq(sig_stop_requested(), 0);
    raise(SIGTERM);
    cr_assert_eq(sig_stop_requested(), SIGTERM, "the flag holds the signal");
}

Test(sig, second_signal_quits_at_once, .exit_code = 128 + SIGINT)
{
    sig_install();
    raise(SIGINT);
    cr_assert_eq(sig_stop_requested(), SIGINT);
    raise(SIGINT);   /* at once: the same Ctrl-C arriving twice, so still running */
    cr_assert_eq(sig_stop_requested(), SIGINT);
    sleep(3);
    raise(SIGINT);
    cr_assert_fail("still running after a second SIGINT");
}

Test(sig, a_signal_after_a_stop_from_code_quits, .exit_code = 128 + SIGTERM)
{
    sig_install();
    sig_request_stop();
    cr_assert_eq(sig_stop_requested(), -1);
    sleep(3);
    raise(SIGTERM);
    cr_assert_fail("still running after SIGTERM on a pending stop");
}
