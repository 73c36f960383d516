"""Accuracy and how many numbers the first rationale line restates for bracket A ("A = ..."),
per per-example file of `trice eval --out`: /usr/bin/python3 counts.py FILE.jsonl[.gz] ..."""
import collections
import gzip
import json
import sys

for f in sys.argv[1:]:
    with (gzip.open(f, "rt") if f.endswith(".gz") else open(f)) as fh:
        rows = [json.loads(line) for line in fh]
    c = collections.Counter()
    for r in rows:
        first = r["output"].split("\n")[0]
        expr = first.split(" = ")[1] if " = " in first else ""
        c[sum(1 for t in expr.split() if t.lstrip("-").isdigit())] += 1
    print(f, "accuracy %.3f" % (sum(r["correct"] for r in rows) / len(rows)), "numbers restated in line A:", dict(sorted(c.items())))
