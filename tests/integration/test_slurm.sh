#!/usr/bin/env bash
# deploy/slurm.sbatch under a real Slurm: a private one-node cluster (slurmctld, slurmd and
# munged of Debian's slurm-wlm and munge, on free ports, with their state in a temporary
# folder) runs the script on a tiny spec with `sbatch --wait` and the result is checked;
# then a longer job is stopped with `scancel --batch --signal=USR1`, ends with the "stopped"
# exit status 75 and a checkpoint, and a resubmitted job resumes it to the end.
# Skips (exit 77, with the reason) where such a cluster cannot start: not root, slurm-wlm or
# munge not installed (deploy/install-deps.sh --with-slurm), or the daemons do not come up.
source "$(dirname "$0")/lib.sh"
skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "a private Slurm cluster needs root (slurmd starts jobs as their user)"
for c in slurmctld slurmd sbatch scontrol sinfo munged; do
  command -v "$c" >/dev/null || [[ -x /usr/sbin/$c ]] || skip "$c is not installed (deploy/install-deps.sh --with-slurm installs slurm-wlm and munge)"
done
export PATH="$PATH:/usr/sbin"
SB="$TRICE_SOURCE_ROOT/deploy/slurm.sbatch"

pids=()
cleanup() {
  for j in $(squeue -h -o %i 2>/dev/null); do scancel "$j" 2>/dev/null; done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# free TCP ports (other worktrees run this test at the same time)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
CTLD_PORT=$(free_port); SLURMD_PORT=$(free_port)
HOST=$(hostname -s)
C="$TMP/cluster"
mkdir -p "$C/state" "$C/spool" "$C/log" "$C/munge"
# our own munge key and socket, so the machine's munge (if any) is left alone
dd if=/dev/urandom of="$C/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$C/munge/munge.key"
munged --force -S "$C/munge/munge.socket" --key-file "$C/munge/munge.key" --pid-file "$C/munge/munged.pid" \
  --log-file "$C/log/munged.log" --seed-file "$C/munge/munged.seed" 2>"$C/log/munged.err" \
  || skip "munged does not start: $(cat "$C/log/munged.err")"
for ((i = 0; i < 50; i++)); do [[ -s "$C/munge/munged.pid" ]] && break; sleep 0.1; done
pids+=("$(cat "$C/munge/munged.pid" 2>/dev/null)")

CPUS=$(nproc)
cat >"$C/slurm.conf" <<EOF
ClusterName=trice-test-$$
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$C/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool/%n
SlurmctldPidFile=$C/slurmctld.pid
SlurmdPidFile=$C/slurmd.pid
SlurmctldLogFile=$C/log/slurmctld.log
SlurmdLogFile=$C/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
KillWait=30
NodeName=$HOST CPUs=$((CPUS < 3 ? 3 : CPUS)) State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
export SLURM_CONF="$C/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$C/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$C/log/slurmd.out" 2>&1 &
pids+=($!)
up=0
for ((i = 0; i < 600; i++)); do
  state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1)
  [[ $state == idle* ]] && { up=1; break; }
  sleep 0.1
done
if [[ $up -ne 1 ]]; then
  echo "slurm did not come up (node state '$state'); logs:"; tail -5 "$C"/log/*.log "$C"/log/*.out 2>/dev/null
  skip "a one-node Slurm cluster could not be started here"
fi
ok "one-node Slurm cluster up in $((i / 10)).$((i % 10)) s (node $HOST idle, ports $CTLD_PORT/$SLURMD_PORT)"

# tiny specs: the memory starts from the generator's rationales (a trained-from-scratch model
# of this size has no valid hinted rationale and such a stage is refused)
spec() {
  cat <<JSON
{"name": "$1", "seed": 5, "method": "trice", "memory_init": "given", "steps": $2, "batch_size": 4,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 24, "n_eval": 4},
 "model": {"layers": 1, "heads": 2, "channels": 32, "context": 192}, "max_new_tokens": 80,
 "optim": {"lr": 0.003}, "checkpoint_every": 5}
JSON
}
export TRICE_BUILD="$BUILD" TRICE_STATE="$TMP/state" OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
cd "$TMP"

# ---- batch mode to the end: sbatch --wait ----
spec tiny 12 >"$TMP/tiny.json"
timeout 300 sbatch --wait -o "$TMP/job1.log" "$SB" "$TMP/tiny.json" >"$TMP/sbatch1.out" 2>&1; rc=$?
res="$TMP/state/runs/tiny/result.json"
if [[ $rc -eq 0 ]] && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["steps"] == 12, r' "$res" 2>/dev/null; then
  ok "sbatch --wait slurm.sbatch tiny.json: exit 0, result.json with 12 steps ($(grep -o 'held-out accuracy: before [0-9.]*, after [0-9.]*' "$TMP/state/runs/tiny/log.txt" | tail -1))"
else
  fail "batch job: sbatch rc=$rc, $(cat "$TMP/sbatch1.out")"; tail -15 "$TMP/job1.log"
fi

# ---- a USR1 stop (exit 75, checkpoint), then a resubmitted job resumes it ----
spec long 400 >"$TMP/long.json"
job=$(sbatch --parsable -o "$TMP/job2.log" "$SB" "$TMP/long.json" 2>"$TMP/sbatch2.err")
met="$TMP/state/runs/long/metrics.jsonl"
for ((i = 0; i < 1200; i++)); do
  [[ $(grep -c '"step"' "$met" 2>/dev/null) -ge 12 ]] && break
  sleep 0.1
done
if [[ -n $job ]] && [[ $(grep -c '"step"' "$met" 2>/dev/null) -ge 12 ]]; then
  scancel --batch --signal=USR1 "$job"
  for ((i = 0; i < 600; i++)); do
    st=$(scontrol show job "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    [[ $st == RUNNING || $st == PENDING || $st == COMPLETING ]] || break
    sleep 0.1
  done
  ec=$(scontrol show job "$job" | sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p')
  done_steps=$(grep -c '"step"' "$met")
  if [[ $ec == 75:0 ]] && grep -q "stopped with a checkpoint" "$TMP/job2.log" && [[ -s "$TMP/state/runs/long/checkpoints/latest" ]] \
     && [[ $done_steps -lt 400 ]]; then
    ok "scancel --batch --signal=USR1: job $job ended $st with exit 75 after $done_steps of 400 steps, checkpoint $(cat "$TMP/state/runs/long/checkpoints/latest")"
  else
    fail "USR1 stop: state '$st', exit '$ec', $done_steps steps"; tail -15 "$TMP/job2.log"
  fi
  timeout 400 sbatch --wait -o "$TMP/job3.log" "$SB" "$TMP/long.json" >"$TMP/sbatch3.out" 2>&1; rc=$?
  n=$(grep -c '"step"' "$met")
  if [[ $rc -eq 0 ]] && grep -q "resumed from .*/long/checkpoints/step-" "$TMP/job3.log" "$TMP/state/runs/long/log.txt" 2>/dev/null \
     && [[ $n -eq 400 ]] && python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["steps"] == 400' "$TMP/state/runs/long/result.json"; then
    ok "resubmitted job resumed from the checkpoint and finished: 400 metric lines, exit 0"
  else
    fail "resume: rc=$rc, $n metric lines"; tail -15 "$TMP/job3.log"
  fi
else
  fail "the long job did not reach step 12 (job '$job': $(cat "$TMP/sbatch2.err"))"; tail -15 "$TMP/job2.log" 2>/dev/null
fi
finish
