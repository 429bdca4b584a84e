//! The Knowledge controller: a stabilization window after a plan's execution
//! completes, it counts the policy's violations in equal windows before and after
//! the execution, writes a PolicyOutcome and adds it to the learned statistics the
//! planner uses. At start-up the statistics are rebuilt from the PolicyOutcome
//! objects, so a restart loses nothing.

use std::sync::{Arc, RwLock};

use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::Context;
use crate::crd::{
    ApprovalState, ExecutionPhase, PolicyOutcome, PolicyOutcomeSpec, RemediationPolicy,
    ViolationPolicy,
};
use crate::engine::knowledge::KnowledgeBase;
use crate::engine::model::{Millis, OutcomeType};
use crate::metrics::OutcomeLabels;

/// Rebuilds the learned statistics from every PolicyOutcome the operator can see.
pub async fn load(ctx: &Context, namespace: Option<&str>) -> Result<KnowledgeBase, kube::Error> {
    let api: Api<PolicyOutcome> = match namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let outcomes = api.list(&ListParams::default()).await?;
    let kb = KnowledgeBase::from_outcomes(outcomes.items.iter().map(|o| &o.spec.outcome));
    tracing::info!(
        outcomes = outcomes.items.len(),
        "rebuilt the learned statistics"
    );
    Ok(kb)
}

/// What `measure` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub before: u32,
    pub after: u32,
    /// Seconds from the end of the execution to its last violation, when the
    /// violations stopped well before the window ended (0 when there were none).
    pub stabilized_seconds: Option<u32>,
    /// Length of each compared window.
    pub window_ms: Millis,
}

/// Violations of `policy` in equal windows before and after an execution that ran
/// from `started` to `finished`, judged `stabilization_ms` after it finished.
///
/// The first `grace` after the execution (two evaluation intervals: values already
/// scraped and queued when it finished) belongs to neither window, so each window
/// is `stabilization - grace` long: before is `[started - L, started)`, after is
/// `[finished + grace, finished + grace + L)`, which ends at the judgment time.
pub fn measure(
    policy: &ViolationPolicy,
    started: Millis,
    finished: Millis,
    stabilization_ms: Millis,
) -> Measured {
    let interval_ms = std::time::Duration::from(policy.spec.evaluation_interval).as_millis() as i64;
    let mut grace = 2 * interval_ms;
    if grace * 2 > stabilization_ms {
        grace = stabilization_ms / 2;
    }
    let window_ms = stabilization_ms - grace;
    let times: Vec<Millis> = policy
        .status
        .iter()
        .flat_map(|s| s.recent_violations.iter())
        .map(|v| v.time.0.as_millisecond())
        .collect();
    let count =
        |from: Millis, to: Millis| times.iter().filter(|t| **t >= from && **t < to).count() as u32;
    let before = count(started.saturating_sub(window_ms), started);
    let after_start = finished.saturating_add(grace);
    let end = after_start.saturating_add(window_ms);
    let after = count(after_start, end);
    let last = times
        .iter()
        .copied()
        .filter(|t| *t >= finished && *t < end)
        .max();
    // Still violating near the end of the window: it has not stabilized.
    let stabilized_seconds = match last {
        None => Some(0),
        Some(t) if end.saturating_sub(t) > grace => Some(((t - finished) / 1000) as u32),
        Some(_) => None,
    };
    Measured {
        before,
        after,
        stabilized_seconds,
        window_ms,
    }
}

/// Runs the controller until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    policies: Store<ViolationPolicy>,
    plans: Store<RemediationPolicy>,
    knowledge: Arc<RwLock<KnowledgeBase>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        let started = std::time::Instant::now();
        let all = plans.state();
        update_success_rate(&ctx, &all);
        for rp in all {
            if let Err(e) = reconcile(&ctx, &policies, &rp, &knowledge).await {
                ctx.metrics.reconciled("knowledge", 0.0, true);
                tracing::warn!(plan = %rp.name_any(), error = %e, "cannot record the outcome");
            }
        }
        ctx.metrics
            .phase("knowledge", started.elapsed().as_secs_f64());
    }
}

fn update_success_rate(ctx: &Context, plans: &[Arc<RemediationPolicy>]) {
    let finished: Vec<ExecutionPhase> = plans
        .iter()
        .filter_map(|p| p.status.as_ref())
        .filter(|s| s.approval == ApprovalState::Approved && s.phase.is_finished())
        .map(|s| s.phase)
        .collect();
    if !finished.is_empty() {
        let completed = finished
            .iter()
            .filter(|p| **p == ExecutionPhase::Completed)
            .count();
        ctx.metrics
            .execution_success_rate
            .set(completed as f64 / finished.len() as f64);
    }
}

async fn reconcile(
    ctx: &Context,
    policies: &Store<ViolationPolicy>,
    rp: &RemediationPolicy,
    knowledge: &RwLock<KnowledgeBase>,
) -> Result<(), kube::Error> {
    let Some(status) = &rp.status else {
        return Ok(());
    };
    if status.phase != ExecutionPhase::Completed {
        return Ok(());
    }
    let Some(execution) = &status.execution else {
        return Ok(());
    };
    let (Some(started), Some(finished)) = (&execution.started_at, &execution.finished_at) else {
        return Ok(());
    };
    let (started, finished) = (started.0.as_millisecond(), finished.0.as_millisecond());
    let window_ms = ctx.settings.stabilization_window.as_millis() as i64;
    let now = ctx.clock.now_ms();
    if now < finished.saturating_add(window_ms) {
        return Ok(());
    }
    let namespace = rp.namespace().unwrap_or_else(|| "default".into());
    let api: Api<PolicyOutcome> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = rp.name_any();
    if api.get_opt(&name).await?.is_some() {
        return Ok(());
    }
    let Some(policy) = policies.state().into_iter().find(|p| {
        p.namespace().as_deref() == Some(namespace.as_str()) && p.name_any() == rp.spec.plan.policy
    }) else {
        return Ok(());
    };

    let Measured {
        before,
        after,
        stabilized_seconds: stabilized,
        window_ms: compared_ms,
    } = measure(&policy, started, finished, window_ms);
    // Judged on a scratch copy: the statistics learn it only once it is stored.
    let record = KnowledgeBase::new().record_outcome(
        &name,
        &rp.spec.plan,
        Some(before),
        Some(after),
        stabilized,
        now,
    );
    let mut outcome = PolicyOutcome::new(
        &name,
        PolicyOutcomeSpec {
            outcome: record.clone(),
            window_seconds: (compared_ms / 1000) as u64,
        },
    );
    outcome.metadata.namespace = Some(namespace.clone());
    outcome.metadata.owner_references = rp.controller_owner_ref(&()).map(|r| vec![r]);
    match api.create(&PostParams::default(), &outcome).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
        Err(e) => return Err(e),
    }
    knowledge
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .record(&record);
    ctx.metrics.reconciled("knowledge", 0.0, false);
    ctx.metrics
        .outcomes
        .get_or_create(&OutcomeLabels {
            outcome: format!("{:?}", record.outcome),
        })
        .inc();
    if let Some(s) = stabilized {
        ctx.metrics.time_to_stabilization.observe(f64::from(s));
    }
    let insight = {
        let kb = knowledge.read().unwrap_or_else(|e| e.into_inner());
        kb.generate_insights()
            .into_iter()
            .find(|i| {
                i.root_cause == record.root_cause && record.action_types.contains(&i.action_type)
            })
            .map(|i| i.message)
    };
    let note = format!(
        "{:?}: {before} violations before, {after} after{}",
        record.outcome,
        insight
            .map(|i| format!(". Learned: {i}"))
            .unwrap_or_default()
    );
    tracing::info!(plan = %name, outcome = ?record.outcome, before, after, "recorded the outcome");
    let event = Event {
        type_: if matches!(
            record.outcome,
            OutcomeType::Degradation | OutcomeType::Ineffective
        ) {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: "OutcomeRecorded".into(),
        note: Some(note),
        action: "Learn".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &rp.object_ref(&())).await {
        tracing::debug!(error = %e, "cannot publish an event");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{RecordedViolation, ViolationPolicySpec, ViolationPolicyStatus};
    use crate::monitor::time;

    fn policy(violation_secs: &[i64]) -> ViolationPolicy {
        let spec: ViolationPolicySpec = serde_json::from_value(serde_json::json!({
            "targetRef": {"name": "web"}, "query": "q", "condition": {"threshold": 1.0},
            "evaluationInterval": "10s"
        }))
        .unwrap();
        let mut p = ViolationPolicy::new("p", spec);
        p.status = Some(ViolationPolicyStatus {
            recent_violations: violation_secs
                .iter()
                .map(|s| RecordedViolation {
                    id: format!("p-{s}"),
                    time: time(s * 1000),
                    value: 2.0,
                    threshold: 1.0,
                })
                .collect(),
            ..ViolationPolicyStatus::default()
        });
        p
    }

    #[test]
    fn counts_equal_windows_before_and_after_a_grace_period() {
        // Interval 10 s, so a grace of 20 s; stabilization 100 s, so windows of 80 s.
        // Execution from 1000 s to 1010 s: before is [920, 1000), after is [1030, 1110).
        let p = policy(&[850, 919, 920, 950, 999, 1000, 1005, 1020, 1030, 1040]);
        let m = measure(&p, 1_000_000, 1_010_000, 100_000);
        assert_eq!((m.before, m.after, m.window_ms), (3, 2, 80_000));
        // The last violation at 1040 s is 70 s before the end (more than the grace).
        assert_eq!(m.stabilized_seconds, Some(30));
    }

    #[test]
    fn still_violating_at_the_end_has_not_stabilized() {
        let p = policy(&[990, 1100]);
        let m = measure(&p, 1_000_000, 1_010_000, 100_000);
        assert_eq!((m.before, m.after, m.stabilized_seconds), (1, 1, None));
        let quiet = policy(&[990]);
        let m = measure(&quiet, 1_000_000, 1_010_000, 100_000);
        assert_eq!((m.before, m.after, m.stabilized_seconds), (1, 0, Some(0)));
    }
}
