#!/usr/bin/env bash
# The data plane (issue 16 item 3): gradients and parameters stay among the workers.
#  1. bytes through rank 0 per step (metrics bytes_moved) are the same for two model sizes,
#     and far below one copy of the parameters, while the workers' own bytes (bytes_worker)
#     grow with the model;
#     A checkpoint moves no more through rank 0 for the bigger model: the workers write the
#     parameters and their optimiser shards themselves;
#  2. a checkpoint resumed with another W (2 -> 3) continues bit for bit: parameters, optimiser
#     state and memory at the end equal an uninterrupted W = 2 run's. Each worker wrote its
#     optimiser shard and the manifest names them; a damaged shard makes the resume fall back
#     to the previous checkpoint, naming the file, and the run still ends with the same bits;
#  3. STaR, whose every outer iteration pushes the base parameters and a fresh optimiser to
#     the workers: in process, W = 2, and W = 2 resumed inside its second iteration with W = 3
#     end with the same bits.
source "$(dirname "$0")/lib.sh"
CMP="$BUILD/tests/integration/cmp_model"
CMPOPT="$BUILD/tests/integration/cmp_optim"

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
spec big 2 128 4 0 sft >"$TMP/large.json"
run 2 "$TMP/small" --run "$TMP/small.json" || { fail "small-model run failed"; tail -20 "$TMP/small.log"; }
run 2 "$TMP/large" --run "$TMP/large.json" || { fail "big-model run failed"; tail -20 "$TMP/large.log"; }
ps=$(params "$TMP/small.log"); pb=$(params "$TMP/large.log")
field "$TMP/small/metrics.jsonl" bytes_moved >"$TMP/small.r0"
field "$TMP/large/metrics.jsonl" bytes_moved >"$TMP/large.r0"
if [[ -n "$ps" && -n "$pb" && "$pb" -gt $((8 * ps)) ]]; then ok "models of $ps and $pb parameters"
else fail "model sizes: '$ps' and '$pb' parameters (the big one should be much bigger)"; fi
max0=$(sort -n "$TMP/large.r0" | tail -1)
if [[ $(wc -l <"$TMP/small.r0") == 4 ]] && cmp -s "$TMP/small.r0" "$TMP/large.r0" && [[ -n "$max0" && "$max0" -gt 0 ]] \
   && (( max0 * 4 < ps )); then
  ok "bytes through rank 0 per step do not depend on the model: $(tr '\n' ' ' <"$TMP/large.r0")for $ps and $pb parameters"
else fail "bytes through rank 0 per step: small $(tr '\n' ' ' <"$TMP/small.r0")big $(tr '\n' ' ' <"$TMP/large.r0")"; fi
# the final checkpoint (the only one: checkpoint_every 0) of each run (folder names of one
# length: the step folder's path is broadcast)
ckpt_bytes() { sed -n 's/.*checkpoint: .* (4 steps done, \([0-9]*\) bytes through the coordinator).*/\1/p' "$1"; }
cs=$(ckpt_bytes "$TMP/small.log"); cb=$(ckpt_bytes "$TMP/large.log")
if [[ -n "$cs" && "$cs" == "$cb" ]] && (( cs * 4 < ps )); then
  ok "bytes through rank 0 at a checkpoint do not depend on the model: $cs for $ps and $cb for $pb parameters"
else fail "bytes through rank 0 at a checkpoint: '$cs' for $ps parameters, '$cb' for $pb"; fi
ws=$(field "$TMP/small/metrics.jsonl" bytes_worker | sort -n | tail -1)
wb=$(field "$TMP/large/metrics.jsonl" bytes_worker | sort -n | tail -1)
# each worker of 2 sends and receives half of the 16-byte fixed-point sum each way
if [[ -n "$ws" && -n "$wb" ]] && (( ws >= 16 * ps && wb >= 16 * pb )); then
  ok "the workers carry the gradient among themselves: at most $ws and $wb bytes per worker per step"
else fail "bytes per worker: '$ws' (small, $ps parameters) and '$wb' (big, $pb parameters)"; fi

# 2. W = 2 for 8 steps, checkpoints at 4 and 8; the step-4 checkpoint resumed with W = 3
spec resume 2 64 8 4 trice >"$TMP/resume.json"
run 2 "$TMP/ref" --run "$TMP/resume.json" || { fail "uninterrupted W=2 run failed"; tail -20 "$TMP/ref.log"; }
c4="$TMP/ref/checkpoints/step-00000004"
have=0
for f in model.bin memory.bin manifest.json optim-00001-of-00002.bin optim-00002-of-00002.bin; do
  [[ -s "$c4/$f" ]] && { [[ $f == manifest.json ]] || grep -q "\"$f\"" "$c4/manifest.json"; } && have=$((have + 1))
done
if [[ $have == 5 && ! -e "$c4/state.bin" ]] && grep -q '"workers": 2' "$c4/manifest.json"; then
  ok "a W=2 checkpoint: one optimiser shard per worker, model and memory, all named in manifest.json"
else fail "W=2 checkpoint files: $(ls "$c4" | tr '\n' ' ')"; fi
cp -r "$TMP/ref" "$TMP/cut"
cp -r "$TMP/ref" "$TMP/dmg"
rm -rf "$TMP/cut/checkpoints/step-00000008" "$TMP/cut/model.bin" "$TMP/cut/result.json"
echo "step-00000004" >"$TMP/cut/checkpoints/latest"
run 3 "$TMP/cut.r" --resume "$TMP/cut" || { fail "resume with W=3 failed"; tail -20 "$TMP/cut.r.log"; }
grep -q "resumed from .*step-00000004" "$TMP/cut.r.log" && ok "resumed from step 4 with W=3" || fail "did not resume from step 4"
a="$TMP/ref/checkpoints/step-00000008" b="$TMP/cut/checkpoints/step-00000008"
if out=$("$CMP" "$TMP/ref/model.bin" "$TMP/cut/model.bin") && oout=$("$CMPOPT" "$a" "$b") \
   && cmp -s "$a/memory.bin" "$b/memory.bin" && cmp -s "$a/model.bin" "$b/model.bin"; then
  ok "W=2 checkpoint resumed with W=3: model, optimiser state and memory bit-identical to the W=2 run ($out; $oout)"
else fail "resume with another W is not bit-identical: $out ${oout:-}"; fi
[[ -s "$b/optim-00003-of-00003.bin" ]] && grep -q '"workers": 3' "$b/manifest.json" \
  && ok "the W=3 run wrote 3 optimiser shards" || fail "W=3 checkpoint files: $(ls "$b" | tr '\n' ' ')"
# and the loss per step after the resume matches (8 lines each: not an empty comparison)
losses() { sed -n 's/.*"step":\([0-9]*\),.*"loss":\([^,]*\),.*/\1 \2/p' "$1"; }
if [[ $(losses "$TMP/ref/metrics.jsonl" | wc -l) == 8 ]] && diff <(losses "$TMP/ref/metrics.jsonl") <(losses "$TMP/cut/metrics.jsonl") >/dev/null; then
  ok "the loss at every step matches the uninterrupted run"
else fail "losses differ after the resume"; fi

# a damaged shard in the newest checkpoint: resume falls back to step 4, naming the file, and
# the run still ends with the uninterrupted run's bits
rm -f "$TMP/dmg/model.bin" "$TMP/dmg/result.json"
shard="$TMP/dmg/checkpoints/step-00000008/optim-00002-of-00002.bin"
printf '\x7f' | dd of="$shard" bs=1 seek=100 conv=notrunc status=none
run 3 "$TMP/dmg.r" --resume "$TMP/dmg" || { fail "resume past a damaged shard failed"; tail -20 "$TMP/dmg.r.log"; }
if grep -q "step-00000008 is unusable: .*optim-00002-of-00002.bin" "$TMP/dmg.r.log" \
   && grep -q "resuming from .*step-00000004, the newest usable checkpoint" "$TMP/dmg.r.log" \
   && out=$("$CMP" "$TMP/ref/model.bin" "$TMP/dmg/model.bin") \
   && oout=$("$CMPOPT" "$a" "$TMP/dmg/checkpoints/step-00000008"); then
  ok "a damaged shard: '$(grep -o 'optim-00002-of-00002.bin: [^(]*' "$TMP/dmg.r.log" | head -1)'; resumed from step 4 and ended bit-identical ($out; $oout)"
else fail "resume past a damaged shard"; grep -i "unusable\|resum" "$TMP/dmg.r.log" | head -5; fi

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
     && "$CMPOPT" "$TMP/star2/checkpoints/step-00000008" "$TMP/scut/checkpoints/step-00000008" >/dev/null; then
    ok "STaR resumed inside its second iteration with W=3: parameters and optimiser state bit-identical ($out)"
  else fail "STaR resume with W=3: $out"; tail -5 "$TMP/scut.r.log"; fi
else fail "STaR runs failed"; tail -5 "$TMP/swarm.log" "$TMP/slocal.log" "$TMP/star2.log" 2>/dev/null; fi

finish
