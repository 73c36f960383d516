# acc and exact restatement of the question (first segment before " = ") per eval file
import json,sys,gzip,collections
for f in sys.argv[1:]:
    op=gzip.open if f.endswith('.gz') else open
    rows=[json.loads(l) for l in op(f,'rt')]
    exact=0; nsteps=collections.Counter()
    for r in rows:
        q=r['question'].split('\n')[0]
        q=q[q.index('(('):q.rindex(' =')]
        out=r['output']
        first=out.split(' = ')[0]
        exact+= first==q
    print(f,'n',len(rows),'acc %.3f'%(sum(r['correct'] for r in rows)/len(rows)),'exact restatements',exact)
