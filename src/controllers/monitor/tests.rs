//! One tick against a canned Prometheus (a tiny HTTP server answering
//! `/api/v1/query`, counting the queries it gets) and the scripted API server.

use std::sync::Mutex;

use kube::runtime::reflector;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::backfill::backfill;
use super::decide::READY;
use super::*;
use crate::controllers::testing::*;

const NOW: Millis = 1_714_557_600_000;
const POLICIES: &str = "/apis/mapek.io/v1alpha1/namespaces/default/violationpolicies";

/// A Prometheus that answers each query from a table and records the queries.
struct CannedPrometheus {
    url: String,
    queries: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CannedPrometheus {
    /// `answers`: query -> (HTTP code, JSON body).
    async fn start(answers: Vec<(&'static str, u16, Value)>) -> CannedPrometheus {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let queries = Arc::new(Mutex::new(Vec::new()));
        let seen = queries.clone();
        let answers = Arc::new(answers);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                let answers = answers.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let request = String::from_utf8_lossy(&request);
                    let target = request.split(' ').nth(1).unwrap_or_default();
                    let (path, params) = target.split_once('?').unwrap_or((target, ""));
                    let query = params
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("query="))
                        .map(percent_decode)
                        .unwrap_or_default();
                    // A range query is answered from the entry `range:QUERY`.
                    let query = match path {
                        "/api/v1/query_range" => format!("range:{query}"),
                        _ => query,
                    };
                    let (code, body) = match answers.iter().find(|(q, _, _)| *q == query) {
                        Some((_, code, body))
                            if path == "/api/v1/query" || path == "/api/v1/query_range" =>
                        {
                            (*code, body.clone())
                        }
                        _ => (
                            404,
                            serde_json::json!({"status": "error", "errorType": "not_found", "error": "unexpected request"}),
                        ),
                    };
                    seen.lock().unwrap().push(query);
                    let body = body.to_string();
                    let response = format!(
                        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        CannedPrometheus { url, queries, task }
    }

    fn client(&self) -> Prometheus {
        Prometheus::new(&self.url, Duration::from_secs(5)).unwrap()
    }

    /// The queries received so far, sorted (they run concurrently).
    fn queries(&self) -> Vec<String> {
        let mut q = self.queries.lock().unwrap().clone();
        q.sort();
        q
    }
}

impl Drop for CannedPrometheus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn value(v: f64) -> (u16, Value) {
    (
        200,
        serde_json::json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [1714557600, v.to_string()]}]}}),
    )
}

/// A policy `name` in `default`: `query` above `threshold`, every `interval`.
fn policy(name: &str, query: &str, threshold: f64, interval: &str) -> ViolationPolicy {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "mapek.io/v1alpha1",
        "kind": "ViolationPolicy",
        "metadata": { "name": name, "namespace": "default", "uid": format!("uid-{name}"),
                      "generation": 1, "resourceVersion": "1" },
        "spec": {
            "targetRef": { "name": "web" },
            "query": query,
            "condition": { "threshold": threshold },
            "evaluationInterval": interval
        }
    }))
    .unwrap()
}

/// The policies in a reflector store, and stored in an API server.
fn serve(policies: Vec<ViolationPolicy>, now: Millis) -> (Store<ViolationPolicy>, Harness) {
    let (store, mut writer) = reflector::store();
    let mut server = Server::empty();
    for p in policies {
        server.insert(&format!("{POLICIES}/{}", p.name_any()), &p);
        writer.apply_watcher_event(&watcher::Event::Apply(p));
    }
    (store, Harness::start(server, now))
}

/// What the server received about one policy: its status patches and the
/// Events about it, in order.
fn about(server: &Server, name: &str) -> Vec<String> {
    let status = format!("{POLICIES}/{name}/status");
    server
        .seen
        .iter()
        .filter(|s| s.path == status || s.body["regarding"]["name"] == name)
        .map(Seen::line)
        .collect()
}

/// The statuses written to `path`, in order.
fn patched_status(server: &Server, path: &str) -> Vec<Value> {
    requests(server, "PATCH", path)
        .iter()
        .map(|s| {
            assert_eq!(s.content_type, "application/merge-patch+json");
            s.body["status"].clone()
        })
        .collect()
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

#[tokio::test]
async fn a_recovery_from_a_failed_evaluation_is_an_event_a_first_success_is_not() {
    let latency = value(0.1);
    let prometheus = CannedPrometheus::start(vec![("latency", latency.0, latency.1)]).await;
    let mut failed = policy("failed", "latency", 0.5, "30s");
    let mut status = ViolationPolicyStatus::default();
    crate::conditions::set(
        &mut status.conditions,
        READY,
        false,
        "PrometheusUnreachable",
        "connection refused",
        None,
        &decide::time(NOW - 30_000),
    );
    failed.status = Some(status);
    let (policies, harness) = serve(vec![failed, policy("fresh", "latency", 0.5, "30s")], NOW);
    let (wake, _woken) = mpsc::channel(8);
    let mut schedules = HashMap::new();
    tick(
        &harness.ctx,
        &policies,
        &prometheus.client(),
        &wake,
        &mut schedules,
    )
    .await;
    let server = harness.finish().await;
    assert_eq!(
        about(&server, "failed"),
        [
            format!("PATCH {POLICIES}/failed/status"),
            "EVENT Normal EvaluationRecovered".to_string(),
        ]
    );
    assert_eq!(
        about(&server, "fresh"),
        [format!("PATCH {POLICIES}/fresh/status")]
    );
}

#[test]
fn the_copy_of_a_written_status_is_dropped_once_the_cache_shows_it() {
    let written = ViolationPolicyStatus {
        last_evaluation_time: Some(decide::time(NOW)),
        violation_count: 3,
        ..ViolationPolicyStatus::default()
    };
    let older = ViolationPolicyStatus {
        last_evaluation_time: Some(decide::time(NOW - 30_000)),
        ..ViolationPolicyStatus::default()
    };
    assert!(caught_up(Some(&written.clone()), &written));
    assert!(!caught_up(Some(&older), &written));
    assert!(!caught_up(None, &written));
    assert!(!caught_up(None, &ViolationPolicyStatus::default()));
}

/// A schedule is one slot of a map with a slot per policy, empty statuses
/// included: the statuses it may hold are boxed, so that 10,000 slots are not
/// 10,000 pairs of inline statuses (a slot with its key: 784 bytes before, 144
/// after).
#[test]
fn a_schedule_slot_holds_no_status_inline() {
    let inline = std::mem::size_of::<ViolationPolicyStatus>();
    let slot = std::mem::size_of::<Schedule>();
    let key = std::mem::size_of::<ObjectRef<ViolationPolicy>>();
    eprintln!("Schedule {slot} bytes, key {key}, ViolationPolicyStatus {inline} bytes");
    assert!(slot < inline, "Schedule {slot} bytes");
}

#[tokio::test]
async fn each_distinct_query_runs_once_and_every_policy_gets_its_result() {
    let latency = value(0.9);
    let errors = value(1.0);
    let prometheus = CannedPrometheus::start(vec![
        ("latency", latency.0, latency.1),
        ("errors", errors.0, errors.1),
    ])
    .await;
    let (policies, harness) = serve(
        vec![
            policy("a", "latency", 0.5, "30s"),
            policy("b", "latency", 0.5, "30s"),
            policy("c", "errors", 5.0, "10s"),
        ],
        NOW,
    );
    let (wake, mut woken) = mpsc::channel(8);
    let mut schedules = HashMap::new();
    let client = prometheus.client();

    tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
    assert_eq!(prometheus.queries(), ["errors", "latency"]);
    assert_eq!(woken.try_recv().unwrap(), "default");
    assert!(woken.try_recv().is_err(), "one wake-up per namespace");
    {
        let server = harness.server();
        // A first successful evaluation is not a recovery: no EvaluationRecovered.
        assert_eq!(server.seen.len(), 5, "{:?}", lines(&server, false));
        for name in ["a", "b"] {
            assert_eq!(
                about(&server, name),
                [
                    format!("PATCH {POLICIES}/{name}/status"),
                    "EVENT Warning ViolationDetected".to_string(),
                ]
            );
            let status = &patched_status(&server, &format!("{POLICIES}/{name}/status"))[0];
            assert_eq!(status["violationCount"], 1);
            assert_eq!(status["lastValue"], 0.9);
            let recent = status["recentViolations"].as_array().unwrap();
            assert_eq!(recent.len(), 1);
            assert_eq!(recent[0]["id"], format!("{name}-1"));
            assert_eq!(recent[0]["value"], 0.9);
            assert_eq!(recent[0]["threshold"], 0.5);
            assert_eq!(condition(status, "Ready")["status"], "True");
            assert_eq!(condition(status, "Violating")["status"], "True");
        }
        assert_eq!(about(&server, "c"), [format!("PATCH {POLICIES}/c/status")]);
        let status = &patched_status(&server, &format!("{POLICIES}/c/status"))[0];
        assert_eq!(status["violationCount"], 0);
        assert_eq!(status["lastValue"], 1.0);
        assert!(status.get("recentViolations").is_none(), "{status}");
        assert_eq!(condition(status, "Violating")["status"], "False");
    }

    // 10 s later only `c` (every 10 s) is due: `latency` is not queried. Its
    // value is kept in memory, but nothing a reader needs changed: no write.
    harness.clock.set(NOW + 10_000);
    tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
    assert_eq!(prometheus.queries(), ["errors", "errors", "latency"]);
    assert!(woken.try_recv().is_err());
    assert_eq!(harness.server().seen.len(), 5);
    let c = Key {
        query: "errors".into(),
        interval_ms: 10_000,
    };
    assert_eq!(
        harness.ctx.history.points(&c),
        [(NOW, 1.0), (NOW + 10_000, 1.0)]
    );

    // Once the refresh period has passed since the last write, `c` is
    // written again, with the summary of its samples; `a` and `b`, still
    // violating, record their second violation.
    harness.clock.set(NOW + 300_000);
    tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
    {
        let server = harness.server();
        assert_eq!(
            about(&server, "c"),
            [
                format!("PATCH {POLICIES}/c/status"),
                format!("PATCH {POLICIES}/c/status")
            ]
        );
        let status = &patched_status(&server, &format!("{POLICIES}/c/status"))[1];
        assert_eq!(status["samples"]["count"], 3, "{status}");
        assert_eq!(status["samples"]["max"], 1.0);
        assert!(status["recentSamples"].is_null());
        let status = &patched_status(&server, &format!("{POLICIES}/a/status"))[1];
        assert_eq!(status["violationCount"], 2);
    }
    harness.finish().await;
}

#[tokio::test]
async fn a_rejected_query_records_no_violation_and_backs_off() {
    let prometheus = CannedPrometheus::start(vec![(
        "rate(x[5m]",
        400,
        serde_json::json!({"status": "error", "errorType": "bad_data",
            "error": "1:11: parse error: unclosed left parenthesis"}),
    )])
    .await;
    let mut bad = policy("bad", "rate(x[5m]", 0.5, "30s");
    // Two violations recorded before the query broke.
    bad.status = Some(
        serde_json::from_value(serde_json::json!({
            "violationCount": 2,
            "recentViolations": [{"id": "bad-2", "time": "2024-05-01T09:59:00Z",
                                  "value": 0.7, "threshold": 0.5}]
        }))
        .unwrap(),
    );
    let (policies, harness) = serve(vec![bad], NOW);
    let (wake, mut woken) = mpsc::channel(8);
    let mut schedules = HashMap::new();
    let client = prometheus.client();
    let path = format!("{POLICIES}/bad/status");

    tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
    assert_eq!(prometheus.queries(), ["rate(x[5m]"]);
    assert!(
        woken.try_recv().is_err(),
        "a failed query wakes no analyzer"
    );
    {
        let server = harness.server();
        assert_eq!(
            lines(&server, false),
            [
                format!("PATCH {path}"),
                "EVENT Warning InvalidQuery".to_string()
            ]
        );
        let status = &patched_status(&server, &path)[0];
        let ready = condition(status, "Ready");
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "InvalidQuery");
        assert!(
            ready["message"].as_str().unwrap().contains("parse error"),
            "{ready}"
        );
        assert_eq!(condition(status, "Violating")["status"], "Unknown");
        assert_eq!(status["violationCount"], 2);
        assert_eq!(status["recentViolations"].as_array().unwrap().len(), 1);
        assert!(status.get("lastValue").is_none(), "{status}");
    }

    // Retried after one interval, then after two.
    for (at, queried) in [(30_000, true), (60_000, false), (90_000, true)] {
        let before = prometheus.queries().len();
        harness.clock.set(NOW + at);
        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        assert_eq!(
            prometheus.queries().len() - before,
            usize::from(queried),
            "at +{at} ms"
        );
    }
    assert!(woken.try_recv().is_err());
    let server = harness.finish().await;
    // Still failing the same way: nothing new to write, no second Event.
    assert_eq!(
        lines(&server, false),
        [
            format!("PATCH {path}"),
            "EVENT Warning InvalidQuery".to_string(),
        ]
    );
}

#[tokio::test]
async fn after_a_start_a_series_history_is_read_back_with_a_range_query() {
    // Prometheus holds the three evaluations before this process started.
    let range = serde_json::json!({"status": "success", "data": {"resultType": "matrix",
        "result": [{"metric": {}, "values": [
            [(NOW - 90_000) / 1000, "0.1"], [(NOW - 60_000) / 1000, "0.2"],
            [(NOW - 30_000) / 1000, "NaN"], [NOW / 1000, "0.3"]]}]}});
    let latency = value(0.4);
    let prometheus = CannedPrometheus::start(vec![
        ("range:latency", 200, range),
        ("latency", latency.0, latency.1),
    ])
    .await;
    let (policies, harness) = serve(vec![policy("a", "latency", 0.5, "30s")], NOW);
    let key = history_key(&policies.state()[0], Duration::from_secs(30));
    let (wake, _woken) = mpsc::channel(8);
    let mut schedules = HashMap::new();
    // The live evaluation comes first; the values read back go before it.
    tick(
        &harness.ctx,
        &policies,
        &prometheus.client(),
        &wake,
        &mut schedules,
    )
    .await;
    harness.clock.set(NOW + 1_000);
    backfill(&harness.ctx, &prometheus.client(), &key).await;
    assert!(harness.ctx.history.is_backfilled(&key));
    assert_eq!(
        harness.ctx.history.points(&key),
        [(NOW - 90_000, 0.1), (NOW - 60_000, 0.2), (NOW, 0.4)]
    );
    assert_eq!(prometheus.queries(), ["latency", "range:latency"]);
    // A query Prometheus cannot answer as a range leaves the live values.
    let other = Key {
        query: "missing".into(),
        interval_ms: 30_000,
    };
    harness.ctx.history.push(&other, NOW, 1.0);
    backfill(&harness.ctx, &prometheus.client(), &other).await;
    assert_eq!(harness.ctx.history.points(&other), [(NOW, 1.0)]);
    harness.finish().await;
}

#[test]
fn refreshes_get_three_quarters_of_the_budget_and_never_wait() {
    let budget = WriteBudget::new(10, 4);
    // Three quarters of the burst for refreshes, then none until the rate refills.
    assert!((0..3).all(|_| budget.try_refresh()));
    assert!(!budget.try_refresh());
    assert_eq!(budget.refresh_per_second(), Some(7.0));
    let unlimited = WriteBudget::new(0, 0);
    assert!((0..1000).all(|_| unlimited.try_refresh()));
    assert_eq!(unlimited.refresh_per_second(), None);
}

#[tokio::test]
async fn context_queries_run_in_the_same_round_once_and_stay_in_memory() {
    let latency = value(0.9);
    let rate = value(120.0);
    let prometheus = CannedPrometheus::start(vec![
        ("latency", latency.0, latency.1),
        ("rate", rate.0, rate.1),
    ])
    .await;
    let with_load = |name: &str| {
        let mut p = policy(name, "latency", 0.5, "30s");
        p.spec.context = Some(mapek_api::ContextQueries {
            load: Some("rate".into()),
            saturation: None,
        });
        p
    };
    let (policies, harness) = serve(vec![with_load("a"), with_load("b")], NOW);
    let (wake, _woken) = mpsc::channel(8);
    let mut schedules = HashMap::new();
    tick(
        &harness.ctx,
        &policies,
        &prometheus.client(),
        &wake,
        &mut schedules,
    )
    .await;
    // One query each, however many policies ask.
    assert_eq!(prometheus.queries(), ["latency", "rate"]);
    let key = Key {
        query: "rate".into(),
        interval_ms: 30_000,
    };
    assert_eq!(harness.ctx.history.points(&key), [(NOW, 120.0)]);
    let (kind, k) = &context_keys(&policies.state()[0], Duration::from_secs(30))[0];
    assert_eq!((*kind, k), (mapek_engine::model::ContextKind::Load, &key));
    let server = harness.finish().await;
    // The load is not the policy's value: its status has the latency.
    let status = &patched_status(&server, &format!("{POLICIES}/a/status"))[0];
    assert_eq!(status["lastValue"], 0.9);
}

#[tokio::test]
async fn a_change_over_the_write_budget_is_written_when_it_has_room_and_loses_nothing() {
    let latency = value(0.9);
    let prometheus = CannedPrometheus::start(vec![("latency", latency.0, latency.1)]).await;
    let (policies, _) = serve(
        vec![
            policy("a", "latency", 0.5, "30s"),
            policy("b", "latency", 0.5, "30s"),
        ],
        NOW,
    );
    let mut server = Server::empty();
    for p in policies.state() {
        server.insert(&format!("{POLICIES}/{}", p.name_any()), p.as_ref());
    }
    // Room for one write, then none for a long while.
    let settings = crate::controllers::Settings {
        write_qps: 1,
        write_burst: 1,
        ..crate::controllers::Settings::default()
    };
    let harness = Harness::with(
        server,
        NOW,
        settings,
        Arc::new(crate::controllers::executor::ExecutionLimits::new(4)),
    );
    let (wake, _woken) = mpsc::channel(8);
    let mut schedules = HashMap::new();
    let client = prometheus.client();
    // Both violate; one status is written, the other is queued (no wait).
    let started = std::time::Instant::now();
    tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
    assert!(started.elapsed() < Duration::from_millis(500));
    let written = |server: &Server| {
        ["a", "b"]
            .iter()
            .filter(|n| !patched_status(server, &format!("{POLICIES}/{n}/status")).is_empty())
            .count()
    };
    assert_eq!(written(&harness.server()), 1);
    // The analyzer sees both violations at once, the queued one too (the
    // watch cache shows neither write).
    for p in policies.state() {
        let seen = harness.ctx.unwritten.view(p.clone());
        let recorded = seen.status.as_ref().map(|s| s.recent_violations.len());
        assert_eq!(recorded, Some(1), "{}", p.name_any());
    }
    // A second later, between its evaluations, the budget has room for one
    // more: the queued change is written then, not 30 s later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    harness.clock.set(NOW + 1_000);
    tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
    assert_eq!(written(&harness.server()), 2);
    // Its next evaluation builds on what was written: nothing is lost.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    harness.clock.set(NOW + 30_000);
    tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
    let server = harness.finish().await;
    let counts: Vec<u64> = ["a", "b"]
        .iter()
        .filter_map(|n| {
            patched_status(&server, &format!("{POLICIES}/{n}/status"))
                .last()
                .and_then(|s| s["violationCount"].as_u64())
        })
        .collect();
    assert!(counts.contains(&2), "{counts:?}");
}
