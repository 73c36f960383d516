#!/usr/bin/env bash
# tests/gpu/run.sh - the CUDA backend's device check, in one go (a few minutes on one GPU):
#   1. the parity tests against the CPU backend (tests/gpu/test_cuda.c);
#   2. a short TRICE run with full fine-tuning (tests/gpu/specs/full.json: 600 supervised steps on
#      easier rationales, then 150 answers-only TRICE steps), with the GPU's busy share sampled
#      by nvidia-smi over its TRICE stage; then a soft-prompt TRICE run from its model. Two GPU
#      workers under mpirun when there are two GPUs and mpirun, else one (`trice train`);
#      a shortened run twice (the bits must repeat); the small model's run (busy share);
#   3. the model benchmark on the GPU (tests/gpu/bench_cuda.c, JSON).
# Usage: tests/gpu/run.sh [BIN [OUT]]
#   BIN: a folder with trice, test_cuda and bench_cuda (default: build, meson's build folder,
#        where they lie in coordinator/cli and tests/gpu); OUT: where results go (default
#        gpu-check). Prints a summary; exits non-zero when a step fails.
set -u
BIN="${1:-build}"
OUT="${2:-gpu-check}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
pick() {  # the first of the candidate paths that exists
    for p in "$@"; do [ -x "$p" ] && { echo "$p"; return; }; done
    echo "tests/gpu/run.sh: none of $* exists (build first: meson setup build && ninja -C build)" >&2
    exit 2
}
TRICE="$(pick "$BIN/trice" "$BIN/coordinator/cli/trice")"
TEST="$(pick "$BIN/test_cuda" "$BIN/tests/gpu/test_cuda")"
BENCH="$(pick "$BIN/bench_cuda" "$BIN/tests/gpu/bench_cuda")"
[ -n "$TRICE" ] && [ -n "$TEST" ] && [ -n "$BENCH" ] || exit 2   # pick said which is missing
fail=0
# busy_share LOG CSV WHAT: the mean of nvidia-smi's utilization.gpu (the share of time a kernel
# was running) over the samples taken after LOG says the TRICE stage started, until it ended
busy_share() {
    local start end
    start=$(grep -m1 'stage 2/2' "$1" | cut -c1-19 | tr T ' ')
    end=$(grep 'held-out accuracy: before' "$1" | tail -1 | cut -c1-19 | tr T ' ')
    [ -n "$start" ] && [ -s "$2" ] || { echo "   GPU busy share: not measured (no TRICE stage in $1)"; return; }
    awk -F', ' -v s="$start" -v e="${end:-9999}" '{ t = substr($1, 1, 19); gsub("/", "-", t); if (t >= s && t <= e) { n++; u += $2 } }
        END { if (n) printf "   GPU busy share over the TRICE stage, %s: %.1f%% (%d samples of nvidia-smi utilization.gpu)\n", w, u / n, n }' w="$3" "$2"
}
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
echo "== GPUs: ${ngpu:-0}"
nvidia-smi -L 2>/dev/null

echo "== 1. parity tests"
t0=$(date +%s)
"$TEST" --verbose=1 2>&1 | tee "$OUT/parity.log" | grep -E '^\[(FAIL|SKIP|----|====)|greedy|sampled' 
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "parity tests FAILED"; fail=1; }
grep -q 'SKIP' "$OUT/parity.log" && { echo "parity tests were skipped: no usable GPU"; fail=1; }
echo "   ($(( $(date +%s) - t0 )) s)"

echo "== 2. short TRICE runs on the GPU"
t0=$(date +%s)
rm -rf "$OUT/full" "$OUT/prompt"
util="$OUT/gpu-util.csv"
( nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 200 > "$util" 2>/dev/null & echo $! > "$OUT/smi.pid" )
if [ "${ngpu:-0}" -ge 2 ] && command -v mpirun >/dev/null; then
    W=2
    # the launcher: one coordinator and two GPU workers (cuda by local rank)
    "$here/../../deploy/launch-local.sh" -n 2 --build "$BIN" --run "$here/specs/full.json" --out "$OUT/full" \
        > "$OUT/full.log" 2>&1
else
    W=1
    "$TRICE" train "$here/specs/full.json" --out "$OUT/full" --device cuda > "$OUT/full.log" 2>&1
fi
rc=$?
kill "$(cat "$OUT/smi.pid")" 2>/dev/null
grep -E 'computing on|stage|held-out accuracy|phases' "$OUT/full.log" | tail -8
[ $rc -eq 0 ] || { echo "full fine-tuning run FAILED (rc $rc): see $OUT/full.log"; tail -5 "$OUT/full.log"; fail=1; }
busy_share "$OUT/full.log" "$util" "tiny model (4 x 128)"
cat > "$OUT/prompt.json" <<JSON
{"name": "gpu-check-prompt", "seed": 1, "answers_only": true,
 "task": {"name": "boolean_expressions", "difficulty": 0, "n_train": 1000, "n_eval": 200},
 "model": {"init": "$OUT/full/model.bin", "context": 320},
 "tunable": "prompt", "prompt_len": 8, "method": "trice", "memory_init": "sample", "init_tries": 1,
 "steps": 40, "batch_size": 16, "max_new_tokens": 200, "eval_every": 20, "checkpoint_every": 20,
 "optim": {"lr": 0.01, "warmup_steps": 5}}
JSON
if [ $rc -eq 0 ]; then
    "$TRICE" train "$OUT/prompt.json" --out "$OUT/prompt" --device cuda > "$OUT/prompt.log" 2>&1
    prc=$?
    grep -E 'computing on|held-out accuracy' "$OUT/prompt.log" | tail -3
    [ $prc -eq 0 ] || { echo "soft-prompt run FAILED (rc $prc): see $OUT/prompt.log"; tail -5 "$OUT/prompt.log"; fail=1; }
fi
echo "   ($(( $(date +%s) - t0 )) s, $W worker(s))"

echo "== 2b. the same spec again, shortened: a CUDA run repeats its bits (same GPU type, same W)"
t0=$(date +%s)
sed -e 's/"steps": 600/"steps": 100/' -e 's/"steps": 150/"steps": 30/' -e 's/"eval_every": 50/"eval_every": 30/' \
    "$here/specs/full.json" > "$OUT/repeat.json"
for k in 1 2; do
    rm -rf "$OUT/repeat$k"
    "$TRICE" train "$OUT/repeat.json" --out "$OUT/repeat$k" --device cuda > "$OUT/repeat$k.log" 2>&1 || { echo "repeat run $k FAILED"; fail=1; }
done
# what must repeat: the weights, and per step the loss, the gradient norm and the digest of
# every sampled token (metrics.jsonl's timings differ, of course)
steps() { sed -n 's/.*"step":\([0-9]*\),.*"loss":\([^,]*\),"grad_norm":\([^,]*\),.*"sample_digest":"\([0-9a-f]*\)".*/\1 \2 \3 \4/p' "$1"; }
if cmp -s "$OUT/repeat1/model.bin" "$OUT/repeat2/model.bin" && [ -n "$(steps "$OUT/repeat1/metrics.jsonl")" ] \
   && cmp -s <(steps "$OUT/repeat1/metrics.jsonl") <(steps "$OUT/repeat2/metrics.jsonl"); then
    echo "   two runs: model.bin bit-identical; the same loss, gradient norm and sample digest at every step"
else
    echo "   two runs DIFFER"; fail=1
fi
echo "   ($(( $(date +%s) - t0 )) s)"

echo "== 2c. the small model (6 x 384, 10.9M parameters): step phases and GPU busy share"
t0=$(date +%s)
rm -rf "$OUT/small"
( nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 200 > "$OUT/gpu-util-small.csv" 2>/dev/null & echo $! > "$OUT/smi.pid" )
"$TRICE" train "$here/specs/small.json" --out "$OUT/small" --device cuda > "$OUT/small.log" 2>&1 || { echo "small run FAILED"; fail=1; }
kill "$(cat "$OUT/smi.pid")" 2>/dev/null
grep -E 'phases' "$OUT/small.log" | tail -1
grep -E 'held-out accuracy: before' "$OUT/small.log" | tail -1
busy_share "$OUT/small.log" "$OUT/gpu-util-small.csv" "small model (6 x 384)"
echo "   ($(( $(date +%s) - t0 )) s)"

echo "== 3. model benchmark on the GPU"
"$BENCH" 10 | tee "$OUT/bench.json" || { echo "benchmark FAILED"; fail=1; }

echo "== device check: $([ $fail -eq 0 ] && echo PASSED || echo FAILED)"
exit $fail
