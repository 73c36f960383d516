#!/usr/bin/env python3
"""Check navigate outputs of session 22's formats against an independent simulation of the
walk, re-derived from the question text (not from the generator's code).
usage: navcheck.py RESULTS.jsonl[.gz] [--v3|--v4] [--show K]
  (no flag: v1 / v1 tail; --v3: restate>state; --v4: echo| restate=state)"""
import gzip, json, re, sys
from collections import Counter

PRE = "If you follow these instructions, do you return to the starting point?"
DX = {'N': (0, 1), 'E': (1, 0), 'S': (0, -1), 'W': (-1, 0)}
ORDER = "NESW"

V4 = "--v4" in sys.argv
V3 = "--v3" in sys.argv or V4

def expected(question):
    body = question.split("\n")[0][len(PRE):].strip()
    sents = [s.strip() + "." for s in body.split(".") if s.strip()]
    x = y = 0; f = 'N'
    parts = [PRE + ("| =0,0 N;" if V4 else " >0,0 N;" if V3 else " 0,0 N;")]
    for s in sents:
        px, py, pf = x, y, f
        m = re.fullmatch(r"Take (\d+) steps?( (forward|backward|left|right))?\.", s)
        if s == "Turn left.": f = ORDER[(ORDER.index(f) + 3) % 4]
        elif s == "Turn right.": f = ORDER[(ORDER.index(f) + 1) % 4]
        elif s == "Turn around.": f = ORDER[(ORDER.index(f) + 2) % 4]
        elif s == "Always face forward.": pass
        elif m:
            n = int(m.group(1)); rel = m.group(3) or "forward"
            d = ORDER[(ORDER.index(f) + {"forward": 0, "right": 1, "backward": 2, "left": 3}[rel]) % 4]
            x += DX[d][0] * n; y += DX[d][1] * n
        else:
            raise ValueError("unknown instruction %r" % s)
        if V4: st = "%d,%d %s=%d,%d %s;" % (px, py, pf, x, y, f)
        elif V3: st = "%d,%d %s>%d,%d %s;" % (px, py, pf, x, y, f)
        elif x != px: st = "%d%+d=%d,%d %s;" % (px, x - px, x, y, f)
        elif y != py: st = "%d,%d%+d=%d %s;" % (x, py, y - py, y, f)
        else: st = "%d,%d %s;" % (x, y, f)
        parts.append(s + ("| " if V4 else " ") + st)
    home = x == 0 and y == 0
    parts.append(("%s 0,0 so the answer is %s." if V3 else "%s 0,0. So the answer is %s.") % ("At" if home else "Not", "Yes" if home else "No"))
    return parts, sents

def split_output(out):
    # segments end at ';' (hold end); the last segment is the verdict
    segs = [s.strip() for s in out.split(";")]
    if "- No\n" in segs[-1]: segs[-1] = segs[-1].split("- No\n", 1)[1].strip()
    return [s + ";" for s in segs[:-1]] + [segs[-1]]

def main():
    path = sys.argv[1]; show = int(sys.argv[sys.argv.index("--show") + 1]) if "--show" in sys.argv else 0
    op = gzip.open if path.endswith(".gz") else open
    rows = [json.loads(l) for l in op(path, "rt")]
    stats = Counter(); by_n = {}
    shown = 0
    for r in rows:
        exp, sents = expected(r["question"])
        got = split_output(r["output"])
        n = len(sents)
        b = by_n.setdefault(n, Counter()); b["n"] += 1; b["correct"] += r["correct"]
        exact = got == exp
        first_bad = next((i for i in range(max(len(exp), len(got))) if i >= len(exp) or i >= len(got) or got[i] != exp[i]), None)
        kind = "exact" if exact else ("count" if len(got) != len(exp) else "content")
        stats[kind] += 1; b[kind] += 1
        b["lines"] += len(got) - 2
        if not exact and shown < show:
            shown += 1
            print("---", r["question"].split("\n")[0][len(PRE):])
            print(" want:", exp[first_bad] if first_bad < len(exp) else "(end)")
            print(" got: ", got[first_bad] if first_bad < len(got) else "(end)", "| lines", len(got) - 2, "of", n)
    print("examples %d, accuracy %.3f, exact rationales %d, wrong count of lines %d, right count but wrong content %d"
          % (len(rows), sum(r["correct"] for r in rows) / len(rows), stats["exact"], stats["count"], stats["content"]))
    for n in sorted(by_n):
        b = by_n[n]
        print("  %d instructions: %3d ex, acc %.2f, exact %3d, line count wrong %3d, mean lines %.1f" % (
            n, b["n"], b["correct"] / b["n"], b["exact"], b["count"], b["lines"] / b["n"]))

if __name__ == "__main__":
    main()
