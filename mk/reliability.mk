# The reliability suite (tests/reliability/): faults injected into the local API
# server, etcd, Prometheus and the operator, with the figures of RELIABILITY.md.
# Included from the root Makefile, which defines CARGO and CARGO_TARGET_DIR.
#
#   make reliability              the whole suite, then the table
#   make reliability-report       the table of the last run, without running

RELIABILITY_OUT ?= $(CARGO_TARGET_DIR)/reliability.jsonl
# The operator processes the suite starts are built with the fault-injection
# points; the same features for run-local's build and the test's, so one build.
RELIABILITY_FEATURES := e2e,fault-injection

.PHONY: reliability reliability-report

reliability: ## Crash, API-server, etcd, Prometheus, approval, bad-input and load faults on the local cluster
	rm -f $(RELIABILITY_OUT)
	MAPEK_E2E_NO_OPERATOR=1 MAPEK_E2E_FEATURES=$(RELIABILITY_FEATURES) \
	  MAPEK_RELIABILITY_OUT=$(RELIABILITY_OUT) e2e/run-local bash -c '\
	    $(CARGO) test --locked --features $(RELIABILITY_FEATURES) --test reliability -- --skip serial_ --test-threads 4 && \
	    $(CARGO) test --locked --features $(RELIABILITY_FEATURES) --test reliability -- serial_ --test-threads 1'
	@python3 mk/reliability_report.py $(RELIABILITY_OUT)

reliability-report: ## The table of the last reliability run
	@python3 mk/reliability_report.py $(RELIABILITY_OUT)
