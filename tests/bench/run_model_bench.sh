#!/bin/sh
# run_model_bench.sh - the C model and the PyTorch model side by side; prints one JSON object.
# Usage: tests/bench/run_model_bench.sh [builddir [iters [repeats [threads]]]]
#   builddir: where bench_model was built (default build); iters per measurement (default 3);
#   repeats: runs of each side, alternating C and PyTorch so both see the same machine load
#   (default 3); threads: 0 = 1 and 2 (default), else only that count.
# Output: per (config, threads) the medians of both sides, C/PyTorch ratios, the C side's share
# of the sgemm rate and peak RSS over buffers, and whether each target of the model issue holds:
# training >= 1.5x PyTorch (tiny) and >= 1.0x (small); sampling >= 3x at batch 64 and >= 5x at
# batch 1; small training >= 50% of sgemm; peak RSS <= 1.3x the buffers.
# Needs Debian's python3-torch under /usr/bin/python3. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# are unset here so that OpenBLAS picks its kernels for this CPU, as the benchmark asks.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
iters=${2:-3}
repeats=${3:-3}
threads=${4:-0}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while [ "$i" -lt "$repeats" ]; do
    "$build/tests/bench/bench_model" "$iters" all all "$threads" > "$tmp/c$i.json"
    /usr/bin/python3 "$here/model_torch_bench.py" "$iters" "$threads" > "$tmp/t$i.json"
    i=$((i + 1))
done
/usr/bin/python3 - "$tmp" "$repeats" <<'PY'
import json, statistics, sys
tmp, reps = sys.argv[1], int(sys.argv[2])
runs = {'c': [], 'torch': []}
for i in range(reps):
    runs['c'].append(json.load(open(f'{tmp}/c{i}.json'))['results'])
    runs['torch'].append(json.load(open(f'{tmp}/t{i}.json'))['results'])
def med(side, cfg, th, key):
    vals = [r[key] for run in runs[side] for r in run if r['config'] == cfg and r['threads'] == th]
    return statistics.median(vals)
keys_c = ['train_tokens_per_s', 'sample_tokens_per_s_b1', 'sample_tokens_per_s_b64', 'sgemm_gflops',
          'train_gflops', 'train_over_sgemm', 'peak_rss_mb', 'buffers_mb']
keys_t = ['train_tokens_per_s', 'sample_tokens_per_s_b1', 'sample_tokens_per_s_b64']
out = []
for r in runs['c'][0]:
    cfg, th = r['config'], r['threads']
    c = {k: round(med('c', cfg, th, k), 3) for k in keys_c}
    t = {k: round(med('torch', cfg, th, k), 1) for k in keys_t}
    ratio = {k: round(c[k] / t[k], 3) for k in keys_t}
    targets = {
        'train_vs_torch': ratio['train_tokens_per_s'] >= (1.5 if cfg == 'tiny' else 1.0),
        'sample_b64_vs_torch_3x': ratio['sample_tokens_per_s_b64'] >= 3.0,
        'sample_b1_vs_torch_5x': ratio['sample_tokens_per_s_b1'] >= 5.0,
        'rss_over_buffers_1.3': c['peak_rss_mb'] <= 1.3 * c['buffers_mb'],
    }
    if cfg == 'small':
        targets['train_over_sgemm_0.5'] = c['train_over_sgemm'] >= 0.5
    out.append(dict(config=cfg, threads=th, c=c, torch=t, c_over_torch=ratio,
                    rss_over_buffers=round(c['peak_rss_mb'] / c['buffers_mb'], 3), targets_met=targets))
print(json.dumps(dict(repeats=reps, statistic='median', results=out), indent=1))
PY
