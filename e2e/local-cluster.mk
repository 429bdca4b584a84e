# e2e/local-cluster.mk: targets for the local Kubernetes control plane (no Docker).
# Include from the root Makefile:  include e2e/local-cluster.mk
LOCAL_CLUSTER ?= e2e/local-cluster

.PHONY: cluster-up cluster-down cluster-status cluster-smoke cluster-lint

cluster-up: ## Start etcd, kube-apiserver, controller-manager, scheduler and kwok (3 fake nodes)
	$(LOCAL_CLUSTER) start

cluster-down: ## Stop the local cluster and remove its state (keeps the build cache)
	$(LOCAL_CLUSTER) stop

cluster-status: ## Say whether the local cluster is up
	$(LOCAL_CLUSTER) status

cluster-smoke: ## Start, drive with kubectl, stop, and restart from the cache
	e2e/local-cluster-smoke

cluster-lint: ## bash -n and shellcheck on the cluster scripts
	bash -n $(LOCAL_CLUSTER)
	bash -n e2e/local-cluster-smoke
	shellcheck $(LOCAL_CLUSTER) e2e/local-cluster-smoke
