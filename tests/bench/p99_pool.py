"""tests/bench/p99_pool.py — pools the p99 rounds of several proxy.sh runs
(each written with --raw FILE) and prints, per proxy, the median of its
p99 / nginx's p99 over every paired round, with a bootstrap 90 % interval.

Why: on shared cores one round's p99 swings several-fold (the A/A row,
nginx against itself, shows how far), so a single run of 12 rounds cannot
tell a 20 % difference; the rounds of several runs can. Figures only.

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


def paired(rows, section):
    """{row label: [(run, ratio)]}: each round's p99 over the p99 of the
    reference row (ref: nginx on the same path) in the same run and round.
    proxy_bench.py prints its p99 tables from this too."""
    mine = [r for r in rows if r["section"] == section]
    ref = {(r["start"], r["round"], r["path"]): r["p99"] for r in mine if r["ref"]}
    out = {}
    for r in mine:
        base = ref.get((r["start"], r["round"], r["path"]))
        if not r["ref"] and base:
            out.setdefault(r["row"], []).append((r["start"], r["p99"] / base))
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
    for section in ("p99", "p99pin"):
        pr = paired(rows, section)
        if not pr:
            continue
        runs = sorted({r["start"] for r in rows if r["section"] == section})
        revs = sorted({r["rev"] for r in rows if r["section"] == section})
        print(f"### {section}: {len(runs)} runs ({', '.join(revs)}), p99 / nginx's p99 "
              f"in the same round, pooled")
        print(f"| {'configuration':32} | {'rounds':>6} | {'median':>7} | {'90% interval':>13} | "
              f"{'no worse':>9} | per-run medians |")
        print(f"|{'-' * 34}|{'-' * 8}|{'-' * 9}|{'-' * 15}|{'-' * 11}|-----------------|")
        for label, vals in pr.items():
            ratios = [v for _, v in vals]
            lo, hi = boot_median(ratios)
            per_run = [statistics.median([v for s, v in vals if s == run])
                       for run in runs if any(s == run for s, _ in vals)]
            print(f"| {label:32} | {len(ratios):6d} | {statistics.median(ratios):6.2f}x | "
                  f"{lo:5.2f}-{hi:5.2f}x | {sum(r <= 1 for r in ratios):4d}/{len(ratios):<4d} | "
                  + " ".join(f"{m:.2f}" for m in per_run) + " |")
        print()


if __name__ == "__main__":
    main()
