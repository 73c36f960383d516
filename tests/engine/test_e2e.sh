#!/usr/bin/env bash
# The engine end to end in one process: a tiny model warmed up on program-written
# rationales, then TRICE with answer-only supervision, must raise held-out accuracy;
# `eval` must reproduce the reported accuracy; every baseline and the soft-prompt mode run.
set -uo pipefail
: "${BUILD:?}"
CLI="$BUILD/tests/engine/run_cli"
CMP="$BUILD/tests/integration/cmp_model"
TMP=$(mktemp -d /tmp/trice-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
num() { sed -n "s/.*\"$1\": \([-0-9.e]*\).*/\1/p" "$2" | head -1; }

cat >"$TMP/e.json" <<'JSON'
{"name": "e2e", "seed": 7, "method": "trice", "memory_init": "sample", "init_tries": 2,
 "task": {"name": "boolean_expressions", "difficulty": 2, "n_train": 200, "n_eval": 64},
 "model": {"layers": 2, "heads": 2, "channels": 64, "context": 192}, "max_new_tokens": 96,
 "warmup_sft_steps": 250, "warmup_difficulty": 2, "warmup_lr": 0.003,
 "steps": 150, "batch_size": 12, "eval_every": 50,
 "optim": {"lr": 0.0003, "warmup_steps": 5}}
JSON
if "$CLI" train "$TMP/e.json" --out "$TMP/e" >"$TMP/e.log" 2>&1; then
  b=$(num acc_before "$TMP/e/result.json"); a=$(num acc_after "$TMP/e/result.json")
  if awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= b + 0.1) }'; then ok "TRICE raised held-out accuracy from $b to $a"
  else fail "held-out accuracy did not rise by 0.1: before $b, after $a"; fi
  wb=$(num acc_before "$TMP/e/warmup/result.json"); wa=$(num acc_after "$TMP/e/warmup/result.json")
  awk -v a="$wa" -v b="$wb" 'BEGIN { exit !(a > b) }' && ok "warm-up raised accuracy from $wb to $wa" || fail "warm-up: $wb -> $wa"
  lines=$(grep -c '"proposal_acc"' "$TMP/e/metrics.jsonl")
  [[ $lines -eq 150 ]] && ok "150 metric lines" || fail "expected 150 metric lines, got $lines"
  for f in proposal_acc memory_acc beta_mean nonzero_terms loss grad_norm tokens_sampled '"sample"' '"gradient"'; do
    grep -q "$f" "$TMP/e/metrics.jsonl" || fail "metrics.jsonl lacks $f"
  done
  grep -q 'eval_acc' "$TMP/e/metrics.jsonl" && ok "periodic held-out accuracy logged" || fail "no eval_acc in metrics"
  grep -q "step 150/150 | prop acc .* | mem acc .* | beta .* | loss .* | held-out .* | .* sampled tok/s | ETA" "$TMP/e.log" \
    && ok "progress lines" || fail "progress line format"
  # `eval` on the experiment folder reproduces the accuracy the run reported
  out=$("$CLI" eval --checkpoint "$TMP/e" --data boolean_expressions --difficulty 2 --seed 7 --n 64 --maj-k 3 --out "$TMP/ev.jsonl" 2>&1 | tail -1)
  n=$(grep -c '"correct"' "$TMP/ev.jsonl")
  acc=$(echo "$out" | sed -n 's/^accuracy \([0-9.]*\).*/\1/p')
  awk -v x="$acc" -v y="$a" 'BEGIN { exit !(x - y < 5e-5 && y - x < 5e-5) }' && [[ $n -eq 64 ]] \
    && ok "trice eval reproduces $acc on the 64 held-out examples" || fail "trice eval: '$out' ($n lines) vs $a"
  echo "$out" | grep -q "maj@3 [0-9.]* ([0-9]*/64)" && [[ $(grep -c '"maj_correct"' "$TMP/ev.jsonl") -eq 64 ]] \
    && ok "maj@3 reported: $(echo "$out" | grep -o 'maj@3 [0-9.]* ([0-9]*/64)')" || fail "maj@3 missing: '$out'"
else
  fail "the e2e run failed"; tail -20 "$TMP/e.log"
fi

# every baseline runs on the same engine (a few steps from the warmed-up model)
for m in sft direct rs star trice-nocv; do
  init=given; [[ $m == trice-nocv ]] && init=sample   # memory from the model's own samples
  cat >"$TMP/$m.json" <<JSON
{"name": "$m", "seed": 7, "method": "$m", "memory_init": "$init", "init_tries": 4, "particles": 3, "star_iterations": 2,
 "task": {"name": "boolean_expressions", "difficulty": 2, "n_train": 48, "n_eval": 16},
 "model": {"init": "$TMP/e/warmup/model.bin", "context": 192}, "max_new_tokens": 96,
 "steps": 3, "batch_size": 8, "optim": {"lr": 0.0003}}
JSON
  if "$CLI" train "$TMP/$m.json" --out "$TMP/$m" >"$TMP/$m.log" 2>&1 && [[ -f "$TMP/$m/result.json" ]]; then
    ok "$m ran ($(grep -c '"step"' "$TMP/$m/metrics.jsonl") steps)"
  else fail "$m failed"; tail -5 "$TMP/$m.log"; fi
done
grep -q "STaR iteration 2" "$TMP/star.log" && ok "star ran 2 outer iterations" || fail "star iterations"

# soft prompt: only the prompt changes; the frozen weights stay bit-identical
cat >"$TMP/p.json" <<JSON
{"name": "p", "seed": 7, "method": "trice", "memory_init": "given", "tunable": "prompt", "prompt_len": 4,
 "task": {"name": "boolean_expressions", "difficulty": 2, "n_train": 48, "n_eval": 16},
 "model": {"init": "$TMP/e/warmup/model.bin", "context": 192}, "max_new_tokens": 96,
 "steps": 5, "batch_size": 8, "optim": {"lr": 0.1}}
JSON
if "$CLI" train "$TMP/p.json" --out "$TMP/p" >"$TMP/p.log" 2>&1 && [[ -f "$TMP/p/prompt.bin" ]]; then
  "$CMP" "$TMP/e/warmup/model.bin" "$TMP/p/model.bin" >/dev/null && ok "soft prompt trained, weights untouched" \
    || fail "soft-prompt run changed the model weights"
else fail "soft-prompt run failed"; tail -5 "$TMP/p.log"; fi

# a multi-stage answers-only recipe: rationales on 3-5-token expressions, then TRICE from
# answers on 5-7 tokens, then the target stage; a resume finds every stage finished
cat >"$TMP/c.json" <<JSON
{"name": "c", "seed": 7, "answers_only": true, "method": "trice", "memory_init": "sample", "init_tries": 1,
 "task": {"name": "boolean_expressions", "difficulty": 0, "n_train": 32, "n_eval": 8},
 "stages": [{"name": "rationales", "method": "sft", "memory_init": "given", "task": {"difficulty": 1}, "steps": 4},
            {"name": "d2", "task": {"difficulty": 2}, "steps": 2}],
 "model": {"init": "$TMP/e/warmup/model.bin", "context": 192}, "max_new_tokens": 64,
 "steps": 2, "batch_size": 4}
JSON
if "$CLI" train "$TMP/c.json" --out "$TMP/c" >"$TMP/c.log" 2>&1 && [[ -f "$TMP/c/result.json" ]]; then
  [[ -f "$TMP/c/rationales/model.bin" && -f "$TMP/c/d2/result.json" ]] && grep -q '"method": "sft"' "$TMP/c/rationales/spec.json" \
    && grep -q "stage 2/3 (d2): trice, 2 steps on boolean_expressions difficulty 2 (answers only)" "$TMP/c.log" \
    && grep -q "/c/d2/model.bin" "$TMP/c/spec.json" \
    && ok "three stages ran in order, each from the model of the one before" || fail "stage folders or log lines missing"
  "$CLI" train "$TMP/c.json" --out "$TMP/c" --resume >"$TMP/c2.log" 2>&1
  [[ $(grep -c "already finished" "$TMP/c2.log") -eq 2 ]] && ok "a resume skips finished stages" \
    || fail "resume did not skip the finished stages"; 
else fail "the multi-stage run failed"; tail -5 "$TMP/c.log"; fi
# the stage rule: rationales at sizes that overlap the target are refused before anything runs
sed 's/"task": {"difficulty": 1}, "steps": 4/"task": {"difficulty": 2}, "steps": 4/' "$TMP/c.json" >"$TMP/bad.json"
if "$CLI" train "$TMP/bad.json" --out "$TMP/bad" >"$TMP/bad.log" 2>&1; then fail "a recipe with rationales at the target's sizes ran"
else
  grep -q "answers_only: stages\[0\] 'rationales' is given rationales at difficulty 2 .*5-7 tokens.*strictly smaller" "$TMP/bad.log" \
    && [[ ! -d "$TMP/bad/rationales" ]] && ok "stage rule: overlapping rationales refused with the sizes named" \
    || { fail "stage rule message"; cat "$TMP/bad.log"; }
fi

# memory initialised from few-shot prompts (init_shots 2): the first training examples with
# rationales come before each question, never the example itself, and the long question 8 has
# room for one exemplar only. The model is first taught exactly those prompts (written out in
# shown.jsonl): the engine's few-shot prompts must match them byte for byte for its samples to
# be right, while zero-shot prompts are not
N='\n'
q() { if [[ $1 -eq 8 ]]; then echo "$(printf 'x%.0s' $(seq 60))+1?"; else echo "$1+1?"; fi; }
r() { if [[ $1 -eq 8 ]]; then echo "So the answer is 1."; else echo "$1+1=$(($1 + 1)). So the answer is $(($1 + 1))."; fi; }
a() { if [[ $1 -eq 8 ]]; then echo 1; else echo $(($1 + 1)); fi; }
shot() { echo -n "$(q "$1")${N}A: Let's think step by step.${N}$(r "$1")${N}${N}Q: "; }
for i in 1 2 3 4 5 6 7 8; do
  case $i in 1) p="$(shot 2)$(shot 3)" ;; 2) p="$(shot 1)$(shot 3)" ;; 8) p="$(shot 1)" ;; *) p="$(shot 1)$(shot 2)" ;; esac
  echo "{\"question\": \"$(q $i)\", \"answer\": \"$(a $i)\", \"rationale\": \"$(r $i)\"}" >>"$TMP/shots.jsonl"
  echo "{\"question\": \"$p$(q $i)\", \"answer\": \"$(a $i)\", \"rationale\": \"$(r $i)\"}" >>"$TMP/shown.jsonl"
done
fsspec() {  # name method data init extra
  cat >"$TMP/$1.json" <<JSON
{"name": "$1", "seed": 3, "method": "$2", "memory_init": "$4", "init_tries": 1 $5,
 "task": {"name": "jsonl", "path": "$TMP/$3.jsonl", "test_path": "$TMP/$3.jsonl"},
 "model": {"layers": 1, "heads": 2, "channels": 32, "context": 256}, "max_new_tokens": 48,
 "steps": 300, "batch_size": 8, "optim": {"lr": 0.01}}
JSON
}
fsspec fsw sft shown given ""
"$CLI" train "$TMP/fsw.json" --out "$TMP/fsw" >"$TMP/fsw.log" 2>&1 || { fail "the supervised run for init_shots failed"; tail -5 "$TMP/fsw.log"; }
fsspec fs trice shots sample ", \"init_shots\": 2"
sed -i "s#\"layers\": 1, \"heads\": 2, \"channels\": 32#\"init\": \"$TMP/fsw/model.bin\"#; s/\"steps\": 300/\"steps\": 2/" "$TMP/fs.json"
if "$CLI" train "$TMP/fs.json" --out "$TMP/fs" >"$TMP/fs.log" 2>&1 && [[ -f "$TMP/fs/result.json" ]]; then
  grep -q "memory initialised (sample, 2-shot prompts): [678] of 8 training examples valid" "$TMP/fs.log" \
    && ok "memory initialised from 2-shot prompts: $(grep -o 'memory initialised.*' "$TMP/fs.log")" \
    || { fail "2-shot memory initialisation"; cat "$TMP/fs.log"; }
  grep -q "memory initialisation: 1 of 8 examples' 2-shot prompts leave no room for 48 new tokens" "$TMP/fs.log" \
    && ok "the long question falls back to fewer exemplars" || { fail "no fall-back line"; grep memory "$TMP/fs.log"; }
else fail "the init_shots run failed"; tail -5 "$TMP/fs.log"; fi
sed 's/, "init_shots": 2//' "$TMP/fs.json" >"$TMP/fs0.json"
"$CLI" train "$TMP/fs0.json" --out "$TMP/fs0" >"$TMP/fs0.log" 2>&1
grep -q "memory initialised (sample): [0-3] of 8 training examples valid" "$TMP/fs0.log" \
  && ok "zero-shot prompts with the same model: $(grep -o 'memory initialised.*' "$TMP/fs0.log")" \
  || { fail "zero-shot initialisation should find few valid rationales"; grep memory "$TMP/fs0.log"; }
# too few examples with rationales for the exemplars: refused before training, naming init_shots and the count
sed 's/"init_shots": 2/"init_shots": 8/' "$TMP/fs.json" >"$TMP/fs8.json"
if "$CLI" train "$TMP/fs8.json" --out "$TMP/fs8" >"$TMP/fs8.log" 2>&1; then fail "init_shots 8 on 8 examples ran"
else
  grep -q "init_shots 8 needs at least 9 training examples with a rationale .* but 8 of its 8" "$TMP/fs8.log" \
    && ok "init_shots larger than the task refused: $(grep -o 'init_shots 8 needs.*' "$TMP/fs8.log" | head -1)" \
    || { fail "init_shots refusal message"; cat "$TMP/fs8.log"; }
fi

[[ $fails -eq 0 ]] && { echo "all checks passed"; exit 0; } || { echo "$fails check(s) failed"; exit 1; }
