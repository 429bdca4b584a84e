//! The notifier: brings plans to people through Alertmanager. Every few seconds
//! it derives the alerts that should fire from the watch caches
//! ([`alerts`], pure), compares them with what it sent ([`track`], pure), and
//! posts the difference to Alertmanager's v2 API ([`send`]): a new alert at
//! once, a firing one again every resend interval, a resolution as soon as the
//! plan is approved, rejected, expired, superseded or deleted.
//!
//! It runs in a task of its own: an Alertmanager that is down or slow delays
//! only the notifications (each send is bounded and retried with backoff), never
//! the loop. Sends are counted in `mapek_notifications_total{result}`;
//! `mapek_notifications_failing` is 1 while they fail.

pub mod alerts;
pub mod send;
#[cfg(test)]
mod tests;
pub mod track;
pub mod words;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::reflector::Store;

use crate::metrics::Metrics;
use alerts::AlertConfig;
use mapek_api::{RemediationPolicy, ViolationPolicy};
use mapek_engine::model::Millis;
use send::{Endpoint, SendError, Sender};
use track::Tracker;

use super::Clock;

/// How often the wanted alerts are derived and compared with what was sent.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Parses one `key=value` label; the key must be a Prometheus label name.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("label {text:?} is not key=value"))?;
    let key = key.trim();
    let valid = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "label name {key:?} must match [a-zA-Z_][a-zA-Z0-9_]*"
        ));
    }
    Ok((key.to_string(), value.trim().to_string()))
}

/// A running notifier's parts, made from the flags.
pub struct Notifier {
    pub sender: Sender,
    pub config: AlertConfig,
    pub resend: Duration,
}

/// What the notifier is set up with (`mapek-operator run`'s `--alertmanager-*` flags).
#[derive(Clone, Debug)]
pub struct Settings {
    pub url: String,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
    pub bearer_token_file: Option<PathBuf>,
    pub extra_labels: Vec<(String, String)>,
    pub review_url_template: Option<String>,
    pub resend: Duration,
    pub timeout: Duration,
    pub failed_execution_for: Duration,
}

impl Notifier {
    /// A notifier; fails naming the setting on a bad URL, CA file or template.
    pub fn new(s: Settings) -> Result<Notifier, SendError> {
        let sender = Sender::new(Endpoint {
            url: s.url,
            ca_file: s.ca_file,
            insecure_skip_verify: s.insecure_skip_verify,
            bearer_token_file: s.bearer_token_file,
            timeout: s.timeout,
            attempts: 3,
            backoff: Duration::from_secs(1),
        })?;
        if let Some(template) = &s.review_url_template {
            let sample = alerts::fill(template, "ns", "plan", "policy", "target");
            reqwest::Url::parse(&sample).map_err(|e| SendError::Setting {
                name: "reviewUrlTemplate",
                reason: format!("{template:?} does not give a URL ({sample:?}: {e})"),
            })?;
        }
        let config = AlertConfig {
            extra_labels: s.extra_labels.into_iter().collect::<BTreeMap<_, _>>(),
            review_url_template: s.review_url_template,
            failed_for_ms: s.failed_execution_for.as_millis() as Millis,
        };
        Ok(Notifier {
            sender,
            config,
            resend: s.resend,
        })
    }
}

/// The notifier's loop until `stop` completes. The caches are read when they
/// are ready, so that a start does not take an empty cache for "no plans".
pub async fn run(
    notifier: Notifier,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    plans: Store<RemediationPolicy>,
    policies: Store<ViolationPolicy>,
    stop: impl std::future::Future<Output = ()>,
) {
    let work = async {
        let _ = plans.wait_until_ready().await;
        let _ = policies.wait_until_ready().await;
        tracing::info!(url = %notifier.sender.url(), "notifications to Alertmanager started");
        let resend_ms = notifier.resend.as_millis() as Millis;
        let mut tracker = Tracker::new(resend_ms, 4 * resend_ms);
        let mut failures = 0u32;
        loop {
            let ok = tick(
                &notifier,
                &metrics,
                clock.now_ms(),
                &plans,
                &policies,
                &mut tracker,
            )
            .await;
            failures = if ok { 0 } else { failures.saturating_add(1) };
            tokio::time::sleep(pause(failures, notifier.resend)).await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = stop => {}
    }
}

/// The wait before the next check: [`CHECK_EVERY`], doubled per failed send in
/// a row, at most the resend interval.
pub fn pause(failures: u32, resend: Duration) -> Duration {
    let factor = 1u32 << failures.min(16);
    CHECK_EVERY
        .saturating_mul(factor)
        .min(resend.max(CHECK_EVERY))
}

/// One check and send; false when the send failed.
async fn tick(
    notifier: &Notifier,
    metrics: &Metrics,
    now_ms: Millis,
    plans: &Store<RemediationPolicy>,
    policies: &Store<ViolationPolicy>,
    tracker: &mut Tracker,
) -> bool {
    let (plans, policies) = (plans.state(), policies.state());
    let desired = alerts::desired(&plans, &policies, now_ms, &notifier.config);
    let ended = if tracker.starting() {
        let horizon = 4 * notifier.resend.as_millis() as Millis;
        alerts::recently_ended(&plans, &policies, now_ms, horizon, &notifier.config)
    } else {
        Vec::new()
    };
    let batch = tracker.next(&desired, &ended, now_ms);
    if batch.is_empty() {
        return true;
    }
    let (count, resolutions) = (batch.alerts.len() as u64, batch.resolutions());
    match notifier.sender.send(&batch.alerts).await {
        Ok(()) => {
            tracker.commit(batch, now_ms);
            metrics.notification_results("sent", count);
            metrics.notifications_failing.set(0);
            metrics.notifications_firing.set(tracker.firing() as i64);
            tracing::debug!(alerts = count, resolutions, "sent to Alertmanager");
            true
        }
        Err(e) => {
            metrics.notification_results("failed", count);
            metrics.notifications_failing.set(1);
            tracing::warn!(error = %e, alerts = count, "notifications to Alertmanager failed; retrying later");
            false
        }
    }
}
