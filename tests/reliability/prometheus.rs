//! Prometheus faults: NaN, nothing, several series, a syntax error, stopped; and
//! behind Toxiproxy, a slow link (latency with jitter past the query timeout), a
//! link that stalls (the `timeout` toxic: data held, the connection kept), a
//! thin one (`bandwidth`) and a cut one (the proxy disabled).

use super::toxiproxy::Proxy;
use super::*;

/// A Prometheus of our own (so that it can be stopped), on `port`; killed on drop.
struct OwnPrometheus {
    _process: Process,
}

impl OwnPrometheus {
    async fn start(port: u16, data: &Path) -> OwnPrometheus {
        let config = data.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        let mut cmd = Command::new(var("MAPEK_PROMETHEUS_BIN"));
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut process = Process::spawn(cmd, &data.join("prometheus.log"));
        process
            .ready(port, "/-/ready", Duration::from_secs(60))
            .await;
        OwnPrometheus { _process: process }
    }
}

/// The `Ready` condition of a ViolationPolicy: (status, reason).
async fn ready_condition(c: &Client, ns: &str, name: &str) -> Option<(String, String)> {
    let vp = Api::<ViolationPolicy>::namespaced(c.clone(), ns)
        .get(name)
        .await
        .ok()?;
    let cond = vp
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((cond.status, cond.reason))
}

async fn wait_ready(c: &Client, ns: &str, name: &str, status: &str, reason: Option<&str>) {
    wait_for(
        &format!("{ns}/{name} Ready={status} {reason:?}"),
        Duration::from_secs(30),
        || async {
            let (s, r) = ready_condition(c, ns, name).await?;
            (s == status && reason.is_none_or(|want| want == r)).then_some(())
        },
    )
    .await
}

async fn violations(c: &Client, ns: &str, name: &str) -> usize {
    Api::<ViolationPolicy>::namespaced(c.clone(), ns)
        .get(name)
        .await
        .ok()
        .and_then(|vp| vp.status)
        .map_or(0, |s| s.recent_violations.len())
}

async fn plan_count(c: &Client, ns: &str) -> usize {
    Api::<RemediationPolicy>::namespaced(c.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_or(0, |l| l.items.len())
}

/// Prometheus answering NaN, nothing, several series or a syntax error; then
/// stopped, then slow past the query timeout; then back. Every threshold is one
/// that a reading of the bad answer as 0 (or as its first series) would cross.
#[tokio::test]
async fn prometheus_faults() {
    let c = client().await;
    let data = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let prom = OwnPrometheus::start(prom_port, data.path()).await;
    let prom_url = format!("http://127.0.0.1:{prom_port}");

    let ns = "prometheus-bad";
    common::ensure_namespace(&c, ns).await;
    let bad: [(&str, &str, &str); 4] = [
        ("nan", "vector(0) / 0", "NotANumber"),
        ("empty", "absent(vector(1))", "EmptyResult"),
        (
            "multi",
            r#"label_replace(vector(1), "s", "a", "", "") or label_replace(vector(2), "s", "b", "", "")"#,
            "MultipleSeries",
        ),
        ("syntax", "sum(", "InvalidQuery"),
    ];
    for (name, query, _) in bad {
        deployment(&c, ns, name).await;
        policy(&c, ns, name, name, query, -1.0).await;
    }
    deployment(&c, ns, "control").await;
    // Healthy and not violating (5 is not above 10): it shows evaluations go on.
    policy(&c, ns, "control", "control", "vector(5)", 10.0).await;
    let mut op = Operator::start(
        ns,
        "",
        &[
            ("PROMETHEUS_URL", &prom_url),
            ("MAPE_K_QUERY_TIMEOUT", "1s"),
        ],
    )
    .await;
    for (name, _, reason) in bad {
        wait_ready(&c, ns, name, "False", Some(reason)).await;
    }
    wait_ready(&c, ns, "control", "True", None).await;
    // Several more evaluations of the bad answers.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Stopped.
    let mut prom = Some(prom);
    drop(prom.take());
    wait_ready(&c, ns, "control", "False", Some("PrometheusUnreachable")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    prom = Some(OwnPrometheus::start(prom_port, data.path()).await);
    let recovered_at = Instant::now();
    wait_ready(&c, ns, "control", "True", None).await;
    let recovery_stopped = recovered_at.elapsed();

    // Behind Toxiproxy: slow, stalled, thin and cut; healed after each.
    let slow_ns = "prometheus-slow";
    common::ensure_namespace(&c, slow_ns).await;
    let proxy = Proxy::create(slow_ns, &format!("127.0.0.1:{prom_port}")).await;
    let proxy_url = format!("http://{}", proxy.listen);
    deployment(&c, slow_ns, "control").await;
    policy(&c, slow_ns, "control", "control", "vector(5)", 10.0).await;
    deployment(&c, slow_ns, "firing").await;
    policy(&c, slow_ns, "firing", "firing", "vector(5)", 1.0).await;
    let mut slow_op = Operator::start(
        slow_ns,
        "",
        &[
            ("PROMETHEUS_URL", &proxy_url),
            ("MAPE_K_QUERY_TIMEOUT", "1s"),
        ],
    )
    .await;
    wait_ready(&c, slow_ns, "control", "True", None).await;
    // (name, toxic or None for the proxy disabled, the reason expected; None: the
    // link is thin but fast enough, evaluations go on).
    type LinkFault = (
        &'static str,
        Option<(&'static str, Value)>,
        Option<&'static str>,
    );
    let link_faults: [LinkFault; 4] = [
        (
            "slow",
            Some(("latency", json!({"latency": 3000, "jitter": 1000}))),
            Some("QueryTimeout"),
        ),
        (
            "stalled",
            Some(("timeout", json!({"timeout": 0}))),
            Some("QueryTimeout"),
        ),
        ("thin", Some(("bandwidth", json!({"rate": 4}))), None),
        ("cut", None, Some("PrometheusUnreachable")),
    ];
    let mut firing_during = 0;
    let mut recoveries = serde_json::Map::new();
    for (name, toxic, reason) in link_faults {
        match toxic {
            Some((kind, attributes)) => {
                proxy.toxic(name, kind, "downstream", 1.0, attributes).await
            }
            None => proxy.set_enabled(false).await,
        }
        let Some(reason) = reason else {
            tokio::time::sleep(Duration::from_secs(4)).await;
            assert_eq!(
                ready_condition(&c, slow_ns, "control").await.map(|r| r.0),
                Some("True".into()),
                "a thin link still answers within the query timeout"
            );
            proxy.heal().await;
            continue;
        };
        wait_ready(&c, slow_ns, "control", "False", Some(reason)).await;
        let before = violations(&c, slow_ns, "firing").await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        firing_during += violations(&c, slow_ns, "firing")
            .await
            .saturating_sub(before);
        proxy.heal().await;
        let healed = Instant::now();
        wait_ready(&c, slow_ns, "control", "True", None).await;
        let ms = healed.elapsed().as_millis();
        recoveries.insert(format!("recovery after {name} link (ms)"), json!(ms));
    }

    let mut from_bad_data = 0;
    for (name, _, _) in bad {
        from_bad_data += violations(&c, ns, name).await;
    }
    from_bad_data += violations(&c, ns, "control").await;
    from_bad_data += plan_count(&c, ns).await;
    // While every query timed out or failed, the firing policy recorded nothing new.
    from_bad_data += firing_during;
    let panics = panics_in_log(ns) + panics_in_log(slow_ns);
    assert!(op.alive() && slow_op.alive(), "the operators kept running");
    report(
        "Prometheus faults (NaN, empty, several series, bad query, stopped; slow, stalled, thin and cut links through Toxiproxy)",
        9,
        9,
        &[
            ("violations or plans from bad data", from_bad_data),
            ("panics", panics),
        ],
        {
            recoveries.insert(
                "recovery after restart (ms)".into(),
                json!(recovery_stopped.as_millis()),
            );
            Value::Object(recoveries)
        },
    );
    assert_eq!((from_bad_data, panics), (0, 0));
    drop(prom);
}
