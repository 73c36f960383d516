#!/usr/bin/env bash
# The daemon as a user meets it: the real coordinator and 2 workers under mpirun, driven
# with the `trice` CLI and curl. Submit and watch an experiment to success; the status
# endpoint; bad submissions; a FIFO queue; cancelling a running experiment; stopping the
# daemon mid-experiment and resuming it from its checkpoint on the next start.
source "$(dirname "$0")/lib.sh"
TRICE="$BUILD/coordinator/cli/trice"
STATE="$TMP/state"
DAEMON_ARGS=(--db "$STATE/registry.db" --token-file "$STATE/token" --runs "$STATE/runs"
             --rpc tcp://127.0.0.1:0 --http 127.0.0.1:0)
command -v curl >/dev/null || { echo "FAIL: curl is not installed (deploy/install-deps.sh installs it)"; exit 1; }

# Stop whatever this script started if it ends early (only our own pids).
lpid=0 mpid=0
cleanup() {
  for p in $lpid $mpid; do [[ $p -gt 0 ]] && kill -TERM "$p" 2>/dev/null; done
  [[ $lpid -gt 0 || $mpid -gt 0 ]] && sleep 2
  for p in $lpid $mpid; do [[ $p -gt 0 ]] && kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# spec NAME METHOD STEPS [extra JSON fields]: a tiny model on an easy built-in task; the memory
# starts from the generator's rationales (a fresh model's hinted samples are never right, and
# such a stage is refused: see tests/cli)
spec() {
  cat <<JSON
{"name": "$1", "seed": 7, "method": "$2", "memory_init": "given", "steps": $3, "batch_size": 4,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 24, "n_eval": 4},
 "model": {"layers": 2, "heads": 2, "channels": 64, "context": 160}, "max_new_tokens": 80,
 "optim": {"lr": 0.003}${4:+, $4}}
JSON
}

T() { timeout 150 "$TRICE" --endpoint "$EP" --token-file "$STATE/token" --interval 0.2 "$@"; }
# http PATH OUTFILE: prints the status code ("000" when nothing answers)
http() { curl -s -o "$2" -w '%{http_code}' --max-time 10 "http://$HTTP$1"; }
# field ID NAME: one line of `trice status ID` (state, folder, result, error...)
field() { T status "$1" 2>/dev/null | sed -n "s/^$2: *//p"; }
# step_of ID: steps done so far (0 before the first step)
step_of() { T status "$1" 2>/dev/null | sed -n 's/^progress:.* step \([0-9]*\)\/.*/\1/p' | grep . || echo 0; }
wait_step() {  # wait_step ID N SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do [[ $(step_of "$1") -ge $2 ]] && return 0; sleep 0.2; done
  return 1
}
# wait_exit PID SECONDS: the exit status of our child PID; killed (and 137) if it outlives SECONDS
wait_exit() {
  timeout "$2" tail --pid="$1" -f /dev/null
  kill -0 "$1" 2>/dev/null && { echo "(pid $1 still running after $2 s: killing it)"; kill -KILL "$1"; }
  wait "$1"
}
# first line number of PATTERN in FILE (a large number when absent)
line_of() { local n; n=$(grep -n -- "$2" "$1" | head -1 | cut -d: -f1); echo "${n:-999999}"; }
# ready LOG: wait for "daemon ready" and set EP (RPC URL) and HTTP (host:port) from it
ready() {
  wait_for "$1" "daemon ready" 60 || return 1
  EP=$(sed -n 's/.*daemon ready: RPC \([^,]*\), HTTP \([0-9.]*:[0-9]*\).*/\1/p' "$1" | tail -1)
  HTTP=$(sed -n 's/.*daemon ready: RPC \([^,]*\), HTTP \([0-9.]*:[0-9]*\).*/\2/p' "$1" | tail -1)
  [[ -n "$EP" && -n "$HTTP" ]]
}

# ---- first daemon: through the local launcher (as a user would start it) ----
LOG1="$TMP/daemon1.log"
# a stand-in for systemd's notify socket (Type=notify): the daemon must say READY=1
python3 - "$TMP/notify.sock" "$TMP/notify.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
with open(sys.argv[2], "w") as f:
    try:
        while True:
            f.write(s.recv(4096).decode() + "\n")
            f.flush()
    except socket.timeout:
        pass
PY
npid=$!
for ((i = 0; i < 50; i++)); do [[ -S "$TMP/notify.sock" ]] && break; sleep 0.1; done
NOTIFY_SOCKET="$TMP/notify.sock" "$LAUNCH" -n 2 --build "$BUILD" "${DAEMON_ARGS[@]}" >"$LOG1" 2>&1 &
lpid=$!
if ! ready "$LOG1"; then fail "the daemon did not come up"; cat "$LOG1"; finish; fi
wait_for "$TMP/notify.txt" "READY=1" 10 && ok "sd_notify: READY=1 ($(grep -o 'STATUS=.*' "$TMP/notify.txt" | head -1))" \
  || fail "no READY=1 on \$NOTIFY_SOCKET: '$(cat "$TMP/notify.txt" 2>/dev/null)'"
kill "$npid" 2>/dev/null
ok "daemon up: RPC $EP, HTTP $HTTP"
[[ $(stat -c %a "$STATE/token") == 600 ]] && ok "token file created with mode 0600" || fail "token mode $(stat -c %a "$STATE/token")"

code=$(http /healthz "$TMP/h.txt")
[[ $code == 200 ]] && ok "/healthz: 200" || fail "/healthz: $code"
for ((i = 0; i < 50; i++)); do code=$(http /readyz "$TMP/r.txt"); [[ $code == 200 ]] && break; sleep 0.2; done
[[ $code == 200 ]] && ok "/readyz: 200 once the workers registered ($(head -c 80 "$TMP/r.txt"))" || fail "/readyz: $code $(cat "$TMP/r.txt")"

# ---- one experiment from submit to result ----
spec first trice 30 >"$TMP/first.json"
A=$(T submit "$TMP/first.json"); rc=$?
if [[ $rc -eq 0 && $A == exp-* ]]; then ok "submit: id $A"; else fail "submit: rc=$rc '$A'"; tail -20 "$LOG1"; finish; fi
T watch "$A" >"$TMP/watchA.txt" 2>&1; rc=$?
[[ $rc -eq 0 ]] && grep -q "$A succeeded" "$TMP/watchA.txt" && ok "watch $A: exit 0, '$(tail -2 "$TMP/watchA.txt" | head -1)'" \
  || { fail "watch $A: rc=$rc"; cat "$TMP/watchA.txt"; tail -20 "$LOG1"; }
[[ $(field "$A" state) == succeeded ]] && ok "status $A: succeeded" || fail "status $A: state '$(field "$A" state)'"
res=$(field "$A" result)
[[ $res == *'held-out accuracy '*' -> '*' on '*' examples; 30 steps, '*' tokens sampled; took '* ]] && ok "status $A: result '$res'" \
  || fail "status $A: result '$res'"
grep -Eq "^$A  succeeded  trice  step 30/30 \[#{20}\] 100%" "$TMP/watchA.txt" && grep -q "^result: held-out accuracy" "$TMP/watchA.txt" \
  && ok "watch: stage, step k of n with a bar, a readable result" || { fail "watch lines"; cat "$TMP/watchA.txt"; }
T logs "$A" >"$TMP/logsA.txt" 2>&1; rc=$?
[[ $rc -eq 0 ]] && grep -q "held-out accuracy: before" "$TMP/logsA.txt" && grep -q "step 30/30" "$TMP/logsA.txt" \
  && ok "trice logs $A: $(wc -l <"$TMP/logsA.txt") lines, through the final accuracy" || { fail "logs: rc=$rc"; head -5 "$TMP/logsA.txt"; }
grep -q "for the trice CLI: export TRICE_ENDPOINT=$EP TRICE_TOKEN_FILE=$STATE/token" "$LOG1" \
  && ok "the daemon prints the export line for the CLI" || { fail "no export line"; grep -i export "$LOG1"; }

# ---- --json output: one JSON document (watch: one per line) ----
if T list --json >"$TMP/list.json" && T status --json >"$TMP/st.json" && T status --json "$A" >"$TMP/stA.json" \
   && T watch --json "$A" >"$TMP/wA.jsonl" && python3 - "$TMP" "$A" <<'PY'
import json, os, sys
t, a = sys.argv[1], sys.argv[2]
l = json.load(open(os.path.join(t, "list.json")))
assert isinstance(l, list) and [e["state"] for e in l if e["id"] == a] == ["succeeded"], l
s = json.load(open(os.path.join(t, "st.json")))
assert s["up"] is True and s["counts"]["succeeded"] == 1 and s["running"] == [], s
ws = s["workers"]   # where each registered worker computes
assert [w["rank"] for w in ws] == [1, 2] and all(w["alive"] for w in ws), ws
assert all(w["backend"] == "cpu-openblas" or w["backend"].startswith("cuda:") for w in ws), ws
e = json.load(open(os.path.join(t, "stA.json")))
assert e["id"] == a and e["result"]["steps"] == 30 and e["progress"]["stage"] == "trice", e
assert e["progress"]["step"] == 30 and e["progress"]["eta_seconds"] is None, e["progress"]
w = [json.loads(x) for x in open(os.path.join(t, "wA.jsonl")) if x.strip()]
assert w and w[-1]["id"] == a and w[-1]["state"] == "succeeded", w
PY
then ok "list/status/watch --json parse as JSON (a finished experiment has no ETA)"; else fail "--json output"; head -c 600 "$TMP"/*.json*; fi
T status >"$TMP/status.txt" 2>&1
[[ $(grep -Ec '^worker: +rank [12] on .*, (cpu-openblas|cuda:)' "$TMP/status.txt") == 2 ]] \
  && ok "trice status lists both workers with their backend ($(grep -m1 '^worker:' "$TMP/status.txt"))" \
  || { fail "trice status: workers"; cat "$TMP/status.txt"; }
T list >"$TMP/list.txt" 2>&1
grep -q "^$A *succeeded .*first" "$TMP/list.txt" && ok "list shows $A succeeded" || { fail "list"; cat "$TMP/list.txt"; }
dirA=$(field "$A" folder)
n=$(grep -c '"step"' "$dirA/metrics.jsonl" 2>/dev/null)
[[ -f "$dirA/result.json" && "$n" == 30 ]] && ok "folder $dirA: result.json and 30 metric lines" || fail "folder '$dirA': n=$n, $(ls "$dirA" 2>&1)"

# ---- the status endpoint ----
code=$(http /status "$TMP/status.json")
if [[ $code == 200 ]] && python3 - "$TMP/status.json" "$A" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["world"]["workers"] == 2 and s["world"]["alive"] == 2, s["world"]
assert sorted(w["rank"] for w in s["workers"]) == [1, 2], s["workers"]
last = s["last_finished"]
assert last["id"] == sys.argv[2] and last["state"] == "succeeded", last
assert last["result"]["steps"] == 30, last
assert s["counts"]["succeeded"] == 1 and s["ready"] is True, s
PY
then ok "/status: JSON with 2 live workers and $A succeeded"; else fail "/status: $code $(head -c 400 "$TMP/status.json")"; fi
code=$(http /metrics "$TMP/metrics.txt")
if [[ $code == 200 ]] && grep -q '^trice_workers_alive 2$' "$TMP/metrics.txt" \
   && grep -q '^trice_experiments_finished_total{state="succeeded"} 1$' "$TMP/metrics.txt"; then
  ok "/metrics: $(grep -c '^trice_' "$TMP/metrics.txt") trice_ samples, 2 workers alive, 1 succeeded"
else fail "/metrics: $code"; grep '^trice_\(workers\|experiments_finished\)' "$TMP/metrics.txt"; fi

# ---- bad submissions: a clear error, and the daemon keeps serving ----
out=$(T --token-file "$TMP/no-such-token" submit "$TMP/first.json" 2>&1); rc=$?
[[ $rc -ne 0 && $out == *token* ]] && ok "submit without the token file: rc=$rc, '$(echo "$out" | head -1)'" || fail "no token: rc=$rc '$out'"
echo "0123456789abcdef0123456789abcdef" >"$TMP/wrong-token"
out=$(T --token-file "$TMP/wrong-token" submit "$TMP/first.json" 2>&1); rc=$?
[[ $rc -eq 1 && $out == *"token does not match"* ]] && ok "submit with a wrong token refused: '$out'" || fail "wrong token: rc=$rc '$out'"
spec bad sft 30 '"temperature": -1' >"$TMP/bad1.json"
out=$(T submit "$TMP/bad1.json" 2>&1); rc=$?
[[ $rc -eq 1 && $out == *temperature* ]] && ok "invalid value refused: '$out'" || fail "temperature -1: rc=$rc '$out'"
spec bad sft 30 '"stepz": 5' >"$TMP/bad2.json"
out=$(T submit "$TMP/bad2.json" 2>&1); rc=$?
[[ $rc -eq 1 && $out == *stepz* ]] && ok "unknown field refused: '$out'" || fail "stepz: rc=$rc '$out'"
n=$(T list 2>/dev/null | grep -c '^exp-')
[[ $n -eq 1 ]] && ok "the daemon still answers; nothing bad was queued" || fail "list after bad submissions: $n experiments"
# valid, but no example fits the context: the experiment fails with a message naming the context; the daemon goes on
spec nofit sft 30 | sed 's/"context": 160/"context": 90/' >"$TMP/nofit.json"
X=$(T submit "$TMP/nofit.json") || fail "submit nofit"
T watch "$X" >/dev/null 2>&1; rc=$?
err=$(field "$X" error)
[[ $rc -eq 1 && $(field "$X" state) == failed && $err == *context* ]] && ok "an experiment that cannot start fails: '${err:0:150}'" \
  || fail "nofit: watch rc=$rc state '$(field "$X" state)' error '$err'"

# ---- FIFO queue and cancel: C runs (long), D1 and D2 wait; cancel C; D1 then D2 run ----
spec long sft 100000 >"$TMP/long.json"
spec next1 sft 30 >"$TMP/next1.json"
spec next2 sft 30 >"$TMP/next2.json"
C=$(T submit "$TMP/long.json") && D1=$(T submit "$TMP/next1.json") && D2=$(T submit "$TMP/next2.json") \
  && D3=$(T submit "$TMP/next2.json") || { fail "submitting four experiments"; finish; }
if wait_step "$C" 3 60; then
  q1=$(field "$D1" queue) q2=$(field "$D2" queue)
  [[ $(field "$D1" state) == queued && $q1 == "#1" && $q2 == "#2" ]] && ok "while $C runs: $D1 queued #1, $D2 queued #2" \
    || fail "queue while $C runs: D1 '$(field "$D1" state)' $q1, D2 $q2"
  out=$(T cancel "$D3" 2>&1)
  [[ $? -eq 0 && $(field "$D3" state) == cancelled && $(field "$D3" error) == *"before it started"* ]] \
    && ok "cancel of queued $D3: cancelled before it started" || fail "cancel queued $D3: '$out', state '$(field "$D3" state)'"
  http /status "$TMP/status2.json" >/dev/null
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); c=s["current"]; assert c["id"]==sys.argv[2] and c["progress"]["step"]>=3 and s["queue_length"]==2, s' \
    "$TMP/status2.json" "$C" && ok "/status: current experiment $C with progress, queue of 2" || fail "/status while running: $(head -c 400 "$TMP/status2.json")"
  out=$(T cancel "$C" 2>&1) && ok "cancel $C: $out" || fail "cancel $C: $out"
  T watch "$C" >"$TMP/watchC.txt" 2>&1; rc=$?
  [[ $rc -eq 1 && $(field "$C" state) == cancelled ]] && ok "$C cancelled (watch exit 1, '$(tail -1 "$TMP/watchC.txt")')" \
    || { fail "cancel: watch rc=$rc state '$(field "$C" state)'"; tail -3 "$TMP/watchC.txt"; }
  steps=$(grep -c '"step"' "$(field "$C" folder)/metrics.jsonl")
  [[ $steps -lt 100000 && -f "$(field "$C" folder)/checkpoints/latest" ]] && ok "$C stopped after $steps of 100000 steps and checkpointed" \
    || fail "$C after cancel: $steps steps, $(ls "$(field "$C" folder)" 2>&1)"
else fail "$C never reached step 3"; tail -20 "$LOG1"; fi
T watch "$D2" >/dev/null 2>&1; rc=$?
[[ $rc -eq 0 && $(field "$D1" state) == succeeded ]] && ok "after the cancel the queue ran on: $D1 and $D2 succeeded" \
  || fail "queue after cancel: watch $D2 rc=$rc, $D1 '$(field "$D1" state)'"
lc=$(line_of "$LOG1" "experiment $C cancelled") s1=$(line_of "$LOG1" "experiment $D1 ('next1'): starting") e1=$(line_of "$LOG1" "experiment $D1 succeeded")
s2=$(line_of "$LOG1" "experiment $D2 ('next2'): starting")
s3=$(line_of "$LOG1" "experiment $D3 ('next2'): starting")
[[ $lc -lt $s1 && $s1 -lt $e1 && $e1 -lt $s2 && $s2 -lt 999999 && $s3 -eq 999999 ]] && ok "FIFO: $D1 started after $C ended, $D2 after $D1 ended (log lines $lc < $s1 < $e1 < $s2)" \
  || fail "order in the log: cancel $lc, D1 start $s1 end $e1, D2 start $s2, D3 (cancelled while queued) start $s3"

# ---- stop the daemon mid-experiment (SIGTERM to the launcher), start it again: resume ----
spec resumable sft 600 >"$TMP/res.json"
E=$(T submit "$TMP/res.json") && F=$(T submit "$TMP/next1.json") || { fail "submit E, F"; finish; }
if wait_step "$E" 20 60; then
  kill -TERM "$lpid"
  wait_exit "$lpid" 120; rc=$?; lpid=0
  [[ $rc -eq 0 ]] && grep -q "experiment $E checkpointed for shutdown" "$LOG1" && grep -q "coordinator exiting cleanly" "$LOG1" \
    && ok "SIGTERM to the launcher during $E: checkpointed, job exit 0" || { fail "SIGTERM: rc=$rc"; tail -15 "$LOG1"; }
  dirE=$(sed -n "s/.*experiment $E ('resumable'): starting in //p" "$LOG1" | head -1)
  before=$(grep -c '"step"' "$dirE/metrics.jsonl" 2>/dev/null)
  [[ -f "$dirE/checkpoints/latest" && $before -ge 20 && $before -lt 600 ]] && ok "$E checkpointed after $before of 600 steps" \
    || fail "$E after stop: '$before' steps, $(ls "$dirE" 2>&1)"

  # second daemon: bare mpirun on the same registry, new ports
  LOG2="$TMP/daemon2.log"
  timeout 300 mpirun -n 1 "$COORD" "${DAEMON_ARGS[@]}" : -n 2 "$WORKER" >"$LOG2" 2>&1 &
  mpid=$!
  if ready "$LOG2"; then
    T watch "$E" >"$TMP/watchE.txt" 2>&1; rc=$?
    if [[ $rc -eq 0 ]] && grep -q "resumed from $dirE/checkpoints/step-0*$before " "$LOG2"; then
      ok "restarted daemon: $E resumed from its checkpoint at step $before and succeeded"
    else fail "resume: watch rc=$rc"; grep -i "resum\|$E" "$LOG2" | head; fi
    res=$(field "$E" result); n=$(grep -c '"step"' "$dirE/metrics.jsonl")
    [[ $res == *' 600 steps, '* && $n -eq 600 ]] && ok "$E: 600 steps in the result and 600 metric lines" || fail "$E: result '$res', $n metric lines"
    T watch "$F" >/dev/null 2>&1 && ok "$F, queued before the stop, ran after the restart" || fail "$F after restart: '$(field "$F" state)'"
    out=$(T shutdown 2>&1) || fail "trice shutdown: $out"
    wait_exit "$mpid" 60; rc=$?; mpid=0
    [[ $rc -eq 0 ]] && grep -q "coordinator exiting cleanly" "$LOG2" && ok "trice shutdown: the job exited 0" || { fail "shutdown: rc=$rc"; tail -5 "$LOG2"; }
  else fail "the second daemon did not come up"; tail -20 "$LOG2"; fi
else fail "$E never reached step 20"; tail -20 "$LOG1"; fi

finish
