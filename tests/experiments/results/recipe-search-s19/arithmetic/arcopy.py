import json,re,sys,collections
for f in sys.argv[1:]:
    rows=[json.loads(l) for l in open(f)]
    exact=0; n4=collections.Counter()
    for r in rows:
        m=re.match(r'\(\((.*?)\) [-+*] \((.*?)\)\) =',r['question'])
        first=r['output'].split('\n')[0]
        eA=first.split(' = ')[1] if ' = ' in first else ''
        exact+= eA==m.group(1)
    print(f,'acc %.3f'%(sum(r['correct'] for r in rows)/len(rows)),'exact A copies',exact,'of',len(rows))
