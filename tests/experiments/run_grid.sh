#!/usr/bin/env bash
# The comparison of issue "Models that actually reason", per task, at an equal budget of
# sampled tokens (tests/experiments/grid.py says what each run is):
#
#   tests/experiments/run_grid.sh TASK [OUT_DIR] [JOBS]
#
# TASK names deploy/recipes/TASK.json. For each seed: the recipe's rationale stages once
# (warm-S), its held-out accuracy at the target, then trice, star and direct (3 seeds), rs and
# trice-nocv (the first seed), and the supervised ceiling (the first seed). JOBS (default 2)
# single-threaded processes at a time. Resumable: a finished run (result.json) is skipped, an
# unfinished one continues from its last checkpoint, so the grid can be run in pieces (a stopped
# session, a killed job) and is stopped cleanly by SIGTERM/SIGINT. Ends with results.md and
# curves-TASK.png in OUT_DIR (default runs/grid/TASK).
# Knobs: SEEDS ("1 2 3"), ONE_SEED_METHODS ("rs trice-nocv sft-ceiling"), TRICE_CLI, RECIPE (the
# recipe file; default deploy/recipes/TASK.json; tests/experiments/grid-recipes/ holds recipes cut
# to the comparison's sampled-token budget, so that every run fits 15 minutes here).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
TASK=${1:?usage: run_grid.sh TASK [OUT_DIR] [JOBS]}
OUT=${2:-$root/runs/grid/$TASK}
JOBS=${3:-2}
SEEDS=${SEEDS:-"1 2 3"}
ONE_SEED_METHODS=${ONE_SEED_METHODS:-"rs trice-nocv sft-ceiling"}
recipe="${RECIPE:-$root/deploy/recipes/$TASK.json}"
cli="${TRICE_CLI:-$root/build/coordinator/cli/trice}"
py=/usr/bin/python3
[[ -f "$recipe" ]] || { echo "run_grid: no recipe $recipe" >&2; exit 2; }
[[ -x "$cli" ]] || { echo "run_grid: $cli not found: build first (./deploy/build.sh)" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT"
# Stopping: the training processes are signalled directly (a script started in the background
# ignores SIGINT, and so do its job subshells, so neither a trap on INT nor `kill -INT` of the
# jobs would reach them); the stop file keeps the pool from starting the next run meanwhile.
stop="$OUT/.stopping"
rm -f "$stop"
trap 'echo "run_grid: stopping (finished runs are kept; run again to go on)" >&2; touch "$stop"
      pkill -TERM -f -- "--out $OUT/" 2>/dev/null; wait; rm -f "$stop"; exit 130' INT TERM

n_eval=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["task"].get("n_eval", 200))' "$recipe")
max_new=$($py -c 'import json,sys; print(json.load(open(sys.argv[1])).get("max_new_tokens", 128))' "$recipe")

run_one() {  # seed method
  local s=$1 m=$2 d="$OUT/$2-$1" resume=()
  [[ -f "$d/result.json" ]] && return 0
  [[ -f "$stop" ]] && return 1
  $py "$here/grid.py" spec "$recipe" "$OUT" "$s" "$m" >"$d.json" || { echo "FAILED: spec of $m seed $s" >&2; return 1; }
  [[ -f "$d/experiment.json" ]] && resume=(--resume)
  echo "$(date -u +%H:%M:%S) start: $TASK $m seed $s ${resume[*]}"
  "$cli" train "$d.json" --out "$d" "${resume[@]}" >>"$d.log" 2>&1 && [[ -f "$d/result.json" ]] \
    || { echo "FAILED or stopped: $m seed $s (see $d.log)" >&2; return 1; }
  if [[ $m == warm ]]; then  # the warm-up model alone, at the target
    local line
    line=$("$cli" eval --checkpoint "$d/model.bin" --data "$TASK" --difficulty 0 --seed "$s" --n "$n_eval" \
           --max-new-tokens "$max_new" --out "$d/target-eval.jsonl" 2>&1 | tail -1)
    $py - "$line" "$d/target.json" <<'PY' || return 1
import json, re, sys
m = re.match(r"accuracy ([0-9.]+) \((\d+)/(\d+)\)", sys.argv[1])
if not m:
    sys.exit(f"run_grid: cannot read the evaluation: {sys.argv[1]}")
json.dump({"accuracy": float(m.group(1)), "correct": int(m.group(2)), "n_eval": int(m.group(3))}, open(sys.argv[2], "w"))
PY
  fi
  echo "$(date -u +%H:%M:%S) done: $TASK $m seed $s: $(grep -o '"acc_after": [0-9.]*' "$d/result.json")"
}

pool() {  # run "seed method" pairs, JOBS at a time
  for pair in "$@"; do
    [[ -f "$stop" ]] && break
    run_one $pair &
    while [[ $(jobs -r | wc -l) -ge $JOBS ]]; do wait -n; done
  done
  wait
}

first=${SEEDS%% *}
pairs=(); for s in $SEEDS; do pairs+=("$s warm"); done; pool "${pairs[@]}"
pairs=(); for s in $SEEDS; do pairs+=("$s trice"); done; pool "${pairs[@]}"   # direct and the ceiling need trice's steps
pairs=()
for m in star direct; do for s in $SEEDS; do pairs+=("$s $m"); done; done
for m in $ONE_SEED_METHODS; do pairs+=("$first $m"); done
pool "${pairs[@]}"
$py "$here/grid.py" report "$OUT"
