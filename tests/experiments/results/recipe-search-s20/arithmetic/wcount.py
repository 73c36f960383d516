# How many numbers each bracket of the restatement (the rationale's first " = " segment) holds,
# and how many of those are the question's numbers at the same place. Usage: wcount.py FILE...
import collections, gzip, json, re, sys
NUM = re.compile(r'(?<![0-9])-?[0-9]+')
def brackets(expr):
    m = re.match(r'\(\((.*?)\) [-+*] \((.*?)\)\)$', expr)
    return [m.group(1), m.group(2)] if m else None
for f in sys.argv[1:]:
    rows = [json.loads(l) for l in (gzip.open(f, 'rt') if f.endswith('.gz') else open(f))]
    counts = collections.Counter(); right = collections.Counter(); n = 0
    for r in rows:
        q = r['question'].split('\n')[0]
        q = q[q.index('(('):q.rindex(' =')]
        first = r['output'].split(' = ')[0]
        qb, ob = brackets(q), brackets(first)
        if not ob:
            counts['unreadable'] += 2; continue
        for qs, os_ in zip(qb, ob):
            # numbers are the tokens between operators " + ", " - ", " * "
            qn, on = re.split(r' [-+*] ', qs), re.split(r' [-+*] ', os_)
            counts[len(on)] += 1
            for k, v in enumerate(on):
                if k < len(qn) and v == qn[k]: right[k + 1] += 1
            n += 1
    print(f, 'brackets', n, 'numbers per restated bracket', dict(sorted(counts.items(), key=str)),
          'number k right (k=1..4)', [right[k] for k in range(1, 5)])
