#!/usr/bin/env bash
# Launch a trice job on this machine: one coordinator and W workers under mpirun.
#
#   deploy/launch-local.sh [-n W] [--threads T] [--device D] [--max-restarts N] [--build DIR | --bin DIR] [--] [coordinator options...]
#
# --device D: where the workers compute (TRICE_DEVICE: cpu, cuda, cuda:N or auto; default auto:
# one GPU per worker by its local rank when GPUs are visible, else the CPU).
# --threads T: threads per worker for sampling and gradients (TRICE_THREADS; default: this
# machine's cores divided among the W workers, at least 1, so that -n 1 on 2 cores uses both).
# --build DIR: a meson build folder (default build/); --bin DIR: a folder holding the
# installed trice-coordinator and trice-worker (e.g. /usr/local/bin, for the systemd unit).
# With no coordinator options it runs the quickstart experiment (deploy/specs/quickstart.json:
# a supervised warm-up on an easy setting of the built-in boolean_expressions task, then
# TRICE with answer-only supervision on the BBH setting) into runs/quickstart.
# SIGTERM or SIGINT to this script stops the job cleanly (exit 0): mpirun itself treats
# TERM/INT as an abort (exit 1), so the script hands the ranks SIGUSR1 instead, which
# mpirun forwards to every rank and trice treats as "stop and checkpoint".
# With --max-restarts N, a job that fails (a rank died, a node vanished) is started
# again with --resume from its latest checkpoint, up to N times, like torchrun's
# max-restarts; every restart is logged here.
set -uo pipefail

W=2
THREADS="${TRICE_THREADS:-}"
MAX_RESTARTS=0
BUILD=build
BIN=
here=$(cd "$(dirname "$0")/.." && pwd)
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|--workers) W="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --device) export TRICE_DEVICE="$2"; shift 2 ;;
    --max-restarts) MAX_RESTARTS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --bin) BIN="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ ${#args[@]} -eq 0 ]]; then
  args=(--run "$here/deploy/specs/quickstart.json" --out "$here/runs/quickstart")
fi
[[ "$W" =~ ^[0-9]+$ && "$W" -ge 1 ]] || { echo "launch-local: -n wants a worker count >= 1, got '$W'" >&2; exit 2; }
cores=$(nproc 2>/dev/null || echo 1)
threads_from="--threads"
if [[ -z "$THREADS" ]]; then
  THREADS=$(( cores / W )); (( THREADS < 1 )) && THREADS=1; (( THREADS > 16 )) && THREADS=16
  threads_from="default: $cores cores / $W workers"
fi
[[ "$THREADS" =~ ^[0-9]+$ && "$THREADS" -ge 1 && "$THREADS" -le 16 ]] \
  || { echo "launch-local: --threads wants a count of threads per worker from 1 to 16, got '$THREADS'" >&2; exit 2; }
export TRICE_THREADS="$THREADS"
[[ "$MAX_RESTARTS" =~ ^[0-9]+$ ]] || { echo "launch-local: --max-restarts wants a count, got '$MAX_RESTARTS'" >&2; exit 2; }
if [[ -n "$BIN" ]]; then
  coord="$BIN/trice-coordinator"
  worker="$BIN/trice-worker"
  hint="--bin wants the folder holding the installed trice-coordinator and trice-worker"
else
  [[ "$BUILD" = /* ]] || BUILD="$here/$BUILD"
  coord="$BUILD/coordinator/trice-coordinator"
  worker="$BUILD/worker/trice-worker"
  hint="build first: meson setup build && ninja -C build"
fi
for b in "$coord" "$worker"; do
  [[ -x "$b" ]] || { echo "launch-local: $b not found; $hint" >&2; exit 2; }
done

log() { printf '%s [launcher] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

mpi_opts=(--oversubscribe)
# mpirun binds each rank to one core when there are 2 ranks or fewer: a worker's threads would
# then share that core
(( THREADS > 1 )) && mpi_opts+=(--bind-to none)
[[ $(id -u) -eq 0 ]] && mpi_opts+=(--allow-run-as-root)
export OMPI_MCA_pml="${OMPI_MCA_pml:-ob1}" OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

stopping=0
pid=0
on_signal() {
  if [[ $stopping -eq 1 ]]; then
    log "received $1 again: every rank quits at once (a resume starts from the last checkpoint)"
  else
    log "received $1: asking every rank to stop cleanly (send it again to quit at once)"
  fi
  stopping=1
  [[ $pid -gt 0 ]] && kill -USR1 "$pid" 2>/dev/null
}
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGINT' INT

log "$W worker(s) x $THREADS thread(s) each ($threads_from)"
attempt=0
extra=()
while :; do
  mpirun "${mpi_opts[@]}" -n 1 "$coord" "${args[@]}" "${extra[@]}" : -n "$W" "$worker" &
  pid=$!
  # wait returns early when a trapped signal arrives; keep waiting for mpirun itself
  while :; do
    wait "$pid"; rc=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  pid=0
  if [[ $rc -eq 0 || $stopping -eq 1 ]]; then exit "$rc"; fi
  if [[ $attempt -ge $MAX_RESTARTS ]]; then
    [[ $MAX_RESTARTS -gt 0 ]] && log "job failed (exit $rc) and all $MAX_RESTARTS restarts are used up; giving up"
    exit "$rc"
  fi
  attempt=$((attempt + 1))
  log "job failed (exit $rc); restart $attempt of $MAX_RESTARTS, resuming from the latest checkpoint"
  # a batch job resumes from its folder's latest checkpoint; a daemon resumes its running
  # experiment from the registry by itself
  for a in "${args[@]}"; do [[ "$a" == "--run" ]] && extra=(--resume-latest); done
done
