# make bench-e2e: the closed-loop benchmark (benches/loop.rs) on the local API server,
# with Prometheus, the simulator and the operator started by e2e/run-local. Prints
# the figures and ends with one `BENCH_E2E ...` line.
#
# The benchmark client is built with the dev profile (`--profile dev`): it only
# times API round trips, and the operator it measures is run-local's debug build
# anyway; a release build of the whole dependency tree would add many minutes.
BENCH_E2E_PROFILE ?= dev

.PHONY: bench-e2e

bench-e2e: ## Closed-loop benchmark on the local API server: approve-to-scale, detection, footprint
	e2e/run-local $(CARGO) bench --locked --features e2e --profile $(BENCH_E2E_PROFILE) --bench loop
