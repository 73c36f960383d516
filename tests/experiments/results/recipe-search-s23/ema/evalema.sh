#!/bin/bash
# evalema.sh TRICE SNAPDIR SEED: evaluate the last stage's EMA snapshots (the patch writes
# SNAPDIR/g<stage>-ema<decay>-s<update>.bin) on seed SEED's held-out set, 500 examples at the
# target, as ev-sSEED-ema<decay>.jsonl in the current folder.
set -eu
T=$1 dir=$2 s=$3
g=$(ls "$dir" | sed 's/-.*//' | sort -u | tail -1)
last=$(ls "$dir"/"$g"-ema0.99-s*.bin | sed 's/.*-s\([0-9]*\).bin/\1/' | sort -n | tail -1)
for d in 0.99 0.995 0.998 0.999; do
  OPENBLAS_NUM_THREADS=1 TRICE_THREADS=1 "$T" eval --checkpoint "$dir/$g-ema$d-s$last.bin" --data boolean_expressions \
    --difficulty 0 --seed "$s" --n 500 --max-new-tokens 200 --out "ev-s$s-ema$d.jsonl" 2>&1 |
    grep -i accuracy | sed "s/^/seed $s ema $d update $last: /"
done
