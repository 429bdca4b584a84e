//! `mapek-operator run`: settings of the operator process and its start-up.

use std::time::Duration;

use crate::error::{Error, Result};

/// Settings of `mapek-operator run`. Flags override the seed system's environment
/// variables.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Base URL of the Prometheus HTTP API.
    #[arg(long, env = "PROMETHEUS_URL", default_value = "http://localhost:9090")]
    pub prometheus_url: String,
    /// Default evaluation interval of the loop, in seconds or as a duration (`30s`,
    /// `1m`); a ViolationPolicy's own `evaluationInterval` wins.
    #[arg(long, env = "MAPE_K_INTERVAL", default_value = "30s", value_parser = parse_interval)]
    pub interval: Duration,
}

/// Parses `30`, `30s`, `1m` or `1h30m` into a positive duration.
pub fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let duration = match text.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => text
            .trim()
            .parse::<kube::core::Duration>()
            .map_err(|e| format!("{text:?} is not seconds or a duration such as 30s: {e}"))
            .and_then(|d| {
                if d.is_negative() {
                    Err(format!("{text:?} is negative"))
                } else {
                    Ok(Duration::from(d))
                }
            })?,
    };
    if duration.is_zero() {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(duration)
}

/// Connects to the cluster of the current kubeconfig and to Prometheus and reports
/// what it found. The controllers of the loop start from here.
pub async fn run(args: RunArgs) -> Result<()> {
    let prometheus = prometheus_http_query::Client::try_from(args.prometheus_url.as_str())
        .map_err(|e| Error::Setting {
            name: "PROMETHEUS_URL".into(),
            reason: format!("{:?} is not a usable URL: {e}", args.prometheus_url),
        })?;
    let config = kube::Config::infer().await.map_err(|e| Error::Setting {
        name: "kubeconfig".into(),
        reason: format!("no usable in-cluster config or kubeconfig: {e}"),
    })?;
    let cluster_url = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)?;
    let version = client
        .apiserver_version()
        .await
        .map_err(|e| Error::Unreachable {
            what: format!("the Kubernetes API at {cluster_url}"),
            reason: e.to_string(),
        })?;
    tracing::info!(cluster = %cluster_url, version = %version.git_version, "connected to Kubernetes");
    match prometheus.query("vector(1)").get().await {
        Ok(_) => tracing::info!(url = %args.prometheus_url, "connected to Prometheus"),
        Err(e) => {
            tracing::warn!(url = %args.prometheus_url, error = %e, "Prometheus is not reachable yet")
        }
    }
    tracing::info!(interval = ?args.interval, "controllers are not part of this build yet; exiting");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_accepts_seconds_and_durations() {
        assert_eq!(parse_interval("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("-5s").is_err());
        assert!(parse_interval("soon").unwrap_err().contains("soon"));
    }
}
