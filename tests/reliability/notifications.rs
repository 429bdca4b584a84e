//! Alertmanager down and slow: the operator's notifier posts to a port that is
//! first closed, then held by a listener that accepts and never answers, then
//! forwarded to the real Alertmanager that e2e/run-local runs. Throughout, the
//! monitor keeps evaluating and an approved plan executes as fast as it would
//! without notifications (well inside one send's bound); the failed sends are
//! counted in `mapek_notifications_total{result="failed"}` with
//! `mapek_notifications_failing 1`; once Alertmanager answers, the alert of the
//! plan still waiting for approval arrives there.

use super::*;
use mapek_test_support::alertmanager::active_alerts;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bound of one try of a send: a loop held up by a send would be late by more.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Listens on `port`: holds every connection without answering until
/// `forward` is set, then forwards new ones to `upstream`.
async fn silent_then_forwarding(port: u16, upstream: String, forward: Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port the operator posts to is free again");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (upstream, forward) = (upstream.clone(), forward.clone());
            tokio::spawn(async move {
                if !forward.load(Ordering::SeqCst) {
                    // Hold the connection open and silent for the test's life.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    drop(socket);
                    return;
                }
                if let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut up).await;
                }
            });
        }
    });
}

/// The value of the sample `line_start` (name and labels) on the operator's /metrics.
async fn sample(op: &Operator, line_start: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", op.port))
        .await
        .expect("metrics served")
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn failed_sends(op: &Operator) -> f64 {
    sample(op, "mapek_notifications_total{result=\"failed\"}").await
}

/// What one phase (Alertmanager closed or silent) showed.
struct Phase {
    /// Seconds from the approval of a plan to its Completed execution.
    execution_seconds: f64,
    /// Evaluations the monitor made while the sends failed.
    evaluations: f64,
    /// Whether failed sends were counted and the failing gauge was 1.
    counted: bool,
}

/// With Alertmanager unusable: a new plan is approved and must complete, the
/// monitor must evaluate, and the failures must show on /metrics.
async fn phase(c: &Client, op: &Operator, ns: &str, name: &str) -> Phase {
    let failed_before = failed_sends(op).await;
    let evaluations_before = sample(op, "mapek_evaluation_lag_seconds_count").await;
    deployment(c, ns, name).await;
    policy(c, ns, name, name, "vector(0)", 1.0).await;
    let rp = plan(c, ns, name, name, name, vec![scale_to(3, name)]).await;
    let approved = Instant::now();
    approve(c, ns, &rp).await;
    let done = finished(c, ns, name, SEND_TIMEOUT * 3).await;
    let execution_seconds = approved.elapsed().as_secs_f64();
    assert_eq!(
        done.status.map(|s| s.phase),
        Some(ExecutionPhase::Completed)
    );
    // Three tries of one send at most, with their backoff, and a margin.
    let deadline = Instant::now() + SEND_TIMEOUT * 4;
    let mut counted = false;
    while !counted && Instant::now() < deadline {
        let failing = sample(op, "mapek_notifications_failing").await == 1.0;
        counted = failing && failed_sends(op).await > failed_before;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let evaluations = sample(op, "mapek_evaluation_lag_seconds_count").await - evaluations_before;
    Phase {
        execution_seconds,
        evaluations,
        counted,
    }
}

#[tokio::test]
async fn alertmanager_down_and_slow() {
    let c = client().await;
    let ns = "notify";
    common::ensure_namespace(&c, ns).await;
    // The plan nobody approves: its alert must arrive once Alertmanager is back.
    deployment(&c, ns, "waiting").await;
    policy(&c, ns, "waiting", "waiting", "vector(0)", 1.0).await;
    plan(
        &c,
        ns,
        "waiting",
        "waiting",
        "waiting",
        vec![scale_to(3, "waiting")],
    )
    .await;

    let port = free_port();
    let am = var("MAPEK_E2E_ALERTMANAGER");
    let op = Operator::start(
        ns,
        "",
        &[
            ("ALERTMANAGER_URL", &format!("http://127.0.0.1:{port}")),
            (
                "ALERTMANAGER_TIMEOUT",
                &format!("{}s", SEND_TIMEOUT.as_secs()),
            ),
            ("ALERTMANAGER_RESEND_INTERVAL", "10s"),
        ],
    )
    .await;
    let down = phase(&c, &op, ns, "down").await;
    let forward = Arc::new(AtomicBool::new(false));
    let upstream = am.trim_start_matches("http://").to_string();
    silent_then_forwarding(port, upstream, forward.clone()).await;
    let slow = phase(&c, &op, ns, "slow").await;

    forward.store(true, Ordering::SeqCst);
    let http = reqwest::Client::new();
    let arrived = wait_for(
        "the waiting plan's alert in Alertmanager",
        Duration::from_secs(180),
        || async {
            let labels = [("plan", "waiting"), ("namespace", "notify")];
            let alerts = active_alerts(&http, &am, &labels).await?;
            alerts
                .into_iter()
                .find(|a| a["labels"]["alertname"] == "MapekPlanPending")
        },
    )
    .await;
    let recovered = sample(&op, "mapek_notifications_failing").await == 0.0;
    let panics = panics_in_log(ns);
    drop(op);

    let late = [&down, &slow]
        .iter()
        .filter(|p| p.execution_seconds >= SEND_TIMEOUT.as_secs_f64())
        .count();
    let unevaluated = [&down, &slow]
        .iter()
        .filter(|p| p.evaluations < 1.0)
        .count();
    let uncounted = [&down, &slow].iter().filter(|p| !p.counted).count();
    report(
        "Alertmanager closed, then silent, then back",
        2,
        2 - late.max(unevaluated),
        &[
            ("executions held up by a send", late),
            ("outages without evaluations", unevaluated),
            ("failures not on /metrics", uncounted),
            (
                "pending alerts lost after recovery",
                usize::from(arrived["labels"]["plan"] != "waiting"),
            ),
            (
                "failing gauge stuck after recovery",
                usize::from(!recovered),
            ),
            ("panics", panics),
        ],
        json!({
            "execution seconds (closed)": (down.execution_seconds * 10.0).round() / 10.0,
            "execution seconds (silent)": (slow.execution_seconds * 10.0).round() / 10.0,
            "evaluations (closed, silent)": [down.evaluations, slow.evaluations],
            "send bound (s)": SEND_TIMEOUT.as_secs(),
        }),
    );
    assert_eq!((late, unevaluated, uncounted, panics), (0, 0, 0, 0));
    assert!(
        recovered,
        "mapek_notifications_failing stays 1 after Alertmanager answers"
    );
}
