# Coverage-guided fuzzing (cargo fuzz, libFuzzer; mk/fuzz): scenario files,
# Prometheus answers, the custom resources' specs and the plan annotations.
# The fuzz/ crate is its own workspace; cargo-fuzz, the builds and the grown
# corpus live in $(MAPEK_CACHE).
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15

.PHONY: fuzz fuzz-smoke fuzz-replay fuzz-lint

fuzz: ## Each fuzz target for FUZZ_SECONDS (default 60) with its committed seeds
	mk/fuzz $(FUZZ_SECONDS)

fuzz-smoke: ## Each fuzz target for FUZZ_SMOKE_SECONDS (default 15), dev build, fixed seed
	FUZZ_PROFILE=dev FUZZ_SEED=1 mk/fuzz $(FUZZ_SMOKE_SECONDS)

fuzz-replay: ## Each fuzz target over its committed seeds only (dev build, no exploration); make test runs it
	FUZZ_PROFILE=dev mk/fuzz 0

fuzz-lint: ## rustfmt check and clippy of the fuzz crate
	cd fuzz && $(CARGO) fmt -- --check
	cd fuzz && CARGO_TARGET_DIR=$(MAPEK_CACHE)/fuzz-clippy $(CARGO) clippy --locked --all-targets -- -D warnings
