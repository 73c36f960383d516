#!/usr/bin/env bash
# Configure (first time) or reconfigure, then build. Idempotent.
#   deploy/build.sh [BUILDDIR] [extra meson options, e.g. -Db_sanitize=address,undefined]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [[ -f "$dir/build.ninja" ]]; then
  meson setup --reconfigure "$dir" "$@" >/dev/null
else
  meson setup "$dir" "$@"
fi
ninja -C "$dir"
