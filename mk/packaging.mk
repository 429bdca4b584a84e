# Packaging targets: the Helm chart (lint and render with the real Helm engine),
# the kubectl plugin. Included from the root Makefile, which defines CARGO,
# CARGO_TARGET_DIR, BIN, CACHE, IMAGE and TAG.
#
# No helm binary exists here: mk/chart-render.py drives the Helm Go library of the
# PyPI wheel helm-sdkpy from a virtualenv in $(CACHE)/helm-venv (made once, reused).

CHART := charts/mapek-operator
CHART_RENDER := $(CACHE)/chart-render
PYTHON ?= python3
# tests/chart.rs renders the chart with the same script and venv.
export MAPEK_HELM_VENV := $(CACHE)/helm-venv

.PHONY: chart-lint chart-crds rbac plugin

chart-lint: ## Lint and render the Helm chart (every ci/ values file) with the Helm engine
	@diff -r crds $(CHART)/crds >/dev/null \
	  || { echo "chart-lint: $(CHART)/crds differs from crds/; run make chart-crds" >&2; exit 1; }
	$(PYTHON) mk/chart-render.py --chart $(CHART) --out $(CHART_RENDER) --venv $(MAPEK_HELM_VENV)

chart-crds: ## Copy crds/ into the chart
	cp crds/*.yaml $(CHART)/crds/

rbac: build ## Print the operator's RBAC rules as a ClusterRole and a leader-election Role
	$(BIN) rbac

plugin: ## Build the kubectl plugin (kubectl-mapek) next to the operator binary
	$(CARGO) build --locked --bin kubectl-mapek
	@echo "put $(CARGO_TARGET_DIR)/debug/kubectl-mapek on your PATH, then: kubectl mapek --help"
