//! `kubectl-mapek`: the kubectl plugin (`kubectl mapek plans|explain|approve|reject|insights`).
//! Put this binary on the PATH; kubectl finds it by name. See `mapek::plugin`.

fn main() -> std::process::ExitCode {
    mapek::plugin::main()
}
