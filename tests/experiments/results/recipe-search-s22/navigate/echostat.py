#!/usr/bin/env python3
"""Per-line counts of navigate outputs in navcheck.py's formats:
  echo right    the line starts with the question's instruction;
  line exact    the whole line (echo and state) is right;
and, for --v3/--v4 (whose lines restate the previous state before the new one), among the
lines whose echo is right:
  restate true  the restated state is the true previous state;
  restate copy  it is a faithful copy of the state the line above wrote (right or not).
usage: echostat.py RESULTS.jsonl[.gz] ... [--v3|--v4]"""
import gzip, json, os, sys
from collections import Counter
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from navcheck import V3, V4, expected, split_output   # navcheck reads --v3/--v4 itself

SEP, PRE = ("=", "| ") if V4 else (">", " ")

def restate(line, sent):
    """The restated state of a v3/v4 line that starts with sent, or None."""
    rest = line[len(sent):]
    rest = rest[len(PRE):] if rest.startswith(PRE) else rest
    return rest.split(SEP)[0] if SEP in rest else None

def written(line):
    """The new state a v3/v4 line wrote, or None."""
    return line.split(SEP, 1)[1].rstrip(";") if SEP in line else None

for path in [a for a in sys.argv[1:] if not a.startswith("--")]:
    op = gzip.open if path.endswith(".gz") else open
    echo, exact, tot, rs_true, rs_copy, rs_tot = (Counter() for _ in range(6))
    for l in op(path, "rt"):
        r = json.loads(l)
        exp, sents = expected(r["question"])
        got = split_output(r["output"])
        for k, s in enumerate(sents, 1):
            tot[k] += 1
            if k >= len(got) or not got[k].startswith(s):
                continue
            echo[k] += 1
            exact[k] += got[k] == exp[k]
            if V3 and k >= 2:
                g = restate(got[k], s)
                rs_tot[k] += 1
                rs_true[k] += g is not None and g == restate(exp[k], s)
                rs_copy[k] += g is not None and g == written(got[k - 1])
    ks = sorted(tot)
    print(path, "echo right by line:", " ".join("%d:%d/%d" % (k, echo[k], tot[k]) for k in ks),
          "| line exact:", " ".join("%d:%d" % (k, exact[k]) for k in ks))
    if V3:
        rk = sorted(rs_tot)
        print("  restate true:", " ".join("%d:%d/%d" % (k, rs_true[k], rs_tot[k]) for k in rk),
              "| restate copy:", " ".join("%d:%d/%d" % (k, rs_copy[k], rs_tot[k]) for k in rk))
