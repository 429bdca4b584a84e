//! The Monitor controller: every second it finds the ViolationPolicies whose
//! evaluation interval has passed, runs each distinct PromQL query once, applies
//! the result to every policy that asked for it ([`crate::monitor::observe`]) and
//! writes their status. A failed evaluation is retried with exponential backoff.
//! After a violation it wakes the analyzer for that namespace.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use super::Context;
use crate::crd::{ViolationPolicy, ViolationPolicyStatus};
use crate::engine::model::Millis;
use crate::monitor::{self, Evaluated, READY, VIOLATING};
use crate::prometheus::{Prometheus, QueryError};

/// Most queries in flight at once.
const QUERY_CONCURRENCY: usize = 8;
/// Longest wait between evaluations of a failing policy.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Scheduling state of one policy, kept in memory.
#[derive(Debug, Clone, Default)]
struct Schedule {
    next_due: Millis,
    failures: u32,
    /// The last status this process wrote, newer than the watch cache until the
    /// watch catches up.
    status: Option<ViolationPolicyStatus>,
    generation: Option<i64>,
}

/// Runs the monitor until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    store: Store<ViolationPolicy>,
    prometheus: Prometheus,
    analyze: mpsc::Sender<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut schedules: HashMap<ObjectRef<ViolationPolicy>, Schedule> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        let started = std::time::Instant::now();
        tick(&ctx, &store, &prometheus, &analyze, &mut schedules).await;
        ctx.metrics
            .phase("monitor", started.elapsed().as_secs_f64());
    }
}

/// One tick: evaluate every due policy, each distinct query once.
async fn tick(
    ctx: &Context,
    store: &Store<ViolationPolicy>,
    prometheus: &Prometheus,
    analyze: &mpsc::Sender<String>,
    schedules: &mut HashMap<ObjectRef<ViolationPolicy>, Schedule>,
) {
    let now = ctx.clock.now_ms();
    let policies = store.state();
    schedules.retain(|key, _| store.get(key).is_some());

    let mut due: BTreeMap<String, Vec<Arc<ViolationPolicy>>> = BTreeMap::new();
    for p in policies {
        let key = ObjectRef::from_obj(p.as_ref());
        let s = schedules.entry(key).or_default();
        // A spec change evaluates at once and forgets the backoff.
        if s.generation != p.metadata.generation {
            s.generation = p.metadata.generation;
            s.next_due = now;
            s.failures = 0;
        }
        if s.next_due <= now {
            due.entry(p.spec.query.clone()).or_default().push(p);
        }
    }
    if due.is_empty() {
        return;
    }

    let results: Vec<(String, Result<f64, QueryError>)> = stream::iter(due.keys().cloned())
        .map(|q| async move {
            let r = prometheus.query_value(&q).await;
            (q, r)
        })
        .buffer_unordered(QUERY_CONCURRENCY)
        .collect()
        .await;
    ctx.metrics.prometheus_queries.inc_by(results.len() as u64);

    let mut wake = std::collections::BTreeSet::new();
    for (query, result) in results {
        if result.is_err() {
            ctx.metrics.prometheus_query_errors.inc();
        }
        for p in &due[&query] {
            let key = ObjectRef::from_obj(p.as_ref());
            let s = schedules.entry(key).or_default();
            if let Some(ns) = evaluate(ctx, p, s, &result, now).await {
                wake.insert(ns);
            }
        }
    }
    for ns in wake {
        // A full channel means the analyzer is already due to run.
        let _ = analyze.try_send(ns);
    }
}

/// Applies one result to one policy, writes its status and schedules the next
/// evaluation. Returns the namespace when a violation was recorded.
async fn evaluate(
    ctx: &Context,
    policy: &ViolationPolicy,
    schedule: &mut Schedule,
    result: &Result<f64, QueryError>,
    now: Millis,
) -> Option<String> {
    let name = policy.name_any();
    let namespace = policy.namespace().unwrap_or_else(|| "default".into());
    let before = schedule
        .status
        .clone()
        .or_else(|| policy.status.clone())
        .unwrap_or_default();
    let mut status = before.clone();
    let evaluated = monitor::observe(
        &name,
        &policy.spec,
        policy.metadata.generation,
        &mut status,
        result,
        now,
    );

    let interval = Duration::from(policy.spec.evaluation_interval);
    let interval = if interval.is_zero() {
        ctx.settings.default_interval
    } else {
        interval
    };
    let wait = if evaluated == Evaluated::Failed {
        schedule.failures = schedule.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(schedule.failures.min(16) - 1);
        interval
            .saturating_mul(factor)
            .min(MAX_BACKOFF.max(interval))
    } else {
        schedule.failures = 0;
        interval
    };
    schedule.next_due = now.saturating_add(wait.as_millis() as i64);

    let api: Api<ViolationPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({ "status": status });
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => schedule.status = Some(status.clone()),
        Err(e) => {
            tracing::warn!(policy = %name, namespace = %namespace, error = %e, "cannot write ViolationPolicy status");
            ctx.metrics.reconciled("monitor", 0.0, true);
            return None;
        }
    }
    ctx.metrics.reconciled("monitor", 0.0, false);
    publish_transitions(ctx, policy, &before, &status).await;

    if evaluated == Evaluated::Violation {
        ctx.metrics
            .violations
            .get_or_create(&crate::metrics::PolicyLabels {
                namespace: namespace.clone(),
                policy: name,
            })
            .inc();
        return Some(namespace);
    }
    None
}

/// Events for `Ready` and `Violating` transitions.
async fn publish_transitions(
    ctx: &Context,
    policy: &ViolationPolicy,
    before: &ViolationPolicyStatus,
    after: &ViolationPolicyStatus,
) {
    let status_of = |s: &ViolationPolicyStatus, t: &str| {
        s.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let mut events = Vec::new();
    if let Some((status, reason, message)) = status_of(after, READY)
        && status_of(before, READY).map(|b| b.0) != Some(status.clone())
    {
        let ok = status == "True";
        events.push(Event {
            type_: if ok {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: if ok {
                "EvaluationRecovered".into()
            } else {
                reason
            },
            note: Some(message),
            action: "Evaluate".into(),
            secondary: None,
        });
    }
    if let Some((status, _, message)) = status_of(after, VIOLATING)
        && status == "True"
        && status_of(before, VIOLATING).map(|b| b.0) != Some(status)
    {
        events.push(Event {
            type_: EventType::Warning,
            reason: "ViolationDetected".into(),
            note: Some(message),
            action: "Evaluate".into(),
            secondary: None,
        });
    }
    let reference = policy.object_ref(&());
    for e in events {
        if let Err(err) = ctx.recorder.publish(&e, &reference).await {
            tracing::debug!(error = %err, "cannot publish an event");
        }
    }
}
