#!/usr/bin/env python3
"""Dump built-in dyck_languages examples (question, answer, rationale) as jsonl: dyckjsonl.py TRICE D N OUT"""
import json, re, subprocess, sys
trice, d, n, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
txt = subprocess.run([trice, "data", "show", "dyck_languages", "--difficulty", d, "--n", n], capture_output=True, text=True, check=True).stdout
mx = 0
with open(out, "w") as f:
    for block in txt.split("=== dyck_languages example id ")[1:]:
        q = re.search(r"--- prompt \(\d+ bytes\)\nQ: (.*?)\nA: Let's think step by step\.\n", block, re.S).group(1)
        r = re.search(r"--- rationale \(\d+ bytes; prompt \+ it = (\d+)\)\n(.*?)\n--- c\(z, y\)", block, re.S)
        a = re.search(r"--- answer: (.*)\n", block).group(1)
        mx = max(mx, int(r.group(1)))
        f.write(json.dumps({"question": q, "answer": a, "rationale": r.group(2)}) + "\n")
print("max prompt+rationale", mx, file=sys.stderr)
