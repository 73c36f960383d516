"""Write the 50/50 mix of multistep_arithmetic_two difficulties 1 and 2 (2 and 3 numbers per
bracket, with their program-written rationales) as generic JSONL, for arMix's SFT stage:

    /usr/bin/python3 mkmix.py TRICE_CLI mix12.jsonl 15000

(15,000 examples of each; seeds 11 and 12, shuffled with seed 5). It parses `trice data show`."""
import json
import random
import re
import subprocess
import sys

cli, out_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
for d in (1, 2):
    txt = subprocess.run([cli, "data", "show", "multistep_arithmetic_two", "--difficulty", str(d), "--n", str(n),
                          "--seed", str(10 + d)], capture_output=True, text=True, check=True).stdout
    for blk in txt.split("=== multistep_arithmetic_two example id ")[1:]:
        q = re.search(r"--- prompt \(\d+ bytes\)\nQ: (.*)\nA: Let's think step by step.\n", blk).group(1)
        rat = re.search(r"--- rationale \([^)]*\)\n(.*?)\n--- c\(z, y\)", blk, re.S).group(1)
        ans = re.search(r"--- answer: (.*)\n", blk).group(1)
        rows.append((d, q, rat, ans))
random.Random(5).shuffle(rows)
with open(out_path, "w") as out:
    for d, q, rat, ans in rows:
        out.write(json.dumps({"question": q, "rationale": rat, "answer": ans}) + "\n")
print(len(rows), "examples,", sum(1 for r in rows if r[0] == 1), "of them difficulty 1")
