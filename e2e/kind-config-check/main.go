// kind-config-check: decodes kind cluster configs strictly with kind's own
// v1alpha4 types (sigs.k8s.io/kind), so that an unknown field, a wrong type or a
// wrong kind/apiVersion fails `make scripts-lint` on machines without Docker,
// where `kind create cluster` cannot run. It also checks what kind's own
// validation would refuse of a config of this shape: a node role other than
// control-plane or worker, and no control-plane node.
// Usage: go run . FILE...
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func check(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cluster v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &cluster); err != nil {
		return fmt.Errorf("not a valid kind config: %w", err)
	}
	if cluster.Kind != "Cluster" || cluster.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return fmt.Errorf("kind/apiVersion are %q/%q, want Cluster/kind.x-k8s.io/v1alpha4",
			cluster.Kind, cluster.APIVersion)
	}
	v1alpha4.SetDefaultsCluster(&cluster)
	controlPlanes := 0
	for i, node := range cluster.Nodes {
		switch node.Role {
		case v1alpha4.ControlPlaneRole:
			controlPlanes++
		case v1alpha4.WorkerRole:
		default:
			return fmt.Errorf("nodes[%d].role is %q, want control-plane or worker", i, node.Role)
		}
	}
	if controlPlanes == 0 {
		return fmt.Errorf("nodes: no control-plane node")
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kind-config-check FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "kind-config-check: %s: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("kind-config-check: %s: valid\n", path)
	}
	if failed {
		os.Exit(1)
	}
}
