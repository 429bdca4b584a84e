#!/usr/bin/env python3
"""Reads criterion's estimates and prints the engine benchmark summary.

Usage: bench_summary.py [--estimate median|mean] [--table] CRITERION_DIR

CRITERION_DIR is $CARGO_TARGET_DIR/criterion. For every benchmark it reads
<group>/<bench>/new/estimates.json (the point estimate of the time of one
iteration, in ns) and new/benchmark.json (the elements per iteration). With
--table it first prints every benchmark found. The last line is the one a script
reads:

  BENCH analyze_violations_per_sec=<n> plan_policies_per_sec=<n>
        knowledge_updates_per_sec=<n> cycle_1k_us=<n> analyze_scaling_10x=<ratio>

(on one line), after one line per target saying whether it is met. The exit status is 0
when every figure was found, 1 when one is missing; a missed target does not fail
(the benchmark reports, it does not judge).
"""

import json
import os
import sys

# (key in the BENCH line, group, bench, kind); kind "rate" is elements per second.
FIGURES = [
    ("analyze_violations_per_sec", "analyze", "1M", "rate"),
    ("plan_policies_per_sec", "plan", "1k", "rate"),
    ("knowledge_updates_per_sec", "knowledge", "record_outcome", "rate"),
    ("cycle_1k_us", "cycle", "1k", "us"),
]
# (key, at least / at most, target)
TARGETS = [
    ("analyze_violations_per_sec", ">=", 1_000_000),
    ("plan_policies_per_sec", ">=", 500_000),
    ("knowledge_updates_per_sec", ">=", 100_000),
    ("cycle_1k_us", "<=", 1_000),
    ("analyze_scaling_10x", "<=", 12),
]


def load(root, group, bench, estimate):
    """(ns per iteration, elements per iteration or None), or None if absent."""
    base = os.path.join(root, group, bench, "new")
    try:
        with open(os.path.join(base, "estimates.json")) as f:
            ns = json.load(f)[estimate]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None
    elements = None
    try:
        with open(os.path.join(base, "benchmark.json")) as f:
            tp = json.load(f).get("throughput") or {}
        elements = tp.get("Elements")
    except (OSError, ValueError):
        pass
    return ns, elements


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.1f} ns"


def table(root, estimate):
    rows = []
    for group in sorted(os.listdir(root)):
        gdir = os.path.join(root, group)
        if not os.path.isdir(gdir) or group == "report":
            continue
        for bench in sorted(os.listdir(gdir)):
            got = load(root, group, bench, estimate)
            if got is None:
                continue
            ns, elements = got
            rate = f"{elements / (ns / 1e9):,.0f}/s" if elements else ""
            rows.append((f"{group}/{bench}", fmt_time(ns), rate))
    width = max((len(r[0]) for r in rows), default=10)
    print(f"{'benchmark':<{width}}  {estimate + ' time':>14}  throughput")
    for name, t, rate in rows:
        print(f"{name:<{width}}  {t:>14}  {rate}")


def main(argv):
    estimate, show_table, args = "median", False, []
    it = iter(argv)
    for a in it:
        if a == "--estimate":
            estimate = next(it, "median")
        elif a == "--table":
            show_table = True
        else:
            args.append(a)
    if len(args) != 1 or estimate not in ("median", "mean"):
        print(__doc__, file=sys.stderr)
        return 2
    root = args[0]
    if show_table and os.path.isdir(root):
        table(root, estimate)

    values, missing = {}, []
    for key, group, bench, kind in FIGURES:
        got = load(root, group, bench, estimate)
        if got is None or (kind == "rate" and not got[1]):
            missing.append(f"{group}/{bench}")
            continue
        ns, elements = got
        values[key] = elements / (ns / 1e9) if kind == "rate" else ns / 1e3
    big, small = load(root, "analyze", "1M", estimate), load(root, "analyze", "100k", estimate)
    if big and small:
        values["analyze_scaling_10x"] = big[0] / small[0]
    else:
        missing.append("analyze/1M and analyze/100k")

    def show(key):
        v = values.get(key)
        if v is None:
            return "nan"
        if key == "analyze_scaling_10x":
            return f"{v:.2f}"
        if key == "cycle_1k_us":
            return f"{v:.1f}"
        return f"{v:.0f}"

    keys = [f[0] for f in FIGURES] + ["analyze_scaling_10x"]
    for key, op, target in TARGETS:
        v = values.get(key)
        if v is None:
            print(f"target {key} {op} {target}: not measured")
            continue
        met = v >= target if op == ">=" else v <= target
        print(f"target {key} {op} {target}: {'met' if met else 'MISSED'} ({show(key)})")
    if missing:
        print("missing criterion estimates: " + ", ".join(missing))
    try:
        with open("/proc/loadavg") as f:
            loadavg = " ".join(f.read().split()[:3])
        print(f"load average after the run (1, 5, 15 min): {loadavg} on {os.cpu_count()} cores")
    except OSError:
        pass
    # Last, so that `make bench | tail -n1` is the line.
    print("BENCH " + " ".join(f"{k}={show(k)}" for k in keys), flush=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
