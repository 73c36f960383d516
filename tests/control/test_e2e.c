/* End to end: the test daemon (control plane + fake training loop) driven by the `trice`
 * CLI; SIGTERM mid-run and a restart that resumes; the page in headless Chromium. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/control/http.h"
#include "helpers.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(e2e, cli_submit_watch_list_cancel_against_the_daemon, .timeout = 90) {
    char dir[256], url[256], cmd[2048], out[8192], spec[400], id[64];
    int http = 0;
    th_tmpdir(dir);
    pid_t pid = th_daemon_start(dir, "--step-ms 20", url, &http);
    snprintf(spec, sizeof spec, "%s/spec.json", dir);
    write_file(spec, "{\n  \"name\": \"cli-run\",\n  \"steps\": 10\n}\n");
    snprintf(cmd, sizeof cmd, "%s --endpoint %s --token-file %s/token submit %s", TRICE_CLI, url, dir, spec);
    cr_assert_eq(th_run(cmd, out, sizeof out), 0, "submit: %s", out);
    cr_assert_eq(sscanf(out, "%63s", id), 1);
    cr_assert(strncmp(id, "exp-", 4) == 0, "submit prints the id: %s", out);
    snprintf(cmd, sizeof cmd, "%s --endpoint %s --interval 0.05 watch %s", TRICE_CLI, url, id);
    cr_assert_eq(th_run(cmd, out, sizeof out), 0, "watch: %s", out);
    cr_assert(strstr(out, "step 10/10"), "watch shows the last step: %s", out);
    cr_assert(strstr(out, "succeeded"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --endpoint %s list", TRICE_CLI, url);
    cr_assert_eq(th_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, id) && strstr(out, "succeeded") && strstr(out, "cli-run"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --endpoint %s status %s", TRICE_CLI, url, id);
    cr_assert_eq(th_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"resumed\": 0"), "status shows the result: %s", out);
    /* errors the user sees */
    snprintf(cmd, sizeof cmd, "%s --endpoint %s --token-file %s/token cancel %s", TRICE_CLI, url, dir, id);
    cr_assert_eq(th_run(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "already succeeded"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --endpoint %s --token-file %s/nope submit %s", TRICE_CLI, url, dir, spec);
    cr_assert_eq(th_run(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "token"), "%s", out);
    write_file(spec, "{\n  \"name\": \"bad\",\n  \"stepz\": 10\n}\n");
    snprintf(cmd, sizeof cmd, "%s --endpoint %s --token-file %s/token submit %s", TRICE_CLI, url, dir, spec);
    cr_assert_eq(th_run(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "stepz") && strstr(out, ":3"), "names the field and line: %s", out);
    snprintf(cmd, sizeof cmd, "%s --endpoint %s --token-file %s/token shutdown", TRICE_CLI, url, dir);
    cr_assert_eq(th_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_eq(th_daemon_wait(pid, 20), 0, "daemon exits cleanly after Shutdown");
    snprintf(cmd, sizeof cmd, "%s --endpoint %s list", TRICE_CLI, url);
    cr_assert_eq(th_run(cmd, out, sizeof out), 3, "%s", out);
    cr_assert(strstr(out, "not reachable"), "clear message when the daemon is down: %s", out);
}

Test(e2e, sigterm_mid_run_then_restart_resumes, .timeout = 90) {
    char dir[256], url[256], tok[300], id[64];
    int http = 0;
    th_tmpdir(dir);
    pid_t pid = th_daemon_start(dir, "--step-ms 100", url, &http);
    th_token(dir, tok, sizeof tok);
    Trice__Rpc__Response *r = th_submit(url, tok, "{\"name\": \"long\", \"steps\": 400}");
    cr_assert_eq(r->code, 0, "%s", r->error);
    snprintf(id, sizeof id, "%s", r->id);
    trice__rpc__response__free_unpacked(r, NULL);
    r = th_submit(url, tok, "{\"name\": \"after\", \"steps\": 3}");
    trice__rpc__response__free_unpacked(r, NULL);
    int running = 0;
    for (int i = 0; i < 200 && !running; i++) {
        r = th_get(url, id);
        running = strcmp(r->experiment->state, "running") == 0 && r->experiment->progress;
        trice__rpc__response__free_unpacked(r, NULL);
        if (!running) th_sleep_ms(50);
    }
    cr_assert(running, "experiment never started");
    kill(pid, SIGTERM);
    cr_assert_eq(th_daemon_wait(pid, 20), 0, "SIGTERM gives a clean exit");
    pid = th_daemon_start(dir, "--step-ms 1", url, &http);
    int done = 0;
    for (int i = 0; i < 600 && !done; i++) {
        r = th_get(url, id);
        done = strcmp(r->experiment->state, "succeeded") == 0;
        if (done) cr_assert(strstr(r->experiment->result_json, "\"resumed\": 1"), "resumed: %s", r->experiment->result_json);
        trice__rpc__response__free_unpacked(r, NULL);
        if (!done) th_sleep_ms(50);
    }
    cr_assert(done, "the interrupted experiment finished after the restart");
    r = th_simple(url, TRICE__RPC__REQUEST__KIND__SHUTDOWN, tok, NULL);
    trice__rpc__response__free_unpacked(r, NULL);
    cr_assert_eq(th_daemon_wait(pid, 20), 0);
}

Test(e2e, status_page_renders_in_headless_chromium, .timeout = 120) {
    if (access("/usr/bin/chromium", X_OK) != 0) cr_skip_test("/usr/bin/chromium is absent: install Debian's chromium to check the page");
    if (access(HTTP_CHARTJS_PATH, R_OK) != 0) cr_skip_test("%s is absent: deploy/install-deps.sh installs libjs-chart.js", HTTP_CHARTJS_PATH);
    char dir[256], url[256], tok[300], cmd[3000], out[1 << 16], png[512];
    int http = 0;
    th_tmpdir(dir);
    pid_t pid = th_daemon_start(dir, "--step-ms 20", url, &http);
    th_token(dir, tok, sizeof tok);
    /* two stages (a 20-step warm-up, then 40 steps of trice) on one global step axis */
    Trice__Rpc__Response *r = th_submit(url, tok, "{\"name\": \"charts\", \"steps\": 40, \"warmup_sft_steps\": 20}");
    cr_assert_eq(r->code, 0, "%s", r->error);
    char id[64];
    snprintf(id, sizeof id, "%s", r->id);
    trice__rpc__response__free_unpacked(r, NULL);
    for (int i = 0; i < 400; i++) {
        r = th_get(url, id);
        int done = strcmp(r->experiment->state, "succeeded") == 0;
        trice__rpc__response__free_unpacked(r, NULL);
        if (done) break;
        th_sleep_ms(50);
    }
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
                        "--disable-component-update --disable-sync --virtual-time-budget=4000";
    /* The DOM after the page's script ran: the summary names the experiment. */
    snprintf(cmd, sizeof cmd, "timeout 60 /usr/bin/chromium %s --user-data-dir=%s/chrome1 --dump-dom http://127.0.0.1:%d/ 2>/dev/null",
             flags, dir, http);
    th_run(cmd, out, sizeof out);
    if (!strstr(out, "<html")) {
        kill(pid, SIGTERM);
        th_daemon_wait(pid, 20);
        cr_skip_test("chromium could not render here (sandbox/display?): %.300s", out);
    }
    cr_assert(strstr(out, id), "the script filled in the experiment id: %.2000s", out);
    cr_assert(strstr(out, "succeeded"), "%.2000s", out);
    cr_assert(strstr(out, "node1"), "workers table filled in");
    /* every point drawn lies inside its chart's plot area, on both stages */
    static const char *charts[] = {"c_eval", "c_acc", "c_beta", "c_loss"};
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "chart %s: ", charts[i]);
        const char *l = strstr(out, want);
        int n = -1, outside = -1;
        cr_assert(l && sscanf(l + strlen(want), "%d points, %d outside", &n, &outside) == 2, "no plot check for %s: %.3000s", charts[i], out);
        cr_assert_gt(n, 20, "%s drew %d points", charts[i], n);
        cr_assert_eq(outside, 0, "%s: %d of %d points outside the plot area", charts[i], outside, n);
    }
    cr_assert(strstr(out, "warm-up 1\xe2\x80\x93" "20, then trice 21\xe2\x80\x93" "60"), "one global step axis over both stages: %.3000s", out);
    cr_assert(strstr(out, "25.0% \xe2\x86\x92 75.0%"), "the past-experiments table shows before -> after: %.3000s", out);
    const char *dst = getenv("TRICE_SCREENSHOT_DIR");
    snprintf(png, sizeof png, "%s/status_page.png", dst ? dst : dir);
    unlink(png);
    snprintf(cmd, sizeof cmd, "timeout 60 /usr/bin/chromium %s --user-data-dir=%s/chrome2 --window-size=1200,900 --screenshot=%s http://127.0.0.1:%d/",
             flags, dir, png, http);
    th_run(cmd, out, sizeof out);
    FILE *f = fopen(png, "rb");
    cr_assert_not_null(f, "no screenshot written: %.500s", out);
    unsigned char h[24];
    cr_assert_eq(fread(h, 1, 24, f), 24);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert(memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0, "a PNG file");
    unsigned w = (unsigned)h[16] << 24 | (unsigned)h[17] << 16 | (unsigned)h[18] << 8 | h[19];
    cr_assert_eq(w, 1200);
    cr_assert_gt(size, 10000, "a blank page would compress to almost nothing (%ld bytes)", size);
    r = th_simple(url, TRICE__RPC__REQUEST__KIND__SHUTDOWN, tok, NULL);
    trice__rpc__response__free_unpacked(r, NULL);
    cr_assert_eq(th_daemon_wait(pid, 20), 0);
}
