//! The notifier's derivation (pending, approved, superseded, failed, exhausted,
//! restart) and its sender against a local HTTP server (retries, timeouts).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::alerts::{self, AlertConfig, Desired};
use super::send::{Endpoint, Sender};
use super::track::{Alert, Tracker, rfc3339};
use super::*;
use mapek_api::{RemediationPolicy, ViolationPolicy};

const MIN: Millis = 60_000;
/// 2026-01-01T00:00:00Z.
const T0: Millis = 1_767_225_600_000;

fn at(ms: Millis) -> String {
    rfc3339(ms)
}

fn policy(
    name: &str,
    approval_mode: &str,
    exhausted: Option<(&str, Millis)>,
) -> Arc<ViolationPolicy> {
    let conditions: Vec<Value> = exhausted
        .map(|(status, t)| {
            vec![
                json!({ "type": "Exhausted", "status": status, "reason": "PlanDeclined",
                         "message": "a plan was rejected", "lastTransitionTime": at(t) }),
            ]
        })
        .unwrap_or_default();
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
            "metadata": { "name": name, "namespace": "shop" },
            "spec": {
                "targetRef": { "name": "web" }, "query": "latency", "severity": "critical",
                "condition": { "threshold": 0.5 },
                "remediation": { "approvalMode": approval_mode }
            },
            "status": { "conditions": conditions }
        }))
        .unwrap(),
    )
}

/// Plan `name` for `web` under `web-latency`, created at `created`.
fn plan(name: &str, created: Millis, risk: &str, status: Option<Value>) -> RemediationPolicy {
    let mut object = json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "RemediationPolicy",
        "metadata": { "name": name, "namespace": "shop", "creationTimestamp": at(created) },
        "spec": {
            "target": "web", "policy": "web-latency", "rootCause": "LoadSpike",
            "confidence": 0.8,
            "actions": [{ "id": "a1", "actionType": "SCALE_UP", "target": "web", "replicas": 5,
                          "priority": "High", "estimatedLatencySeconds": 30 }],
            "expectedImpact": "lower latency", "risk": risk, "priority": "High",
            "cost": 0.2, "benefit": 0.7, "score": 0.5, "planHash": "abc123",
            "evidence": { "violationsAnalyzed": 3 }
        }
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    serde_json::from_value(object).unwrap()
}

fn approved_at(t: Millis) -> Value {
    json!({ "approval": "Approved", "approvalTime": at(t), "phase": "Completed" })
}

fn config() -> AlertConfig {
    AlertConfig {
        extra_labels: [("team".to_string(), "payments".to_string())].into(),
        review_url_template: Some("http://localhost:8000/plans/{namespace}/{plan}".into()),
        failed_for_ms: 60 * MIN,
    }
}

fn desired(
    plans: &[RemediationPolicy],
    policies: &[Arc<ViolationPolicy>],
    now: Millis,
) -> Vec<Desired> {
    let plans: Vec<_> = plans.iter().cloned().map(Arc::new).collect();
    alerts::desired(&plans, policies, now, &config())
}

fn names(d: &[Desired]) -> Vec<(String, String)> {
    d.iter()
        .map(|d| {
            (
                d.labels["alertname"].clone(),
                d.labels.get("plan").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn a_pending_plan_fires_with_its_labels_commands_and_review_link() {
    let vp = policy("web-latency", "Manual", None);
    let d = desired(&[plan("web-abc123", T0, "Medium", None)], &[vp], T0 + MIN);
    assert_eq!(d.len(), 1);
    let l = &d[0].labels;
    for (k, v) in [
        ("alertname", "MapekPlanPending"),
        ("namespace", "shop"),
        ("plan", "web-abc123"),
        ("target", "web"),
        ("policy", "web-latency"),
        ("root_cause", "LoadSpike"),
        ("risk", "Medium"),
        ("first_action", "SCALE_UP"),
        ("severity", "critical"),
        ("team", "payments"),
    ] {
        assert_eq!(l.get(k).map(String::as_str), Some(v), "label {k} in {l:?}");
    }
    let a = &d[0].annotations;
    assert!(a["summary"].contains("web-abc123") && !a["summary"].contains('\n'));
    assert!(
        a["description"].contains("scale Deployment web to 5 replicas"),
        "{}",
        a["description"]
    );
    assert!(a["approve"].starts_with(
        "kubectl annotate remediationpolicy web-abc123 -n shop mapek.io/approve=abc123 "
    ));
    assert!(a["approve"].contains("mapek.io/approved-by="));
    assert_eq!(
        a["reject"],
        "kubectl annotate remediationpolicy web-abc123 -n shop mapek.io/reject=\"<reason>\""
    );
    assert_eq!(
        a["review_url"],
        "http://localhost:8000/plans/shop/web-abc123"
    );
    assert_eq!(
        d[0].generator_url.as_deref(),
        Some("http://localhost:8000/plans/shop/web-abc123")
    );
    assert_eq!(d[0].starts_ms, T0);
}

#[test]
fn approved_rejected_expired_and_started_plans_do_not_fire() {
    let vp = policy("web-latency", "Manual", None);
    let plans = [
        plan("a", T0, "Medium", Some(approved_at(T0))),
        plan("r", T0, "Medium", Some(json!({ "approval": "Rejected" }))),
        plan("e", T0, "Medium", Some(json!({ "approval": "Expired" }))),
        plan(
            "i",
            T0,
            "Medium",
            Some(json!({ "approval": "Approved", "phase": "InProgress" })),
        ),
    ];
    assert!(desired(&plans, &[vp], T0 + MIN).is_empty());
}

#[test]
fn a_newer_open_plan_supersedes_an_older_one_and_auto_approved_plans_get_none() {
    let vp = policy("web-latency", "Manual", None);
    let plans = [
        plan("old", T0, "Medium", None),
        plan("new", T0 + MIN, "Medium", None),
    ];
    assert_eq!(
        names(&desired(&plans, &[vp], T0 + 2 * MIN)),
        [("MapekPlanPending".into(), "new".into())]
    );
    let auto = policy("web-latency", "AutoLowRisk", None);
    assert!(
        desired(
            &[plan("low", T0, "Low", None)],
            std::slice::from_ref(&auto),
            T0
        )
        .is_empty()
    );
    assert_eq!(
        desired(&[plan("high", T0, "High", None)], &[auto], T0).len(),
        1
    );
}

#[test]
fn a_failed_execution_fires_for_its_window() {
    let failed = json!({ "approval": "Approved", "phase": "RolledBack",
        "execution": { "finishedAt": at(T0), "error": "patch refused", "actions": [] } });
    let plans = [plan("f", T0 - MIN, "Medium", Some(failed))];
    let vp = policy("web-latency", "Manual", None);
    let d = desired(&plans, std::slice::from_ref(&vp), T0 + MIN);
    assert_eq!(names(&d), [("MapekExecutionFailed".into(), "f".into())]);
    assert!(d[0].annotations["summary"].contains("RolledBack (patch refused)"));
    assert!(desired(&plans, &[vp], T0 + 61 * MIN).is_empty());
}

#[test]
fn an_exhausted_condition_fires_and_a_cleared_one_does_not() {
    let vp = policy("web-latency", "Manual", Some(("True", T0)));
    let d = desired(&[], &[vp], T0 + MIN);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].labels["alertname"], "MapekRemediationExhausted");
    assert_eq!(d[0].labels["policy"], "web-latency");
    assert!(d[0].annotations["description"].contains("a plan was rejected"));
    assert_eq!(d[0].starts_ms, T0);
    let cleared = policy("web-latency", "Manual", Some(("False", T0)));
    assert!(desired(&[], &[cleared], T0 + MIN).is_empty());
}

fn fire_and_commit(tracker: &mut Tracker, d: &[Desired], now: Millis) -> Vec<Alert> {
    let batch = tracker.next(d, &[], now);
    let alerts = batch.alerts.clone();
    tracker.commit(batch, now);
    alerts
}

#[test]
fn firing_is_resent_before_it_ends_and_resolved_once_approved() {
    let vp = policy("web-latency", "Manual", None);
    let mut tracker = Tracker::new(MIN, 4 * MIN);
    let pending = desired(
        &[plan("p", T0, "Medium", None)],
        std::slice::from_ref(&vp),
        T0,
    );
    let first = fire_and_commit(&mut tracker, &pending, T0);
    assert_eq!(first[0].ends_at, at(T0 + 4 * MIN));
    assert!(
        tracker.next(&pending, &[], T0 + MIN / 2).is_empty(),
        "not due yet"
    );
    let again = tracker.next(&pending, &[], T0 + MIN).alerts;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].ends_at, at(T0 + 5 * MIN));
    let approved = desired(
        &[plan("p", T0, "Medium", Some(approved_at(T0 + MIN)))],
        &[vp],
        T0 + MIN,
    );
    let resolve = fire_and_commit(&mut tracker, &approved, T0 + MIN);
    assert_eq!(resolve.len(), 1);
    assert_eq!(
        resolve[0].labels, first[0].labels,
        "the same label set, so it resolves that alert"
    );
    assert_eq!(resolve[0].ends_at, at(T0 + MIN));
    assert!(tracker.next(&approved, &[], T0 + 2 * MIN).is_empty());
    assert_eq!(tracker.firing(), 0);
}

#[test]
fn a_failed_send_is_sent_again() {
    let vp = policy("web-latency", "Manual", None);
    let tracker = Tracker::new(MIN, 4 * MIN);
    let pending = desired(&[plan("p", T0, "Medium", None)], &[vp], T0);
    let lost = tracker.next(&pending, &[], T0);
    assert_eq!(lost.alerts.len(), 1);
    // Not committed: Alertmanager did not take it.
    assert_eq!(tracker.next(&pending, &[], T0 + 2_000).alerts.len(), 1);
}

#[test]
fn a_restart_resolves_what_ended_recently_and_keeps_what_fires() {
    let vp = policy("web-latency", "Manual", None);
    let plans: Vec<_> = [
        plan("open", T0, "Medium", None),
        plan(
            "approved-now",
            T0 - 10 * MIN,
            "Medium",
            Some(approved_at(T0 - MIN)),
        ),
        plan(
            "approved-long-ago",
            T0 - 60 * MIN,
            "Medium",
            Some(approved_at(T0 - 30 * MIN)),
        ),
    ]
    .into_iter()
    .map(Arc::new)
    .collect();
    let policies = [vp];
    let now = T0 + MIN;
    let want = alerts::desired(&plans, &policies, now, &config());
    let ended = alerts::recently_ended(&plans, &policies, now, 4 * MIN, &config());
    assert_eq!(
        names(&ended),
        [("MapekPlanPending".into(), "approved-now".into())]
    );
    let mut tracker = Tracker::new(MIN, 4 * MIN);
    let batch = tracker.next(&want, &ended, now);
    let by_plan: Vec<(String, String)> = batch
        .alerts
        .iter()
        .map(|a| (a.labels["plan"].clone(), a.ends_at.clone()))
        .collect();
    assert_eq!(
        by_plan,
        [
            ("open".into(), at(now + 4 * MIN)),
            ("approved-now".into(), at(now))
        ]
    );
    tracker.commit(batch, now);
    // A second operator start derives the same firing set; the resolution is sent once.
    assert!(tracker.next(&want, &ended, now + 1_000).is_empty());
}

#[test]
fn labels_parse_and_bad_ones_are_named() {
    assert_eq!(
        parse_label("team=payments"),
        Ok(("team".into(), "payments".into()))
    );
    assert!(parse_label("team").unwrap_err().contains("key=value"));
    assert!(parse_label("9x=y").unwrap_err().contains("\"9x\""));
}

#[test]
fn pause_doubles_with_failures_up_to_the_resend_interval() {
    let resend = Duration::from_secs(60);
    assert_eq!(pause(0, resend), CHECK_EVERY);
    assert_eq!(pause(1, resend), CHECK_EVERY * 2);
    assert_eq!(pause(30, resend), resend);
}

// ---- the sender against a local server ----

fn endpoint(url: String) -> Endpoint {
    Endpoint {
        url,
        ca_file: None,
        insecure_skip_verify: false,
        bearer_token_file: None,
        timeout: Duration::from_millis(300),
        attempts: 3,
        backoff: Duration::from_millis(10),
    }
}

fn an_alert() -> Alert {
    Alert {
        labels: [("alertname".to_string(), "MapekPlanPending".to_string())].into(),
        annotations: Default::default(),
        starts_at: at(T0),
        ends_at: at(T0 + 4 * MIN),
        generator_url: None,
    }
}

/// A server on a free port: its first `failures` POSTs get HTTP 503, then 200;
/// it counts the POSTs and keeps the last body and Authorization header.
async fn scripted(
    failures: usize,
) -> (
    String,
    Arc<AtomicUsize>,
    Arc<std::sync::Mutex<(Value, String)>>,
) {
    use axum::http::{HeaderMap, StatusCode};
    let posts = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new((Value::Null, String::new())));
    let (p, s) = (posts.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/api/v2/alerts",
        axum::routing::post(
            move |headers: HeaderMap, body: axum::Json<Value>| async move {
                let n = p.fetch_add(1, Ordering::SeqCst);
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                *s.lock().unwrap() = (body.0, auth.to_string());
                if n < failures {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, posts, seen)
}

#[tokio::test]
async fn the_sender_posts_the_v2_json_with_the_bearer_token() {
    let (url, posts, seen) = scripted(0).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let sender = Sender::new(Endpoint {
        bearer_token_file: Some(token),
        ..endpoint(url)
    })
    .unwrap();
    sender.send(&[an_alert()]).await.unwrap();
    assert_eq!(posts.load(Ordering::SeqCst), 1);
    let (body, auth) = seen.lock().unwrap().clone();
    assert_eq!(auth, "Bearer s3cret");
    let sent: Vec<Alert> = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(sent, [an_alert()]);
    assert_eq!(body[0]["startsAt"], "2026-01-01T00:00:00Z");
}

#[tokio::test]
async fn the_sender_retries_errors_and_gives_up_after_its_tries() {
    let (url, posts, _) = scripted(2).await;
    Sender::new(endpoint(url))
        .unwrap()
        .send(&[an_alert()])
        .await
        .unwrap();
    assert_eq!(posts.load(Ordering::SeqCst), 3, "two 503s, then taken");
    let (url, posts, _) = scripted(10).await;
    let e = Sender::new(endpoint(url))
        .unwrap()
        .send(&[an_alert()])
        .await
        .unwrap_err();
    assert_eq!(posts.load(Ordering::SeqCst), 3);
    assert!(e.to_string().contains("503"), "{e}");
}

#[tokio::test]
async fn a_silent_or_closed_alertmanager_fails_the_send_within_its_bounds() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let e = Sender::new(endpoint(url))
        .unwrap()
        .send(&[an_alert()])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("3 tries"), "{e}");
    held.abort();
    // A closed port.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = Sender::new(endpoint(url))
        .unwrap()
        .send(&[an_alert()])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("3 tries"), "{e}");
}

#[test]
fn bad_endpoints_are_refused_with_the_setting_named() {
    let e = Sender::new(endpoint("not a url".into())).unwrap_err();
    assert!(e.to_string().contains("url"), "{e}");
    let e = Sender::new(endpoint("ftp://am".into())).unwrap_err();
    assert!(e.to_string().contains("http or https"), "{e}");
    let missing = Endpoint {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..endpoint("https://am".into())
    };
    assert!(
        Sender::new(missing)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/ca.pem")
    );
}

#[test]
fn a_notifier_refuses_a_template_that_gives_no_url() {
    let settings = Settings {
        url: "http://127.0.0.1:9093".into(),
        ca_file: None,
        insecure_skip_verify: false,
        bearer_token_file: None,
        extra_labels: vec![],
        review_url_template: Some("no url {plan}".into()),
        resend: Duration::from_secs(60),
        timeout: Duration::from_secs(10),
        failed_execution_for: Duration::from_secs(3600),
    };
    let e = Notifier::new(settings.clone())
        .err()
        .expect("a bad template is refused")
        .to_string();
    assert!(
        e.contains("reviewUrlTemplate") && e.contains("no url {plan}"),
        "{e}"
    );
    let good = Settings {
        review_url_template: Some("http://localhost:8000/plans/{namespace}/{plan}".into()),
        ..settings
    };
    let n = Notifier::new(good).unwrap();
    assert_eq!(n.sender.url(), "http://127.0.0.1:9093/api/v2/alerts");
}
