# e2e/local-cluster.mk: targets for the local Kubernetes API server (no Docker).
# Include from the root Makefile:  include e2e/local-cluster.mk
LOCAL_CLUSTER ?= e2e/local-cluster

.PHONY: cluster-up cluster-down cluster-status cluster-smoke cluster-lint

cluster-up: ## Start etcd + apiextensions-apiserver + discovery front; prints the kubeconfig
	$(LOCAL_CLUSTER) start

cluster-down: ## Stop the local cluster and remove its state (keeps the download/build cache)
	$(LOCAL_CLUSTER) stop

cluster-status: ## Say whether the local cluster is up
	$(LOCAL_CLUSTER) status

cluster-smoke: ## Start, drive with kubectl, stop, and restart from the cache
	e2e/local-cluster-smoke

cluster-lint: ## bash -n and shellcheck on the cluster scripts
	bash -n $(LOCAL_CLUSTER)
	bash -n e2e/local-cluster-smoke
	shellcheck $(LOCAL_CLUSTER) e2e/local-cluster-smoke
	python3 -c "import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]" e2e/local-cluster.d/*.py
