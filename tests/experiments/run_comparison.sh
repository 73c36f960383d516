#!/usr/bin/env bash
# The experiment of issue "TRICE engine": does TRICE beat its baselines here?
#
#   tests/experiments/run_comparison.sh [OUT_DIR] [JOBS]
#
# For each of 3 seeds: one supervised warm-up (program-written rationales of the easy
# setting, difficulty 1, of the built-in boolean_expressions task), then from that model
# trice, trice-nocv, star, rs (K = 4) and direct on the BBH setting (difficulty 0) with
# answer-only supervision, each stopped at the same budget of sampled tokens (direct samples
# nothing: it gets the step count trice reaches). Runs JOBS (default 2) at a time, single
# process each, then writes results.md and curves.png with report.py.
# Environment knobs: BUDGET (sampled tokens, 400000), SEEDS ("1 2 3"), WARM_STEPS (300),
# METHODS (the methods after trice: "trice-nocv star rs direct").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
OUT=${1:-$root/runs/comparison}
JOBS=${2:-2}
BUDGET=${BUDGET:-400000}
SEEDS=${SEEDS:-"1 2 3"}
WARM_STEPS=${WARM_STEPS:-300}
METHODS=${METHODS:-"trice-nocv star rs direct"}   # run after trice
cli="${TRICE_CLI:-$root/build/tests/engine/run_cli}"
[[ -x "$cli" ]] || { echo "build first: ./deploy/build.sh" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT"

common='"task": {"name": "boolean_expressions", "difficulty": 0, "n_train": 1000, "n_eval": 200},
  "batch_size": 16, "max_new_tokens": 128, "eval_every": 25, "checkpoint_every": 0'

warm() {  # seed
  local s=$1 d="$OUT/warm-$s"
  [[ -f "$d/result.json" ]] && return 0
  cat >"$OUT/warm-$s.json" <<JSON
{"name": "warm-$s", "seed": $s, "method": "sft", "memory_init": "given", "steps": $WARM_STEPS,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 1000, "n_eval": 200},
 "model": {"layers": 4, "heads": 4, "channels": 128, "context": 256},
 "batch_size": 16, "max_new_tokens": 128, "optim": {"lr": 0.002}}
JSON
  "$cli" train "$OUT/warm-$s.json" --out "$d" >"$d.log" 2>&1
}

method_spec() {  # seed method
  local s=$1 m=$2 extra
  case $m in
    trice|trice-nocv) extra='"memory_init": "sample", "init_tries": 2, "steps": 100000, "variance_probe": 4' ;;
    star) extra='"star_iterations": 20, "steps": 60, "temperature": 1.0' ;;
    rs) extra='"particles": 4, "steps": 100000' ;;
    direct) extra="\"steps\": $(direct_steps "$s")" ;;
  esac
  cat <<JSON
{"name": "$m-$s", "seed": $s, "method": "$m",
 "model": {"init": "$OUT/warm-$s/model.bin", "context": 256},
 $common, $extra, "max_sampled_tokens": $BUDGET,
 "optim": {"lr": 0.0002, "warmup_steps": 5}}
JSON
}

direct_steps() {  # the steps trice took for this seed
  sed -n 's/.*"steps": \([0-9]*\).*/\1/p' "$OUT/trice-$1/result.json" 2>/dev/null | head -1
}

run_one() {  # seed method
  local s=$1 m=$2 d="$OUT/$2-$1"
  [[ -f "$d/result.json" ]] && return 0
  method_spec "$s" "$m" >"$d.json"
  "$cli" train "$d.json" --out "$d" >"$d.log" 2>&1 || { echo "FAILED: $m seed $s (see $d.log)" >&2; return 1; }
  echo "done: $m seed $s: $(grep -o '"acc_after": [0-9.]*' "$d/result.json")"
}

# warm-ups, then trice first (direct needs its step count), then the rest, JOBS at a time
for s in $SEEDS; do warm "$s" & done; wait
for s in $SEEDS; do run_one "$s" trice & [[ $(jobs -r | wc -l) -ge $JOBS ]] && wait -n; done; wait
for m in $METHODS; do
  for s in $SEEDS; do
    run_one "$s" "$m" &
    while [[ $(jobs -r | wc -l) -ge $JOBS ]]; do wait -n; done
  done
done
wait
/usr/bin/python3 "$here/report.py" "$OUT"
