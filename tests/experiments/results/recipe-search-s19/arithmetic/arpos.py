"""multistep_arithmetic_two: per position k of bracket A, how often line A's k-th number equals the
question's: /usr/bin/python3 arpos.py FILE.jsonl[.gz] ..."""
import gzip, json, re, sys
for f in sys.argv[1:]:
    with (gzip.open(f, "rt") if f.endswith(".gz") else open(f)) as fh:
        rows = [json.loads(l) for l in fh]
    right = [0] * 4
    for r in rows:
        a = re.findall(r"-?\d+", r["question"].split(") ")[0])
        first = r["output"].split("\n")[0]
        b = re.findall(r"-?\d+", first.split(" = ")[1]) if " = " in first else []
        for k in range(min(4, len(a))):
            right[k] += k < len(b) and a[k] == b[k]
    print(f, "number k of bracket A copied right (k = 1..4):", right, "of", len(rows))
