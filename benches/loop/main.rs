//! The closed-loop benchmark: the operator running as its own process against the
//! local Kubernetes API server, Prometheus and the workload simulator, all started
//! by `e2e/run-local` (run it with `make bench-e2e`). Measures, in one run:
//!
//! 1. approve-to-scale latency over 100 approvals, and the floor: a bare client
//!    that reacts to an annotation by patching the `scale` subresource;
//! 2. detection latency: from an injected overload to the RemediationPolicy;
//! 3. the storm: 1,000 ViolationPolicies on 1,000 Deployments breaching in the
//!    same round, each on its own query (`BENCH_E2E_STORM_POLICIES` sets another
//!    count): from the first violation to the first plan and until every policy
//!    is judged, the plans, the operator's peak memory, CPU and API reads;
//! 4. the operator at scale: 10,000 ViolationPolicies (1,000 distinct queries,
//!    every 30 s) over 10,000 Deployments on kwok nodes (`BENCH_E2E_POLICIES`
//!    sets another count): how late evaluations run, the operator's API writes
//!    a second and their bytes (from the API server's audit log), its memory and
//!    CPU, Prometheus queries per round, and the oldest status.
//!
//! `BENCH_E2E_PARTS` (default `approvals,detection,storm,scale`) runs some parts
//! only; the figures of the others print as NaN. Prints what it measured and
//! ends with one `BENCH_E2E ...` line. It asserts on nothing: a timing is a
//! measurement, not a test.

mod approvals;
mod detection;
mod footprint;
mod scale;
mod storm;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use mapek_api::{ExecutionPhase, RemediationPolicy, ViolationPolicy};
use prometheus_http_query::reqwest;
use serde_json::{Value, json};
use tokio::sync::watch;

use approvals::*;
use detection::*;
use footprint::*;
use scale::*;
use storm::*;

pub(crate) const NS: &str = "default";
pub(crate) const APPROVALS: usize = 100;
pub(crate) const DETECTIONS: usize = 5;
/// Policies of the scale run (one Deployment each), unless `BENCH_E2E_POLICIES`.
pub(crate) const SCALE_POLICIES: usize = 10_000;
/// Policies sharing each query.
pub(crate) const POLICIES_PER_QUERY: usize = 10;
pub(crate) const SCALE_INTERVAL_S: u64 = 30;
/// Rounds the steady state is measured over.
pub(crate) const SCALE_ROUNDS: u64 = 10;

pub(crate) fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run through e2e/run-local"))
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn summary(name: &str, v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (p50, p99) = (pct(&s, 50.0), pct(&s, 99.0));
    println!(
        "{name}: n={} min={:.1} p50={:.1} p90={:.1} p99={:.1} max={:.1} (ms)",
        s.len(),
        s.first().copied().unwrap_or(f64::NAN),
        p50,
        pct(&s, 90.0),
        p99,
        s.last().copied().unwrap_or(f64::NAN)
    );
    (p50, p99)
}

pub(crate) fn deployment(name: &str, replicas: i32) -> Deployment {
    simulated_deployment(name, replicas, true)
}

/// A Deployment; `simulate`: the workload simulator exports its metrics.
pub(crate) fn simulated_deployment(name: &str, replicas: i32, simulate: bool) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"mapek.io/simulate": simulate.to_string()}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": format!("{name}:1")}]}
            }
        }
    }))
    .unwrap()
}

pub(crate) fn policy(name: &str, spec: Value) -> ViolationPolicy {
    serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
        "metadata": {"name": name, "namespace": NS}, "spec": spec
    }))
    .unwrap()
}

pub(crate) async fn fresh_deployment(client: &Client, name: &str, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let _ = api.delete(name, &DeleteParams::default()).await;
    api.create(&PostParams::default(), &deployment(name, replicas))
        .await
        .expect("Deployment created");
}

pub(crate) async fn fresh_policy(client: &Client, name: &str, spec: Value) {
    let api: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let _ = api.delete(name, &DeleteParams::default()).await;
    api.create(&PostParams::default(), &policy(name, spec))
        .await
        .expect("ViolationPolicy created");
}

/// Whether the policy's `Ready` condition is `True`.
pub(crate) fn ready(p: &ViolationPolicy) -> bool {
    p.status
        .as_ref()
        .is_some_and(|s| mapek::conditions::is_true(&s.conditions, "Ready"))
}

/// Creates `count` Deployments, each with its ViolationPolicy (`make(i)`), 16
/// at a time; panics naming `what` if one cannot be created.
pub(crate) async fn create_pairs(
    client: &Client,
    count: usize,
    what: &str,
    make: impl Fn(usize) -> (Deployment, ViolationPolicy),
) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    futures::stream::iter(0..count)
        .map(|i| {
            let (deployments, policies) = (deployments.clone(), policies.clone());
            let (d, p) = make(i);
            async move {
                deployments.create(&PostParams::default(), &d).await?;
                policies.create(&PostParams::default(), &p).await?;
                Ok::<_, kube::Error>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_or_else(|e| panic!("{what} objects not created: {e}"));
}

/// Watches one Deployment and publishes its `spec.replicas`, its annotations and
/// the instant the event carrying them arrived.
type Seen = (i32, std::collections::BTreeMap<String, String>, Instant);

pub(crate) fn watch_deployment(client: &Client, name: &str) -> watch::Receiver<Seen> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let (tx, rx) = watch::channel((-1, Default::default(), Instant::now()));
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let mut s = std::pin::pin!(watcher(api, cfg).default_backoff().applied_objects());
        while let Some(ev) = s.next().await {
            let at = Instant::now();
            if let Ok(d) = ev {
                let r = d.spec.replicas.unwrap_or(1);
                let _ = tx.send((r, d.annotations().clone(), at));
            }
        }
    });
    rx
}

/// Waits until the watched replicas equal `target`; returns the event's instant.
pub(crate) async fn replicas_reach(rx: &mut watch::Receiver<Seen>, target: i32) -> Instant {
    let seen = tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|(r, _, _)| *r == target),
    )
    .await
    .unwrap_or_else(|_| panic!("replicas did not reach {target} within 60 s"))
    .expect("watch running");
    seen.2
}

/// Whether `BENCH_E2E_PARTS` (all when unset) names `part`.
fn runs(part: &str) -> bool {
    std::env::var("BENCH_E2E_PARTS").map_or(true, |v| v.split(',').any(|p| p.trim() == part))
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let client = Client::try_default().await.expect("KUBECONFIG reachable");
    let http = reqwest::Client::new();
    let simulator = var("MAPEK_E2E_SIMULATOR");

    let (mut op50, mut op99, mut fl50, mut fl99) = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    if runs("approvals") {
        println!("== 1. approve to scale ({APPROVALS} approvals) and the floor");
        let op = approve_to_scale(&client).await;
        let fl = floor(&client).await;
        (op50, op99) = summary("approve-to-scale", &op);
        (fl50, fl99) = summary("floor (bare client)", &fl);
        println!(
            "ratio p99/floor p99 = {:.2} (target <= 2); p50/floor p50 = {:.2}",
            op99 / fl99,
            op50 / fl50
        );
    }

    let (mut d50, mut dmax) = (f64::NAN, f64::NAN);
    if runs("detection") {
        println!("== 2. detection ({DETECTIONS} Deployments, evaluationInterval 2s, scrape 1s)");
        let det = detection(&client, &http, &simulator).await;
        let totals: Vec<f64> = det.iter().map(|d| d.total_ms).collect();
        (d50, _) = summary("detection (fault to plan)", &totals);
        dmax = totals.iter().cloned().fold(f64::NAN, f64::max);
        let firsts: Vec<f64> = det.iter().map(|d| d.first_violation_ms).collect();
        summary(
            "fault to first violation (1 s resolution, truncated)",
            &firsts,
        );
    }

    let mut st = Storm {
        first_plan_s: f64::NAN,
        all_judged_s: f64::NAN,
        peak_rss_mib: f64::NAN,
        cpu_seconds: f64::NAN,
        ..Storm::default()
    };
    if runs("storm") {
        println!(
            "== 3. storm (ViolationPolicies over as many Deployments breaching in one round, each its own query)"
        );
        st = storm(&client).await;
        println!(
            "storm: {} policies; first plan {:.1} s after the first violation, {} of them judged after {:.1} s; {} plans; peak RSS {:.1} MiB; {:.1} CPU s; {} API reads ({})",
            st.policies,
            st.first_plan_s,
            st.judged,
            st.all_judged_s,
            st.plans,
            st.peak_rss_mib,
            st.cpu_seconds,
            st.api_reads,
            st.reads_by_resource
        );
    }

    let sc = match runs("scale") {
        true => {
            println!(
                "== 4. scale (ViolationPolicies over as many Deployments, {POLICIES_PER_QUERY} policies a query, every {SCALE_INTERVAL_S}s)"
            );
            scale(&client, &http).await
        }
        false => Scale::skipped(),
    };
    println!(
        "scale: {} policies, {} distinct queries; created in {:.0} s, all Ready after {:.0} s; over {SCALE_ROUNDS} rounds: evaluation lag p99 <= {} s, {:.2} API writes/s, {:.0} bytes/s, RSS {:.1} MiB (peak {:.1}), {:.3} CPU cores, {:.1} Prometheus queries/round, {:.0} evaluations/round not written, oldest status {:.0} s",
        sc.policies,
        sc.distinct_queries,
        sc.created_s,
        sc.ready_s,
        sc.eval_lag_p99_s,
        sc.api_writes_per_s,
        sc.api_write_bytes_per_s,
        sc.rss_mib,
        sc.peak_rss_mib,
        sc.cpu_cores,
        sc.queries_per_round,
        sc.skipped_per_round,
        sc.status_age_max_s
    );

    println!(
        "BENCH_E2E policies={} distinct_queries={} eval_lag_p99_s={} api_writes_per_s={:.2} api_write_bytes_per_s={:.0} rss_mib={:.1} peak_rss_mib={:.1} cpu_cores={:.3} queries_per_round={:.1} status_age_max_s={:.0} approve_to_scale_ratio={:.2} approve_to_scale_p50_ms={op50:.0} approve_to_scale_p99_ms={op99:.0} floor_p50_ms={fl50:.0} floor_p99_ms={fl99:.0} detection_p50_ms={d50:.0} detection_max_ms={dmax:.0} storm_policies={} storm_first_plan_s={:.1} storm_all_judged_s={:.1} storm_plans={} storm_peak_rss_mib={:.1} storm_cpu_seconds={:.1} storm_api_reads={}",
        sc.policies,
        sc.distinct_queries,
        sc.eval_lag_p99_s,
        sc.api_writes_per_s,
        sc.api_write_bytes_per_s,
        sc.rss_mib,
        sc.peak_rss_mib,
        sc.cpu_cores,
        sc.queries_per_round,
        sc.status_age_max_s,
        op99 / fl99,
        st.policies,
        st.first_plan_s,
        st.all_judged_s,
        st.plans,
        st.peak_rss_mib,
        st.cpu_seconds,
        st.api_reads
    );
}
