#!/usr/bin/env python3
"""Per-line echo and exact-line counts of navigate outputs (navcheck.py's formats).
usage: echostat.py RESULTS.jsonl[.gz] ... [--v3|--v4]"""
import json, os, sys, gzip
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import navcheck
from navcheck import expected, split_output
from collections import Counter
for path in [a for a in sys.argv[1:] if not a.startswith('--')]:
    op = gzip.open if path.endswith('.gz') else open
    ok=Counter(); tot=Counter(); st=Counter(); stot=Counter()
    for l in op(path,'rt'):
        r=json.loads(l); exp,sents=expected(r['question']); got=split_output(r['output'])
        for k,s in enumerate(sents):
            tot[k+1]+=1
            if k+1<len(got):
                g=got[k+1]; e=exp[k+1]
                if g.startswith(s): ok[k+1]+=1
                if g==e: st[k+1]+=1
    print(path, 'echo right by line:', ' '.join('%d:%d/%d'%(k,ok[k],tot[k]) for k in sorted(tot)), '| line exact:', ' '.join('%d:%d'%(k,st[k]) for k in sorted(tot)))
