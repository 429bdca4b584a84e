//! The closed-loop benchmark: the operator running as its own process against the
//! local Kubernetes API server, Prometheus and the workload simulator, all started
//! by `e2e/run-local` (run it with `make bench-e2e`). Measures, in one run:
//!
//! 1. approve-to-scale latency over 100 approvals, and the floor: a bare client
//!    that reacts to an annotation by patching the `scale` subresource;
//! 2. detection latency: from an injected overload to the RemediationPolicy;
//! 3. the operator at scale: 10,000 ViolationPolicies (1,000 distinct queries,
//!    every 30 s) over 10,000 Deployments on kwok nodes (`BENCH_E2E_POLICIES`
//!    sets another count): how late evaluations run, the operator's API writes
//!    a second and their bytes (from the API server's audit log), its memory and
//!    CPU, and Prometheus queries per round.
//!
//! Prints what it measured and ends with one `BENCH_E2E ...` line. It asserts on
//! nothing: a timing is a measurement, not a test.

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

const NS: &str = "default";
const APPROVALS: usize = 100;
const DETECTIONS: usize = 5;
/// Policies of the scale run (one Deployment each), unless `BENCH_E2E_POLICIES`.
const SCALE_POLICIES: usize = 10_000;
/// Policies sharing each query.
const POLICIES_PER_QUERY: usize = 10;
const SCALE_INTERVAL_S: u64 = 30;
/// Rounds the steady state is measured over.
const SCALE_ROUNDS: u64 = 10;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run through e2e/run-local"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, v: &[f64]) -> (f64, f64) {
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

fn deployment(name: &str, replicas: i32) -> Deployment {
    simulated_deployment(name, replicas, true)
}

/// A Deployment; `simulate`: the workload simulator exports its metrics.
fn simulated_deployment(name: &str, replicas: i32, simulate: bool) -> Deployment {
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

fn policy(name: &str, spec: Value) -> ViolationPolicy {
    serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
        "metadata": {"name": name, "namespace": NS}, "spec": spec
    }))
    .unwrap()
}

async fn fresh_deployment(client: &Client, name: &str, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let _ = api.delete(name, &DeleteParams::default()).await;
    api.create(&PostParams::default(), &deployment(name, replicas))
        .await
        .expect("Deployment created");
}

async fn fresh_policy(client: &Client, name: &str, spec: Value) {
    let api: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let _ = api.delete(name, &DeleteParams::default()).await;
    api.create(&PostParams::default(), &policy(name, spec))
        .await
        .expect("ViolationPolicy created");
}

/// Watches one Deployment and publishes its `spec.replicas`, its annotations and
/// the instant the event carrying them arrived.
type Seen = (i32, std::collections::BTreeMap<String, String>, Instant);

fn watch_deployment(client: &Client, name: &str) -> watch::Receiver<Seen> {
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
async fn replicas_reach(rx: &mut watch::Receiver<Seen>, target: i32) -> Instant {
    let seen = tokio::time::timeout(
        Duration::from_secs(60),
        rx.wait_for(|(r, _, _)| *r == target),
    )
    .await
    .unwrap_or_else(|_| panic!("replicas did not reach {target} within 60 s"))
    .expect("watch running");
    seen.2
}

// ---------------------------------------------------------------------------
// 1. Approve to scale, and the floor.

async fn approve_to_scale(client: &Client) -> Vec<f64> {
    let target = "bench-scale";
    fresh_deployment(client, target, 1).await;
    // A query that never violates, so that the analyzer writes no plan of its own.
    fresh_policy(
        client,
        "bench-scale-policy",
        json!({
            "targetRef": {"name": target},
            "query": "vector(0)",
            "condition": {"operator": "GreaterThan", "threshold": 1},
            "evaluationInterval": "30s",
            "remediation": {
                "allowedActions": ["SCALE_UP", "SCALE_DOWN"],
                "scale": {"minReplicas": 1, "maxReplicas": 200, "maxStep": 1},
                "cooldown": "0s", "approvalTtl": "1h"
            }
        }),
    )
    .await;
    let plans: Api<RemediationPolicy> = Api::namespaced(client.clone(), NS);
    let mut rx = watch_deployment(client, target);
    replicas_reach(&mut rx, 1).await;

    let mut out = Vec::with_capacity(APPROVALS);
    for i in 0..APPROVALS {
        let current = rx.borrow().0;
        let want = current + 1;
        let mut plan: mapek_engine::model::RemediationPlan = serde_json::from_value(json!({
            "target": target, "policy": "bench-scale-policy", "rootCause": "LoadSpike", "confidence": 0.9,
            "actions": [{"id": "a1", "actionType": "SCALE_UP", "target": target, "replicas": want,
                         "priority": "High", "estimatedLatencySeconds": 30}],
            "expectedImpact": "bench", "risk": "Low", "priority": "High",
            "cost": 0.15, "benefit": 0.9, "score": 0.75, "planHash": ""
        }))
        .unwrap();
        plan.plan_hash = mapek_engine::plan_hash(&plan);
        let name = format!("bench-scale-{i:03}");
        let rp: RemediationPolicy = serde_json::from_value(json!({
            "apiVersion": "mapek.io/v1alpha1", "kind": "RemediationPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": serde_json::to_value(mapek_api::RemediationPolicySpec {
                plan: plan.clone(),
                evidence: mapek_api::Evidence::default(),
                git_ops: None,
                hpa: None,
            }).unwrap()
        }))
        .unwrap();
        let _ = plans.delete(&name, &DeleteParams::default()).await;
        plans
            .create(&PostParams::default(), &rp)
            .await
            .expect("plan created");
        // The executor has seen the new plan (written its Pending status) before t0,
        // so that the latency is the approval's alone.
        mapek_test_support::poll(
            "the executor to see the plan",
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { plans.get(&name).await.ok()?.status.map(|_| ()) },
        )
        .await;

        // As the local cluster's admin, one of the chart's approvers there.
        let patch = json!({"metadata": {"annotations": {
            "mapek.io/approve": plan.plan_hash, "mapek.io/approved-by": "mapek-admin"}}});
        let t0 = Instant::now();
        plans
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("approved");
        let t1 = replicas_reach(&mut rx, want).await;
        out.push(ms(t1 - t0));

        mapek_test_support::poll(
            "the plan to complete",
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async {
                let p = plans.get(&name).await.ok()?;
                (p.status?.phase == ExecutionPhase::Completed).then_some(())
            },
        )
        .await;
    }
    out
}

async fn floor(client: &Client) -> Vec<f64> {
    let target = "bench-floor";
    fresh_deployment(client, target, 1).await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);

    // The bare client: on `bench/approve=<n>`, patch the scale subresource to n.
    let mut seen = watch_deployment(client, target);
    let scaler = {
        let api = api.clone();
        let mut seen = seen.clone();
        tokio::spawn(async move {
            let mut done = 1;
            while seen.changed().await.is_ok() {
                let n = seen
                    .borrow_and_update()
                    .1
                    .get("bench/approve")
                    .and_then(|v| v.parse::<i32>().ok());
                if let Some(n) = n.filter(|&n| n != done) {
                    let patch = json!({"spec": {"replicas": n}});
                    api.patch_scale(target, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .expect("scale patched");
                    done = n;
                }
            }
        })
    };
    replicas_reach(&mut seen, 1).await;

    let mut out = Vec::with_capacity(APPROVALS);
    for _ in 0..APPROVALS {
        let want = seen.borrow().0 + 1;
        let patch = json!({"metadata": {"annotations": {"bench/approve": want.to_string()}}});
        let t0 = Instant::now();
        api.patch(target, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotated");
        let t1 = replicas_reach(&mut seen, want).await;
        out.push(ms(t1 - t0));
    }
    scaler.abort();
    out
}

// ---------------------------------------------------------------------------
// 2. Detection.

struct Detection {
    total_ms: f64,
    first_violation_ms: f64,
    violations_before_plan: usize,
}

async fn detection(client: &Client, http: &reqwest::Client, simulator: &str) -> Vec<Detection> {
    let plans: Api<RemediationPolicy> = Api::namespaced(client.clone(), NS);
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let mut out = Vec::new();
    for i in 0..DETECTIONS {
        let name = format!("bench-detect-{i}");
        let vp = format!("{name}-latency");
        fresh_deployment(client, &name, 2).await;
        fresh_policy(client, &vp, json!({
            "targetRef": {"name": name},
            "query": format!("mapek_sim_latency_seconds{{deployment=\"{name}\"}}"),
            "condition": {"operator": "GreaterThan", "threshold": 0.5},
            "severity": "critical", "evaluationInterval": "2s",
            "remediation": {"allowedActions": ["SCALE_UP"], "scale": {"minReplicas": 2, "maxReplicas": 6, "maxStep": 3}}
        }))
        .await;
        // Healthy and evaluated at least twice before the fault.
        mapek_test_support::poll(
            "the policy to be Ready",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async {
                let s = policies.get(&vp).await.ok()?.status?;
                let ready = s
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                ready.then_some(())
            },
        )
        .await;
        // Only a change is written to the status: wait two more evaluations
        // (2 s apart) for the baseline in the operator's memory.
        tokio::time::sleep(Duration::from_secs(4)).await;

        // Watch plans for this target from before the fault.
        let (tx, mut rx) = watch::channel(None::<(Instant, String)>);
        let w = {
            let plans = plans.clone();
            let name = name.clone();
            tokio::spawn(async move {
                let mut s = std::pin::pin!(
                    watcher(plans, watcher::Config::default())
                        .default_backoff()
                        .applied_objects()
                );
                while let Some(ev) = s.next().await {
                    let at = Instant::now();
                    if let Ok(p) = ev
                        && p.spec.plan.target == name
                    {
                        let _ = tx.send(Some((at, p.name_any())));
                        return;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await; // the watch's initial list

        let wall0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let t0 = Instant::now();
        let r = http
            .post(format!("{simulator}/faults/{name}"))
            .json(&json!({"kind": "overload", "loadRps": 350}))
            .send()
            .await
            .expect("simulator reachable");
        assert!(r.status().is_success(), "fault injection: {}", r.status());
        let (t1, plan) =
            tokio::time::timeout(Duration::from_secs(120), rx.wait_for(Option::is_some))
                .await
                .expect("a plan within 120 s")
                .unwrap()
                .clone()
                .unwrap();
        w.abort();
        let s = policies.get(&vp).await.unwrap().status.unwrap_or_default();
        let after: Vec<i64> = s
            .recent_violations
            .iter()
            .map(|v| v.time.0.as_millisecond())
            .filter(|&t| t >= wall0)
            .collect();
        let d = Detection {
            total_ms: ms(t1 - t0),
            first_violation_ms: after.first().map_or(f64::NAN, |&t| (t - wall0) as f64),
            violations_before_plan: after.len(),
        };
        println!(
            "detection {name}: plan {plan} after {:.0} ms; first violation stamped {:.0} ms after the fault (status times have 1 s resolution, so this is truncated by up to 1 s); {} violations recorded by the time the plan was read",
            d.total_ms, d.first_violation_ms, d.violations_before_plan
        );
        out.push(d);
        // Stop the overload so this Deployment does not keep the analyzer busy.
        let _ = http
            .delete(format!("{simulator}/faults/{name}"))
            .send()
            .await;
    }
    out
}

// ---------------------------------------------------------------------------
// 3. Footprint.

fn operator_pid() -> u32 {
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

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_seconds(pid: u32) -> f64 {
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
async fn operator_metrics(http: &reqwest::Client) -> String {
    http.get(format!("{}/metrics", var("MAPEK_E2E_OPERATOR")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn operator_counter(http: &reqwest::Client, name: &str) -> f64 {
    let text = operator_metrics(http).await;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

/// The operator's writes (create, update, patch, delete) in the audit log between
/// two instants (milliseconds): how many, and the bytes of their request bodies
/// (kept for mapek.io objects when the cluster runs with MAPEK_LOCAL_AUDIT_BODIES).
fn operator_writes(from_ms: i64, to_ms: i64) -> (usize, usize) {
    let text = std::fs::read_to_string(var("MAPEK_LOCAL_AUDIT_LOG")).unwrap_or_default();
    let (mut writes, mut bytes) = (0, 0);
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !e["user"]["username"]
            .as_str()
            .is_some_and(|u| u.contains("mapek-operator"))
        {
            continue;
        }
        let at = e["requestReceivedTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .map_or(0, |t| t.as_millisecond());
        if at < from_ms || at >= to_ms {
            continue;
        }
        writes += 1;
        if !e["requestObject"].is_null() {
            bytes += e["requestObject"].to_string().len();
        }
    }
    (writes, bytes)
}

/// Cumulative bucket counts of a histogram in the operator's metrics.
async fn operator_histogram(http: &reqwest::Client, name: &str) -> Vec<(f64, f64)> {
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
fn histogram_percentile(before: &[(f64, f64)], after: &[(f64, f64)], p: f64) -> f64 {
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

struct Scale {
    policies: usize,
    distinct_queries: usize,
    created_s: f64,
    ready_s: f64,
    eval_lag_p99_s: f64,
    api_writes_per_s: f64,
    api_write_bytes_per_s: f64,
    peak_rss_mib: f64,
    rss_mib: f64,
    cpu_cores: f64,
    queries_per_round: f64,
    skipped_per_round: f64,
}

async fn scale(client: &Client, http: &reqwest::Client) -> Scale {
    let count: usize = std::env::var("BENCH_E2E_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCALE_POLICIES);
    let queries = count.div_ceil(POLICIES_PER_QUERY);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| {
            let (deployments, policies) = (deployments.clone(), policies.clone());
            async move {
                let name = format!("fp-{i:05}");
                // One replica on the kwok nodes; the simulator exports the
                // metrics of the first `queries` Deployments, which the queries read.
                deployments
                    .create(
                        &PostParams::default(),
                        &simulated_deployment(&name, 1, i < queries),
                    )
                    .await?;
                // `queries` distinct queries, each shared by 10 policies; never violating.
                let g = i % queries;
                let spec = json!({
                    "targetRef": {"name": name},
                    "query": format!("max(mapek_sim_latency_seconds{{deployment=\"fp-{g:05}\"}})"),
                    "condition": {"operator": "GreaterThan", "threshold": 1000},
                    "evaluationInterval": format!("{SCALE_INTERVAL_S}s"),
                    "remediation": {"allowedActions": ["SCALE_UP"], "scale": {"minReplicas": 1, "maxReplicas": 4, "maxStep": 1}}
                });
                policies
                    .create(&PostParams::default(), &policy(&format!("{name}-vp"), spec))
                    .await?;
                Ok::<_, kube::Error>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("scale objects created");
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
            let ready = l
                .items
                .iter()
                .filter(|p| p.name_any().starts_with("fp-"))
                .filter(|p| {
                    p.status.as_ref().is_some_and(|s| {
                        s.conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                })
                .count();
            (ready >= count).then(|| started.elapsed().as_secs_f64())
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
    tokio::time::sleep(window).await;
    let (cpu1, q1, s1, lag1, t1_ms) = (
        cpu_seconds(pid),
        operator_counter(http, "mapek_prometheus_queries_total").await,
        operator_counter(http, "mapek_status_writes_total{reason=\"skipped\"}").await,
        operator_histogram(http, "mapek_evaluation_lag_seconds").await,
        wall(),
    );
    let seconds = t0.elapsed().as_secs_f64();
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
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let client = Client::try_default().await.expect("KUBECONFIG reachable");
    let http = reqwest::Client::new();
    let simulator = var("MAPEK_E2E_SIMULATOR");

    println!("== 1. approve to scale ({APPROVALS} approvals) and the floor");
    let op = approve_to_scale(&client).await;
    let fl = floor(&client).await;
    let (op50, op99) = summary("approve-to-scale", &op);
    let (fl50, fl99) = summary("floor (bare client)", &fl);
    println!(
        "ratio p99/floor p99 = {:.2} (target <= 2); p50/floor p50 = {:.2}",
        op99 / fl99,
        op50 / fl50
    );

    println!("== 2. detection ({DETECTIONS} Deployments, evaluationInterval 2s, scrape 1s)");
    let det = detection(&client, &http, &simulator).await;
    let totals: Vec<f64> = det.iter().map(|d| d.total_ms).collect();
    let (d50, _) = summary("detection (fault to plan)", &totals);
    let dmax = totals.iter().cloned().fold(f64::NAN, f64::max);
    let firsts: Vec<f64> = det.iter().map(|d| d.first_violation_ms).collect();
    summary(
        "fault to first violation (1 s resolution, truncated)",
        &firsts,
    );

    println!(
        "== 3. scale (ViolationPolicies over as many Deployments, {POLICIES_PER_QUERY} policies a query, every {SCALE_INTERVAL_S}s)"
    );
    let sc = scale(&client, &http).await;
    println!(
        "scale: {} policies, {} distinct queries; created in {:.0} s, all Ready after {:.0} s; over {SCALE_ROUNDS} rounds: evaluation lag p99 <= {} s, {:.2} API writes/s, {:.0} bytes/s, RSS {:.1} MiB (peak {:.1}), {:.3} CPU cores, {:.1} Prometheus queries/round, {:.0} evaluations/round not written",
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
        sc.skipped_per_round
    );

    println!(
        "BENCH_E2E policies={} distinct_queries={} eval_lag_p99_s={} api_writes_per_s={:.2} api_write_bytes_per_s={:.0} rss_mib={:.1} peak_rss_mib={:.1} cpu_cores={:.3} queries_per_round={:.1} approve_to_scale_ratio={:.2} approve_to_scale_p50_ms={op50:.0} approve_to_scale_p99_ms={op99:.0} floor_p50_ms={fl50:.0} floor_p99_ms={fl99:.0} detection_p50_ms={d50:.0} detection_max_ms={dmax:.0}",
        sc.policies,
        sc.distinct_queries,
        sc.eval_lag_p99_s,
        sc.api_writes_per_s,
        sc.api_write_bytes_per_s,
        sc.rss_mib,
        sc.peak_rss_mib,
        sc.cpu_cores,
        sc.queries_per_round,
        op99 / fl99
    );
}
