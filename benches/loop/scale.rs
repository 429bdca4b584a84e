//! Part 4, the operator at scale: thousands of ViolationPolicies over as many
//! Deployments, and what it costs.

use super::*;

pub(crate) struct Scale {
    pub(crate) policies: usize,
    pub(crate) distinct_queries: usize,
    pub(crate) created_s: f64,
    pub(crate) ready_s: f64,
    pub(crate) eval_lag_p99_s: f64,
    pub(crate) api_writes_per_s: f64,
    pub(crate) api_write_bytes_per_s: f64,
    pub(crate) peak_rss_mib: f64,
    pub(crate) rss_mib: f64,
    pub(crate) cpu_cores: f64,
    pub(crate) queries_per_round: f64,
    pub(crate) skipped_per_round: f64,
    /// The oldest `lastEvaluationTime` of a scale policy, at the start, the
    /// middle and the end of the steady window (the largest of the three).
    pub(crate) status_age_max_s: f64,
}

impl Scale {
    /// The figures of a part that did not run.
    pub(crate) fn skipped() -> Scale {
        let n = f64::NAN;
        Scale {
            policies: 0,
            distinct_queries: 0,
            created_s: n,
            ready_s: n,
            eval_lag_p99_s: n,
            api_writes_per_s: n,
            api_write_bytes_per_s: n,
            peak_rss_mib: n,
            rss_mib: n,
            cpu_cores: n,
            queries_per_round: n,
            skipped_per_round: n,
            status_age_max_s: n,
        }
    }
}

/// The age in seconds of the oldest status among the scale policies.
async fn oldest_status_s(policies: &Api<ViolationPolicy>) -> f64 {
    let Ok(l) = policies.list(&kube::api::ListParams::default()).await else {
        return f64::NAN;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    l.items
        .iter()
        .filter(|p| p.name_any().starts_with("fp-"))
        .filter_map(|p| p.status.as_ref()?.last_evaluation_time.as_ref())
        .map(|t| (now - t.0.as_millisecond()) as f64 / 1000.0)
        .fold(0.0, f64::max)
}

pub(crate) async fn scale(client: &Client, http: &reqwest::Client) -> Scale {
    let count: usize = std::env::var("BENCH_E2E_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCALE_POLICIES);
    let queries = count.div_ceil(POLICIES_PER_QUERY);
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let started = Instant::now();
    create_pairs(client, count, "scale", |i| {
        let name = format!("fp-{i:05}");
        // One replica on the kwok nodes; the simulator exports the metrics of
        // the first `queries` Deployments, which the queries read.
        let d = simulated_deployment(&name, 1, i < queries);
        // `queries` distinct queries, each shared by 10 policies; never violating.
        let g = i % queries;
        let spec = json!({
            "targetRef": {"name": name},
            "query": format!("max(mapek_sim_latency_seconds{{deployment=\"fp-{g:05}\"}})"),
            "condition": {"operator": "GreaterThan", "threshold": 1000},
            "evaluationInterval": format!("{SCALE_INTERVAL_S}s"),
            "remediation": {"allowedActions": ["SCALE_UP"], "scale": {"minReplicas": 1, "maxReplicas": 4, "maxStep": 1}}
        });
        (d, policy(&format!("{name}-vp"), spec))
    })
    .await;
    let created_s = started.elapsed().as_secs_f64();
    println!(
        "scale: created {count} Deployments and {count} ViolationPolicies in {created_s:.1} s"
    );

    // Every policy's first evaluation is written (its conditions are new),
    // within the write budget: wait until all show Ready.
    let ready_s = mapek_test_support::poll(
        "every scale policy evaluated",
        Duration::from_secs(3600),
        Duration::from_secs(10),
        || async {
            let l = policies
                .list(&kube::api::ListParams::default())
                .await
                .ok()?;
            let listed_ready = l
                .items
                .iter()
                .filter(|p| p.name_any().starts_with("fp-"))
                .filter(|p| ready(p))
                .count();
            (listed_ready >= count).then(|| started.elapsed().as_secs_f64())
        },
    )
    .await;
    println!("scale: every policy Ready {ready_s:.1} s after the first was created");
    let distinct_queries = policies
        .list(&kube::api::ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .map(|p| p.spec.query.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        })
        .unwrap_or(0);

    // The steady state: every policy evaluated every round, nothing violating.
    let pid = operator_pid();
    let window = Duration::from_secs(SCALE_ROUNDS * SCALE_INTERVAL_S);
    let wall = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let (cpu0, q0, s0, lag0, t0_ms) = (
        cpu_seconds(pid),
        operator_counter(http, "mapek_prometheus_queries_total").await,
        operator_counter(http, "mapek_status_writes_total{reason=\"skipped\"}").await,
        operator_histogram(http, "mapek_evaluation_lag_seconds").await,
        wall(),
    );
    let t0 = Instant::now();
    let mut age = oldest_status_s(&policies).await;
    tokio::time::sleep(window / 2).await;
    age = age.max(oldest_status_s(&policies).await);
    tokio::time::sleep(window.saturating_sub(t0.elapsed())).await;
    let (cpu1, q1, s1, lag1, t1_ms) = (
        cpu_seconds(pid),
        operator_counter(http, "mapek_prometheus_queries_total").await,
        operator_counter(http, "mapek_status_writes_total{reason=\"skipped\"}").await,
        operator_histogram(http, "mapek_evaluation_lag_seconds").await,
        wall(),
    );
    let seconds = t0.elapsed().as_secs_f64();
    age = age.max(oldest_status_s(&policies).await);
    let rounds = seconds / SCALE_INTERVAL_S as f64;
    let (writes, bytes) = operator_writes(t0_ms, t1_ms);
    Scale {
        policies: count,
        distinct_queries,
        created_s,
        ready_s,
        eval_lag_p99_s: histogram_percentile(&lag0, &lag1, 99.0),
        api_writes_per_s: writes as f64 / seconds,
        api_write_bytes_per_s: bytes as f64 / seconds,
        peak_rss_mib: status_kib(pid, "VmHWM:") as f64 / 1024.0,
        rss_mib: status_kib(pid, "VmRSS:") as f64 / 1024.0,
        cpu_cores: (cpu1 - cpu0) / seconds,
        queries_per_round: (q1 - q0) / rounds,
        skipped_per_round: (s1 - s0) / rounds,
        status_age_max_s: age,
    }
}
