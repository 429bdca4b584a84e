//! Parts 3 and 4, the operator's footprint, read from outside: its process (RSS, CPU),
//! its /metrics and its writes in the API server's audit log.

use super::*;

pub(crate) fn operator_pid() -> u32 {
    let out = std::process::Command::new("pgrep")
        .args(["-f", "mapek-operator run"])
        .output()
        .expect("pgrep runs");
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p != std::process::id())
        .collect();
    // Prefer the one whose listen address is ours.
    let port = var("MAPEK_E2E_OPERATOR")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    for &p in &pids {
        let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
        if String::from_utf8_lossy(&env).contains(&format!("MAPE_K_LISTEN=127.0.0.1:{port}")) {
            return p;
        }
    }
    *pids.first().expect("the operator runs")
}

pub(crate) use mapek_test_support::status_kib;

pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based overall).
    let utime: f64 = f[11].parse().unwrap();
    let stime: f64 = f[12].parse().unwrap();
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    let tck: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (utime + stime) / tck
}

/// The operator's `/metrics` page.
pub(crate) async fn operator_metrics(http: &reqwest::Client) -> String {
    http.get(format!("{}/metrics", var("MAPEK_E2E_OPERATOR")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) async fn operator_counter(http: &reqwest::Client, name: &str) -> f64 {
    let text = operator_metrics(http).await;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// The operator's writes (create, update, patch, delete) in the audit log between
/// two instants (milliseconds): how many, and the bytes of their request bodies
/// (kept for mapek.io objects when the cluster runs with MAPEK_LOCAL_AUDIT_BODIES).
pub(crate) fn operator_writes(from_ms: i64, to_ms: i64) -> (usize, usize) {
    let (mut writes, mut bytes) = (0, 0);
    for e in operator_requests(from_ms, to_ms) {
        let verb = e["verb"].as_str().unwrap_or_default();
        if !matches!(verb, "create" | "update" | "patch" | "delete") {
            continue;
        }
        writes += 1;
        if !e["requestObject"].is_null() {
            bytes += e["requestObject"].to_string().len();
        }
    }
    (writes, bytes)
}

/// The operator's reads (GET and LIST; watches are not counted) in the audit
/// log between two instants (milliseconds), and how many of each
/// `verb resource` pair, as one line.
pub(crate) fn operator_reads(from_ms: i64, to_ms: i64) -> (usize, String) {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for e in operator_requests(from_ms, to_ms) {
        let verb = e["verb"].as_str().unwrap_or_default();
        if !matches!(verb, "get" | "list") {
            continue;
        }
        let resource = e["objectRef"]["resource"].as_str().unwrap_or("?");
        *by.entry(format!("{verb} {resource}")).or_default() += 1;
    }
    let total = by.values().sum();
    let line = by
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    (total, line)
}

/// The audit events of the operator's requests received between two instants
/// (milliseconds).
fn operator_requests(from_ms: i64, to_ms: i64) -> Vec<Value> {
    let text = std::fs::read_to_string(var("MAPEK_LOCAL_AUDIT_LOG")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("mapek-operator"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["user"]["username"]
                .as_str()
                .is_some_and(|u| u.contains("mapek-operator"))
        })
        .filter(|e| {
            let at = e["requestReceivedTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map_or(0, |t| t.as_millisecond());
            from_ms <= at && at < to_ms
        })
        .collect()
}

/// Cumulative bucket counts of a histogram in the operator's metrics.
pub(crate) async fn operator_histogram(http: &reqwest::Client, name: &str) -> Vec<(f64, f64)> {
    let text = operator_metrics(http).await;
    let prefix = format!("{name}_bucket{{le=\"");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// The upper bound of the bucket holding the `p`th percentile of the
/// observations made between two readings of a histogram.
pub(crate) fn histogram_percentile(before: &[(f64, f64)], after: &[(f64, f64)], p: f64) -> f64 {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let was = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, n)| *n);
            (*le, n - was)
        })
        .collect();
    let total = delta.last().map_or(0.0, |(_, n)| *n);
    delta
        .iter()
        .find(|(_, n)| *n >= total * p / 100.0)
        .map_or(f64::NAN, |(le, _)| *le)
}
