#!/usr/bin/env python3
"""tally.py FILE.jsonl[.gz]...: held-out accuracy of each evaluation output (trice eval --out, or a
run's eval-after.jsonl): the share of lines whose "correct" is true, and the count."""
import gzip, json, sys

for path in sys.argv[1:]:
    op = gzip.open if path.endswith('.gz') else open
    rows = [json.loads(l) for l in op(path, 'rt') if l.strip()]
    ok = sum(1 for r in rows if r['correct'])
    print(f'{path}: {ok / len(rows):.3f} ({ok}/{len(rows)})')
