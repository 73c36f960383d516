"""Write a shuffled mix of built-in generator examples (question, program-written rationale,
answer) as generic JSONL, for a multi-task rationale stage:

    /usr/bin/python3 mkmt.py TRICE_CLI OUT.jsonl SEED TASK:DIFFICULTY:N [TASK:DIFFICULTY:N ...]

Each part is drawn with `trice data show TASK --difficulty D --n N --seed SEED+k` (k = the
part's index) and parsed; the whole is shuffled with SEED."""
import json
import random
import re
import subprocess
import sys

cli, out_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
for k, part in enumerate(sys.argv[4:]):
    task, d, n = part.split(":")
    txt = subprocess.run([cli, "data", "show", task, "--difficulty", d, "--n", n, "--seed", str(seed + k)],
                         capture_output=True, text=True, check=True).stdout
    got = 0
    for blk in txt.split("=== %s example id " % task)[1:]:
        q = re.search(r"--- prompt \(\d+ bytes\)\nQ: (.*?)\nA: Let's think step by step.\n", blk, re.S).group(1)
        rat = re.search(r"--- rationale \([^)]*\)\n(.*?)\n--- c\(z, y\)", blk, re.S).group(1)
        ans = re.search(r"--- answer: (.*)\n", blk).group(1)
        rows.append((part, q, rat, ans))
        got += 1
    print(part, got, "examples")
random.Random(seed).shuffle(rows)
with open(out_path, "w") as out:
    for _, q, rat, ans in rows:
        out.write(json.dumps({"question": q, "rationale": rat, "answer": ans}) + "\n")
print(len(rows), "examples in all")
