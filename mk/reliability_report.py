#!/usr/bin/env python3
"""Prints the table of RELIABILITY.md from the JSON lines tests/reliability/
writes (one per fault class), and one summary line a script can read:

RELIABILITY classes=<n> injected=<n> survived=<n> nonzero_counters=<n>

Exits 1 when the file is missing or empty, or when a counter that must be zero
is not.
"""
import json
import sys


def main(path):
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        print(f"reliability: no results at {path}", file=sys.stderr)
        return 1
    if not rows:
        print(f"reliability: {path} is empty", file=sys.stderr)
        return 1
    print("| fault class | injected | survived | counters that must be zero | figures |")
    print("| --- | ---: | ---: | --- | --- |")
    nonzero = 0
    for r in rows:
        zero = ", ".join(f"{k}: {v}" for k, v in r["zero"].items())
        nonzero += sum(1 for v in r["zero"].values() if v != 0)
        figures = ", ".join(f"{k}: {v}" for k, v in r.get("figures", {}).items())
        print(f"| {r['class']} | {r['injected']} | {r['survived']} | {zero} | {figures} |")
    injected = sum(r["injected"] for r in rows)
    survived = sum(r["survived"] for r in rows)
    print(
        f"RELIABILITY classes={len(rows)} injected={injected} "
        f"survived={survived} nonzero_counters={nonzero}"
    )
    return 1 if nonzero else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "reliability.jsonl"))
