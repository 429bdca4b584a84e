# Engine benchmarks: criterion over generated violation streams (crates/mapek-engine/benches/engine.rs),
# then one summary line read from criterion's estimates (mk/bench_summary.py).
# Included from the root Makefile, which defines CARGO and CARGO_TARGET_DIR.
#
#   make bench                      everything, about 3 minutes once built
#   make bench BENCH_FILTER=plan    only the benchmarks whose id matches (a regex, passed
#                                   quoted, so 'analyze/(100k|1M)' works; a filter that
#                                   begins with a group's name runs only that group)
#   make bench BENCH_PIN=           do not pin to one core
#   make bench-summary              the summary of the last run, without running
#   make bench-count                instructions and mispredicted branches of one cycle
#                                   (callgrind: the same on any load; seconds once built)

PYTHON ?= python3
# One core, the last one: the targets are stated for one core of the machine.
BENCH_CPU ?= $(shell echo $$(( $$(nproc) - 1 )))
BENCH_PIN ?= $(shell command -v taskset >/dev/null 2>&1 && echo taskset -c $(BENCH_CPU))
BENCH_FILTER ?=
# median (robust to the other work of a shared machine) or mean.
BENCH_ESTIMATE ?= median
BENCH_DIR = $(CARGO_TARGET_DIR)/criterion

.PHONY: bench bench-build bench-summary bench-count

bench-build: ## Build the engine benchmarks (release; the engine crate only, no kube)
	@start=$$(date +%s); $(CARGO) bench --locked -p mapek-engine --bench engine --no-run && \
	  echo "bench: built the engine benchmark in $$(( $$(date +%s) - start )) s"

bench: bench-build ## Engine benchmarks (criterion); ends with a BENCH line, and a BENCH_COUNT line where valgrind is
	@echo "bench: $$(nproc) cores, pinned with '$(BENCH_PIN)'; before: $$(uptime)"
	$(BENCH_PIN) $(CARGO) bench --locked -p mapek-engine --bench engine -- $(if $(BENCH_FILTER),'$(BENCH_FILTER)')
	@if command -v valgrind >/dev/null 2>&1; then $(MAKE) --no-print-directory bench-count; \
	  else echo "bench: no valgrind, so no BENCH_COUNT line (make bench-count)"; fi
	@$(PYTHON) mk/bench_summary.py --estimate $(BENCH_ESTIMATE) --table $(BENCH_DIR)

bench-summary: ## Summary of the last benchmark run (table, targets, BENCH line)
	@$(PYTHON) mk/bench_summary.py --estimate $(BENCH_ESTIMATE) --table $(BENCH_DIR)

bench-count: bench-build ## Instructions and mispredicted branches per engine cycle (callgrind); ends with a BENCH_COUNT line
	@bin=$$($(CARGO) bench --locked -p mapek-engine --bench engine --no-run --message-format=json 2>/dev/null | \
	  $(PYTHON) -c 'import json, sys; print([j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable") and j["target"]["name"] == "engine"][-1])') && \
	  $(PYTHON) mk/bench_count.py "$$bin"
