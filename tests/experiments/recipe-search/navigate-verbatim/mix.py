#!/usr/bin/env python3
"""Shuffle JSONL files into one (a two-task SFT stage): mix.py SEED OUT IN..."""
import random
import sys

seed, out, ins = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
lines = [l for p in ins for l in open(p).read().splitlines() if l.strip()]
random.Random(seed).shuffle(lines)
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"{len(lines)} lines -> {out}", file=sys.stderr)
