"""navigate: accuracy, and how many instructions the rationale echoes against how many the
question has, per per-example file of `trice eval --out`:
    /usr/bin/python3 echoes.py FILE.jsonl[.gz] ...
An echo is one "ECHO x,y F." step after "Start 0,0 N."; an instruction is one sentence of the
question after its first ("If you follow these instructions, ...?")."""
import collections
import gzip
import json
import re
import sys

for f in sys.argv[1:]:
    with (gzip.open(f, "rt") if f.endswith(".gz") else open(f)) as fh:
        rows = [json.loads(line) for line in fh]
    c = collections.Counter()
    for r in rows:
        instr = r["question"].split("?", 1)[1].split("\n")[0].count(".")
        echo = len(re.findall(r" \S+ -?\d+,-?\d+ [NESW]\.", r["output"]))
        c[(instr, echo)] += 1
    print(f, "accuracy %.3f" % (sum(r["correct"] for r in rows) / len(rows)),
          "(instructions, echoes): count", dict(sorted(c.items())))
