//! The `mapek-operator` binary: `run` (the operator), `crdgen` (print the CRDs),
//! `analyze` (run the engine offline on a scenario file) and `decisions` (score the
//! engine's judgement on labelled scenarios and replayed NAB series).
//!
//! Settings come from flags, which override the seed system's environment
//! variables `PROMETHEUS_URL`, `MAPE_K_INTERVAL` and `LOG_LEVEL`. Bad input exits
//! with status 2 and one line naming what was wrong; other failures exit with 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use mapek::telemetry::{self, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "mapek-operator",
    version,
    about = "Autonomic remediation operator for Kubernetes (MAPE-K)"
)]
struct Cli {
    /// Log level or filter, such as `info` or `mapek=debug,kube=warn`.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log line format.
    #[arg(long, global = true, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the operator against the current kubeconfig's cluster.
    Run(Box<mapek::run::RunArgs>),
    /// Print the CustomResourceDefinitions as YAML (or write one file each).
    Crdgen {
        /// Write `<crd-name>.yaml` files into this folder instead of printing.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// Run the engine offline on a scenario file and print what it finds and plans.
    Analyze {
        /// A YAML scenario of policies, violations and metric series (see examples/).
        #[arg(long)]
        scenario: PathBuf,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Score the engine's decisions: labelled scenarios, and NAB series replayed
    /// against Prometheus alerting-rule baselines (`make decisions`).
    Decisions(mapek_engine::decisions::DecisionsArgs),
    /// Print the RBAC rules the operator needs: a ClusterRole and a leader-election Role.
    Rbac {
        /// Name of the ClusterRole (the Role gets `-leader-election` appended).
        #[arg(long, default_value = "mapek-operator")]
        name: String,
        /// Namespace of the leader-election Lease (and of the Role).
        #[arg(long, default_value = "mapek-system")]
        lease_namespace: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = telemetry::init(&cli.log_level, cli.log_format) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Crdgen { output_dir: None } => print_stdout(&crdgen()),
        Command::Crdgen {
            output_dir: Some(dir),
        } => match write_crds(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Command::Rbac {
            name,
            lease_namespace,
        } => print_stdout(&mapek::rbac::manifests(&name, &lease_namespace)),
        Command::Analyze { scenario, output } => match analyze(&scenario, output) {
            Ok(text) => print_stdout(&text),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Decisions(args) => decisions(&args),
        Command::Run(args) => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(mapek::run::run(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ mapek::Error::Setting { .. }) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
                // Exits at once, without dropping the runtime: its shutdown cancels
                // the controllers' reconcile tasks while they are still polled,
                // and kube-runtime panics on such a cancelled task (seen when a
                // leader cut off from the API server stood down).
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1)
                }
            }
        }
    }
}

fn crdgen() -> String {
    mapek_api::all_crds()
        .iter()
        .map(|crd| format!("---\n{}", mapek_api::crd_yaml(crd)))
        .collect()
}

fn write_crds(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for crd in mapek_api::all_crds() {
        let path = dir.join(mapek_api::crd_file_name(&crd));
        std::fs::write(&path, mapek_api::crd_yaml(&crd))
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

fn analyze(path: &std::path::Path, output: Output) -> Result<String, mapek::Error> {
    let scenario = mapek_engine::scenario::Scenario::load(path)?;
    let report = mapek_engine::report::Report::from_scenario(&scenario);
    Ok(match output {
        Output::Table => report.to_table(),
        Output::Json => report.to_json(),
    })
}

/// Streams the lines of `decisions` to stdout; bad input exits with 2.
fn decisions(args: &mapek_engine::decisions::DecisionsArgs) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let mut write_error: Option<std::io::Error> = None;
    let result = mapek_engine::decisions::run(args, &mut |line| {
        if write_error.is_none()
            && let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush())
        {
            write_error = Some(e);
        }
    });
    match (result, write_error) {
        (Err(e), _) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        (Ok(()), Some(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::from(1)
        }
        (Ok(()), _) => ExitCode::SUCCESS,
    }
}

/// Writes to stdout; a closed pipe (as with `| head`) is not an error worth a panic.
fn print_stdout(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::from(1)
        }
    }
}
