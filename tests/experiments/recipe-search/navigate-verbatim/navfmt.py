#!/usr/bin/env python3
"""Prototype: navigate rationales that echo each instruction verbatim (so the next one is
found by matching, and the stop is where the question's instructions end).
usage: navfmt.py TRICE DIFFICULTY N SEED SPLIT OUT.jsonl"""
import json, re, subprocess, sys

PRE = "If you follow these instructions, do you return to the starting point? "
SUF = "\nOptions:\n- Yes\n- No"

def questions(trice, d, n, seed, split):
    out = subprocess.run([trice, "data", "show", "navigate", "--difficulty", str(d), "--n", str(n),
                          "--seed", str(seed), "--split", split], capture_output=True, text=True, check=True).stdout
    for block in out.split("=== navigate example id ")[1:]:
        m = re.search(r"--- prompt \(\d+ bytes\)\nQ: (.*?)\nA: Let's think step by step\.\n", block, re.S)
        a = re.search(r"--- answer: (\S+)", block)
        yield m.group(1), a.group(1)

def rationale(q):
    assert q.startswith(PRE) and q.endswith(SUF)
    body = q[len(PRE):-len(SUF)]
    sents = [s.strip() + "." for s in body.split(".") if s.strip()]
    x = y = 0; hx, hy = 0, 1
    lines = ["Start 0,0 N."]
    for s in sents:
        t = s[:-1]
        if t == "Turn left": hx, hy = -hy, hx
        elif t == "Turn right": hx, hy = hy, -hx
        elif t == "Turn around": hx, hy = -hx, -hy
        elif t == "Always face forward": pass
        else:
            w = t.split()
            k = int(w[1]); d = w[3] if len(w) > 3 else "forward"
            mx, my = {"forward": (hx, hy), "backward": (-hx, -hy), "left": (-hy, hx), "right": (hy, -hx)}[d]
            x += mx * k; y += my * k
        f = "N" if hy == 1 else "S" if hy == -1 else "E" if hx == 1 else "W"
        lines.append(f"{s} {x},{y} {f}.")
    home = x == 0 and y == 0
    lines.append(("At 0,0. So the answer is Yes." if home else "Not 0,0. So the answer is No."))
    return "\n".join(lines), "Yes" if home else "No"

if __name__ == "__main__":
    trice, d, n, seed, split, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    with open(out, "w") as f:
        mx = 0
        for q, a in questions(trice, d, n, seed, split):
            r, a2 = rationale(q)
            assert a == a2, (q, a, a2)
            mx = max(mx, len(q) + len(r))
            f.write(json.dumps({"question": q, "answer": a, "rationale": r}) + "\n")
    print("max q+r bytes", mx, file=sys.stderr)
