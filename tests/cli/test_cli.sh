#!/usr/bin/env bash
# The command line as a new user meets it, without a daemon or a token: every command and
# subcommand answers -h/--help with exit 0; the typical mistakes get exit 2 and a message
# that names the problem ("did you mean", what an endpoint looks like, every spec error at
# once) and no source locations; `trice status` with no daemon says so with exit 3.
set -uo pipefail
: "${BUILD:?BUILD must point at the build folder}"
TRICE="$BUILD/coordinator/cli/trice"
COORD="$BUILD/coordinator/trice-coordinator"
WORKER="$BUILD/worker/trice-worker"
TMP=$(mktemp -d /tmp/trice-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok()   { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# No daemon listens here and no token exists: nothing below may need either.
export HOME="$TMP/home" TRICE_ENDPOINT="tcp://127.0.0.1:9" TRICE_TOKEN_FILE=""
mkdir -p "$HOME"
cd "$TMP"

# check RC PATTERN CMD...: the exit status is RC and stdout+stderr match the extended regex
# PATTERN; no output may carry a source location such as "common/spec/spec.c:150:".
check() {
  local want=$1 pat=$2; shift 2
  local out rc
  out=$(timeout 20 "$@" 2>&1); rc=$?
  local name="${*#$BUILD/}"
  if [[ $rc -ne $want ]]; then fail "$name: exit $rc, want $want: $(head -c 300 <<<"$out")"; return; fi
  if ! grep -Eq -- "$pat" <<<"$out"; then fail "$name: output lacks /$pat/: $(head -c 300 <<<"$out")"; return; fi
  if grep -Eq '(common|coordinator|worker)/[a-z_/]+\.c:[0-9]+' <<<"$out"; then fail "$name: a source location reached the user: $out"; return; fi
  ok "$name -> $want"
}

# ---- help everywhere, exit 0, no daemon, no token, no MPI ----
for h in -h --help; do
  check 0 '^usage: trice \[' "$TRICE" $h
  for c in submit list status watch logs cancel shutdown help; do check 0 "usage: trice $c" "$TRICE" $c $h; done
  check 0 'usage: trice data' "$TRICE" data $h
  check 0 'usage: trice eval' "$TRICE" eval $h
  check 0 'usage: trice train' "$TRICE" train $h
  check 0 'usage: mpirun -n 1 trice-coordinator' "$COORD" $h
  check 0 'usage: trice-worker' "$WORKER" $h
done
check 0 '^usage: trice \[' "$TRICE" help
for c in submit list status watch logs cancel shutdown data eval train; do check 0 "usage: trice $c" "$TRICE" help $c; done
check 0 '^trice [0-9]' "$TRICE" --version
# help wins over missing operands and over other options
check 0 'usage: trice submit' "$TRICE" submit --token-file /nonexistent --help
check 0 'usage: trice watch' "$TRICE" watch --help some-id
# the coordinator's help comes before MPI starts: no MPI banner after it
out=$("$COORD" --help 2>&1)
grep -q 'MPI_ABORT\|MPI_Abort\|MPI_COMM_WORLD' <<<"$out" && fail "coordinator --help prints MPI's abort text: $out" \
  || ok "trice-coordinator --help prints its text and no MPI abort banner"

# ---- typical mistakes: exit 2, a message naming the problem ----
check 2 "unknown command 'sumbit' \(did you mean 'submit'\?\)" "$TRICE" sumbit spec.json
check 2 "unknown command 'stauts' \(did you mean 'status'\?\)" "$TRICE" stauts
check 2 "unknown command 'frobnicate'; see 'trice --help'" "$TRICE" frobnicate
check 2 "unknown option '--jsn' \(did you mean '--json'\?\)" "$TRICE" list --jsn
check 2 "unknown option '--endpiont' \(did you mean '--endpoint'\?\)" "$TRICE" --endpiont x list
check 2 "unknown option '--tokenfile' \(did you mean '--token-file'\?\)" "$TRICE" submit --tokenfile t spec.json
check 2 "trice list: unknown option '--follow'" "$TRICE" list --follow
check 2 "option '--endpoint' needs a value" "$TRICE" list --endpoint
check 2 "--timeout 'soon': want a number" "$TRICE" --timeout soon list
check 2 "give one spec file" "$TRICE" submit
check 2 "give one experiment id" "$TRICE" watch
check 2 "give at most one experiment id" "$TRICE" status a b
check 2 "takes no arguments" "$TRICE" list extra
check 2 "'127.0.0.1:7870' is not an endpoint: write it as tcp://HOST:PORT" "$TRICE" --endpoint 127.0.0.1:7870 list
check 2 "'127.0.0.1:7870' is not an endpoint" "$TRICE" status --endpoint 127.0.0.1:7870
check 3 "not reachable at tcp://127.0.0.1:9" "$TRICE" status
check 3 "not reachable" "$TRICE" list --json
check 3 "not reachable" "$TRICE" status --json       # an option, not an experiment id
check 2 "submit needs the daemon's token, and none was found at trice-state/token or .*/.trice/token" "$TRICE" submit spec.json
check 2 "unknown option '--rnu' \(did you mean '--run'\?\)" "$COORD" --rnu spec.json
check 2 "--rpc '127.0.0.1:7870' is not an endpoint" "$COORD" --rpc 127.0.0.1:7870
check 2 "unknown option '--log-levl' \(did you mean '--log-level'\?\)" "$WORKER" --log-levl debug
check 2 "unknown option '--chekpoint' \(did you mean '--checkpoint'\?\)" "$TRICE" eval --chekpoint m.bin --data navigate
check 2 "--n 'ten': want an integer" "$TRICE" eval --checkpoint m.bin --data navigate --n ten
check 2 "unknown option '--ot' \(did you mean '--out'\?\)" "$TRICE" train --ot x spec.json
check 2 "--split 'test': allowed values are train, eval" "$TRICE" data show navigate --split test
check 2 "unknown command 'shwo' \(show or stats\)" "$TRICE" data shwo navigate
check 0 "=== navigate example id" "$TRICE" data show navigate --n 1

# ---- a spec with several mistakes: every one reported at once, with lines and suggestions ----
cat >"$TMP/bad.json" <<'JSON'
{"name": "x",
 "stpes": 3,
 "method": "trcie",
 "task": {"name": "navgate"},
 "optim": {"lrr": 0.1},
 "batch_size": "8"}
JSON
out=$("$TRICE" train "$TMP/bad.json" 2>&1); rc=$?
want=("bad.json: 5 problems:" "bad.json:2: field 'stpes': unknown field; did you mean 'steps'?"
      "bad.json:3: field 'method': unknown value 'trcie'; did you mean 'trice'?"
      "bad.json:4: field 'task.name': unknown task 'navgate'; did you mean 'navigate'?"
      "bad.json:5: field 'optim.lrr': unknown field; did you mean 'optim.lr'?"
      "bad.json:6: field 'batch_size': must be an integer")
miss=""
for w in "${want[@]}"; do grep -qF -- "$w" <<<"$out" || miss+=" [$w]"; done
[[ $rc -eq 2 && -z $miss ]] && ok "a spec with 5 mistakes: all 5 reported, with lines and 'did you mean'" \
  || fail "bad spec: rc=$rc, missing:$miss in: $out"
grep -Eq '\.c:[0-9]+' <<<"$out" && fail "spec errors carry a source location: $out" || ok "spec errors carry no source location"

# ---- a spec that cannot learn is refused before training, with what to change ----
cat >"$TMP/nolearn.json" <<'JSON'
{"name": "nolearn", "seed": 3, "method": "trice", "memory_init": "hint", "steps": 5, "batch_size": 4,
 "task": {"name": "navigate", "n_train": 8, "n_eval": 2},
 "model": {"layers": 1, "heads": 2, "channels": 32, "context": 256}, "max_new_tokens": 40}
JSON
out=$(timeout 300 "$TRICE" train "$TMP/nolearn.json" --out "$TMP/nolearn" 2>&1); rc=$?
if [[ $rc -ne 0 ]] && grep -q "found no rationale that reaches the right answer" <<<"$out" && grep -q "warmup_sft_steps" <<<"$out" \
   && [[ ! -f "$TMP/nolearn/result.json" ]]; then
  ok "a trice stage whose memory holds no valid rationale is refused (exit $rc), naming the fix"
else
  fail "unlearnable spec: rc=$rc, result.json $( [[ -f $TMP/nolearn/result.json ]] && echo written || echo absent): $(tail -5 <<<"$out")"
fi

# ---- a run whose proposals are never accepted warns (a fresh model; memory from the generator) ----
cat >"$TMP/noaccept.json" <<'JSON'
{"name": "noaccept", "seed": 3, "method": "trice", "memory_init": "given", "steps": 21, "batch_size": 2,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 8, "n_eval": 2},
 "model": {"layers": 1, "heads": 2, "channels": 32, "context": 192}, "max_new_tokens": 80}
JSON
out=$(timeout 300 "$TRICE" train "$TMP/noaccept.json" --out "$TMP/noaccept" 2>&1); rc=$?
if [[ $rc -eq 0 ]] && grep -q "no proposal accepted in the last 20 steps (up to step 20)" <<<"$out"; then
  ok "20 steps without an accepted proposal: a warning, and the run goes on to its end"
else
  fail "zero-acceptance warning: rc=$rc: $(grep -i 'accept\|error' <<<"$out" | tail -3)"
fi

[[ $fails -eq 0 ]] && { echo "all checks passed"; exit 0; } || { echo "$fails check(s) failed"; exit 1; }
