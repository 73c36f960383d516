#!/usr/bin/env bash
# `trice tokenize`: ids per line and back, the byte tokenizer, llm.c's tokenizer file, and
# errors that name the line and the bad id.
set -uo pipefail
: "${BUILD:?}"
TRICE="$BUILD/coordinator/cli/trice"
TMP=$(mktemp -d /tmp/trice-tokcli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

out=$(echo "Hello world" | "$TRICE" tokenize)
[[ "$out" == "15496 995" ]] && ok "GPT-2 ids of 'Hello world': $out" || fail "Hello world -> '$out'"

printf 'Natalia sold clips to 48 of her friends in April.\n\nThey'"'"'re 100%% sure: 2+2=4 😀 ñ 日本語\t tabs  \n#### 72\n' >"$TMP/in.txt"
"$TRICE" tokenize --file "$TMP/in.txt" >"$TMP/ids.txt"; rc=$?
[[ $rc -eq 0 && $(wc -l <"$TMP/ids.txt") -eq 4 ]] && ok "one line of ids per input line (4)" || fail "encode rc $rc, $(wc -l <"$TMP/ids.txt") lines"
[[ -z $(sed -n 2p "$TMP/ids.txt") ]] && ok "an empty line gives an empty line" || fail "empty line -> '$(sed -n 2p "$TMP/ids.txt")'"
"$TRICE" tokenize --decode <"$TMP/ids.txt" >"$TMP/back.txt"
cmp -s "$TMP/in.txt" "$TMP/back.txt" && ok "decode gives the input back byte for byte" || fail "decode differs: $(diff "$TMP/in.txt" "$TMP/back.txt" | head -3)"

out=$(echo "hi" | "$TRICE" tokenize --tokenizer byte)
[[ "$out" == "104 105" ]] && ok "byte tokenizer: hi -> $out" || fail "byte: '$out'"
out=$(echo "104 256 105" | "$TRICE" tokenize --tokenizer byte --decode)
[[ "$out" == "hi" ]] && ok "byte tokenizer decode skips end-of-text" || fail "byte decode: '$out'"

"$TRICE" tokenize --export-llmc "$TMP/gpt2_tokenizer.bin" 2>/dev/null
[[ $(od -An -t d4 -N 16 "$TMP/gpt2_tokenizer.bin" | tr -s ' ') == " 20240328 2 50257 50256" ]] \
  && ok "llm.c gpt2_tokenizer.bin written (magic 20240328, version 2, 50257 tokens, eot 50256)" || fail "llm.c header"
"$TRICE" tokenize --decode --llmc-file "$TMP/gpt2_tokenizer.bin" <"$TMP/ids.txt" >"$TMP/back2.txt"
cmp -s "$TMP/in.txt" "$TMP/back2.txt" && ok "decoding with llm.c's file gives the same text" || fail "llm.c decode differs"

msg=$(printf '15496 995\n15496 50257\n' | "$TRICE" tokenize --decode 2>&1 >/dev/null); rc=$?
[[ $rc -eq 1 && "$msg" == *"<stdin>:2: token 50257 is out of range (gpt2 ids are 0..50256)"* ]] \
  && ok "out-of-range id refused: $msg" || fail "out of range: rc $rc '$msg'"
msg=$(echo "15496 12x" | "$TRICE" tokenize --decode 2>&1 >/dev/null); rc=$?
[[ $rc -eq 1 && "$msg" == *"'12x' is not a token id"* ]] && ok "non-numeric id refused: $msg" || fail "bad id: rc $rc '$msg'"
msg=$(echo "-1" | "$TRICE" tokenize --tokenizer byte --decode 2>&1 >/dev/null); rc=$?
[[ $rc -eq 1 && "$msg" == *"token -1 is out of range (byte ids are 0..256)"* ]] && ok "negative id refused" || fail "negative: rc $rc '$msg'"
msg=$("$TRICE" tokenize --tokenizer bpe 2>&1 </dev/null); rc=$?
[[ $rc -eq 2 && "$msg" == *"unknown tokenizer 'bpe' (allowed: byte, gpt2)"* ]] && ok "unknown tokenizer: usage error" || fail "unknown tokenizer: rc $rc '$msg'"
msg=$("$TRICE" tokenize --file "$TMP/missing.txt" 2>&1); rc=$?
[[ $rc -eq 1 && "$msg" == *"missing.txt"* ]] && ok "missing file named" || fail "missing file: rc $rc '$msg'"

[[ $fails -eq 0 ]]
