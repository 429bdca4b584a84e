# make bench-e2e: the closed-loop benchmark (benches/loop/) on the local API server,
# with Prometheus, the simulator and the operator started by e2e/run-local. Prints
# the figures and ends with one `BENCH_E2E ...` line.
#
# The operator and simulator it measures are the release build (what the Dockerfile
# ships; BENCH_E2E_OPERATOR_PROFILE=dev measures the debug build). The benchmark
# client is built with the dev profile (`--profile dev`): it only times API round
# trips, and a release build of its test dependencies would add many minutes.
#
# The operator runs without the storm brake (MAPE_K_STORM_BRAKE_MAX_EXECUTIONS=0):
# the benchmark approves 100 plans in a row, and the default brake (20 starts per
# 10 minutes) would hold the 21st.
#
# The storm part breaks 1,000 ViolationPolicies on 1,000 Deployments in one round,
# each on its own query (BENCH_E2E_STORM_POLICIES=N for another count), and counts
# the operator's GETs and LISTs in the audit log. The scale part creates 10,000
# ViolationPolicies over 10,000 Deployments (BENCH_E2E_POLICIES=N for another
# count) and reads the operator's writes from the API server's audit log, which
# keeps mapek.io request bodies for it (MAPEK_LOCAL_AUDIT_BODIES=1).
# BENCH_E2E_PARTS=storm (a comma list of approvals, detection, storm, scale)
# runs only those parts; by default all four run, about 20 minutes.
BENCH_E2E_PROFILE ?= dev
BENCH_E2E_OPERATOR_PROFILE ?= release

.PHONY: bench-e2e

bench-e2e: ## Closed-loop benchmark on the local API server: approve-to-scale, detection, footprint
	MAPEK_LOCAL_AUDIT_BODIES=1 MAPEK_E2E_PROFILE=$(BENCH_E2E_OPERATOR_PROFILE) MAPE_K_STORM_BRAKE_MAX_EXECUTIONS=0 e2e/run-local $(CARGO) bench --locked --features e2e --profile $(BENCH_E2E_PROFILE) --bench loop
