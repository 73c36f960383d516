"""multistep_arithmetic_two, whole-question format: for the questions whose first line restates
the expression exactly, how many numbers per bracket the second line (the first reduction)
keeps. At the target (4 per bracket) it should keep 3. Usage: /usr/bin/python3 secondline.py FILE..."""
import collections, gzip, json, re, sys

OPERATOR = re.compile(r' [-+*] ')
TWO = re.compile(r'\(\((.*?)\) [-+*] \((.*?)\)\)$')


def report(path):
    with (gzip.open(path, 'rt') if path.endswith('.gz') else open(path)) as fh:
        rows = [json.loads(l) for l in fh]
    exact, counts = 0, collections.Counter()
    for r in rows:
        line = r['question'].split('\n')[0]
        segs = r['output'].split(' = ')
        if segs[0] != line[:line.rindex(' =')] or len(segs) < 2:
            continue
        exact += 1
        m = TWO.match(segs[1].strip())   # the columns format pads; strip its ends
        if not m:
            counts['unreadable'] += 2
            continue
        for g in m.groups():
            counts[len(OPERATOR.split(g.strip()))] += 1
    print(f"{path}: {exact} exact restatements; numbers per bracket in their second line: "
          f"{dict(sorted(counts.items(), key=str))}")


for p in sys.argv[1:]:
    report(p)
