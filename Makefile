# mapek-operator: build, test and try the operator.
# Build caches live outside the clone so that fresh clones (CI) reuse them. One
# folder for make and the scripts it runs (e2e/*, mk/*): MAPEK_CACHE, or CACHE.
MAPEK_CACHE ?= $(HOME)/.cache/mapek-operator
CACHE ?= $(MAPEK_CACHE)
export MAPEK_CACHE := $(CACHE)
export CARGO_TARGET_DIR ?= $(CACHE)/target
CARGO ?= cargo
# CI builds every fresh clone (a new path) once: incremental state would only pile
# up in the shared target dir (tens of GB after a few runs), so CI turns it off.
ifdef CI
export CARGO_INCREMENTAL ?= 0
endif
BIN := $(CARGO_TARGET_DIR)/debug/mapek-operator
IMAGE ?= ghcr.io/mapek-io/mapek-operator
TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

.PHONY: help build test cache-prune unit lint scripts-lint fmt crds demo analyze-demo decisions e2e e2e-kind run image clean

include mk/packaging.mk
include mk/bench.mk
include mk/bench-e2e.mk
include mk/reliability.mk
include mk/fuzz.mk
include e2e/local-cluster.mk

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## Build the binary
	$(CARGO) build --locked

test: cache-prune lint scripts-lint chart-lint decisions unit fuzz-replay e2e reliability ## Everything CI runs: lint, chart, decisions, unit, property, fuzz-seed replay, integration, e2e and reliability tests
	@echo "make test: all checks passed"

# Build outputs nothing has read for this many days are removed first.
CACHE_PRUNE_DAYS ?= 3
cache-prune: ## Remove build outputs nothing has read for CACHE_PRUNE_DAYS days from the cargo target dirs under the cache
	@mk/prune-cache $(CACHE_PRUNE_DAYS)

unit: ## Unit, property, CRD, chart, real-Prometheus and headless-Chromium tests
	bin=$$(e2e/prometheus-bin) && driver=$$(mk/chromedriver) && \
	  MAPEK_PROMETHEUS_BIN=$$bin MAPEK_CHROMEDRIVER=$$driver $(CARGO) test --locked --workspace --all-targets

e2e: ## The e2e suite on the local API server with Prometheus, the simulator and the operator
	e2e/run-local

e2e-kind: ## The same suite on a kind cluster (needs Docker, kind and helm)
	e2e/run-kind

lint: ## cargo fmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	cd fuzz && $(CARGO) fmt -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked --workspace --all-targets --features e2e,fault-injection -- -D warnings

SCRIPTS := .ci/run mk/chromedriver e2e/lib/users.sh e2e/run-local e2e/run-kind e2e/demo e2e/debian-package e2e/prometheus-bin e2e/alertmanager-bin e2e/toxiproxy-bin e2e/faketime-lib e2e/local-cluster e2e/local-cluster-smoke mk/chart-render mk/fuzz mk/prune-cache docs/judgement-study/run_all.sh

scripts-lint: ## bash -n and shellcheck (Debian's, installed when missing) on the shell scripts; kind's config decoded by kind's own types
	@for f in $(SCRIPTS); do bash -n $$f || exit 1; done
	@command -v shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
	shellcheck -x $(SCRIPTS)
	cd e2e/kind-config-check && env GOENV=off GOWORK=off GOFLAGS=-modcacherw GOTOOLCHAIN=$${GOTOOLCHAIN:-local} \
	  GOMODCACHE=$(CACHE)/go/mod GOCACHE=$(CACHE)/go/build go run . ../kind/cluster.yaml

fmt: ## Format the code
	$(CARGO) fmt --all

crds: build ## Regenerate crds/ (and the chart's copy) from the Rust types
	$(BIN) crdgen --output-dir crds
	cp crds/*.yaml $(CHART)/crds/

demo: ## The whole MAPE-K loop on the local API server, narrated step by step
	e2e/run-local e2e/demo

analyze-demo: build ## Analyze the bundled scenarios and print what the operator would do
	@for f in examples/scenarios/*.yaml; do \
	  echo "=== mapek-operator analyze --scenario $$f"; \
	  $(BIN) analyze --scenario $$f || exit $$?; echo; \
	done

decisions: ## Score the engine's judgement: labelled scenarios (examples/decisions), NAB series (datasets/nab-open) and IT-operations series (datasets/ms-cloud-open) replayed
	$(CARGO) build --locked
	$(BIN) decisions --scenarios examples/decisions --nab datasets/nab-open --it datasets/ms-cloud-open

run: build ## Run the operator against the current kubeconfig
	$(BIN) run

image: ## Build the container image (needs a Docker engine)
	docker build -t $(IMAGE):$(TAG) .

clean: ## Remove the build cache
	$(CARGO) clean
