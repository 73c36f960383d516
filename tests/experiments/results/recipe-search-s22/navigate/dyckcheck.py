#!/usr/bin/env python3
"""Check dyck_languages outputs in session 22's v4 stack-trace format against a stack
re-simulated from the question text. A trace line (one per input bracket: echo, restated
stack, new stack) is right only when all three are. Prints accuracy and exact whole traces by
input length, how many exact traces still end in a wrong answer (the final reversal into
closers), and where the first wrong line falls.
usage: dyckcheck.py RESULTS.jsonl[.gz]"""
import gzip, json, sys
from collections import Counter

PRE = "Complete the rest of the sequence, making sure that the parentheses are closed properly. Input:"
OPEN = "([{<"

def expected(question):
    brackets = question[len(PRE):].split()
    lines, st = [], ""
    for b in brackets:
        new = st + b if b in OPEN else st[:-1]
        lines.append(" %s| %s=%s;" % (b, st, new))
        st = new
    return brackets, lines

def main():
    path = sys.argv[1]
    op = gzip.open if path.endswith(".gz") else open
    rows = [json.loads(l) for l in op(path, "rt")]
    by_len = {}
    first_bad = Counter()
    exact_but_wrong = 0
    for r in rows:
        brackets, want = expected(r["question"])
        body = r["output"].split("Input:| =;", 1)[-1]
        got = [seg + ";" for seg in body.split(";")[:-1]]
        n = len(brackets)
        k = next((i for i in range(n) if i >= len(got) or got[i] != want[i]), n)
        band = "3-10" if n <= 10 else "11-20" if n <= 20 else "21-30" if n <= 30 else "31-39"
        b = by_len.setdefault(band, Counter())
        trace_exact = k == n and len(got) == n
        b["n"] += 1; b["correct"] += r["correct"]; b["trace"] += trace_exact
        exact_but_wrong += trace_exact and not r["correct"]
        if k < n: first_bad[min(k + 1, 40)] += 1
    print("examples %d, accuracy %.3f" % (len(rows), sum(r["correct"] for r in rows) / len(rows)))
    for band in ("3-10", "11-20", "21-30", "31-39"):
        if band in by_len:
            b = by_len[band]
            print("  %5s brackets: %3d ex, acc %.2f, whole trace exact %3d" % (band, b["n"], b["correct"] / b["n"], b["trace"]))
    print("exact traces with a wrong answer:", exact_but_wrong)
    print("first wrong line (1-based):", dict(sorted(first_bad.items())))

if __name__ == "__main__":
    main()
