//! The I/O of the notifier: one `POST /api/v2/alerts` of a batch, each try
//! bounded by a timeout, retried with a doubling backoff, with a bearer token
//! read from its file at each send (a rotated secret is picked up) and TLS
//! checked against a CA file when one is given.

use std::path::PathBuf;
use std::time::Duration;

use super::track::Alert;

/// How to reach Alertmanager.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Base URL, such as `http://alertmanager:9093`.
    pub url: String,
    /// PEM CA bundle that signs Alertmanager's certificate (added to the system's).
    pub ca_file: Option<PathBuf>,
    /// Skip the certificate check (tests only).
    pub insecure_skip_verify: bool,
    /// File holding a bearer token (a mounted Secret).
    pub bearer_token_file: Option<PathBuf>,
    /// Bound of one try.
    pub timeout: Duration,
    /// Tries per send.
    pub attempts: u32,
    /// Wait after the first failed try; doubled after each.
    pub backoff: Duration,
}

/// Why a send failed, or why the endpoint is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("Alertmanager setting {name}: {reason}")]
    Setting { name: &'static str, reason: String },
    #[error("POST {url} failed after {attempts} tries: {last}")]
    Failed {
        url: String,
        attempts: u32,
        last: String,
    },
}

/// Posts batches of alerts to one Alertmanager.
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
    alerts_url: String,
    endpoint: Endpoint,
}

fn setting(name: &'static str, reason: impl ToString) -> SendError {
    SendError::Setting {
        name,
        reason: reason.to_string(),
    }
}

impl Sender {
    /// A sender for the endpoint; fails on a bad URL or an unreadable CA file.
    pub fn new(endpoint: Endpoint) -> Result<Sender, SendError> {
        let base = reqwest::Url::parse(&endpoint.url)
            .map_err(|e| setting("url", format!("{:?} is not a URL: {e}", endpoint.url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(setting(
                "url",
                format!("{:?}: the scheme must be http or https", endpoint.url),
            ));
        }
        let alerts_url = format!("{}/api/v2/alerts", endpoint.url.trim_end_matches('/'));
        let mut builder = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .connect_timeout(endpoint.timeout)
            .tls_danger_accept_invalid_certs(endpoint.insecure_skip_verify);
        if let Some(path) = &endpoint.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| setting("caFile", format!("cannot read {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                setting(
                    "caFile",
                    format!("{} is not a PEM bundle: {e}", path.display()),
                )
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| setting("client", e))?;
        Ok(Sender {
            client,
            alerts_url,
            endpoint,
        })
    }

    pub fn url(&self) -> &str {
        &self.alerts_url
    }

    /// Sends the batch, trying `attempts` times with backoff.
    pub async fn send(&self, alerts: &[Alert]) -> Result<(), SendError> {
        let mut wait = self.endpoint.backoff;
        let mut last = String::new();
        for attempt in 1..=self.endpoint.attempts.max(1) {
            match self.try_once(alerts).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(url = %self.alerts_url, attempt, error = %e, "Alertmanager send failed");
                    last = e;
                }
            }
            if attempt < self.endpoint.attempts {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
        Err(SendError::Failed {
            url: self.alerts_url.clone(),
            attempts: self.endpoint.attempts.max(1),
            last,
        })
    }

    async fn try_once(&self, alerts: &[Alert]) -> Result<(), String> {
        let mut request = self.client.post(&self.alerts_url).json(alerts);
        if let Some(path) = &self.endpoint.bearer_token_file {
            // A small file (a mounted Secret): read in place.
            let token = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the bearer token file {}: {e}", path.display())
            })?;
            request = request.bearer_auth(token.trim());
        }
        // The whole exchange, body included, is bounded (the client's timeout
        // covers it too; this one holds even for a server that never answers).
        let exchange = async {
            let response = request.send().await.map_err(|e| format!("{e:#}"))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let body = response.text().await.unwrap_or_default();
            Err(format!(
                "HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            ))
        };
        tokio::time::timeout(self.endpoint.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:?}", self.endpoint.timeout))?
    }
}
