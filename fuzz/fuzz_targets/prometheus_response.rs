//! Prometheus HTTP API answers, as the operator's client reads them (the
//! `{"status": ..., "data": ...}` envelope of prometheus-http-query, then
//! `single_value`, `series_values`, the monitor's `observe` and its in-memory
//! history), and as the kubectl plugin's review page reads them (`parse_matrix`,
//! then the chart). No answer may panic, put a non-finite number into a
//! status (serde_json would write it as `null`, which the API server refuses),
//! or draw a chart with NaN coordinates.

#![no_main]

use kubectl_mapek::review::chart::{Chart, svg};
use kubectl_mapek::review::prom::parse_matrix;
use libfuzzer_sys::fuzz_target;
use mapek::controllers::monitor::decide::{Evaluated, observe};
use mapek::controllers::monitor::history::{History, Key};
use mapek::prometheus::{series_values, single_value};
use mapek_api::{ViolationPolicy, ViolationPolicyStatus};
use mapek_engine::model::ComparisonOperator;
use prometheus_http_query::error::PrometheusError;
use prometheus_http_query::response::PromqlResult;
use serde::Deserialize;

/// prometheus-http-query's own envelope (`ApiResponse`, private there).
#[derive(Deserialize)]
#[serde(tag = "status")]
#[allow(dead_code)]
enum ApiResponse {
    #[serde(alias = "success")]
    Success { data: PromqlResult },
    #[serde(alias = "error")]
    Error(PrometheusError),
}

const NOW: i64 = mapek_fuzz::CREATED_MS;

fuzz_target!(|data: &[u8]| {
    if let Ok(ApiResponse::Success { data: result }) = serde_json::from_slice(data) {
        operator(&result);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        review_chart(text);
    }
});

fn operator(result: &PromqlResult) {
    let policy: ViolationPolicy =
        serde_json::from_value(mapek_fuzz::policy_with(mapek_fuzz::remediation("Manual")))
            .expect("the fuzz policy deserializes");
    let value = single_value(result.data());
    if let Ok(v) = value {
        assert!(v.is_finite(), "single_value gave {v}");
    }
    let mut status = ViolationPolicyStatus::default();
    let evaluated = observe(
        "web-latency",
        &policy.spec,
        Some(1),
        &mut status,
        &value,
        NOW,
    );
    assert_eq!(evaluated == Evaluated::Failed, value.is_err());
    let key = Key {
        query: "latency".into(),
        interval_ms: 30_000,
    };
    let history = History::new(120);
    if let Ok(v) = value {
        history.push(&key, NOW, v);
        history.push(&key, NOW + 30_000, v);
    }
    if let Ok(points) = series_values(result.data()) {
        assert!(points.iter().all(|(_, v)| v.is_finite()), "{points:?}");
        history.backfill(&key, points);
    }
    status.samples = history.summary(&key);
    if let Some(s) = &status.samples {
        assert!(
            s.min.is_finite() && s.max.is_finite() && s.mean.is_finite(),
            "{s:?}"
        );
        assert!(s.min <= s.mean && s.mean <= s.max, "{s:?}");
    }
    // What the monitor writes reads back the same.
    let written = serde_json::to_string(&status).expect("a status serializes");
    let read: ViolationPolicyStatus =
        serde_json::from_str(&written).unwrap_or_else(|e| panic!("{e}: {written}"));
    assert_eq!(read.last_value, status.last_value);
}

fn review_chart(text: &str) {
    let Ok((series, _)) = parse_matrix(text) else {
        return;
    };
    // The page's window: the hour before the plan and the hour after.
    let (start_ms, end_ms) = (NOW - 3_600_000, NOW + 3_600_000);
    let chart = Chart {
        series,
        threshold: Some(0.5),
        operator: ComparisonOperator::GreaterThan,
        start_ms,
        end_ms,
        spans: vec![],
        marks: vec![],
        title: "web-latency".into(),
    };
    let drawn = svg(&chart);
    assert!(!drawn.contains("NaN") && !drawn.contains("inf"), "{drawn}");
}
