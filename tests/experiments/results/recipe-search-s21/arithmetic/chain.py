"""multistep_arithmetic_two, padded one-operation-per-line formats (columns-rand.patch): how far
each rationale's chain of reductions stays valid. A line is a valid step when it is the line
above with one bracket's next operation (its first '*', else its leftmost) reduced correctly.
Per file: how many questions restate exactly; of those, how many chains are complete (every
step valid, down to one number per bracket: the target needs 6 steps), and for the others how
many valid steps come before the first invalid line. Usage: /usr/bin/python3 chain.py FILE..."""
import collections, gzip, json, re, sys

LINE = re.compile(r'^\(\((.*)\) ([-+*]) \((.*)\)\)$')


def brackets(line):
    m = LINE.match(line.strip())
    if not m:
        return None
    out = []
    for g in (m.group(1), m.group(3)):
        t = g.split()
        if len(t) % 2 == 0 or any(not re.fullmatch(r'-?\d+', x) for x in t[::2]) or any(x not in '+-*' for x in t[1::2]):
            return None
        out.append(([int(x) for x in t[::2]], t[1::2]))
    return out


def reduce_once(nums, ops):
    k = ops.index('*') if '*' in ops else 0
    a, b = nums[k], nums[k + 1]
    v = a * b if ops[k] == '*' else a + b if ops[k] == '+' else a - b
    return nums[:k] + [v] + nums[k + 2:], ops[:k] + ops[k + 1:]


def error_kind(prev, cur):
    """What is wrong with line cur, written under the valid line prev."""
    if cur is None:
        return 'unreadable'
    changed = [i for i in (0, 1) if prev[i] != cur[i]]
    if len(changed) != 1:
        return 'both or neither bracket changed'
    want = reduce_once(*prev[changed[0]])
    got = cur[changed[0]]
    if len(got[0]) != len(want[0]):
        return 'wrong count of numbers'
    if got[1] != want[1]:
        return 'wrong operators kept'
    return 'right shape, wrong value or wrong operation reduced'


def valid_steps(lines):
    """Valid steps from the first line on, and what is wrong with the first invalid line
    (None when the chain ends without one)."""
    prev, steps = brackets(lines[0]), 0
    for line in lines[1:]:
        cur = brackets(line)
        if prev is None:
            break
        if cur is None and all(len(nums) == 1 for nums, _ in prev):
            return steps, None   # the chain is done; the outer operation follows
        ok = cur is not None and any(len(prev[i][0]) > 1 and reduce_once(*prev[i]) == cur[i] and
                                     prev[1 - i] == cur[1 - i] for i in (0, 1))
        if not ok:
            return steps, error_kind(prev, cur)
        steps, prev = steps + 1, cur
    return steps, None


def report(path):
    with (gzip.open(path, 'rt') if path.endswith('.gz') else open(path)) as fh:
        rows = [json.loads(l) for l in fh]
    exact, complete, hist, kinds = 0, 0, collections.Counter(), collections.Counter()
    for r in rows:
        q = r['question'].split('\n')[0]
        segs = r['output'].split(' = ')
        if segs[0] != q[:q.rindex(' =')]:
            continue
        exact += 1
        need = sum(len(nums) - 1 for nums, _ in brackets(segs[0]))
        steps, kind = valid_steps(segs)
        if steps == need:
            complete += 1
        else:
            hist[steps] += 1
            kinds[kind or 'stopped early'] += 1
    print(f"{path}: {len(rows)} questions, {exact} exact restatements, {complete} of them with a complete valid "
          f"chain; the others' valid steps before the first invalid line: {dict(sorted(hist.items()))}")
    print(f"  what is wrong with that line: {dict(kinds.most_common())}")


for p in sys.argv[1:]:
    report(p)
