"""Summarise run_comparison.sh's runs: results.md (table) and curves.png (plots).

Usage: /usr/bin/python3 tests/experiments/report.py OUT_DIR
Needs matplotlib (Debian: python3-matplotlib) for the plot; the table needs nothing else.
"""
import json
import os
import statistics
import sys

METHODS = ["trice", "trice-nocv", "star", "rs", "direct"]


def load_runs(out):
    runs = {}
    for name in sorted(os.listdir(out)):
        d = os.path.join(out, name)
        res = os.path.join(d, "result.json")
        if not os.path.isfile(res) or name.startswith("warm-"):
            continue
        method, seed = name.rsplit("-", 1)
        with open(res) as f:
            r = json.load(f)
        rows = []
        mp = os.path.join(d, "metrics.jsonl")
        if os.path.exists(mp):
            with open(mp) as f:
                for line in f:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a torn last line
        runs.setdefault(method, {})[int(seed)] = (r, rows)
    return runs


def ms(xs, digits=3):
    """mean ± sd; digits=0 for counts such as steps ("136 ± 13", not "136.333 ± 13.013")."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"


def table(runs):
    lines = ["| method | seeds | held-out acc. before | held-out acc. after | steps | sampled tokens |",
             "|---|---|---|---|---|---|"]
    for m in METHODS:
        if m not in runs:
            continue
        rs = [runs[m][s][0] for s in sorted(runs[m])]
        lines.append(f"| {m} | {len(rs)} | {ms([r['acc_before'] for r in rs])} | {ms([r['acc_after'] for r in rs])} | "
                     f"{ms([r['steps'] for r in rs], 0)} | {int(statistics.mean(r['tokens_sampled'] for r in rs)):,} |")
    return "\n".join(lines)


def variance(runs):
    out = []
    for m in ("trice", "trice-nocv"):
        for s in sorted(runs.get(m, {})):
            for row in runs[m][s][1]:
                if "var_cv" in row:
                    out.append((m, s, row["step"] + 1, row["var_cv"], row["var_nocv"], row.get("proposal_acc")))
    return out


def plot(runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for m in METHODS:
        for s, (r, rows) in sorted(runs.get(m, {}).items()):
            xs, ys = [0], [r["acc_before"]]
            for row in rows:
                if "eval_acc" in row:
                    xs.append(row["step"] + 1)
                    ys.append(row["eval_acc"])
            xs.append(r["steps"])
            ys.append(r["acc_after"])
            axes[0].plot(xs, ys, label=m if s == min(runs[m]) else None, color=f"C{METHODS.index(m)}", alpha=0.8)
            if rows and m not in ("direct", "star"):
                axes[1].plot([row["step"] + 1 for row in rows], [row["proposal_acc"] for row in rows],
                             color=f"C{METHODS.index(m)}", alpha=0.35, label=m if s == min(runs[m]) else None)
    axes[0].set_xlabel("step (every run stops at the same sampled-token budget)")
    axes[0].set_ylabel("held-out greedy accuracy")
    axes[0].set_title("held-out accuracy (each line a seed)")
    axes[0].legend()
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("training proposal accuracy")
    axes[1].set_title("proposal acceptance per step")
    axes[1].legend()
    v = variance(runs)
    for m, mark in (("trice", "o"), ("trice-nocv", "s")):
        pts = [(st, vc, vn) for (mm, s, st, vc, vn, _) in v if mm == m]
        if pts:
            axes[2].scatter([p[0] for p in pts], [p[1] / p[2] if p[2] > 0 else float("nan") for p in pts],
                            marker=mark, label=f"runs of {m}")
    axes[2].axhline(1.0, color="gray", lw=0.8)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("Var(control variate) / Var(basic)")
    axes[2].set_title("gradient-estimator variance ratio")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    out = sys.argv[1]
    runs = load_runs(out)
    md = ["## Results", "", table(runs), ""]
    v = variance(runs)
    if v:
        md += ["Gradient-estimator variance (trace of the covariance over 4 proposal draws at the same parameters):", "",
               "| run | seed | step | proposal acc. | Var(CV) | Var(basic) | ratio |", "|---|---|---|---|---|---|---|"]
        for (m, s, st, vc, vn, pa) in v:
            md.append(f"| {m} | {s} | {st} | {pa:.2f} | {vc:.4g} | {vn:.4g} | {vc / vn if vn > 0 else float('nan'):.3f} |")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    try:
        plot(runs, os.path.join(out, "curves.png"))
    except ImportError:
        print("matplotlib missing: no plot (apt-get install python3-matplotlib)", file=sys.stderr)
    print("\n".join(md))


if __name__ == "__main__":
    main()
