#!/usr/bin/env bash
# Distributed training under mpirun: W-independence, determinism, stop and exact resume,
# re-sharding on resume, corrupt checkpoints, a killed worker and the launcher's restart.
source "$(dirname "$0")/lib.sh"
CMP="$BUILD/tests/integration/cmp_model"
RUNCLI="$BUILD/tests/engine/run_cli"

# A small model warmed up once (single process) so that proposals are sometimes right.
warm_spec 250 >"$TMP/warm.json"
"$RUNCLI" train "$TMP/warm.json" --out "$TMP/warm" >"$TMP/warm.log" 2>&1 || { cat "$TMP/warm.log"; fail "warm-up"; finish; }

spec() { trice_spec dist "$TMP/warm/model.bin" "$1" "$2"; }  # spec STEPS CKPT_EVERY
spec 10 0 >"$TMP/s10.json"
run() {  # run W OUT [extra coordinator args...]
  local W=$1 out=$2; shift 2
  timeout 300 mpirun -n 1 "$COORD" --out "$out" "$@" : -n "$W" "$WORKER" >"$out.log" 2>&1
}

for W in 1 2 3; do
  run "$W" "$TMP/w$W" --run "$TMP/s10.json" || { fail "W=$W run failed"; tail -20 "$TMP/w$W.log"; }
done
run 2 "$TMP/w2b" --run "$TMP/s10.json" || fail "second W=2 run failed"

acc=$(grep -c '"step"' "$TMP/w1/metrics.jsonl" 2>/dev/null)
[[ "$acc" == 10 ]] && ok "10 steps logged" || fail "expected 10 metric lines, got $acc"
grep -q '"proposal_acc":0\.[0-9]*[1-9]' "$TMP/w1/metrics.jsonl" && ok "some proposals were accepted (the test exercises accept/reject)" \
  || fail "no proposal was ever accepted: the W comparison would be vacuous"
# the proposals themselves, step by step: the same samples (sample_digest hashes every sampled
# sequence's tokens and the bits of its log-probability, so one bit of one logit shows), the
# same count of sampled tokens and the same accept rate for W = 1, 2 and 3, on a spec that
# accepts proposals at most steps (batched decoding must not depend on the batch)
perstep "$TMP/w1/metrics.jsonl" >"$TMP/w1.steps"
accepting=$(awk '$5 > 0' "$TMP/w1.steps" | wc -l)
[[ "$accepting" -ge 7 ]] && ok "proposals accepted at $accepting of 10 steps" \
  || fail "proposals accepted at only '$accepting' of 10 steps: the per-step comparison would be weak"
for W in 2 3; do
  perstep "$TMP/w$W/metrics.jsonl" >"$TMP/w$W.steps"
  if [[ $(wc -l <"$TMP/w1.steps") == 10 ]] && cmp -s "$TMP/w1.steps" "$TMP/w$W.steps"; then
    ok "W=1 and W=$W: the same samples (tokens and log-probability bits), tokens sampled and trained, and accept rate at each of 10 steps"
  else fail "W=1 and W=$W: samples differ per step (step tokens_sampled tokens_trained sample_digest proposal_acc)"; diff "$TMP/w1.steps" "$TMP/w$W.steps" | head -6; fi
done
# threads (TRICE_THREADS) split each batch of proposals and each step's gradient terms
TRICE_THREADS=2 run 1 "$TMP/w1t2" --run "$TMP/s10.json" || fail "W=1 run with 2 threads failed"
perstep "$TMP/w1t2/metrics.jsonl" >"$TMP/w1t2.steps"
if cmp -s "$TMP/w1.steps" "$TMP/w1t2.steps" && "$CMP" "$TMP/w1/model.bin" "$TMP/w1t2/model.bin" >/dev/null; then
  ok "W=1 with 2 threads: the same samples at each step and bit-identical parameters"
else fail "2 threads changed the run"; diff "$TMP/w1.steps" "$TMP/w1t2.steps" | head -4; fi
# bf16 decoding (sample_bf16) keeps every row alone too, and the bf16 gradient products
# (train_bf16) are deterministic: W = 1 and 3 draw the same samples and end with the same
# parameters, and the samples are not the fp32 ones (the flags are used)
sed 's/^{"name": "dist",/{"name": "dist", "sample_bf16": true, "train_bf16": true,/' "$TMP/s10.json" >"$TMP/s10bf.json"
grep -q '"train_bf16": true' "$TMP/s10bf.json" || fail "could not write the bf16 spec"
for W in 1 3; do
  run "$W" "$TMP/bf$W" --run "$TMP/s10bf.json" || { fail "bf16 W=$W run failed"; tail -20 "$TMP/bf$W.log"; }
  perstep "$TMP/bf$W/metrics.jsonl" >"$TMP/bf$W.steps"
done
if [[ $(wc -l <"$TMP/bf1.steps") == 10 ]] && cmp -s "$TMP/bf1.steps" "$TMP/bf3.steps" && "$CMP" "$TMP/bf1/model.bin" "$TMP/bf3/model.bin" >/dev/null; then
  ok "bf16 decoding and gradients, W=1 and W=3: the same samples at each of 10 steps and bit-identical parameters"
else fail "bf16: W=1 and W=3 differ"; diff "$TMP/bf1.steps" "$TMP/bf3.steps" | head -4; fi
if ! cmp -s "$TMP/w1.steps" "$TMP/bf1.steps"; then ok "bf16 decoding draws other samples than fp32 (the flag reaches the sampler)"
else fail "sample_bf16 changed no sample: the flag is not used"; fi
grep -q "decodes with bfloat16 weights" "$TMP/bf1.log" && grep -q "gradient passes multiply in bfloat16" "$TMP/bf1.log" \
  && ok "the log says that sampling and gradients use bf16" || fail "the bf16 run's log does not say how it samples and trains"
# identical accept/reject decisions: the gathered memory (sorted by id) is the same bytes
for W in 2 3; do
  if cmp -s "$TMP/w1/checkpoints/step-00000010/memory.bin" "$TMP/w$W/checkpoints/step-00000010/memory.bin"; then
    ok "W=1 and W=$W: identical rationale memory after 10 steps"
  else fail "W=1 and W=$W: memories differ"; fi
  if out=$("$CMP" "$TMP/w1/model.bin" "$TMP/w$W/model.bin" 1e-5); then ok "W=1 vs W=$W parameters: $out"
  else fail "W=1 vs W=$W parameters: $out"; fi
done
if "$CMP" "$TMP/w2/model.bin" "$TMP/w2b/model.bin" >/dev/null && cmp -s "$TMP/w2/checkpoints/step-00000010/memory.bin" "$TMP/w2b/checkpoints/step-00000010/memory.bin"; then
  ok "W=2 twice: bit-identical parameters and memory"
else fail "W=2 twice differs"; fi

# soft prompt: only the P x C prompt is reduced and broadcast; W = 1 and 2 agree bit for bit
sed 's|"method": "trice",|"method": "trice", "tunable": "prompt", "prompt_len": 4,|; s|"lr": 0.0003|"lr": 0.05|' "$TMP/s10.json" >"$TMP/p10.json"
run 1 "$TMP/p1" --run "$TMP/p10.json" && run 2 "$TMP/p2" --run "$TMP/p10.json" || fail "soft-prompt runs failed"
# (an update happened: some step has a non-zero learning rate, i.e. it had terms to apply)
if cmp -s "$TMP/p1/prompt.bin" "$TMP/p2/prompt.bin" && grep -q '"lr":0\.0*[1-9]' "$TMP/p2/metrics.jsonl" \
   && "$CMP" "$TMP/warm/model.bin" "$TMP/p2/model.bin" >/dev/null; then
  bytes=$(sed -n 's/.*"bytes_moved":\([0-9]*\).*/\1/p' "$TMP/p2/metrics.jsonl" | sort -n | tail -1)
  ok "soft prompt, W=1 vs W=2: bit-identical prompts, frozen weights untouched, at most $bytes bytes moved per step"
else fail "soft-prompt runs differ or touched the weights"; fi

# SIGTERM mid-run, then --resume: bit-identical to the uninterrupted run
spec 80 0 >"$TMP/s80.json"
run 2 "$TMP/full" --run "$TMP/s80.json" || fail "uninterrupted 80-step run failed"
timeout 300 mpirun -n 1 "$COORD" --out "$TMP/stop" --run "$TMP/s80.json" : -n 2 "$WORKER" >"$TMP/stop.log" 2>&1 &
pid=$!
if wait_for "$TMP/stop.log" "step 3/80" 120; then
  kill -TERM "$(job_ranks "$COORD" "$pid" | head -1)"
  wait "$pid"; rc=$?
  if [[ $rc -eq 0 ]] && grep -q "stop requested: checkpointing" "$TMP/stop.log"; then ok "SIGTERM: checkpointed and exited 0"
  else fail "SIGTERM run: rc=$rc"; tail -5 "$TMP/stop.log"; fi
  steps_done=$(sed -n 's/.*stopped after \([0-9]*\) of 80.*/\1/p' "$TMP/stop.log" | head -1)
  cp -r "$TMP/stop" "$TMP/stop3"
  run 2 "$TMP/stop.r" --resume "$TMP/stop" || { fail "resume failed"; tail -5 "$TMP/stop.r.log"; }
  if [[ -n "$steps_done" && "$steps_done" -lt 80 ]] && "$CMP" "$TMP/full/model.bin" "$TMP/stop/model.bin" >/dev/null \
     && cmp -s "$TMP/full/checkpoints/step-00000080/memory.bin" "$TMP/stop/checkpoints/step-00000080/memory.bin"; then
    ok "stopped after $steps_done steps, resumed: final parameters and memory bit-identical to the uninterrupted run"
  else fail "resume is not bit-identical (stopped after '$steps_done')"; "$CMP" "$TMP/full/model.bin" "$TMP/stop/model.bin"; fi
  # the same checkpoint resumed with another W: re-shards the memory by id and finishes
  if run 3 "$TMP/stop3.r" --resume "$TMP/stop3" && out=$("$CMP" "$TMP/full/model.bin" "$TMP/stop3/model.bin" 1e-5); then
    ok "resumed with W=3 instead of 2: $out"
  else fail "resume with another W: $out"; tail -5 "$TMP/stop3.r.log"; fi
else fail "the run never reached step 3"; kill -KILL "$pid"; fi

# a truncated or corrupt checkpoint is refused with a message saying what is wrong
cp -r "$TMP/full" "$TMP/bad"
mem="$TMP/bad/checkpoints/step-00000080/memory.bin"
truncate -s -7 "$mem"
run 1 "$TMP/bad.r" --resume "$TMP/bad"; rc=$?
if [[ $rc -ne 0 ]] && grep -q "memory.bin" "$TMP/bad.r.log"; then ok "truncated memory.bin refused: $(grep -o 'memory.bin[^"]*' "$TMP/bad.r.log" | head -1 | cut -c1-120)"
else fail "truncated checkpoint: rc=$rc"; tail -3 "$TMP/bad.r.log"; fi
# a marker naming a missing checkpoint, and the newest checkpoint damaged: never a restart
# from step 0. The newest checkpoint that verifies is used; when none does, the job fails
# with a message naming each, and nothing is deleted.
echo "step-9999" >"$TMP/bad/checkpoints/latest"
nbefore=$(find "$TMP/bad" | wc -l)
run 1 "$TMP/bad.r2" --resume "$TMP/bad"; rc=$?
older=$(ls "$TMP/bad/checkpoints" | grep -c '^step-' )
if grep -q "step-00009999 is unusable" "$TMP/bad.r2.log" && grep -q "step-00000080 is unusable" "$TMP/bad.r2.log" \
   && { { [[ $rc -eq 0 ]] && grep -q "the newest usable checkpoint" "$TMP/bad.r2.log"; } \
        || { [[ $rc -ne 0 ]] && grep -q "no usable checkpoint.*Nothing was deleted" "$TMP/bad.r2.log"; }; }; then
  ok "a marker naming a missing checkpoint and a damaged newest one ($older step folder(s)): $([[ $rc -eq 0 ]] && echo 'resumed from an older one' || echo 'refused with a message naming both')"
else fail "bad latest marker: rc=$rc"; tail -5 "$TMP/bad.r2.log"; fi
[[ $rc -eq 0 || $(find "$TMP/bad" | wc -l) -eq $nbefore ]] && ok "nothing was deleted from the damaged folder" || fail "files changed in $TMP/bad"

# a model the workers cannot take (a vocabulary other than the byte tokenizer's): every worker
# reports why, the coordinator names the rank and the reason, and the job ends non-zero cleanly
cp "$TMP/warm/model.bin" "$TMP/vocab300.bin"
printf '\x2c\x01\x00\x00' | dd of="$TMP/vocab300.bin" bs=1 seek=12 conv=notrunc status=none   # header[3] = 300
sed "s|$TMP/warm/model.bin|$TMP/vocab300.bin|" "$TMP/s10.json" >"$TMP/bad-vocab.json"
run 2 "$TMP/badvocab" --run "$TMP/bad-vocab.json"; rc=$?
if [[ $rc -eq 1 ]] && grep -q "worker rank [12] cannot start the experiment: .*vocabulary of 300" "$TMP/badvocab.log" \
   && grep -q "coordinator exiting after a failure" "$TMP/badvocab.log"; then
  ok "workers that cannot start are named: $(grep -o 'worker rank [12] cannot start[^(]*' "$TMP/badvocab.log" | head -1 | cut -c1-110)"
else fail "bad vocabulary: rc=$rc"; tail -5 "$TMP/badvocab.log"; fi

# SIGKILL of a worker mid-run: the job ends non-zero within the bound; the launcher restarts
# it from the latest checkpoint and it finishes
spec 300 5 >"$TMP/s60.json"
"$LAUNCH" -n 2 --build "$BUILD" --max-restarts 1 --run "$TMP/s60.json" --out "$TMP/kill" >"$TMP/kill.log" 2>&1 &
lpid=$!
if wait_for "$TMP/kill.log" "checkpoint: .*step-00000005" 120; then
  t0=$(date +%s)
  kill -KILL "$(job_ranks "$BUILD/worker/trice-worker" "$lpid" | tail -1)"
  if wait_for "$TMP/kill.log" "restart 1 of 1" 60; then
    dt=$(( $(date +%s) - t0 )); ok "killed worker: the job ended and the launcher restarted it after ${dt}s"
  else fail "no restart after the worker was killed"; fi
  wait "$lpid"; rc=$?
  if [[ $rc -eq 0 ]] && grep -q "resumed from" "$TMP/kill.log" && [[ -f "$TMP/kill/result.json" ]]; then ok "the restarted job resumed from a checkpoint and finished"
  else fail "restarted job: rc=$rc"; tail -5 "$TMP/kill.log"; fi
else fail "the launcher's job never checkpointed"; kill -KILL "$lpid"; tail -5 "$TMP/kill.log"; fi

finish
