#!/usr/bin/env bash
# The data plane (issue 16 item 3): gradients and parameters stay among the workers.
#  1. bytes through rank 0 per step (metrics bytes_moved) are the same for two model sizes,
#     and far below one copy of the parameters, while the workers' own bytes (bytes_worker)
#     grow with the model;
#  2. a checkpoint resumed with another W (2 -> 3) continues bit for bit: parameters, optimiser
#     state and memory at the end equal an uninterrupted W = 2 run's;
#  3. STaR, whose every outer iteration pushes the base parameters and a fresh optimiser to
#     the workers: in process, W = 2, and W = 2 resumed inside its second iteration with W = 3
#     end with the same bits.
source "$(dirname "$0")/lib.sh"
CMP="$BUILD/tests/integration/cmp_model"

spec() {  # spec NAME LAYERS CHANNELS STEPS CKPT_EVERY METHOD
  cat <<JSON
{"name": "$1", "seed": 9, "method": "$6", "memory_init": "given",
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 48, "n_eval": 8},
 "model": {"layers": $2, "heads": 2, "channels": $3, "context": 128}, "max_new_tokens": 48,
 "steps": $4, "batch_size": 8, "checkpoint_every": $5, "keep_checkpoints": 5,
 "optim": {"lr": 0.001}}
JSON
}
run() {  # run W OUT [coordinator args...]
  local W=$1 out=$2; shift 2
  timeout 300 mpirun -n 1 "$COORD" --out "$out" "$@" : -n "$W" "$WORKER" >"$out.log" 2>&1
}
field() {  # field METRICS NAME: the integer field per line
  sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
}
params() {  # params LOG: the parameter count a worker reported
  sed -n 's/.*ready: [0-9]* training examples in this shard, \([0-9]*\) parameters.*/\1/p' "$1" | head -1
}

# 1. two model sizes, W = 2, supervised steps (every step has a gradient and an update, and the
#    same number of terms whatever the model): the same bytes through rank 0 at every step
spec small 1 32 4 0 sft >"$TMP/small.json"
spec big 2 128 4 0 sft >"$TMP/big.json"
run 2 "$TMP/small" --run "$TMP/small.json" || { fail "small-model run failed"; tail -20 "$TMP/small.log"; }
run 2 "$TMP/big" --run "$TMP/big.json" || { fail "big-model run failed"; tail -20 "$TMP/big.log"; }
ps=$(params "$TMP/small.log"); pb=$(params "$TMP/big.log")
field "$TMP/small/metrics.jsonl" bytes_moved >"$TMP/small.r0"
field "$TMP/big/metrics.jsonl" bytes_moved >"$TMP/big.r0"
if [[ -n "$ps" && -n "$pb" && "$pb" -gt $((8 * ps)) ]]; then ok "models of $ps and $pb parameters"
else fail "model sizes: '$ps' and '$pb' parameters (the big one should be much bigger)"; fi
max0=$(sort -n "$TMP/big.r0" | tail -1)
if [[ $(wc -l <"$TMP/small.r0") == 4 ]] && cmp -s "$TMP/small.r0" "$TMP/big.r0" && [[ -n "$max0" && "$max0" -gt 0 ]] \
   && (( max0 * 4 < ps )); then
  ok "bytes through rank 0 per step do not depend on the model: $(tr '\n' ' ' <"$TMP/big.r0")for $ps and $pb parameters"
else fail "bytes through rank 0 per step: small $(tr '\n' ' ' <"$TMP/small.r0")big $(tr '\n' ' ' <"$TMP/big.r0")"; fi
ws=$(field "$TMP/small/metrics.jsonl" bytes_worker | sort -n | tail -1)
wb=$(field "$TMP/big/metrics.jsonl" bytes_worker | sort -n | tail -1)
# each worker of 2 sends and receives half of the 16-byte fixed-point sum each way
if [[ -n "$ws" && -n "$wb" ]] && (( ws >= 16 * ps && wb >= 16 * pb )); then
  ok "the workers carry the gradient among themselves: at most $ws and $wb bytes per worker per step"
else fail "bytes per worker: '$ws' (small, $ps parameters) and '$wb' (big, $pb parameters)"; fi

# 2. W = 2 for 8 steps, checkpoints at 4 and 8; the step-4 checkpoint resumed with W = 3
spec resume 2 64 8 4 trice >"$TMP/resume.json"
run 2 "$TMP/ref" --run "$TMP/resume.json" || { fail "uninterrupted W=2 run failed"; tail -20 "$TMP/ref.log"; }
cp -r "$TMP/ref" "$TMP/cut"
rm -rf "$TMP/cut/checkpoints/step-00000008" "$TMP/cut/model.bin" "$TMP/cut/result.json"
echo "step-00000004" >"$TMP/cut/checkpoints/latest"
run 3 "$TMP/cut.r" --resume "$TMP/cut" || { fail "resume with W=3 failed"; tail -20 "$TMP/cut.r.log"; }
grep -q "resumed from .*step-00000004" "$TMP/cut.r.log" && ok "resumed from step 4 with W=3" || fail "did not resume from step 4"
a="$TMP/ref/checkpoints/step-00000008" b="$TMP/cut/checkpoints/step-00000008"
if out=$("$CMP" "$TMP/ref/model.bin" "$TMP/cut/model.bin") && cmp -s "$a/state.bin" "$b/state.bin" \
   && cmp -s "$a/memory.bin" "$b/memory.bin" && cmp -s "$a/model.bin" "$b/model.bin"; then
  ok "W=2 checkpoint resumed with W=3: model, optimiser state and memory bit-identical to the W=2 run ($out)"
else fail "resume with another W is not bit-identical: $out"; fi
# and the loss per step after the resume matches (8 lines each: not an empty comparison)
losses() { sed -n 's/.*"step":\([0-9]*\),.*"loss":\([^,]*\),.*/\1 \2/p' "$1"; }
if [[ $(losses "$TMP/ref/metrics.jsonl" | wc -l) == 8 ]] && diff <(losses "$TMP/ref/metrics.jsonl") <(losses "$TMP/cut/metrics.jsonl") >/dev/null; then
  ok "the loss at every step matches the uninterrupted run"
else fail "losses differ after the resume"; fi

# 3. STaR from a model warmed up once (in process)
RUNCLI="$BUILD/tests/engine/run_cli"
cat >"$TMP/swarm.json" <<JSON
{"name": "swarm", "seed": 3, "method": "sft", "memory_init": "given", "steps": 400, "batch_size": 12,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 96, "n_eval": 16},
 "model": {"layers": 2, "heads": 2, "channels": 64, "context": 160}, "max_new_tokens": 80, "optim": {"lr": 0.001}}
JSON
cat >"$TMP/star.json" <<JSON
{"name": "st", "seed": 3, "method": "star", "memory_init": "hint", "star_iterations": 2, "steps": 4, "batch_size": 12,
 "checkpoint_every": 3, "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 96, "n_eval": 16},
 "model": {"init": "$TMP/swarm/model.bin", "context": 160}, "max_new_tokens": 80, "optim": {"lr": 0.001}}
JSON
if "$RUNCLI" train "$TMP/swarm.json" --out "$TMP/swarm" >"$TMP/swarm.log" 2>&1 \
   && "$RUNCLI" train "$TMP/star.json" --out "$TMP/slocal" >"$TMP/slocal.log" 2>&1 \
   && run 2 "$TMP/star2" --run "$TMP/star.json"; then
  it=$(grep -c "STaR iteration [12]: [1-9][0-9]* of" "$TMP/star2.log")
  [[ "$it" == 2 ]] && ok "STaR: 2 outer iterations, each with kept rationales" || fail "STaR iterations: '$it' with rationales"
  if out=$("$CMP" "$TMP/slocal/model.bin" "$TMP/star2/model.bin"); then ok "STaR in process and with W=2: $out"
  else fail "STaR in process against W=2: $out"; fi
  cp -r "$TMP/star2" "$TMP/scut"
  rm -rf "$TMP/scut/checkpoints/step-00000008" "$TMP/scut/model.bin" "$TMP/scut/result.json"
  echo "step-00000006" >"$TMP/scut/checkpoints/latest"
  if run 3 "$TMP/scut.r" --resume "$TMP/scut" && out=$("$CMP" "$TMP/star2/model.bin" "$TMP/scut/model.bin") \
     && cmp -s "$TMP/star2/checkpoints/step-00000008/state.bin" "$TMP/scut/checkpoints/step-00000008/state.bin"; then
    ok "STaR resumed inside its second iteration with W=3: parameters and optimiser state bit-identical ($out)"
  else fail "STaR resume with W=3: $out"; tail -5 "$TMP/scut.r.log"; fi
else fail "STaR runs failed"; tail -5 "$TMP/swarm.log" "$TMP/slocal.log" "$TMP/star2.log" 2>/dev/null; fi

finish
