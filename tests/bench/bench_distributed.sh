#!/usr/bin/env bash
# bench_distributed.sh - the distributed TRICE step for W = 1 and W = 2 workers side by side, for
# full fine-tuning and for a soft prompt, and for full fine-tuning also one worker with 2 threads
# (TRICE_THREADS=2: 1 worker x 2 threads against 2 workers x 1 thread); prints one JSON object
# on stdout (progress on stderr).
#
# Usage: tests/bench/bench_distributed.sh [builddir [steps [repeats [model.bin]]]]
#        tests/bench/bench_distributed.sh --baseline COMMIT [builddir [steps [repeats [model.bin]]]]
#   --baseline COMMIT  instead: the end-to-end TRICE step (examples/s) of the quickstart
#              configuration at W = 2 x 1 thread, COMMIT built in a temporary worktree against
#              builddir, alternating; see bench_distributed_baseline.sh for what it runs and prints
#   builddir   where trice-coordinator, trice-worker and tests/engine/run_cli were built (default build)
#   steps      optimiser steps per run (default 12); the first 2 of every run are warm-up and skipped
#   repeats    runs of each configuration, interleaved (W=1, W=2, W=1, ...) so that every
#              configuration sees the same machine load over time (default 3); the measured steps
#              of the repeats are pooled before taking medians
#   model.bin  a GPT-2 checkpoint to start from (the spec takes its dimensions from the file's
#              header); default: warm the default tiny model (4 layers,
#              4 heads, 128 channels, context 256) up here with 150 steps of SFT, so that proposals
#              look like a trained model's (length, EOT) rather than a random one's
#
# Each run is `mpirun -n 1 trice-coordinator --run SPEC --out DIR : -n W trice-worker` with TRICE
# on the built-in boolean_expressions task and memory_init "given" (every memory slot valid, so
# every step computes, reduces and applies a gradient, as in steady-state training). Figures
# come from the coordinator's metrics.jsonl rows: phases (seconds), bytes_moved (bytes through
# rank 0: what the coordinator sent and received in the step) and bytes_worker (the busiest
# worker's bytes to and from the other workers: the rationale exchange and the gradient
# all-reduce, counted as a ring's 2 (W-1)/W of the 16-byte-per-parameter sum each way).
#
# Reading the output: gradients and parameters never pass rank 0 (the workers all-reduce the
# exact gradient and each applies the update, msg.h OP_STEP). "reduce" is the all-reduce's
# transfer once every worker arrived (the slowest worker's), "wait" the time before it spent
# waiting for the slowest worker's backward passes (a barrier separates the two); "comm"
# contains "reduce" plus the rationale exchange and rank 0's step messages, not the wait, so
# "comm_share_net" = comm / total is the communication share net of waiting. The worker phases
# (sample, check, gradient, update) are the slowest worker's. Wall-clock figures; on a shared
# machine they are noisy: compare the configurations of one output only.
#
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset here (only here) so that OpenBLAS picks its
# kernels for this CPU; one BLAS thread per process.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
baseline=""
if [[ "${1:-}" == --baseline ]]; then
  [[ $# -ge 2 && -n "$2" ]] || { echo "--baseline needs a commit, e.g. --baseline abf3864" >&2; exit 2; }
  baseline=$2
  shift 2
fi
[[ -d "${1:-build}" ]] || { echo "build directory '${1:-build}' does not exist: build first (meson setup ${1:-build} && ninja -C ${1:-build})" >&2; exit 2; }
build=$(cd "${1:-build}" && pwd)
steps=${2:-12}
repeats=${3:-3}
init=${4:-}
skip=2
prompt_len=8
if ! [[ "$steps" =~ ^[0-9]+$ ]] || (( steps <= skip )); then echo "steps must be an integer > $skip, got '$steps'" >&2; exit 2; fi
if ! [[ "$repeats" =~ ^[0-9]+$ ]] || (( repeats < 1 )); then echo "repeats must be a positive integer, got '$repeats'" >&2; exit 2; fi
coord="$build/coordinator/trice-coordinator"
worker="$build/worker/trice-worker"
runcli="$build/tests/engine/run_cli"
for b in "$coord" "$worker" "$runcli"; do
  [[ -x "$b" ]] || { echo "missing $b: build first (ninja -C $build)" >&2; exit 2; }
done

unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader

tmp=$(mktemp -d /tmp/trice-bench-dist.XXXXXX)
base_src=""
cleanup() {
  if [[ -n "$base_src" && -d "$base_src" ]]; then
    git -C "$here" worktree remove --force "$base_src" >/dev/null 2>&1 || rm -rf "$base_src"
    git -C "$here" worktree prune >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)

warm_up() {  # warm_up RUN_CLI CONTEXT: SFT of the default tiny model into $tmp/warm/model.bin
  cat >"$tmp/warm.json" <<JSON
{"name": "bench-warm", "seed": 7, "method": "sft", "memory_init": "given", "steps": $warm_steps, "batch_size": 16,
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 128, "n_eval": 16},
 "model": {"layers": 4, "heads": 4, "channels": 128, "context": $2}, "max_new_tokens": 96,
 "optim": {"lr": 0.003}}
JSON
  echo "warming the model up ($warm_steps SFT steps, $1)..." >&2
  if ! "$1" train "$tmp/warm.json" --out "$tmp/warm" >"$tmp/warm.log" 2>&1; then
    tail -20 "$tmp/warm.log" >&2; echo "warm-up failed" >&2; exit 1
  fi
  init="$tmp/warm/model.bin"
  warm_acc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["acc_after"])' "$tmp/warm/result.json")
}

run_trice() {  # run_trice COORD WORKER SPEC OUT W THREADS LABEL
  if ! TRICE_THREADS=$6 timeout 600 mpirun --oversubscribe --bind-to none -n 1 "$1" --run "$3" --out "$4" \
         : -n "$5" "$2" >"$4.log" 2>&1; then
    tail -20 "$4.log" >&2; echo "run $7 failed (log above)" >&2; exit 1
  fi
}

model_dims() {  # model_dims CHECKPOINT: its dimensions as spec fields (the spec's defaults have context 256)
  python3 -c 'import struct,sys; h=struct.unpack("<8i", open(sys.argv[1],"rb").read(32)); print(f"\"layers\": {h[4]}, \"heads\": {h[5]}, \"channels\": {h[6]}, \"context\": {h[2]}")' "$1"
}

warm_steps=0
warm_acc=null
if [[ -n "$baseline" ]]; then
  # shellcheck source=bench_distributed_baseline.sh
  source "$here/bench_distributed_baseline.sh"
  exit 0
fi
if [[ -z "$init" ]]; then
  warm_steps=150
  warm_up "$runcli" 256
else
  init=$(cd "$(dirname "$init")" && pwd)/$(basename "$init")
  [[ -f "$init" ]] || { echo "model '$init' does not exist" >&2; exit 2; }
fi

spec() {  # spec TUNABLE
  local extra=""
  [[ "$1" == prompt ]] && extra="\"tunable\": \"prompt\", \"prompt_len\": $prompt_len,"
  cat <<JSON
{"name": "bench-dist", "seed": 11, "method": "trice", "memory_init": "given", $extra
 "task": {"name": "boolean_expressions", "difficulty": 1, "n_train": 64, "n_eval": 8},
 "model": {"init": "$init", $(model_dims "$init")}, "max_new_tokens": 96,
 "steps": $steps, "batch_size": 16, "optim": {"lr": 0.0003}}
JSON
}
spec full >"$tmp/full.json"
spec prompt >"$tmp/prompt.json"

for ((r = 0; r < repeats; r++)); do
  for tun in full prompt; do
    wt="1:1 2:1"
    [[ $tun == full ]] && wt="1:1 1:2 2:1"
    for cfg in $wt; do
      W=${cfg%:*} T=${cfg#*:}
      out="$tmp/run-$tun-w$W-t$T-r$r"
      echo "run $((r + 1))/$repeats: tunable=$tun W=$W threads=$T" >&2
      run_trice "$coord" "$worker" "$tmp/$tun.json" "$out" "$W" "$T" "tunable=$tun W=$W threads=$T"
    done
  done
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$tmp" "$repeats" "$skip" "$steps" "$prompt_len" "$(nproc)" "$load_start" "$load_end" \
  "$(( $(date +%s) - t_start ))" "$warm_steps" "$warm_acc" "${4:-}" "$init" <<'PY'
import json, re, statistics, struct, sys
(tmp, reps, skip, steps, prompt_len, cores, load0, load1, secs, warm_steps, warm_acc, init_arg, init) = sys.argv[1:14]
reps, skip, steps, prompt_len, cores = int(reps), int(skip), int(steps), int(prompt_len), int(cores)
# llm.c header: magic, version, max_seq_len, vocab, layers, heads, channels, padded vocab
hdr = struct.unpack('<8i', open(init, 'rb').read(32))
dims = {'layers': hdr[4], 'heads': hdr[5], 'channels': hdr[6], 'context': hdr[2]}
PHASES = ['sample', 'check', 'gradient', 'resample', 'reduce', 'wait', 'broadcast', 'comm', 'update', 'eval', 'total']

def med(xs):
    return statistics.median(xs) if xs else None

def rnd(x, d=6):
    return None if x is None else round(x, d)

def rows_of(tun, W, T):
    """Measured rows (warm-up steps skipped) and inter-step wall gaps of every repeat."""
    rows, gaps, nparams = [], [], None
    for r in range(reps):
        base = f'{tmp}/run-{tun}-w{W}-t{T}-r{r}'
        run = [json.loads(l) for l in open(f'{base}/metrics.jsonl') if l.strip()]
        run.sort(key=lambda x: x['step'])
        if len(run) != steps:
            sys.exit(f'{base}: {len(run)} metric rows, expected {steps}')
        kept = run[skip:]
        rows += kept
        # wall time between consecutive rows: the step plus its bookkeeping (counters, log line)
        gaps += [b['time'] - a['time'] for a, b in zip(run[skip - 1:], run[skip:])]
        m = re.search(r'ready: \d+ training examples in this shard, (\d+) parameters', open(base + '.log').read())
        if m:
            nparams = int(m.group(1))
    return rows, gaps, nparams

configs, by_key = [], {}
for tun in ('full', 'prompt'):
    for W, T in ((1, 1), (1, 2), (2, 1)) if tun == 'full' else ((1, 1), (2, 1)):
        rows, gaps, nparams = rows_of(tun, W, T)
        ph = {p: rnd(med([r['phases'][p] for r in rows])) for p in PHASES}
        share = [r['phases']['comm'] / r['phases']['total'] for r in rows if r['phases']['total'] > 0]
        share_wait = [(r['phases']['comm'] + r['phases'].get('wait', 0)) / r['phases']['total'] for r in rows
                      if r['phases']['total'] > 0]
        bytes0 = [r.get('bytes_moved', 0) for r in rows]
        bytesw = [r.get('bytes_worker', 0) for r in rows]
        n_tun = nparams if tun == 'full' else prompt_len * dims['channels']
        c = {
            'W': W, 'threads_per_worker': T, 'tunable': tun, **({'prompt_len': prompt_len} if tun == 'prompt' else {}),
            'tunable_params': n_tun,
            'processes': W + 1, 'oversubscribed': W * T + 1 > cores,
            'steps_measured': len(rows),
            'steps_without_update': sum(1 for r in rows if r['phases']['update'] == 0),
            'step_s_median': ph['total'],
            'step_s_min': rnd(min(r['phases']['total'] for r in rows)),
            'step_s_max': rnd(max(r['phases']['total'] for r in rows)),
            'wall_between_steps_s_median': rnd(med(gaps)),
            'phases_s_median': ph,
            'comm_share_net_median': rnd(med(share), 4),
            'comm_share_with_wait_median': rnd(med(share_wait), 4),
            'reduce_s_median': ph['reduce'],
            'bytes_rank0_per_step_median': int(med(bytes0)),
            'bytes_rank0_per_step_max': max(bytes0),
            'bytes_worker_peers_per_step_median': int(med(bytesw)),
            'bytes_worker_peers_per_step_max': max(bytesw),
            'bytes_per_worker_per_step_median': int(med([b + r / W for b, r in zip(bytesw, bytes0)])),
            'tokens_sampled_per_step_median': med([r['tokens_sampled'] for r in rows]),
        }
        configs.append(c)
        by_key[(tun, W, T)] = c

def ratio(a, b):
    a, b = by_key[a]['step_s_median'], by_key[b]['step_s_median']
    return rnd(a / b, 3) if a and b else None

speedup = {tun: ratio((tun, 1, 1), (tun, 2, 1)) for tun in ('full', 'prompt')}
threads = {
    'full_1x2_over_1x1': ratio(('full', 1, 1), ('full', 1, 2)),
    'full_1x2_vs_2x1': ratio(('full', 2, 1), ('full', 1, 2)),
}

out = {
    'benchmark': 'distributed TRICE step, W=1 vs W=2 workers (tests/bench/bench_distributed.sh)',
    'machine': {
        'cores': cores,
        'loadavg_1_5_15_start': load0, 'loadavg_1_5_15_end': load1,
        'note': (f'{cores} cores: W=2 plus the coordinator is 3 processes, so W=2 oversubscribes the machine '
                 '(Open MPI ranks busy-poll while they wait); other jobs shared these cores during the run, '
                 'so the figures are noisy: compare configurations within this output only'),
    },
    'setup': {
        'task': 'boolean_expressions (built-in), difficulty 1, 64 training / 8 held-out examples',
        'model': {**dims,
                  'init': init_arg if init_arg else f'warmed up here: {warm_steps} SFT steps (held-out acc {warm_acc})'},
        'method': 'trice', 'memory_init': 'given', 'batch_size': 16, 'subsample': 'all terms',
        'max_new_tokens': 96,
        'steps_per_run': steps, 'warmup_steps_skipped_per_run': skip, 'repeats_interleaved': reps,
        'mpi': 'mpirun --oversubscribe --bind-to none (else a rank\'s threads share one core), OMPI_MCA_pml=ob1, OMPI_MCA_btl=self,vader, OPENBLAS_NUM_THREADS=1',
        'statistic': 'median over the pooled measured steps of all repeats',
        'bench_seconds': int(secs),
    },
    'definitions': {
        'step_s': 'phases.total: coordinator wall time of one step (propose .. the workers\' update)',
        'comm': 'reduce + the rationale exchange + rank 0\'s step messages; not the wait for the slowest worker',
        'comm_share_net': 'phases.comm / phases.total per step: communication net of waiting',
        'comm_share_with_wait': '(comm + wait) / total per step',
        'reduce': 'the workers\' gradient all-reduce after a barrier: transfer only (slowest worker)',
        'wait': 'the barrier before it: waiting for the slowest worker\'s gradient',
        'sample, check, gradient, update': 'slowest worker',
        'bytes_rank0': 'metrics bytes_moved: bytes the coordinator sent and received in the step (no gradient or parameters)',
        'bytes_worker_peers': 'metrics bytes_worker: the busiest worker\'s bytes to and from other workers (all-reduce counted as a ring: 2 (W-1)/W x 16 B/parameter each way)',
        'bytes_per_worker': 'bytes_worker_peers + bytes_rank0 / W: everything one worker sends and receives',
        'speedup_w2_over_w1': 'step_s_median(W=1) / step_s_median(W=2), one thread per worker',
        'full_1x2_over_1x1': 'step_s_median(1 worker x 1 thread) / step_s_median(1 worker x 2 threads)',
        'full_1x2_vs_2x1': 'step_s_median(2 workers x 1 thread) / step_s_median(1 worker x 2 threads): > 1 means the threads win',
    },
    'configs': configs,
    'speedup_w2_over_w1': speedup,
    'threads': threads,
}
print(json.dumps(out, indent=1))
PY
