"""Count individual test results from meson's testlog.json.

Criterion executables report many test cases each ("Synthesis: Tested: N | Passing: P |
Failing: F | Crashing: C"); the shell tests (MPI integration, engine end to end) print one
"ok: ..." or "FAIL: ..." line per check; anything else counts as one test. Prints
'N passed, N failed[, N skipped]' and exits non-zero if anything failed.
"""
import json
import re
import sys

synth = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
passed = failed = skipped = 0
failed_names = []
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        res = t.get("result")
        m = synth.findall(out)
        if res == "SKIP":
            skipped += 1
            continue
        if m:
            _, p, fl, cr = map(int, m[-1])
            passed += p
            failed += fl + cr
            if res not in ("OK", "EXPECTEDFAIL") and fl + cr == 0:
                failed += 1  # the executable failed outside any test case
            if res not in ("OK", "EXPECTEDFAIL") or fl + cr:
                failed_names.append(t["name"])
        elif re.search(r"^(ok|FAIL): ", out, re.M):
            oks = len(re.findall(r"^ok: ", out, re.M))
            fails = len(re.findall(r"^FAIL: ", out, re.M))
            if res not in ("OK", "EXPECTEDFAIL") and fails == 0:
                fails = 1  # the script died outside its checks
            passed += oks
            failed += fails
            if fails:
                failed_names.append(t["name"])
        elif res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
            failed_names.append(t["name"])
for n in failed_names:
    print("failed:", n)
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
