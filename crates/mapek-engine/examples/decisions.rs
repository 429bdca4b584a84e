//! `make decisions` from the engine crate alone, without building the operator:
//! `cargo run -p mapek-engine --example decisions [-- --only replay|scenarios]
//! [--trace TEXT]`. Reads `examples/decisions`, `datasets/nab-open` and
//! `datasets/ms-cloud-open` of the
//! workspace. `make decisions` (the operator binary) stays the reference figure.

use std::path::Path;
use std::process::ExitCode;

use mapek_engine::decisions::{self, DecisionsArgs, Part};

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args = DecisionsArgs {
        scenarios: root.join("examples/decisions"),
        nab: root.join("datasets/nab-open"),
        it: root.join("datasets/ms-cloud-open"),
        only: None,
        trace: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next()) {
            ("--only", Some(p)) if p == "replay" => args.only = Some(Part::Replay),
            ("--only", Some(p)) if p == "scenarios" => args.only = Some(Part::Scenarios),
            ("--trace", Some(t)) => args.trace = Some(t),
            _ => {
                eprintln!("usage: decisions [--only replay|scenarios] [--trace TEXT]");
                return ExitCode::from(2);
            }
        }
    }
    match decisions::run(&args, &mut |line| println!("{line}")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
