//! The library's one error type. Every variant names what was wrong and where, so
//! that the binary can print it as one line.

use mapek_engine::scenario::ScenarioError;

/// Errors of the operator library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario file failed to load.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A setting (flag or environment variable) has a bad value.
    #[error("invalid setting {name}: {reason}")]
    Setting { name: String, reason: String },
    /// A service the operator needs could not be reached.
    #[error("cannot reach {what}: {reason}")]
    Unreachable { what: String, reason: String },
    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Prometheus could not be reached or answered with an error.
    #[error("Prometheus at {url}: {reason}")]
    Prometheus { url: String, reason: String },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
