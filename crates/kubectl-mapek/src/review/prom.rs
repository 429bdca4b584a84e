//! The metric's history for the chart: a Prometheus `query_range`, sent either
//! through the API server's service proxy (with the user's kubeconfig, the
//! default) or straight to `--prometheus-url` (without the user's credentials).

use std::time::Duration;

use axum::http::Request;
use kube::Client;
use mapek_engine::model::Millis;
use serde_json::Value;

/// The default Prometheus service: kube-prometheus's `prometheus-operated`.
pub const DEFAULT_SERVICE: &str = "monitoring/prometheus-operated:9090";

/// How long one query may take before the page renders without a chart.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the chart's data comes from.
#[derive(Clone)]
pub struct Prometheus {
    client: Client,
    /// Prepended to `/api/v1/query_range`: the service proxy's path, or empty.
    prefix: String,
    /// Where it is, in words (for "no metric data" notes).
    pub describe: String,
}

impl Prometheus {
    /// Through the API server's service proxy; `service` is `namespace/name:port`.
    pub fn via_proxy(client: Client, service: &str) -> Result<Prometheus, String> {
        let (ns, rest) = service.split_once('/').ok_or_else(|| {
            format!("--prometheus-service {service:?}: expected namespace/name:port")
        })?;
        let (name, port) = rest.split_once(':').ok_or_else(|| {
            format!("--prometheus-service {service:?}: expected namespace/name:port")
        })?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        };
        if !(ok(ns) && ok(name) && ok(port)) {
            return Err(format!(
                "--prometheus-service {service:?}: expected namespace/name:port"
            ));
        }
        Ok(Prometheus {
            client,
            prefix: format!("/api/v1/namespaces/{ns}/services/{name}:{port}/proxy"),
            describe: format!("Prometheus service {service} through the API server's proxy"),
        })
    }

    /// Straight to `url` (such as `http://localhost:9090`), with no credentials.
    pub fn direct(url: &str) -> Result<Prometheus, String> {
        let uri = url
            .parse()
            .map_err(|e| format!("--prometheus-url {url:?}: {e}"))?;
        let client = Client::try_from(kube::Config::new(uri))
            .map_err(|e| format!("--prometheus-url {url:?}: {e}"))?;
        Ok(Prometheus {
            client,
            prefix: String::new(),
            describe: format!("Prometheus at {url}"),
        })
    }

    /// The path and query of a `query_range` request (step in seconds).
    pub fn range_path(&self, query: &str, start_ms: Millis, end_ms: Millis, step_s: u32) -> String {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", query)
            .append_pair("start", &seconds(start_ms))
            .append_pair("end", &seconds(end_ms))
            .append_pair("step", &step_s.to_string())
            .finish();
        format!("{}/api/v1/query_range?{q}", self.prefix)
    }

    /// The first series of `query` over `start..end` and how many series it
    /// returned, or why there is none.
    pub async fn range(
        &self,
        query: &str,
        start_ms: Millis,
        end_ms: Millis,
        step_s: u32,
    ) -> Result<(Vec<(Millis, f64)>, usize), String> {
        let request = Request::get(self.range_path(query, start_ms, end_ms, step_s))
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let text = tokio::time::timeout(TIMEOUT, self.client.request_text(request))
            .await
            .map_err(|_| format!("{} did not answer within {TIMEOUT:?}", self.describe))?
            .map_err(|e| format!("{}: {}", self.describe, crate::review::api_message(&e)))?;
        parse_matrix(&text)
    }
}

fn seconds(ms: Millis) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// The first series of a `query_range` answer as `(ms, value)`, and how many
/// series there were; values that are not numbers (`NaN`, `+Inf`) are kept as
/// such, for the chart to skip.
pub fn parse_matrix(text: &str) -> Result<(Vec<(Millis, f64)>, usize), String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("Prometheus answered no JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!(
            "Prometheus: {} {}",
            v["errorType"].as_str().unwrap_or("error"),
            v["error"].as_str().unwrap_or("(no message)")
        ));
    }
    let result = v["data"]["result"]
        .as_array()
        .ok_or("Prometheus answered no result")?;
    let Some(first) = result.first() else {
        return Err("the query returned no series in this range".into());
    };
    let values = first["values"].as_array().map_or(&[][..], |a| a.as_slice());
    Ok((values.iter().filter_map(sample).collect(), result.len()))
}

fn sample(pair: &Value) -> Option<(Millis, f64)> {
    let t = pair.get(0)?.as_f64()?;
    let v = pair.get(1)?.as_str()?.parse::<f64>().ok()?;
    Some(((t * 1000.0).round() as Millis, v))
}

#[cfg(test)]
mod tests;
