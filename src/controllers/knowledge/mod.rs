//! The Knowledge controller: a stabilization window after a plan's execution
//! completes, it counts the policy's violations in equal windows before and after
//! the execution, writes a PolicyOutcome and adds it to the learned statistics the
//! planner uses. A plan whose execution failed and was rolled back gets its
//! PolicyOutcome (`RolledBack`, with the reason) at once, learned as a failure. At start-up the statistics are rebuilt from the PolicyOutcome
//! objects, so a restart loses nothing.

use std::sync::{Arc, RwLock};

use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::Context;
use crate::metrics::OutcomeLabels;
use mapek_api::{
    ApprovalState, ExecutionPhase, PolicyOutcome, PolicyOutcomeSpec, RemediationPolicy,
    ViolationPolicy,
};
use mapek_engine::knowledge::KnowledgeBase;
use mapek_engine::model::{Millis, OutcomeType};

/// Rebuilds the learned statistics from every PolicyOutcome the operator can see.
pub async fn load(ctx: &Context, namespace: Option<&str>) -> Result<KnowledgeBase, kube::Error> {
    let api: Api<PolicyOutcome> = super::scoped_api(&ctx.client, namespace);
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
    let mut settled = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        let started = std::time::Instant::now();
        let all = plans.state();
        update_success_rate(&ctx, &all);
        let window_ms = ctx.settings.stabilization_window.as_millis() as i64;
        for rp in all {
            let key = rp.uid().unwrap_or_else(|| rp.name_any());
            if settled.contains(&key) {
                continue;
            }
            match reconcile(&ctx, &policies, &rp, &knowledge).await {
                // Past its window and with its policy known, a plan's outcome is
                // stored (now or before): do not ask the API about it again.
                Ok(())
                    if judged_at(&rp, window_ms).is_some_and(|t| ctx.clock.now_ms() >= t)
                        && policy_known(&policies, &rp) =>
                {
                    settled.insert(key);
                }
                Ok(()) => {}
                Err(e) => {
                    ctx.metrics.reconciled("knowledge", 0.0, true);
                    tracing::warn!(plan = %rp.name_any(), error = %e, "cannot record the outcome");
                }
            }
        }
        ctx.metrics
            .phase("knowledge", started.elapsed().as_secs_f64());
    }
}

/// When a plan's outcome is judged: a stabilization window (`window_ms`) after a
/// Completed execution finished, at once for a RolledBack one. `None` for plans
/// that are neither.
fn judged_at(rp: &RemediationPolicy, window_ms: Millis) -> Option<Millis> {
    let status = rp.status.as_ref()?;
    let finished = status.execution.as_ref()?.finished_at.as_ref()?;
    let finished = finished.0.as_millisecond();
    match status.phase {
        ExecutionPhase::Completed => Some(finished.saturating_add(window_ms)),
        ExecutionPhase::RolledBack => Some(finished),
        _ => None,
    }
}

/// Whether the plan's ViolationPolicy is in the watch cache.
fn policy_known(policies: &Store<ViolationPolicy>, rp: &RemediationPolicy) -> bool {
    let namespace = rp.namespace();
    policies
        .state()
        .iter()
        .any(|p| p.namespace() == namespace && p.name_any() == rp.spec.plan.policy)
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
    let window_ms = ctx.settings.stabilization_window.as_millis() as i64;
    let now = ctx.clock.now_ms();
    if judged_at(rp, window_ms).is_none_or(|t| now < t) {
        return Ok(());
    }
    let Some(execution) = &status.execution else {
        return Ok(());
    };
    let (Some(started), Some(finished)) = (&execution.started_at, &execution.finished_at) else {
        return Ok(());
    };
    let (started, finished) = (started.0.as_millisecond(), finished.0.as_millisecond());
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

    // Judged on a scratch copy: the statistics learn it only once it is stored.
    let (record, compared_ms, before, after, stabilized) =
        if status.phase == ExecutionPhase::RolledBack {
            let record = KnowledgeBase::new().record_rolled_back(
                &name,
                &rp.spec.plan,
                execution.error.clone(),
                now,
            );
            (record, 0, 0, 0, None)
        } else {
            let Measured {
                before,
                after,
                stabilized_seconds,
                window_ms: compared_ms,
            } = measure(&policy, started, finished, window_ms);
            let record = KnowledgeBase::new().record_outcome(
                &name,
                &rp.spec.plan,
                Some(before),
                Some(after),
                stabilized_seconds,
                now,
            );
            (record, compared_ms, before, after, stabilized_seconds)
        };
    let mut outcome = PolicyOutcome::new(
        &name,
        PolicyOutcomeSpec {
            outcome: record.clone(),
            window_seconds: (compared_ms / 1000) as u64,
            approved_by: status.approved_by.clone(),
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
    let counts = match &record.detail {
        Some(detail) => detail.clone(),
        None => format!("{before} violations before, {after} after"),
    };
    let note = format!(
        "{:?}: {counts}{}",
        record.outcome,
        insight
            .map(|i| format!(". Learned: {i}"))
            .unwrap_or_default()
    );
    tracing::info!(plan = %name, outcome = ?record.outcome, before, after, "recorded the outcome");
    let event = Event {
        type_: if matches!(
            record.outcome,
            OutcomeType::Degradation | OutcomeType::Ineffective | OutcomeType::RolledBack
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
    use crate::controllers::monitor::decide::time;
    use mapek_api::{RecordedViolation, ViolationPolicySpec, ViolationPolicyStatus};

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

    // Request-sequence tests against the scripted API server.

    use kube::runtime::reflector;
    use kube::runtime::watcher;
    use serde_json::json;

    use crate::controllers::executor::decide::fixtures;
    use crate::controllers::testing::*;
    use mapek_api::{PolicyExecution, RemediationPolicyStatus};
    use mapek_engine::model::{ActionType, RootCauseKind};

    const OUTCOMES: &str = "/apis/mapek.io/v1alpha1/namespaces/default/policyoutcomes";
    const OUTCOME: &str = "/apis/mapek.io/v1alpha1/namespaces/default/policyoutcomes/fix-web";
    /// When the execution started; it finished 10 s later.
    const STARTED: Millis = 1_714_557_600_000;
    const FINISHED: Millis = STARTED + 10_000;

    /// `fix-web` (one scale-up of `web`, for `web-latency`), Completed from
    /// `STARTED` to `FINISHED`.
    fn completed_plan() -> RemediationPolicy {
        let mut rp = fixtures::plan(vec![fixtures::scale_up("a1", 4)], "Medium");
        rp.metadata.uid = Some("uid-fix-web".into());
        rp.status = Some(RemediationPolicyStatus {
            approval: ApprovalState::Approved,
            phase: ExecutionPhase::Completed,
            execution: Some(PolicyExecution {
                started_at: Some(time(STARTED)),
                finished_at: Some(time(FINISHED)),
                ..PolicyExecution::default()
            }),
            ..RemediationPolicyStatus::default()
        });
        rp
    }

    /// `web-latency` (evaluated every 30 s, so a grace of 60 s and windows of 60 s
    /// with the default 120 s stabilization) with violations 50, 30 and 10 s before
    /// the execution and none after.
    fn policies() -> Store<ViolationPolicy> {
        let mut p = fixtures::policy("Manual");
        p.status = Some(ViolationPolicyStatus {
            recent_violations: [50, 30, 10]
                .iter()
                .map(|s| RecordedViolation {
                    id: format!("web-latency-{s}"),
                    time: time(STARTED - s * 1000),
                    value: 0.9,
                    threshold: 0.5,
                })
                .collect(),
            ..ViolationPolicyStatus::default()
        });
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(p));
        store
    }

    /// A stored outcome of `plan` judged from these counts.
    fn outcome_object(
        namespace: &str,
        plan: &RemediationPolicy,
        before: u32,
        after: u32,
    ) -> PolicyOutcome {
        let record = KnowledgeBase::new().record_outcome(
            &plan.name_any(),
            &plan.spec.plan,
            Some(before),
            Some(after),
            None,
            STARTED,
        );
        let mut o = PolicyOutcome::new(
            &plan.name_any(),
            PolicyOutcomeSpec {
                outcome: record,
                window_seconds: 60,
                approved_by: None,
            },
        );
        o.metadata.namespace = Some(namespace.into());
        o
    }

    async fn reconcile_at(
        now: Millis,
        server: Server,
        knowledge: &RwLock<KnowledgeBase>,
    ) -> (Result<(), kube::Error>, Server) {
        let harness = Harness::start(server, now);
        let result = reconcile(&harness.ctx, &policies(), &completed_plan(), knowledge).await;
        (result, harness.finish().await)
    }

    #[tokio::test]
    async fn after_the_window_the_outcome_is_stored_and_learned() {
        let knowledge = RwLock::new(KnowledgeBase::new());
        let (result, server) = reconcile_at(FINISHED + 121_000, Server::empty(), &knowledge).await;
        result.unwrap();
        assert_eq!(
            lines(&server, false),
            [
                format!("GET {OUTCOME}"),
                format!("POST {OUTCOMES}"),
                "EVENT Normal OutcomeRecorded".to_string(),
            ]
        );
        assert_eq!(server.seen[0].code, 404);
        assert_eq!(server.seen[1].code, 201);
        let posted = &server.seen[1].body;
        assert_eq!(posted["metadata"]["name"], "fix-web");
        assert_eq!(posted["metadata"]["namespace"], "default");
        let owner = &posted["metadata"]["ownerReferences"][0];
        assert_eq!(
            (&owner["kind"], &owner["name"], &owner["uid"]),
            (
                &json!("RemediationPolicy"),
                &json!("fix-web"),
                &json!("uid-fix-web")
            )
        );
        let spec = &posted["spec"];
        assert_eq!(spec["outcome"], "Success");
        assert_eq!(spec["violationsBefore"], 3);
        assert_eq!(spec["violationsAfter"], 0);
        assert_eq!(spec["rootCause"], "LoadSpike");
        assert_eq!(spec["actionTypes"], json!(["SCALE_UP"]));
        assert_eq!(spec["planName"], "fix-web");
        assert_eq!(
            spec["planHash"],
            json!(completed_plan().spec.plan.plan_hash)
        );
        assert_eq!(spec["windowSeconds"], 60);
        assert_eq!(spec["recordedAtMs"], FINISHED + 121_000);
        let event = &server.seen[2].body;
        assert_eq!(event["regarding"]["name"], "fix-web");
        assert!(
            event["note"]
                .as_str()
                .unwrap()
                .starts_with("Success: 3 violations before, 0 after"),
            "{event}"
        );

        let kb = knowledge.read().unwrap();
        assert_eq!(kb.patterns().count(), 1);
        let pattern = kb
            .pattern(RootCauseKind::LoadSpike, ActionType::ScaleUp)
            .unwrap();
        assert_eq!((pattern.successes, pattern.trials()), (1, 1));
    }

    #[tokio::test]
    async fn an_outcome_already_stored_is_neither_written_nor_learned_again() {
        let mut server = Server::empty();
        server.insert(OUTCOME, &outcome_object("default", &completed_plan(), 3, 0));
        // What the statistics held before: something else entirely.
        let mut other = completed_plan();
        other.metadata.name = Some("fix-other".into());
        let earlier =
            KnowledgeBase::from_outcomes([&outcome_object("default", &other, 4, 4).spec.outcome]);
        let knowledge = RwLock::new(earlier.clone());
        let (result, server) = reconcile_at(FINISHED + 121_000, server, &knowledge).await;
        result.unwrap();
        assert_eq!(lines(&server, false), [format!("GET {OUTCOME}")]);
        assert_eq!(server.seen[0].code, 200);
        assert_eq!(*knowledge.read().unwrap(), earlier);
    }

    #[tokio::test]
    async fn within_the_window_nothing_is_asked() {
        let knowledge = RwLock::new(KnowledgeBase::new());
        let (result, server) = reconcile_at(FINISHED + 119_000, Server::empty(), &knowledge).await;
        result.unwrap();
        assert!(server.seen.is_empty(), "{:?}", lines(&server, false));
        assert_eq!(knowledge.read().unwrap().patterns().count(), 0);
    }

    #[tokio::test]
    async fn load_rebuilds_the_statistics_from_the_listed_outcomes() {
        let mut server = Server::empty();
        server.insert(OUTCOME, &outcome_object("default", &completed_plan(), 3, 0));
        let mut db = completed_plan();
        db.metadata.name = Some("fix-db".into());
        db.spec.plan.root_cause = RootCauseKind::ChronicOverload;
        server.insert(
            "/apis/mapek.io/v1alpha1/namespaces/prod/policyoutcomes/fix-db",
            &outcome_object("prod", &db, 4, 4),
        );
        let harness = Harness::start(server, STARTED);
        let default_only = load(&harness.ctx, Some("default")).await.unwrap();
        let all = load(&harness.ctx, None).await.unwrap();
        let server = harness.finish().await;
        assert_eq!(
            lines(&server, false),
            [
                format!("GET {OUTCOMES}"),
                "GET /apis/mapek.io/v1alpha1/policyoutcomes".to_string(),
            ]
        );

        assert_eq!(default_only.patterns().count(), 1);
        let p = default_only
            .pattern(RootCauseKind::LoadSpike, ActionType::ScaleUp)
            .unwrap();
        assert_eq!((p.successes, p.trials()), (1, 1));

        assert_eq!(all.patterns().count(), 2);
        let p = all
            .pattern(RootCauseKind::ChronicOverload, ActionType::ScaleUp)
            .unwrap();
        assert_eq!((p.ineffective, p.trials()), (1, 1));
        assert_eq!(
            all.pattern(RootCauseKind::LoadSpike, ActionType::ScaleUp),
            default_only.pattern(RootCauseKind::LoadSpike, ActionType::ScaleUp)
        );
    }
}
