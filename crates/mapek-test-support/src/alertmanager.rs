//! Alertmanager's v2 API as the suites read it: the active alerts it holds.

use serde_json::Value;

/// The active alerts of the Alertmanager at `base` whose labels match every
/// `(name, value)` of `labels`; `None` when it cannot be reached or answers
/// with something other than a JSON list.
pub async fn active_alerts(
    http: &reqwest::Client,
    base: &str,
    labels: &[(&str, &str)],
) -> Option<Vec<Value>> {
    let mut query: Vec<(&str, String)> = labels
        .iter()
        .map(|(name, value)| ("filter", format!("{name}=\"{value}\"")))
        .collect();
    query.push(("active", "true".into()));
    http.get(format!("{base}/api/v2/alerts"))
        .query(&query)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}
