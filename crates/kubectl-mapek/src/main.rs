//! `kubectl-mapek`: the kubectl plugin (`kubectl mapek plans|explain|approve|reject|insights|review`).
//! Put this binary on the PATH; kubectl finds it by name. See the `kubectl_mapek` library.

fn main() -> std::process::ExitCode {
    kubectl_mapek::main()
}
