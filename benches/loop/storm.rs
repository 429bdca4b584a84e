//! Part 3, the storm: 1,000 ViolationPolicies on 1,000 Deployments breach in
//! the same round, each on its own query (and so its own metric: no shared
//! cause), and how fast and at what cost the operator judges them all. The
//! objects are deleted afterwards, before the scale part.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;

/// Policies of the storm (one Deployment each), unless `BENCH_E2E_STORM_POLICIES`.
pub(crate) const STORM_POLICIES: usize = 1_000;
const STORM_INTERVAL: &str = "5s";
const LABEL: &str = "mapek.io/bench";

#[derive(Default)]
pub(crate) struct Storm {
    pub(crate) policies: usize,
    pub(crate) first_plan_s: f64,
    pub(crate) all_judged_s: f64,
    pub(crate) judged: usize,
    pub(crate) plans: usize,
    pub(crate) peak_rss_mib: f64,
    pub(crate) cpu_seconds: f64,
    pub(crate) api_reads: usize,
    pub(crate) reads_by_resource: String,
}

/// What the bench's watches saw, in wall-clock milliseconds: per policy the
/// first status with an episode, per target the first plan.
#[derive(Default)]
struct Seen {
    judged: HashMap<String, i64>,
    planned: HashMap<String, i64>,
    first_violation: Option<i64>,
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn storm_deployment(name: &str) -> Deployment {
    let mut d = simulated_deployment(name, 1, false);
    d.labels_mut().insert(LABEL.into(), "storm".into());
    d
}

/// Policy `i`: its own query, 0 until `break_at` (Unix seconds), then above
/// the threshold.
fn storm_policy(i: usize, break_at: i64) -> ViolationPolicy {
    let name = format!("st-{i:04}");
    let value = 10.0 + i as f64 / 1000.0;
    let mut p = policy(
        &format!("{name}-vp"),
        json!({
            "targetRef": {"name": name},
            "query": format!("vector({value:.3}) * (time() > bool {break_at})"),
            "condition": {"operator": "GreaterThan", "threshold": 1.0},
            "evaluationInterval": STORM_INTERVAL,
            "remediation": {"allowedActions": ["SCALE_UP"], "scale": {"minReplicas": 1, "maxReplicas": 4, "maxStep": 1}}
        }),
    );
    p.labels_mut().insert(LABEL.into(), "storm".into());
    p
}

async fn create_storm(client: &Client, count: usize, break_at: i64) {
    create_pairs(client, count, "storm", |i| {
        let name = format!("st-{i:04}");
        (storm_deployment(&name), storm_policy(i, break_at))
    })
    .await;
}

/// Watches the storm's policies and plans into `seen`.
fn watch_storm(client: &Client, seen: Arc<Mutex<Seen>>) -> Vec<tokio::task::JoinHandle<()>> {
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let plans: Api<RemediationPolicy> = Api::namespaced(client.clone(), NS);
    let s1 = seen.clone();
    let cfg = watcher::Config::default().labels(&format!("{LABEL}=storm"));
    let p = tokio::spawn(async move {
        let mut s = std::pin::pin!(watcher(policies, cfg).default_backoff().applied_objects());
        while let Some(ev) = s.next().await {
            let at = wall_ms();
            let Ok(p) = ev else { continue };
            let Some(status) = p.status.as_ref() else {
                continue;
            };
            let mut seen = s1.lock().unwrap();
            if let Some(v) = status.recent_violations.first() {
                let t = v.time.0.as_millisecond();
                seen.first_violation = Some(seen.first_violation.map_or(t, |f| f.min(t)));
            }
            if status.episode.is_some() {
                seen.judged.entry(p.name_any()).or_insert(at);
            }
        }
    });
    let q = tokio::spawn(async move {
        let mut s = std::pin::pin!(
            watcher(plans, watcher::Config::default())
                .default_backoff()
                .applied_objects()
        );
        while let Some(ev) = s.next().await {
            let at = wall_ms();
            let Ok(p) = ev else { continue };
            let target = p.spec.plan.target.to_string();
            if target.starts_with("st-") {
                let policy = format!("{target}-vp");
                seen.lock().unwrap().planned.entry(policy).or_insert(at);
            }
        }
    });
    vec![p, q]
}

/// Policies with a judgement (an episode in their status, or a plan).
fn judged(seen: &Seen) -> HashMap<&String, i64> {
    let mut out: HashMap<&String, i64> = seen.judged.iter().map(|(k, v)| (k, *v)).collect();
    for (k, v) in &seen.planned {
        let e = out.entry(k).or_insert(*v);
        *e = (*e).min(*v);
    }
    out
}

pub(crate) async fn storm(client: &Client) -> Storm {
    let count: usize = std::env::var("BENCH_E2E_STORM_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STORM_POLICIES);
    let pid = operator_pid();
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    // Every policy's first evaluation is a write under the budget (20/s): the
    // break comes once all are Ready, with room to spare (a change of the
    // queries would be as many writes again).
    let created = Instant::now();
    let break_at = wall_ms() / 1000 + (count as i64 / 20) * 5 / 4 + 45;
    create_storm(client, count, break_at).await;
    println!(
        "storm: created {count} Deployments and {count} ViolationPolicies in {:.1} s",
        created.elapsed().as_secs_f64()
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watches = watch_storm(client, seen.clone());
    wait_ready(&policies, count).await;
    let margin = break_at - wall_ms() / 1000;
    println!(
        "storm: every policy Ready {:.1} s after creation began, {margin} s before the break{}",
        created.elapsed().as_secs_f64(),
        if margin < 5 {
            " (TOO LATE: the figures below are not a storm)"
        } else {
            ""
        }
    );
    let wait = (break_at * 1000 - wall_ms()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait.saturating_sub(1000))).await;
    let (cpu0, t0_ms) = (cpu_seconds(pid), wall_ms());
    let all = wait_judged(&seen, count).await;
    let (cpu1, t1_ms) = (cpu_seconds(pid), wall_ms());
    for w in watches {
        w.abort();
    }
    let (reads, by_resource) = operator_reads(t0_ms, t1_ms);
    let out = {
        let seen = seen.lock().unwrap();
        let first = seen.first_violation.unwrap_or(t0_ms);
        let first_plan = seen.planned.values().min().copied();
        Storm {
            policies: count,
            first_plan_s: first_plan.map_or(f64::NAN, |p| (p - first) as f64 / 1000.0),
            all_judged_s: all.map_or(f64::NAN, |t| (t - first) as f64 / 1000.0),
            judged: judged(&seen).len(),
            plans: seen.planned.len(),
            peak_rss_mib: status_kib(pid, "VmHWM:") as f64 / 1024.0,
            cpu_seconds: cpu1 - cpu0,
            api_reads: reads,
            reads_by_resource: by_resource,
        }
    };
    delete_storm(client).await;
    out
}

async fn wait_ready(policies: &Api<ViolationPolicy>, count: usize) {
    mapek_test_support::poll(
        "every storm policy Ready",
        Duration::from_secs(600),
        Duration::from_secs(5),
        || async {
            let l = policies
                .list(&kube::api::ListParams::default().labels(&format!("{LABEL}=storm")))
                .await
                .ok()?;
            let listed_ready = l.items.iter().filter(|p| ready(p)).count();
            (listed_ready >= count).then_some(())
        },
    )
    .await;
}

/// Waits until every storm policy is judged (at most 300 s); returns when.
async fn wait_judged(seen: &Mutex<Seen>, count: usize) -> Option<i64> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        {
            let seen = seen.lock().unwrap();
            let j = judged(&seen);
            if j.len() >= count {
                return j.values().max().copied();
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seen = seen.lock().unwrap();
    println!(
        "storm: only {} of {count} policies judged after 300 s",
        judged(&seen).len()
    );
    None
}

/// The storm's objects deleted (its plans too), so that the scale part runs
/// alone.
async fn delete_storm(client: &Client) {
    let lp = kube::api::ListParams::default().labels(&format!("{LABEL}=storm"));
    let dp = DeleteParams::default();
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let plans: Api<RemediationPolicy> = Api::namespaced(client.clone(), NS);
    let _ = policies.delete_collection(&dp, &lp).await;
    let _ = deployments.delete_collection(&dp, &lp).await;
    let names: Vec<String> = plans
        .list(&Default::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|p| p.spec.plan.target.to_string().starts_with("st-"))
                .map(|p| p.name_any())
                .collect()
        })
        .unwrap_or_default();
    futures::stream::iter(names)
        .for_each_concurrent(16, |n| {
            let plans = plans.clone();
            async move {
                let _ = plans.delete(&n, &DeleteParams::default()).await;
            }
        })
        .await;
}
