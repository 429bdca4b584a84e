# Packaging targets: the Helm chart (lint and render with the real helm, which
# e2e/local-cluster builds into the cache with the control plane), the kubectl
# plugin. Included from the root Makefile, which defines CARGO, CARGO_TARGET_DIR,
# BIN, CACHE, IMAGE and TAG.

CHART := charts/mapek-operator
CHART_RENDER := $(CACHE)/chart-render

.PHONY: chart-lint chart-crds rbac plugin

chart-lint: ## helm lint --strict and helm template of the chart (every ci/ values file); the schema refuses bad values
	@diff -r crds $(CHART)/crds >/dev/null \
	  || { echo "chart-lint: $(CHART)/crds differs from crds/; run make chart-crds" >&2; exit 1; }
	mk/chart-render $(CHART_RENDER)

chart-crds: ## Copy crds/ into the chart
	cp crds/*.yaml $(CHART)/crds/

rbac: build ## Print the operator's RBAC rules as a ClusterRole and a leader-election Role
	$(BIN) rbac

plugin: ## Build the kubectl plugin (kubectl-mapek) next to the operator binary
	$(CARGO) build --locked --bin kubectl-mapek
	@echo "put $(CARGO_TARGET_DIR)/debug/kubectl-mapek on your PATH, then: kubectl mapek --help"
