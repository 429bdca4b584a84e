#!/usr/bin/env python3
"""Counts the instructions and mispredicted branches of one engine cycle.

Usage: bench_count.py BENCH_BINARY [OUT_FILE]

Runs the engine benchmark's `cycle/1k` (analyse 1k violations, plan, record
the outcome of the best plan) under valgrind's callgrind with its branch
simulator, in criterion's profiling mode, and prints per iteration the
instructions and the simulated mispredicted conditional branches of the cycle
and of its main parts. The last line is the one a script reads:

  BENCH_COUNT cycle_1k_instructions=<n> cycle_1k_mispredicts=<n>

Unlike `make bench`'s times, the counts do not depend on the machine's load
or clock: the same binary and input give the same counts to within a tenth
of a percent (hash maps' random seeds); they change with the compiler and
the code. The mispredicts are callgrind's model of a simple
predictor, not the CPU's: compare them between builds, not with seconds.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# (label, function whose inclusive cost is shown), per iteration.
PARTS = [
    ("analyze", "mapek_engine::analyze::PatternAnalyzer::analyze"),
    ("  context", "mapek_engine::input::AnalysisContext::new"),
    ("  judge", "mapek_engine::judge::judge"),
    ("  trend", "<mapek_engine::detectors::trend::TrendDetector as mapek_engine::detectors::Detector>::detect"),
    ("  causal", "<mapek_engine::detectors::causal::CausalDetector as mapek_engine::detectors::Detector>::detect"),
    ("  rank", "mapek_engine::analyze::rank::rank_root_causes"),
    ("plan", "mapek_engine::plan::Planner::generate_plans"),
    ("record", "mapek_engine::knowledge::KnowledgeBase::record_outcome"),
]
CYCLE = ("analyze", "plan", "record")


def annotate(out_file, *args):
    return subprocess.run(
        ["callgrind_annotate", *args, out_file], capture_output=True, text=True, check=True
    ).stdout


def costs(line):
    """(Ir, Bcm) of a callgrind_annotate line with the events Ir Bc Bcm Bi Bim."""
    head = line.split("???:")[0] if "???:" in line else line.split("  ./")[0]
    nums = [0 if x == "." else int(x.replace(",", "")) for x in re.findall(r"([0-9,]+|\.)(?= |$)", head)]
    return nums[0], nums[2] if len(nums) > 2 else 0


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        print("bench_count: valgrind (callgrind) is needed: apt-get install valgrind", file=sys.stderr)
        return 1
    # criterion writes under its working directory: a temporary one, removed
    # with the profile unless OUT_FILE keeps it.
    with tempfile.TemporaryDirectory(prefix="mapek-bench-count-") as tmp:
        out_file = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tmp, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--branch-sim=yes", f"--callgrind-out-file={out_file}",
             binary, "--bench", "--profile-time", "2", "^cycle/1k$"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=tmp,
        )
        return report(out_file)


def report(out_file):
    """Prints the per-iteration table and the BENCH_COUNT line of a profile."""
    tree = annotate(out_file, "--tree=caller")
    m = re.search(r"< \?\?\?:mapek_engine::analyze::PatternAnalyzer::analyze \(([0-9,]+)x\)", tree)
    if not m:
        print("bench_count: the profile counted no analysis (was cycle/1k renamed?)", file=sys.stderr)
        return 1
    iterations = int(m.group(1).replace(",", ""))
    inclusive = annotate(out_file, "--inclusive=yes", "--threshold=100").splitlines()
    found = {}
    for label, name in PARTS:
        line = next((l for l in inclusive if f"???:{name} [" in l), None)
        if line is not None:
            found[label] = costs(line)
    print(f"bench_count: {iterations} iterations of cycle/1k under callgrind; per iteration:")
    print(f"  {'part':<12}{'instructions':>14}{'mispredicts':>13}")
    for label, _ in PARTS:
        ir, bcm = found.get(label, (0, 0))
        print(f"  {label:<12}{ir // iterations:>14,}{bcm // iterations:>13,}")
    total_ir = sum(found.get(p, (0, 0))[0] for p in CYCLE) // iterations
    total_bcm = sum(found.get(p, (0, 0))[1] for p in CYCLE) // iterations
    print(f"BENCH_COUNT cycle_1k_instructions={total_ir} cycle_1k_mispredicts={total_bcm}")
    return 0 if all(p in found for p in CYCLE) else 1


if __name__ == "__main__":
    sys.exit(main())
