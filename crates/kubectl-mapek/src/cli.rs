//! The command line: the clap types of `kubectl mapek` (the subcommands and
//! kubectl's connection flags `--kubeconfig`, `--context`, `-n`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The plugin's command line, with kubectl's connection flags.
#[derive(Parser, Debug)]
#[command(
    name = "kubectl-mapek",
    bin_name = "kubectl mapek",
    version,
    about = "Review, approve and reject mapek-operator remediation plans"
)]
pub struct Cli {
    /// Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (default: the context's namespace, or `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// List the plans waiting for approval, with their evidence.
    Plans {
        /// List plans in every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Explain a plan (patterns, root causes, breach episode, actions and risk,
    /// in words), or a policy's breach episode: `policy/NAME` (or `vp/NAME`).
    Explain { plan: String },
    /// Approve a pending plan: annotate it with its current plan hash.
    Approve { plan: String },
    /// Reject a pending plan with a reason.
    Reject {
        plan: String,
        /// Why the plan is rejected (recorded in the annotation and the plan's status).
        #[arg(long)]
        reason: String,
    },
    /// What the operator learned from executed plans (PolicyOutcomes).
    Insights {
        /// Learn from outcomes in every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
}

#[cfg(test)]
mod tests;
