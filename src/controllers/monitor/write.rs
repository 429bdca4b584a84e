//! Writing the statuses the monitor decided to write: queued changes flushed
//! within the write budget, each write's Events and metrics.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, stream};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::decide::{READY, VIOLATING, Write};
use mapek_api::{ViolationPolicy, ViolationPolicyStatus};
use mapek_engine::model::Millis;

use super::{Schedule, WRITE_CONCURRENCY};

/// Writes the statuses queued for the budget, as many as it has room for now,
/// between evaluations: the budget is used every second, not only at
/// evaluation times. Changes a reader needs go first; then queued refreshes,
/// the oldest status first, from the refresh share. Returns the namespaces
/// with new violations.
pub(super) async fn flush_pending(
    ctx: &Context,
    store: &Store<ViolationPolicy>,
    schedules: &mut HashMap<ObjectRef<ViolationPolicy>, Schedule>,
    skip: &HashSet<ObjectRef<ViolationPolicy>>,
    now: Millis,
) -> Vec<String> {
    let period = super::refresh_period(ctx, store.len());
    let mut changes = Vec::new();
    let mut refreshes = Vec::new();
    for (k, s) in schedules.iter() {
        if s.pending.is_none() || skip.contains(k) {
            continue;
        }
        match s.refresh_queued {
            false => changes.push(k.clone()),
            true => refreshes.push((last_written(s, store.get(k).as_deref()), k.clone())),
        }
    }
    refreshes.sort_by_key(|(at, _)| *at);
    let mut jobs = take_queued(ctx, store, schedules, changes, false, now, period);
    let oldest_first = refreshes.into_iter().map(|(_, k)| k).collect();
    jobs.extend(take_queued(
        ctx,
        store,
        schedules,
        oldest_first,
        true,
        now,
        period,
    ));
    let written: Vec<_> = stream::iter(jobs)
        .map(
            |(key, policy, mut schedule, before, status, write)| async move {
                let woke = match write {
                    Write::Skip => None,
                    _ => write_status(ctx, &policy, &mut schedule, &before, status, write).await,
                };
                (key, schedule, woke)
            },
        )
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut wake = Vec::new();
    for (key, schedule, woke) in written {
        schedules.insert(key, schedule);
        wake.extend(woke);
    }
    wake
}

/// When the status the API server holds for a policy was last written.
fn last_written(s: &Schedule, policy: Option<&ViolationPolicy>) -> Millis {
    let status = s
        .status
        .as_deref()
        .or(policy.and_then(|p| p.status.as_ref()));
    status
        .and_then(|s| s.last_evaluation_time.as_ref())
        .map_or(Millis::MIN, |t| t.0.as_millisecond())
}

type Job = (
    ObjectRef<ViolationPolicy>,
    std::sync::Arc<ViolationPolicy>,
    Schedule,
    ViolationPolicyStatus,
    ViolationPolicyStatus,
    Write,
);

/// The queued statuses of `keys` the budget has room for now (its refresh
/// share for `refreshes`), in order, taken out of `schedules`.
fn take_queued(
    ctx: &Context,
    store: &Store<ViolationPolicy>,
    schedules: &mut HashMap<ObjectRef<ViolationPolicy>, Schedule>,
    keys: Vec<ObjectRef<ViolationPolicy>>,
    refreshes: bool,
    now: Millis,
    period: Millis,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    for key in keys {
        let Some(policy) = store.get(&key) else {
            continue;
        };
        let room = match refreshes {
            true => ctx.write_budget.try_refresh(),
            false => ctx.write_budget.try_write(),
        };
        if !room {
            break;
        }
        let Some(mut schedule) = schedules.remove(&key) else {
            continue;
        };
        let before = schedule.written(&policy);
        let status = schedule.pending.take().map(|p| *p).unwrap_or_default();
        schedule.refresh_queued = false;
        let due_age = super::refresh_age(&policy, now, period);
        let write = super::decide::worth_writing(&before, &status, now, due_age);
        jobs.push((key, policy, schedule, before, status, write));
    }
    jobs
}

/// Whether the watch cache's status already is the status this process last
/// wrote: the monitor is its only writer, and every write sets a new
/// `lastEvaluationTime`.
pub(super) fn caught_up(
    cached: Option<&ViolationPolicyStatus>,
    written: &ViolationPolicyStatus,
) -> bool {
    written.last_evaluation_time.is_some()
        && cached.and_then(|c| c.last_evaluation_time.as_ref())
            == written.last_evaluation_time.as_ref()
}

/// Writes a status the budget has made room for, then its Events and metrics.
/// Returns the namespace when it records new violations.
pub(super) async fn write_status(
    ctx: &Context,
    policy: &ViolationPolicy,
    schedule: &mut Schedule,
    before: &ViolationPolicyStatus,
    mut status: ViolationPolicyStatus,
    write: Write,
) -> Option<String> {
    let name = policy.name_any();
    let namespace = policy.namespace().unwrap_or_else(|| "default".into());
    status.samples = ctx
        .history
        .summary(&super::history_key(policy, ctx.settings.default_interval));
    status.recent_samples.clear();
    super::decide::keep_analyzer_fields(&mut status, policy.status.as_ref());

    let api: Api<ViolationPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    // `recentSamples: null` removes the list an earlier version kept.
    let mut patch = json!({ "status": status });
    patch["status"]["recentSamples"] = serde_json::Value::Null;
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => schedule.status = Some(Box::new(status.clone())),
        Err(e) => {
            tracing::warn!(policy = %name, namespace = %namespace, error = %e, "cannot write ViolationPolicy status");
            ctx.metrics.reconciled("monitor", 0.0, true);
            // Written at the next evaluation, with whatever it adds.
            schedule.pending = Some(Box::new(status));
            return None;
        }
    }
    ctx.metrics.status_write(match write {
        Write::Generation => "generation",
        Write::Transition => "transition",
        Write::Violation => "violation",
        _ => "refresh",
    });
    ctx.metrics.reconciled("monitor", 0.0, false);
    publish_transitions(ctx, policy, before, &status).await;

    // Violations recorded since the last write (more than one when a write
    // waited for the budget).
    let recorded = status
        .violation_count
        .saturating_sub(before.violation_count);
    if recorded > 0 {
        ctx.metrics
            .violations
            .get_or_create(&crate::metrics::PolicyLabels {
                namespace: namespace.clone(),
                policy: name,
            })
            .inc_by(recorded);
        return Some(namespace);
    }
    None
}

/// Events for `Ready` and `Violating` transitions.
pub(super) async fn publish_transitions(
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
    // A first successful evaluation is not a recovery: only a change from False,
    // or a first failure, is worth an Event.
    let ready_before = status_of(before, READY).map(|b| b.0);
    if let Some((status, reason, message)) = status_of(after, READY)
        && ready_before != Some(status.clone())
        && (status != "True" || ready_before.is_some())
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
