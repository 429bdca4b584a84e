//! The monitor against a real Prometheus server (Debian's package, unpacked into
//! the cache by `e2e/prometheus-bin`, which this test runs itself unless
//! `MAPEK_PROMETHEUS_BIN` already names a binary, as `make test` does).
//! Prometheus scrapes a metrics endpoint this test serves and controls; the test
//! checks threshold crossings, `for` semantics, a query that does not parse, bad
//! results (empty, several series, NaN) and Prometheus stopped mid-test.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mapek::controllers::monitor::decide::{self as monitor, Evaluated};
use mapek::prometheus::{Prometheus, QueryError};
use mapek_api::{
    RemediationSpec, TargetKind, TargetRef, ViolationCondition, ViolationPolicySpec,
    ViolationPolicyStatus,
};
use mapek_engine::model::{ComparisonOperator, Severity};
use mapek_test_support::{Process, free_port, poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The gauge the test controls, as f64 bits.
struct Gauge(AtomicU64);

impl Gauge {
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::SeqCst);
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::SeqCst))
    }
}

/// Serves `/metrics` with the gauge and two series of another metric.
async fn serve_metrics(listener: tokio::net::TcpListener, gauge: Arc<Gauge>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let gauge = gauge.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let body = format!(
                "# TYPE app_latency_seconds gauge\napp_latency_seconds {}\n# TYPE app_shard_load gauge\napp_shard_load{{shard=\"a\"}} 1\napp_shard_load{{shard=\"b\"}} 2\n",
                gauge.get()
            );
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// A Prometheus process, killed on drop so that nothing is left running.
struct PrometheusServer {
    process: Option<Process>,
    url: String,
    _dir: tempfile::TempDir,
}

/// `MAPEK_PROMETHEUS_BIN`, or the binary `e2e/prometheus-bin` provisions (it
/// downloads Debian's package once into the cache).
fn prometheus_bin() -> String {
    if let Ok(bin) = std::env::var("MAPEK_PROMETHEUS_BIN") {
        return bin;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/prometheus-bin");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}): {}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl PrometheusServer {
    fn start(target_port: u16) -> PrometheusServer {
        let bin = prometheus_bin();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let process = Process::spawn(cmd, &dir.path().join("prometheus.log"));
        PrometheusServer {
            process: Some(process),
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// Kills it (SIGKILL) and reaps it.
    fn stop(&mut self) {
        self.process.take();
    }
}

/// Polls until the query gives a value satisfying `ok`, or panics after 30 s.
async fn wait_for(
    p: &Prometheus,
    query: &str,
    ok: impl Fn(&Result<f64, QueryError>) -> bool,
) -> Result<f64, QueryError> {
    poll(
        &format!("query {query:?} to satisfy the check"),
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            let r = p.query_value(query).await;
            ok(&r).then_some(r)
        },
    )
    .await
}

fn spec(for_secs: u64) -> ViolationPolicySpec {
    ViolationPolicySpec {
        target_ref: TargetRef {
            kind: TargetKind::Deployment,
            name: "app".into(),
        },
        query: "app_latency_seconds".into(),
        condition: ViolationCondition {
            operator: ComparisonOperator::GreaterThan,
            threshold: 0.5,
            for_: Some(Duration::from_secs(for_secs).into()),
            keep_firing_for: None,
        },
        severity: Severity::Warning,
        component: None,
        metric: None,
        evaluation_interval: Duration::from_secs(1).into(),
        remediation: RemediationSpec::default(),
        context: None,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_against_a_real_prometheus() {
    let gauge = Arc::new(Gauge(AtomicU64::new(0.2f64.to_bits())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_port = listener.local_addr().unwrap().port();
    tokio::spawn(serve_metrics(listener, gauge.clone()));

    let mut server = PrometheusServer::start(target_port);
    let prom = Prometheus::new(&server.url, Duration::from_secs(2)).unwrap();

    // Within the threshold: Ready, not violating.
    let q = "app_latency_seconds";
    let value = wait_for(&prom, q, |r| r == &Ok(0.2)).await;
    let spec = spec(2);
    let mut status = ViolationPolicyStatus::default();
    assert_eq!(
        monitor::observe("app", &spec, Some(1), &mut status, &value, now_ms()),
        Evaluated::Ok
    );

    // Crossing the threshold: pending first, a violation once it held for `for`.
    gauge.set(0.9);
    let value = wait_for(&prom, q, |r| r == &Ok(0.9)).await;
    let first = now_ms();
    assert_eq!(
        monitor::observe("app", &spec, Some(1), &mut status, &value, first),
        Evaluated::Pending
    );
    assert_eq!(status.violation_count, 0);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let value = prom.query_value(q).await;
    assert_eq!(value, Ok(0.9));
    assert_eq!(
        monitor::observe("app", &spec, Some(1), &mut status, &value, now_ms()),
        Evaluated::Violation
    );
    assert_eq!(status.violation_count, 1);
    assert_eq!(status.recent_violations[0].value, 0.9);

    // Back under: the violation clears.
    gauge.set(0.1);
    let value = wait_for(&prom, q, |r| r == &Ok(0.1)).await;
    assert_eq!(
        monitor::observe("app", &spec, Some(1), &mut status, &value, now_ms()),
        Evaluated::Ok
    );

    // Bad queries and bad results: errors, never a number.
    assert!(matches!(
        prom.query_value("app_latency_seconds{").await,
        Err(QueryError::InvalidQuery(_))
    ));
    assert_eq!(
        prom.query_value("no_such_metric").await,
        Err(QueryError::Empty)
    );
    assert_eq!(
        prom.query_value("app_shard_load").await,
        Err(QueryError::MultipleSeries(2))
    );
    assert!(
        matches!(prom.query_value("app_latency_seconds / 0 * 0").await, Err(QueryError::NotANumber(v)) if v.is_nan())
    );
    let before = status.violation_count;
    let bad = prom.query_value("app_shard_load").await;
    assert_eq!(
        monitor::observe("app", &spec, Some(1), &mut status, &bad, now_ms()),
        Evaluated::Failed
    );
    assert_eq!(status.violation_count, before);

    // Prometheus stopped mid-test: unreachable, named as such.
    server.stop();
    let down = prom.query_value(q).await;
    assert!(matches!(down, Err(QueryError::Unreachable(_))), "{down:?}");
    assert_eq!(
        monitor::observe("app", &spec, Some(1), &mut status, &down, now_ms()),
        Evaluated::Failed
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == monitor::READY)
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "PrometheusUnreachable")
    );
}
