#!/usr/bin/env bash
# The coordinator/worker skeleton under mpirun: registration, clean stop, dead worker.
source "$(dirname "$0")/lib.sh"
# the daemon on free loopback ports, its registry in this test's folder
DAEMON_ARGS="--db $TMP/state/registry.db --rpc tcp://127.0.0.1:0 --http 127.0.0.1:0"

for W in 1 3; do
  out="$TMP/world$W.log"
  timeout 60 mpirun -n 1 "$COORD" --check-world : -n "$W" "$WORKER" >"$out" 2>&1
  rc=$?
  n=$(grep -c "worker rank [0-9]*: host" "$out")
  if [[ $rc -eq 0 && $n -eq $W ]] && grep -q "world: $W worker" "$out"; then ok "W=$W: $n workers registered, exit 0"
  else fail "W=$W: rc=$rc, $n of $W workers in the log"; cat "$out"; fi
done

# SIGTERM to the launcher: every rank stops cleanly and the job exits 0.
out="$TMP/term.log"
"$LAUNCH" -n 2 --build "$BUILD" $DAEMON_ARGS >"$out" 2>&1 &
pid=$!
if wait_for "$out" "daemon ready" 30; then
  kill -TERM "$pid"
  wait "$pid"; rc=$?
  if [[ $rc -eq 0 ]] && grep -q "coordinator exiting cleanly" "$out"; then ok "SIGTERM to the launcher: clean exit 0"
  else fail "SIGTERM to the launcher: rc=$rc"; cat "$out"; fi
else fail "job did not come up"; cat "$out"; kill -KILL "$pid"; fi

# SIGINT straight to the coordinator rank (as Slurm or a user would): exit 0 too.
out="$TMP/int.log"
timeout 60 mpirun -n 1 "$COORD" $DAEMON_ARGS : -n 2 "$WORKER" >"$out" 2>&1 &
pid=$!
if wait_for "$out" "daemon ready" 30; then
  kill -INT "$(job_ranks "$COORD" "$pid" | head -1)"
  wait "$pid"; rc=$?
  if [[ $rc -eq 0 ]] && grep -q "coordinator exiting cleanly" "$out"; then ok "SIGINT to the coordinator: clean exit 0"
  else fail "SIGINT to the coordinator: rc=$rc"; cat "$out"; fi
else fail "job did not come up"; cat "$out"; kill -KILL "$pid"; fi

# SIGKILL of one worker: the job ends, non-zero, within the bound (30 s), never hangs.
out="$TMP/kill.log"
timeout 120 mpirun -n 1 "$COORD" $DAEMON_ARGS : -n 2 "$WORKER" >"$out" 2>&1 &
pid=$!
if wait_for "$out" "daemon ready" 30; then
  victim=$(job_ranks "$WORKER" "$pid" | tail -1)
  t0=$(date +%s)
  kill -KILL "$victim"
  wait "$pid"; rc=$?
  dt=$(( $(date +%s) - t0 ))
  if [[ $rc -ne 0 && $rc -ne 124 && $dt -le 30 ]]; then ok "SIGKILL of a worker: job ended with $rc after ${dt}s"
  else fail "SIGKILL of a worker: rc=$rc after ${dt}s"; cat "$out"; fi
else fail "job did not come up"; cat "$out"; kill -KILL "$pid"; fi

finish
