#!/usr/bin/env bash
# Soak (issue 11): 20 cycles of SIGKILL to the daemon's coordinator at a random moment while
# experiments run, each followed by a restart; then every experiment must finish with a
# final model.bin byte-identical (cmp) to an uninterrupted run of the same spec.
# 20 identical experiments are queued, so the kills land in different experiments at
# different points (memory init, mid-step, during a checkpoint write, between experiments).
# A tiny model keeps the whole run near two minutes.
source "$(dirname "$0")/lib.sh"
TRICE="$BUILD/coordinator/cli/trice"
STATE="$TMP/state"
CYCLES=${SOAK_CYCLES:-20}
mpid=0
cleanup() { [[ $mpid -gt 0 ]] && { kill -TERM "$mpid" 2>/dev/null; sleep 2; kill -KILL "$mpid" 2>/dev/null; }; rm -rf "$TMP"; }
trap cleanup EXIT

spec() {
  cat <<JSON
{"name": "$1", "seed": 11, "method": "trice", "memory_init": "given", "steps": 40, "batch_size": 4, "checkpoint_every": 3,
 "eval_every": 0, "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 16, "n_eval": 4},
 "model": {"layers": 1, "heads": 1, "channels": 16, "context": 160}, "max_new_tokens": 40, "optim": {"lr": 0.003}}
JSON
}
T() { timeout 150 "$TRICE" --endpoint "$EP" --token-file "$STATE/token" --interval 0.2 "$@"; }
field() { T status "$1" 2>/dev/null | sed -n "s/^$2: *//p"; }
wait_exit() { timeout "$2" tail --pid="$1" -f /dev/null; kill -0 "$1" 2>/dev/null && kill -KILL "$1"; wait "$1"; }
start() {
  mpirun -n 1 "$COORD" --db "$STATE/registry.db" --token-file "$STATE/token" --runs "$STATE/runs" --max-attempts 1000 \
         --rpc tcp://127.0.0.1:0 --http 127.0.0.1:0 : -n 2 "$WORKER" >"$1" 2>&1 &
  mpid=$!
  wait_for "$1" "daemon ready" 60 || return 1
  EP=$(sed -n 's/.*daemon ready: RPC \([^,]*\), HTTP.*/\1/p' "$1" | tail -1)
}

# the uninterrupted reference
spec soak-ref >"$TMP/ref.json"
mpirun -n 1 "$COORD" --run "$TMP/ref.json" --out "$TMP/ref" : -n 2 "$WORKER" >"$TMP/ref.log" 2>&1 \
  && [[ -f "$TMP/ref/model.bin" ]] && ok "reference run: $TMP/ref/model.bin" || { fail "reference run"; tail -20 "$TMP/ref.log"; finish; }

start "$TMP/d0.log" || { fail "daemon did not come up"; tail -20 "$TMP/d0.log"; finish; }
ids=()
for ((i = 1; i <= CYCLES; i++)); do spec "soak-$i" >"$TMP/s.json"; ids+=("$(T submit "$TMP/s.json")"); done
[[ ${#ids[@]} -eq $CYCLES && ${ids[0]} == exp-* ]] && ok "queued $CYCLES identical experiments" || { fail "submit"; finish; }

kills=0
for ((k = 1; k <= CYCLES; k++)); do
  # a random moment: 0.2 to 2.2 s after the daemon is ready
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + 2 * r / 32768 }')"
  cpid=$(pgrep -P "$mpid" -f trice-coordinator | head -1)
  [[ -n $cpid ]] && kill -KILL "$cpid" && kills=$((kills + 1))
  wait_exit "$mpid" 60 >/dev/null 2>&1; mpid=0
  start "$TMP/d$k.log" || { fail "restart $k"; tail -20 "$TMP/d$k.log"; finish; }
done
[[ $kills -eq $CYCLES ]] && ok "$kills SIGKILLs of the coordinator, each followed by a restart" || fail "only $kills kills of $CYCLES"
resumed=$(cat "$TMP"/d*.log | grep -c "resumed from .*checkpoints/step-")
cleaned=$(cat "$TMP"/d*.log | grep -c "temp file.* left by an interrupted write")
ok "$resumed resumes from a checkpoint; $cleaned folder(s) cleaned of temp files left by a kill"

T watch "${ids[$((CYCLES - 1))]}" >/dev/null 2>&1
same=0 bad=""
for id in "${ids[@]}"; do
  d=$(field "$id" folder)
  if [[ $(field "$id" state) == succeeded ]] && cmp -s "$TMP/ref/model.bin" "$d/model.bin"; then same=$((same + 1))
  else bad+=" $id($(field "$id" state))"; fi
done
[[ $same -eq $CYCLES ]] && ok "$same/$CYCLES final model.bin byte-identical (cmp) to the uninterrupted run" \
  || fail "$same/$CYCLES identical; differing:$bad"
n=$(find "$STATE/runs" -name '*.tmp.*' | wc -l)
[[ $n -eq 0 ]] && ok "no temp files left in any experiment folder" || fail "$n temp files left: $(find "$STATE/runs" -name '*.tmp.*' | head -3)"
T shutdown >/dev/null 2>&1
wait_exit "$mpid" 60 >/dev/null 2>&1; mpid=0
finish
