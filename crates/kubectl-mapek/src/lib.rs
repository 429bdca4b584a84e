//! `kubectl mapek`: the kubectl plugin (the `kubectl-mapek` binary) for the people
//! who review plans. `plans` lists the pending RemediationPolicies with their
//! evidence, `explain` tells one plan in words, `approve` writes the
//! `mapek.io/approve` annotation with the plan's current hash (so nobody types
//! hashes), `reject` writes `mapek.io/reject` with a reason, and `insights` shows what
//! the knowledge controller learned from the PolicyOutcome objects. `review`
//! serves a local review page with the same client ([`review`]).
//!
//! The text is made by pure functions of the objects ([`format_plans`], [`explain()`],
//! [`format_insights`]); the API calls are in [`Plugin`], tested against a scripted
//! API server.
//!
//! The modules: `cli` (the clap types), `client` (the API calls), `render` (the
//! `plans` and `insights` tables), `explain` (one plan in words), `review` (the
//! local review page) and `error`.

mod cli;
mod client;
mod error;
mod explain;
#[cfg(test)]
mod fixtures;
mod render;
pub mod review;

use clap::Parser;

pub use cli::{Cli, Command};
pub use client::Plugin;
pub use error::PluginError;
pub use explain::{describe_action, explain, explain_policy};
pub use render::{approval, evidence_summary, format_insights, format_plans};

/// The plugin's entry point: parses the arguments, runs the command, prints.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let plugin = Plugin::connect(&cli).await?;
        plugin.run(&cli.command).await
    });
    match result {
        Ok(text) => {
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(match e {
                PluginError::NotPending { .. }
                | PluginError::EmptyReason
                | PluginError::NotFound { .. }
                | PluginError::Stale { .. } => 2,
                _ => 1,
            })
        }
    }
}
