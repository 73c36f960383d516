#!/usr/bin/env bash
# The engine with GPT-2's tokenizer, in one process, on the tiny GPT-2-vocabulary model of
# tests/model/fixtures (llm.c version 5, random weights): soft-prompt TRICE and full
# fine-tuning run and save GPT-2-vocabulary models, `eval` reads a bare GPT-2 model file, and
# checkpoints that do not match the spec's tokenizer are refused naming both sides.
set -uo pipefail
: "${BUILD:?}" "${TRICE_SOURCE_ROOT:?}"
CLI="$BUILD/tests/engine/run_cli"
FIX="$TRICE_SOURCE_ROOT/tests/model/fixtures"
TMP=$(mktemp -d /tmp/trice-gpt2.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# int32 field i of an llm.c header
hdr() { od -An -t d4 -j $(($2 * 4)) -N 4 "$1" | tr -d ' '; }

# memory from the generator's given rationales: a random-weight model samples none that reach
# the answer, and TRICE refuses an empty memory (trainer.c, refuse_empty_memory)
spec() {  # name tunable prompt_len init tokenizer [method]
  cat >"$TMP/$1.json" <<JSON
{"name": "$1", "seed": 3, "method": "${6:-trice}", "memory_init": "given",
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 8, "n_eval": 4},
 "model": {"init": "$4", "context": 96, "tokenizer": "$5"},
 "tunable": "$2", "prompt_len": $3, "max_new_tokens": 24,
 "steps": 2, "batch_size": 4, "optim": {"lr": 0.001}}
JSON
}

spec soft prompt 4 "$FIX/gpt2vocab_model.bin" gpt2
if "$CLI" train "$TMP/soft.json" --out "$TMP/soft" >"$TMP/soft.log" 2>&1; then
  ok "soft-prompt TRICE on a GPT-2-vocabulary model ran: $(tail -1 "$TMP/soft.log")"
  [[ $(grep -c '"proposal_acc"' "$TMP/soft/metrics.jsonl") -eq 2 ]] && ok "2 metric lines" || fail "metric lines"
  [[ -s "$TMP/soft/prompt.bin" ]] && ok "prompt.bin written" || fail "no prompt.bin"
  v=$(hdr "$TMP/soft/model.bin" 3); vp=$(hdr "$TMP/soft/model.bin" 7); t=$(hdr "$TMP/soft/model.bin" 2)
  [[ $v -eq 50257 && $vp -eq 50304 && $t -eq 96 ]] && ok "model.bin: vocabulary 50257 padded 50304, context 96" \
    || fail "model.bin header: vocab $v padded $vp context $t"
  grep -q '"tokenizer": "gpt2"' "$TMP/soft/spec.json" && ok "spec.json records model.tokenizer gpt2" || fail "spec.json lacks the tokenizer"
  # outputs are GPT-2 text: every held-out line has an output string
  [[ $(grep -c '"output"' "$TMP/soft/eval-after.jsonl") -ge 1 ]] && ok "held-out outputs decoded" || fail "no outputs in eval-after.jsonl"
else
  fail "soft-prompt run failed"; tail -20 "$TMP/soft.log"
fi

spec full full 0 "$FIX/gpt2vocab_model.bin" gpt2 sft
if "$CLI" train "$TMP/full.json" --out "$TMP/full" >"$TMP/full.log" 2>&1; then
  ok "full fine-tuning (sft on the given rationales) of a GPT-2-vocabulary model ran"
  cmp -s "$TMP/full/model.bin" "$TMP/soft/model.bin" && fail "full fine-tuning left the weights as they were" \
    || ok "full fine-tuning changed the weights"
  out=$("$CLI" eval --checkpoint "$TMP/full/model.bin" --data boolean_expressions --difficulty 1 --seed 3 --n 4 \
        --max-new-tokens 24 --out "$TMP/ev.jsonl" 2>&1 | tail -1)
  echo "$out" | grep -q "^accuracy [0-9.]* ([0-9]*/4)" && ok "eval of a bare GPT-2 model file: $out" || fail "eval: $out"
else
  fail "full fine-tuning run failed"; tail -20 "$TMP/full.log"
fi

# refusals: the message names the file's vocabulary, the tokenizer's, and the fix
spec bytespec full 0 "$FIX/gpt2vocab_model.bin" byte
msg=$("$CLI" train "$TMP/bytespec.json" --out "$TMP/x1" 2>&1); rc=$?
[[ $rc -ne 0 ]] && grep -q "50257" <<<"$msg" && grep -q "'byte' has 257" <<<"$msg" && grep -q 'set model.tokenizer to "gpt2"' <<<"$msg" \
  && ok "a GPT-2 checkpoint under the byte tokenizer is refused: $(grep -o "model.init.*" <<<"$msg" | head -1)" \
  || fail "GPT-2 checkpoint with tokenizer byte: rc $rc, '$msg'"
spec gpt2spec full 0 "$FIX/parity_model.bin" gpt2
msg=$("$CLI" train "$TMP/gpt2spec.json" --out "$TMP/x2" 2>&1); rc=$?
[[ $rc -ne 0 ]] && grep -q "vocabulary of 257 tokens" <<<"$msg" && grep -q "'gpt2' has 50257" <<<"$msg" \
  && ok "a byte-level checkpoint under the gpt2 tokenizer is refused" || fail "byte checkpoint with tokenizer gpt2: rc $rc, '$msg'"
# a GPT-2 file whose padded vocabulary is not llm.c's (50257 instead of 50304)
python3 - "$TMP/badpad.bin" <<'PY'
import struct, sys
V, VP, T, L, NH, C = 50257, 50257, 96, 1, 1, 8
n = VP * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<256i', *([20240326, 3, T, V, L, NH, C, VP] + [0] * 248)))
    f.write(bytes(4 * n))
PY
spec badpad full 0 "$TMP/badpad.bin" gpt2
msg=$("$CLI" train "$TMP/badpad.json" --out "$TMP/x3" 2>&1); rc=$?
[[ $rc -ne 0 ]] && grep -q "padded vocabulary 50257 is inconsistent with its vocabulary of 50257" <<<"$msg" && grep -q "50304" <<<"$msg" \
  && ok "an inconsistent padded vocabulary is refused" || fail "bad padding: rc $rc, '$msg'"

# the GSM8K recipes parse and validate; run from the source root (their data paths are
# ../shared/data), without llm.c's weights they stop naming the missing file
if [[ -f "$TRICE_SOURCE_ROOT/../shared/data/gsm8k/train.jsonl" ]]; then want="gpt2_124M.bin: cannot stat model file"
else echo "../shared/data is absent: the recipes stop at the data file instead"; want="../shared/data/gsm8k/train.jsonl"; fi
for r in gpt2-gsm8k gpt2-gsm8k-full; do
  msg=$(cd "$TRICE_SOURCE_ROOT" && "$CLI" train "deploy/recipes/$r.json" --out "$TMP/r-$r" 2>&1); rc=$?
  [[ $rc -ne 0 && "$msg" == *"$want"* ]] && ok "recipe $r.json is a valid spec; it stops at: $want" || fail "recipe $r: rc $rc '$msg'"
done

[[ $fails -eq 0 ]]
