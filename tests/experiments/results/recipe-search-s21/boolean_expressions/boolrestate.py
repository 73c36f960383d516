"""boolean_expressions: how often the rationale's first " = " segment restates the question's
expression exactly, and how many of the errors start from a wrong restatement. Per evaluation
file (.jsonl or .jsonl.gz, from `trice eval` or a run's eval-after.jsonl).
Usage: /usr/bin/python3 boolrestate.py FILE..."""
import gzip, json, sys


def report(path):
    with (gzip.open(path, 'rt') if path.endswith('.gz') else open(path)) as fh:
        rows = [json.loads(l) for l in fh]
    exact = correct = wrong_start = 0
    for r in rows:
        line = r['question'].split('\n')[0]
        q = line[line.index('Q: ') + 3 if 'Q: ' in line else 0:line.rindex(' is')]
        same = r['output'].split(' = ')[0] == q
        exact += same
        correct += bool(r['correct'])
        wrong_start += not r['correct'] and not same
    n = len(rows)
    print(f"{path}: {n} questions, accuracy {correct / n:.3f}, exact restatements {exact}, "
          f"errors that start from a wrong restatement {wrong_start} of {n - correct}")


for p in sys.argv[1:]:
    report(p)
