"""The per-task comparison of issue "Models that actually reason": specs and report.

    grid.py spec RECIPE OUT SEED METHOD    print the spec of one run (JSON) on stdout
    grid.py report OUT [OUT ...]            results.md and curves-TASK.png in each OUT, and
                                           a 4-task table on stdout

A recipe (deploy/recipes/TASK.json) is a multi-stage answers-only spec: first the stages that
are given program-written rationales (method sft or memory_init given; the stage rule keeps
them on strictly smaller instances or other built-in tasks), then answers-only stages, then the
target (the top level). The comparison shares the rationale stages, once per seed:

  warm        the rationale stages alone (their last one becomes the top level); the "warm-up
              model alone" row is its held-out accuracy at the target (warm-S/target.json)
  METHOD      trice, trice-nocv, star, rs (K = 4) or direct: from warm-S/model.bin, every
              answers-only stage and the target run with METHOD, each stage with the recipe's
              sampled-token budget (max_sampled_tokens), so methods spend the same budget;
              direct samples nothing and gets the steps trice took in each stage
  sft-ceiling supervised fine-tuning on target-setting rationales from warm-S/model.bin for the
              steps trice took at the target: a supervised ceiling, not an answers-only result

Only the standard library is needed, and matplotlib for the plots.
"""
import copy
import gzip
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import ms  # noqa: E402  (mean ± sd, shared with the first comparison's report)

METHODS = ["trice", "trice-nocv", "star", "rs", "direct"]
ROW_ORDER = ["warm"] + METHODS + ["sft-ceiling"]


def gives_rationales(st):
    return st.get("method") == "sft" or st.get("memory_init") == "given"


def merge(base, over):
    """base with the keys of over (objects merged one level down, as a stage changes a top level)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = copy.deepcopy(v)
    return out


def split(recipe):
    stages = recipe.get("stages", [])
    n = 0
    while n < len(stages) and gives_rationales(stages[n]):
        n += 1
    if any(gives_rationales(s) for s in stages[n:]):
        sys.exit("grid: the recipe's rationale stages must come before its answers-only stages")
    if n == 0:
        sys.exit("grid: the recipe has no rationale stage to share")
    return stages[:n], stages[n:]


def stage_steps(out, seed, method, name):
    """Steps a finished stage of an earlier run took (for direct and the ceiling)."""
    d = os.path.join(out, f"{method}-{seed}")
    p = os.path.join(d, name, "result.json") if name else os.path.join(d, "result.json")
    if not os.path.isfile(p):
        sys.exit(f"grid: {method} seed {seed} has not finished ({p} is missing); direct and the ceiling take its steps")
    with open(p) as f:
        return json.load(f)["steps"]


def spec(recipe_path, out, seed, method):
    with open(recipe_path) as f:
        recipe = json.load(f)
    task = recipe["task"]["name"]
    rat, ans = split(recipe)
    base = copy.deepcopy(recipe)
    base.pop("stages", None)
    base["seed"] = seed
    base["checkpoint_every"] = base.get("checkpoint_every") or 50
    if method == "warm":
        s = merge(base, {k: v for k, v in rat[-1].items() if k != "name"})
        s["stages"] = rat[:-1]
        s["answers_only"] = False
        s["name"] = f"{task}-warm-{seed}"
        return s
    init = {"init": os.path.join(out, f"warm-{seed}", "model.bin")}   # the shape comes from the file
    if method == "sft-ceiling":
        s = merge(base, {"method": "sft", "memory_init": "given", "answers_only": False, "model": init,
                         "max_sampled_tokens": 0, "steps": stage_steps(out, seed, "trice", None)})
        s["name"] = f"{task}-sft-ceiling-{seed}"
        return s
    if method not in METHODS:
        sys.exit(f"grid: unknown method '{method}' (allowed: warm, {', '.join(METHODS)}, sft-ceiling)")
    extra = {"rs": {"particles": 4}, "star": {"star_iterations": 20, "steps": 60}}.get(method, {})
    s = merge(base, {"method": method, "model": init, **extra})
    s["stages"] = [merge(st, {"method": method, **({"steps": 60} if method == "star" else {})}) for st in ans]
    if method == "direct":   # samples nothing: the steps trice took, stage by stage
        for st in s["stages"]:
            st["steps"] = stage_steps(out, seed, "trice", st["name"])
        s["steps"] = stage_steps(out, seed, "trice", None)
    if method in ("trice", "trice-nocv"):
        s.setdefault("variance_probe", 4)
    s["name"] = f"{task}-{method}-{seed}"
    return s


# ---- report ----

def read_jsonl(p):
    """Rows of p, or of p.gz where only that exists (the committed results are gzipped)."""
    rows = []
    if not os.path.exists(p) and os.path.exists(p + ".gz"):
        with gzip.open(p + ".gz", "rt") as f:
            return [json.loads(line) for line in f if line.strip()]
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass   # a torn last line
    return rows


def load(out):
    """{method: {seed: (result, target-stage metric rows, tokens sampled before the target stage)}}"""
    runs = {}
    for name in sorted(os.listdir(out)):
        d = os.path.join(out, name)
        if not os.path.isdir(d) or "-" not in name:
            continue
        method, seed = name.rsplit("-", 1)
        if not seed.isdigit():
            continue
        res = os.path.join(d, "target.json" if method == "warm" else "result.json")
        if not os.path.isfile(res):
            continue
        with open(res) as f:
            r = json.load(f)
        before = 0
        for sub in sorted(os.listdir(d)):
            sr = os.path.join(d, sub, "result.json")
            if method != "warm" and os.path.isfile(sr):
                with open(sr) as f:
                    before += json.load(f).get("tokens_sampled", 0)
        runs.setdefault(method, {})[int(seed)] = (r, read_jsonl(os.path.join(d, "metrics.jsonl")), before)
    return runs


def acc(r):
    return r.get("acc_after", r.get("accuracy"))


def table(task, runs):
    lines = [f"### {task}", "",
             "| method | seeds | held-out accuracy (target) | steps at the target | sampled tokens (all answers-only stages) |",
             "|---|---|---|---|---|"]
    for m in ROW_ORDER:
        if m not in runs:
            continue
        rs = [runs[m][s] for s in sorted(runs[m])]
        label = {"warm": "warm-up model alone", "sft-ceiling": "SFT on target rationales (supervised ceiling)"}.get(m, m)
        steps = "-" if m == "warm" else str(round(statistics.mean(r[0]["steps"] for r in rs)))
        toks = "-" if m in ("warm", "sft-ceiling") else f"{round(statistics.mean(r[0]['tokens_sampled'] + r[2] for r in rs)):,}"
        lines.append(f"| {label} | {len(rs)} | {ms([acc(r[0]) for r in rs])} | {steps} | {toks} |")
    v = []
    for m in ("trice", "trice-nocv"):
        for s in sorted(runs.get(m, {})):
            rows = [row for row in runs[m][s][1] if "var_cv" in row and row.get("var_nocv", 0) > 0]
            if rows:
                last = rows[-1]
                v.append(f"{m} seed {s}: Var(CV)/Var(basic) = {last['var_cv'] / last['var_nocv']:.3f} at step "
                         f"{last['step'] + 1} (training proposal accuracy {last['proposal_acc']:.2f})")
    if v:
        lines += ["", "Control-variate variance ratio near the end of the target stage:", ""] + [f"- {x}" for x in v]
    return "\n".join(lines)


def curve(r, rows, before):
    xs, ys, tok = [before], [r["acc_before"]], before
    for row in rows:
        tok += row.get("tokens_sampled", 0)
        if "eval_acc" in row:
            xs.append(tok)
            ys.append(row["eval_acc"])
    xs.append(before + r["tokens_sampled"])
    ys.append(r["acc_after"])
    return xs, ys


def plot(task, runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, m in enumerate(METHODS):
        cs = [curve(*runs[m][s]) for s in sorted(runs.get(m, {}))]
        if not cs:
            continue
        lo, hi = max(c[0][0] for c in cs), min(c[0][-1] for c in cs)
        if hi <= lo:
            hi = lo + 1
        grid = [lo + (hi - lo) * k / 40 for k in range(41)]
        def at(c, x):
            xs, ys = c
            for j in range(1, len(xs)):
                if x <= xs[j]:
                    t = 0 if xs[j] == xs[j - 1] else (x - xs[j - 1]) / (xs[j] - xs[j - 1])
                    return ys[j - 1] + t * (ys[j] - ys[j - 1])
            return ys[-1]
        vals = [[at(c, x) for c in cs] for x in grid]
        mean = [statistics.mean(v) for v in vals]
        sd = [statistics.stdev(v) if len(v) > 1 else 0 for v in vals]
        ax.plot(grid, mean, color=f"C{i}", label=f"{m} ({len(cs)} seed{'s' if len(cs) > 1 else ''})")
        ax.fill_between(grid, [a - b for a, b in zip(mean, sd)], [a + b for a, b in zip(mean, sd)], color=f"C{i}", alpha=0.2)
    for key, style in (("warm", ":"), ("sft-ceiling", "--")):
        if key in runs:
            ax.axhline(statistics.mean(acc(runs[key][s][0]) for s in runs[key]), color="gray", ls=style,
                       label="warm-up model alone" if key == "warm" else "supervised ceiling (SFT on target rationales)")
    ax.set_xlabel("sampled tokens (answers-only stages, cumulative)")
    ax.set_ylabel("held-out greedy accuracy at the target")
    ax.set_title(f"{task}: held-out accuracy at the BBH setting (mean ± 1 sd over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def report(outs):
    parts = []
    for out in outs:
        runs = load(out)
        if not runs:
            continue
        task = os.path.basename(os.path.normpath(out))
        t = table(task, runs)
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(t + "\n")
        try:
            plot(task, runs, os.path.join(out, f"curves-{task}.png"))
        except ImportError:
            print("matplotlib missing: no plot (apt-get install python3-matplotlib)", file=sys.stderr)
        parts.append(t)
    print("\n\n".join(parts))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "spec":
        print(json.dumps(spec(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]), indent=1))
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)
