# Shared helpers for the MPI integration tests (sourced, not run).
set -uo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
: "${BUILD:?BUILD must point at the build folder}"
COORD="$BUILD/coordinator/trice-coordinator"
WORKER="$BUILD/worker/trice-worker"
LAUNCH="$TRICE_SOURCE_ROOT/deploy/launch-local.sh"
TMP=$(mktemp -d /tmp/trice-it.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok()   { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
finish() { [[ $fails -eq 0 ]] && { echo "all checks passed"; exit 0; } || { echo "$fails check(s) failed"; exit 1; }; }
# wait_for FILE PATTERN SECONDS: poll until PATTERN appears in FILE
wait_for() {
  local f=$1 pat=$2 secs=$3 i
  for ((i = 0; i < secs * 10; i++)); do grep -q -- "$pat" "$f" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# The ranks of a test's own job (job_pid: the timeout/mpirun/launcher it started): another trice
# job on the machine (a user's, a recipe, a parallel test) must never receive a test's signals.
is_descendant() {  # pid ancestor
  local p=$1
  while [[ -n $p && $p -gt 1 ]]; do
    [[ $p -eq $2 ]] && return 0
    p=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')
  done
  return 1
}
job_ranks() {  # executable job_pid: pids of the job's ranks running it, oldest first
  local p
  for p in $(pgrep -f "^$1"); do is_descendant "$p" "$2" && echo "$p"; done
}

# The small model both training tests start from: warm_spec STEPS prints a supervised spec
# (boolean_expressions at difficulty 1) that, after 250 steps, makes proposals sometimes right.
warm_spec() {
  cat <<JSON
{"name": "warm", "seed": 3, "method": "sft", "memory_init": "given", "steps": $1, "batch_size": 12,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 96, "n_eval": 16},
 "model": {"layers": 2, "heads": 2, "channels": 64, "context": 160}, "max_new_tokens": 80,
 "optim": {"lr": 0.003}}
JSON
}
# trice_spec NAME INIT STEPS CKPT_EVERY: TRICE from the model INIT on the same task
trice_spec() {
  cat <<JSON
{"name": "$1", "seed": 5, "method": "trice", "memory_init": "sample", "init_tries": 2,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 96, "n_eval": 16},
 "model": {"init": "$2", "context": 160}, "max_new_tokens": 80,
 "steps": $3, "batch_size": 12, "subsample": 12, "checkpoint_every": $4,
 "optim": {"lr": 0.0003}}
JSON
}
# perstep METRICS: "step tokens_sampled tokens_trained sample_digest proposal_acc" per line
# (sample_digest hashes every sampled sequence's tokens and the bits of its log-probability;
# tokens_trained counts the gradient's positions, whichever worker computed them)
perstep() {
  sed -n 's/.*"step":\([0-9]*\),"proposal_acc":\([^,]*\),.*"tokens_sampled":\([0-9]*\),"tokens_trained":\([0-9]*\),.*"sample_digest":"\([0-9a-f]*\)".*/\1 \3 \4 \5 \2/p' "$1"
}
