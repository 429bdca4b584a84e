// The kind config check of make scripts-lint (main.go), its own module so that it
// never touches the control plane's build (e2e/control-plane).
module mapek.local/kind-config-check

go 1.26.0

require (
	sigs.k8s.io/kind v0.33.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/pkg/errors v0.9.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
)
