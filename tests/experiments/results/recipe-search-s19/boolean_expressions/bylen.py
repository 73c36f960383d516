import json,sys,collections
for f in sys.argv[1:]:
    rows=[json.loads(l) for l in open(f)]
    by=collections.defaultdict(lambda:[0,0])
    for r in rows:
        n=len(r['question'].split())-1
        by[n][0]+=r['correct']; by[n][1]+=1
    tot=sum(r['correct'] for r in rows)/len(rows)
    print(f, '%.3f'%tot, ' '.join('%d:%d/%d'%(k,v[0],v[1]) for k,v in sorted(by.items())))
