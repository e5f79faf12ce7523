"""tests/bench/p99_pool.py — pools the rounds of several proxy.sh runs
(each written with --raw FILE) and prints, per proxy, the median of its
p99 / nginx's p99 (the p99 sections) or its req/s / nginx's req/s (main's
tables, and --only close) over every paired round, with a bootstrap 90 %
interval.

Why: on shared cores one round's p99 swings several-fold (the A/A row,
nginx against itself, shows how far), and one round's req/s by ±15 %, so a
single run cannot tell a small difference; the rounds of several runs can.
Figures only.

Usage: /usr/bin/python3 tests/bench/p99_pool.py FILE [FILE...]"""
import json
import random
import statistics
import sys


def load(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


# what each section compares, and whether a lower ratio is the better one
SECTIONS = {"p99": ("p99", True), "p99pin": ("p99", True), "main1": ("rps", False),
            "mainall": ("rps", False), "close": ("rps", False)}


def paired(rows, section):
    """{row label: [(run, ratio)]}: each round's figure (SECTIONS) over the
    same figure of the reference row (ref: nginx on the same path) in the
    same run and round. proxy_bench.py prints its p99 tables from this too."""
    metric = SECTIONS[section][0]
    mine = [r for r in rows if r["section"] == section]
    ref = {(r["start"], r["round"], r["path"]): r[metric] for r in mine if r["ref"]}
    out = {}
    for r in mine:
        base = ref.get((r["start"], r["round"], r["path"]))
        if not r["ref"] and base and r[metric] is not None:
            out.setdefault(r["row"], []).append((r["start"], r[metric] / base))
    return out


def boot_median(vals, n=2000, seed=1):
    """90 % bootstrap interval of the median (fixed seed: the same files
    always print the same interval)."""
    rnd = random.Random(seed)
    meds = sorted(statistics.median(rnd.choices(vals, k=len(vals))) for _ in range(n))
    return meds[int(0.05 * n)], meds[int(0.95 * n) - 1]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = load(sys.argv[1:])
    for section, (metric, lower_better) in SECTIONS.items():
        pr = paired(rows, section)
        if not pr:
            continue
        runs = sorted({r["start"] for r in rows if r["section"] == section})
        revs = sorted({r["rev"] for r in rows if r["section"] == section})
        print(f"### {section}: {len(runs)} runs ({', '.join(revs)}), {metric} / nginx's "
              f"{metric} in the same round, pooled ({'lower' if lower_better else 'higher'} "
              f"is better)")
        print(f"| {'configuration':32} | {'rounds':>6} | {'median':>7} | {'90% interval':>13} | "
              f"{'no worse':>9} | per-run medians |")
        print(f"|{'-' * 34}|{'-' * 8}|{'-' * 9}|{'-' * 15}|{'-' * 11}|-----------------|")
        for label, vals in pr.items():
            ratios = [v for _, v in vals]
            lo, hi = boot_median(ratios)
            per_run = [statistics.median([v for s, v in vals if s == run])
                       for run in runs if any(s == run for s, _ in vals)]
            print(f"| {label:32} | {len(ratios):6d} | {statistics.median(ratios):6.2f}x | "
                  f"{lo:5.2f}-{hi:5.2f}x | "
                  f"{sum(r <= 1 if lower_better else r >= 1 for r in ratios):4d}/{len(ratios):<4d} | "
                  + " ".join(f"{m:.2f}" for m in per_run) + " |")
        print()


if __name__ == "__main__":
    main()
