"""dyck_languages: accuracy by input length, and how many rationales scan the whole input
(one "<bracket><depth>" item per input bracket, in order), per per-example file of
`trice eval --out` or a run's eval-*.jsonl: /usr/bin/python3 scans.py FILE.jsonl[.gz] ..."""
import collections, gzip, json, sys
for f in sys.argv[1:]:
    with (gzip.open(f, "rt") if f.endswith(".gz") else open(f)) as fh:
        rows = [json.loads(l) for l in fh]
    by = collections.defaultdict(lambda: [0, 0])
    full = right_full = 0
    for r in rows:
        inp = r["question"].split("Input: ")[1].split()
        items = r["output"].split(". Open")[0].split()
        scan = len(items) == len(inp) and all(a[:1] == b for a, b in zip(items, inp))
        full += scan
        right_full += scan and r["correct"]
        by[len(inp)][0] += r["correct"]
        by[len(inp)][1] += 1
    print(f, "accuracy %.3f" % (sum(r["correct"] for r in rows) / len(rows)),
          "| whole-input scans %d (right %d) of %d" % (full, right_full, len(rows)),
          "| right/n by input brackets:", " ".join("%d:%d/%d" % (k, *v) for k, v in sorted(by.items())))
