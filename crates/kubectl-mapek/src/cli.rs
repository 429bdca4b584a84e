//! The command line: the clap types of `kubectl mapek` (the subcommands and
//! kubectl's connection flags `--kubeconfig`, `--context`, `-n`).

use std::net::IpAddr;
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
    /// Serve a local review page (http://127.0.0.1:8090/): the plans, pending first,
    /// each with its metric chart, evidence, actions, dry run, risk and expiry, and
    /// Approve and Reject buttons that act as your kubeconfig user.
    #[command(
        long_about = "Serve a local review page: the plans, pending first, across the namespaces you \
can read; per plan a chart of its policy's metric over the last 3 hours (from Prometheus, drawn \
server-side as SVG) with the threshold, the violations, the breach and episode shaded and the \
rollout change marked; the root causes, the actions with their sizing, the dry-run diff, risk \
and expiry; and Approve and Reject (with a reason) buttons.\n\nEvery request to the API server \
is made with your kubeconfig, as you: the chart's approvers admission policy decides, and \
approved-by is your name. The page serves on a loopback address only, has no external assets \
and no script, and its forms carry a CSRF token made at start. -n picks the namespace, -A all \
the namespaces you can read."
    )]
    Review {
        /// The port to listen on (0: any free port).
        #[arg(long, default_value_t = 8090)]
        port: u16,
        /// The loopback address to listen on (127.0.0.1 or ::1; other addresses are refused).
        #[arg(long, default_value = "127.0.0.1")]
        address: IpAddr,
        /// Query Prometheus at this URL directly (without your kubeconfig's credentials)
        /// instead of through the API server's service proxy.
        #[arg(long, value_name = "URL")]
        prometheus_url: Option<String>,
        /// The Prometheus service reached through the API server's service proxy
        /// (when --prometheus-url is not given).
        #[arg(long, value_name = "NAMESPACE/NAME:PORT", default_value = crate::review::prom::DEFAULT_SERVICE)]
        prometheus_service: String,
        /// List plans in every namespace you can read (a namespace that refuses is noted).
        #[arg(short = 'A', long)]
        all_namespaces: bool,
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
