#!/usr/bin/env bash
# Runs a Criterion test program of the CUDA backend; when every case skipped (no usable GPU, or
# a build without the backend), says why once and exits 77, so that meson reports the test as
# skipped instead of passed.
out=$("$@" --verbose 2>&1)
rc=$?
printf '%s\n' "$out"
if [[ $rc -eq 0 ]] && grep -q 'Synthesis: Tested: 0 |' <<<"$out" && grep -q '^\[SKIP\]' <<<"$out"; then
  echo "skipped: $(grep -m1 -o 'no CUDA backend to test: .*' <<<"$out")"
  exit 77
fi
exit $rc
