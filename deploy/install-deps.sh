#!/usr/bin/env bash
# Install every build, test and run dependency of trice on Debian 12 (apt).
# Idempotent: when everything is present it only checks (about a second) and exits.
# Usage: deploy/install-deps.sh [--with-browser] [--with-slurm] [--with-dev-tools]
#   --with-browser    also Chromium, for the status-page screenshot test (it skips without)
#   --with-slurm      also slurm-wlm and munge, for the Slurm test (a private one-node
#                     cluster runs deploy/slurm.sbatch; it skips without)
#   --with-dev-tools  also what only maintainers need: PyTorch and numpy (fixture
#                     generation, benchmark comparison), Chromium, clang (fuzzers),
#                     matplotlib (plots), unicode-data (regenerating common/tok/unicode_tab.c).
# nodejs runs the reference GPT-2 encoder (data/gpt2/Encoder.js) in the tokenizer parity test.
set -euo pipefail

pkgs=(
  build-essential pkg-config meson ninja-build cmake
  libnng-dev protobuf-c-compiler libprotobuf-c-dev
  openmpi-bin libopenmpi-dev
  libuv1-dev libcriterion-dev
  libopenblas-dev libjansson-dev libsqlite3-dev libsystemd-dev
  python3 procps curl
  libjs-chart.js nodejs
)
for arg in "$@"; do
  case "$arg" in
    --with-browser) pkgs+=(chromium) ;;
    --with-slurm) pkgs+=(slurm-wlm munge) ;;
    --with-dev-tools) pkgs+=(python3-torch python3-numpy python3-matplotlib chromium clang libclang-rt-14-dev unicode-data) ;;
    *) echo "install-deps: unknown option '$arg' (allowed: --with-browser, --with-slurm, --with-dev-tools)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
