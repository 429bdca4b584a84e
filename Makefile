# mapek-operator: build, test and try the operator.
# Build caches live outside the clone so that fresh clones (CI) reuse them.
CACHE ?= $(HOME)/.cache/mapek-operator
export CARGO_TARGET_DIR ?= $(CACHE)/target
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/debug/mapek-operator
IMAGE ?= ghcr.io/mapek-io/mapek-operator
TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

.PHONY: help build test unit lint fmt crds demo run image clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## Build the binary
	$(CARGO) build --locked

test: lint unit ## Everything CI runs: lint, unit, property and integration tests
	@echo "make test: all checks passed"

unit: ## Unit, property, CRD and real-Prometheus tests
	MAPEK_PROMETHEUS_BIN="$$(e2e/prometheus-bin)" $(CARGO) test --locked --all-targets

lint: ## cargo fmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

crds: build ## Regenerate crds/ from the Rust types
	$(BIN) crdgen --output-dir crds

demo: build ## Analyze a bundled scenario and print what the operator would do
	@for f in examples/scenarios/*.yaml; do \
	  echo "=== mapek-operator analyze --scenario $$f"; \
	  $(BIN) analyze --scenario $$f || exit $$?; echo; \
	done

run: build ## Run the operator against the current kubeconfig
	$(BIN) run

image: ## Build the container image (needs a Docker engine)
	docker build -t $(IMAGE):$(TAG) .

clean: ## Remove the build cache
	$(CARGO) clean
