"""multistep_arithmetic_two, whole-question format: how the rationale's first " = " segment
restates the question's expression. Per evaluation file (.jsonl or .jsonl.gz, from `trice eval`):
accuracy, exact restatements, numbers per restated bracket, how often the k-th number is the
question's k-th, and for 3-number restatements of 4-number brackets whether the third number
written is the question's third or its last.  Usage: /usr/bin/python3 restate.py FILE..."""
import collections, gzip, json, re, sys

BRACKETS = re.compile(r'\(\((.*?)\) [-+*] \((.*?)\)\)$')
OPERATOR = re.compile(r' [-+*] ')   # numbers are what lies between operators


def expression(question):
    line = question.split('\n')[0]
    return line[line.index('(('):line.rindex(' =')]


def report(path):
    with (gzip.open(path, 'rt') if path.endswith('.gz') else open(path)) as fh:
        rows = [json.loads(l) for l in fh]
    exact = correct = 0
    counts, right, third = collections.Counter(), collections.Counter(), collections.Counter()
    for r in rows:
        q, first = expression(r['question']), r['output'].split(' = ')[0]
        exact += first == q
        correct += bool(r['correct'])
        ob = BRACKETS.match(first)
        if not ob:
            counts['unreadable'] += 2
            continue
        for qs, os_ in zip(BRACKETS.match(q).groups(), ob.groups()):
            qn, on = OPERATOR.split(qs), OPERATOR.split(os_)
            counts[len(on)] += 1
            for k, v in enumerate(on[:len(qn)]):
                right[k + 1] += v == qn[k]
            if len(qn) == 4 and len(on) == 3:
                third[(on[2] == qn[2], on[2] == qn[3])] += 1
    print(f"{path}: {len(rows)} questions, accuracy {correct / len(rows):.3f}, exact restatements {exact}")
    print(f"  numbers per restated bracket: {dict(sorted(counts.items(), key=str))}")
    print(f"  number k right, k = 1..4: {[right[k] for k in range(1, 5)]}")
    if third:
        print(f"  3-number restatements of 4-number brackets: {sum(third.values())}; third number written is "
              f"the question's third only {third[(True, False)]}, its last only {third[(False, True)]}, "
              f"both (equal) {third[(True, True)]}, neither {third[(False, False)]}")


for p in sys.argv[1:]:
    report(p)
