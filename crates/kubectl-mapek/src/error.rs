//! What can go wrong in the plugin; [`crate::main`] maps it to the exit code.

/// What can go wrong in the plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("RemediationPolicy {name} not found in namespace {namespace}")]
    NotFound { name: String, namespace: String },
    #[error("RemediationPolicy {name} is {state}, not Pending: only a pending plan can be {verb}")]
    NotPending {
        name: String,
        state: String,
        verb: &'static str,
    },
    #[error("RemediationPolicy {name} has no plan hash to approve")]
    NoHash { name: String },
    #[error(
        "RemediationPolicy {name} changed since you read it (plan hash {seen}, now {hash}): read it again before approving"
    )]
    Stale {
        name: String,
        seen: String,
        hash: String,
    },
    #[error("review page: {0}")]
    Review(String),
    #[error("a rejection needs a reason: --reason \"...\"")]
    EmptyReason,
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}
