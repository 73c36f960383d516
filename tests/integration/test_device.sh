#!/usr/bin/env bash
# The device path of a side (common/engine/side_device.c) where there is no GPU: with
# TRICE_DEVICE=cpu-mirror a side keeps its weights mirrored to a second model on the CPU
# backend and computes there, exactly as it would on a CUDA device (the gradient summed there;
# with one side the update there too and the host's copy pulled when read; with several, the
# sum brought back and the weights uploaded after the host's update; a full upload after a
# checkpoint load). The CPU backend gives the same bits either way, so every run here must
# equal its plain cpu run bit for bit:
# single process (supervised), W = 1 TRICE, a mixed fleet (one cpu and one mirrored worker, as
# a CPU worker beside a GPU worker), a soft prompt, and a stop and resume.
source "$(dirname "$0")/lib.sh"
CMP="$BUILD/tests/integration/cmp_model"
RUNCLI="$BUILD/tests/engine/run_cli"

warm_spec 250 >"$TMP/warm.json"
"$RUNCLI" train "$TMP/warm.json" --out "$TMP/warm" >"$TMP/warm.log" 2>&1 || { cat "$TMP/warm.log"; fail "warm-up"; finish; }
warm_spec 40 >"$TMP/warm40.json"
"$RUNCLI" train "$TMP/warm40.json" --out "$TMP/sft-cpu" >"$TMP/sft-cpu.log" 2>&1 \
  && TRICE_DEVICE=cpu-mirror "$RUNCLI" train "$TMP/warm40.json" --out "$TMP/sft-mirror" >"$TMP/sft-mirror.log" 2>&1 \
  || fail "supervised runs failed"
losses() { sed -n 's/.*"step":\([0-9]*\),.*"loss":\([^,]*\),"grad_norm":\([^,]*\),.*/\1 \2 \3/p' "$1"; }
if cmp -s "$TMP/sft-cpu/model.bin" "$TMP/sft-mirror/model.bin" && [[ $(losses "$TMP/sft-cpu/metrics.jsonl" | wc -l) == 40 ]] \
   && cmp -s <(losses "$TMP/sft-cpu/metrics.jsonl") <(losses "$TMP/sft-mirror/metrics.jsonl") \
   && grep -q "computing on cpu-mirror" "$TMP/sft-mirror.log"; then
  ok "supervised, single process: the mirrored side's model, losses and gradient norms are bit-identical"
else fail "supervised: the mirrored side differs"; fi

spec() { trice_spec dev "$TMP/warm/model.bin" "$1" "$2"; }  # spec STEPS CKPT_EVERY
spec 10 0 >"$TMP/s10.json"
same_run() {  # same_run A B: the same samples at every step and bit-identical parameters and memory
  perstep "$1/metrics.jsonl" >"$1.steps"; perstep "$2/metrics.jsonl" >"$2.steps"
  [[ -s "$1.steps" ]] && cmp -s "$1.steps" "$2.steps" && "$CMP" "$1/model.bin" "$2/model.bin" >/dev/null
}
# W = 1, every worker's device from the environment (mpirun passes it on)
timeout 300 mpirun -n 1 "$COORD" --out "$TMP/cpu1" --run "$TMP/s10.json" : -n 1 "$WORKER" >"$TMP/cpu1.log" 2>&1 \
  && TRICE_DEVICE=cpu-mirror timeout 300 mpirun -n 1 "$COORD" --out "$TMP/mir1" --run "$TMP/s10.json" : -n 1 "$WORKER" \
     >"$TMP/mir1.log" 2>&1 || fail "W=1 runs failed"
grep -q "computing on cpu-mirror" "$TMP/mir1.log" && grep -q "optimiser step runs there too (one side)" "$TMP/mir1.log" \
  && ok "the worker says where it computes (cpu-mirror) and that its update runs there (W = 1)" \
  || fail "no 'computing on cpu-mirror' / device update in the worker's log"
grep -q "backend cpu-mirror" "$TMP/mir1.log" && ok "the coordinator lists the worker's backend at registration" \
  || fail "the coordinator's world log does not name the worker's backend"
if same_run "$TMP/cpu1" "$TMP/mir1"; then ok "W=1 TRICE: mirrored run bit-identical to the cpu run (samples, parameters)"
else fail "W=1 TRICE: the mirrored run differs"; diff "$TMP/cpu1.steps" "$TMP/mir1.steps" | head -4; fi

# a mixed fleet: worker 1 on the cpu, worker 2 mirrored (as a GPU worker would be)
timeout 300 mpirun -n 1 "$COORD" --out "$TMP/cpu2" --run "$TMP/s10.json" : -n 2 "$WORKER" >"$TMP/cpu2.log" 2>&1 \
  && timeout 300 mpirun -n 1 "$COORD" --out "$TMP/mix2" --run "$TMP/s10.json" : -n 1 -x TRICE_DEVICE=cpu "$WORKER" \
     : -n 1 -x TRICE_DEVICE=cpu-mirror "$WORKER" >"$TMP/mix2.log" 2>&1 || fail "W=2 runs failed"
grep -q "optimiser step runs on the host" "$TMP/mix2.log" || fail "the mixed fleet's mirrored side does not say its update runs on the host"
if same_run "$TMP/cpu2" "$TMP/mix2" && cmp -s "$TMP/cpu2/checkpoints/step-00000010/memory.bin" "$TMP/mix2/checkpoints/step-00000010/memory.bin"; then
  ok "mixed fleet (cpu + mirrored worker): bit-identical to two cpu workers (samples, parameters, memory)"
else fail "the mixed fleet differs from two cpu workers"; fi

# soft prompt: only the prompt is uploaded after each update
sed 's|"method": "trice",|"method": "trice", "tunable": "prompt", "prompt_len": 4,|; s|"lr": 0.0003|"lr": 0.05|' "$TMP/s10.json" >"$TMP/p10.json"
timeout 300 mpirun -n 1 "$COORD" --out "$TMP/pcpu" --run "$TMP/p10.json" : -n 1 "$WORKER" >"$TMP/pcpu.log" 2>&1 \
  && TRICE_DEVICE=cpu-mirror timeout 300 mpirun -n 1 "$COORD" --out "$TMP/pmir" --run "$TMP/p10.json" : -n 1 "$WORKER" \
     >"$TMP/pmir.log" 2>&1 || fail "soft-prompt runs failed"
if cmp -s "$TMP/pcpu/prompt.bin" "$TMP/pmir/prompt.bin" && grep -q '"lr":0\.0*[1-9]' "$TMP/pmir/metrics.jsonl"; then
  ok "soft prompt: mirrored prompt bit-identical to the cpu run's"
else fail "soft prompt: the mirrored run differs"; fi

# stop and resume on the mirrored path: the checkpoint load must reach the device copy
spec 40 0 >"$TMP/s40.json"
export TRICE_DEVICE=cpu-mirror
timeout 300 mpirun -n 1 "$COORD" --out "$TMP/full" --run "$TMP/s40.json" : -n 1 "$WORKER" >"$TMP/full.log" 2>&1 || fail "40-step run failed"
timeout 300 mpirun -n 1 "$COORD" --out "$TMP/stop" --run "$TMP/s40.json" : -n 1 "$WORKER" >"$TMP/stop.log" 2>&1 &
pid=$!
if wait_for "$TMP/stop.log" "step 3/40" 120; then
  kill -TERM "$(job_ranks "$COORD" "$pid" | head -1)"
  wait "$pid"
  steps_done=$(sed -n 's/.*stopped after \([0-9]*\) of 40.*/\1/p' "$TMP/stop.log" | head -1)
  timeout 300 mpirun -n 1 "$COORD" --out "$TMP/stop.r" --resume "$TMP/stop" : -n 1 "$WORKER" >"$TMP/stop.r.log" 2>&1 \
    || fail "resume failed"
  if [[ -n "$steps_done" && "$steps_done" -lt 40 ]] && "$CMP" "$TMP/full/model.bin" "$TMP/stop/model.bin" >/dev/null; then
    ok "mirrored: stopped after $steps_done steps, resumed: parameters bit-identical to the uninterrupted run"
  else fail "mirrored resume is not bit-identical (stopped after '$steps_done')"; fi
else
  fail "the run to stop never reached step 3"; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
fi
unset TRICE_DEVICE

# the spec's "device": TRICE_DEVICE wins over it; without a GPU, "cuda" fails at the start and says why
sed 's|"method": "trice",|"method": "trice", "device": "cuda",|' "$TMP/s10.json" >"$TMP/dev-cuda.json"
TRICE_DEVICE=cpu-mirror "$RUNCLI" train "$TMP/dev-cuda.json" --out "$TMP/envwins" >"$TMP/envwins.log" 2>&1 \
  && grep -q "computing on cpu-mirror" "$TMP/envwins.log" && ok "TRICE_DEVICE wins over the spec's device" \
  || { fail "TRICE_DEVICE did not win over the spec's device"; tail -3 "$TMP/envwins.log"; }
if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  if "$RUNCLI" train "$TMP/dev-cuda.json" --out "$TMP/nocuda" >"$TMP/nocuda.log" 2>&1; then fail "device cuda without a GPU ran"
  elif grep -q "the spec's \"device\" 'cuda': no CUDA device is visible" "$TMP/nocuda.log"; then
    ok "spec device cuda without a GPU: refused at the start ($(grep -o 'no CUDA device[^(]*' "$TMP/nocuda.log" | head -1))"
  else fail "spec device cuda without a GPU: no clear message"; tail -3 "$TMP/nocuda.log"; fi
fi
finish
