//! The Analyzer controller: over the violations of the ViolationPolicies of a
//! namespace it runs the engine's analysis and planning, and writes each plan as a
//! Pending RemediationPolicy unless an open plan already covers the Deployment or
//! the Deployment is in cooldown. It runs when the monitor records a violation, and
//! on a timer. (Plans nobody approves in time are expired by the executor, which
//! owns every RemediationPolicy's status once it exists.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use super::Context;
use mapek_api::{
    ApprovalState, Evidence, ExecutionPhase, MAX_EVIDENCE_VIOLATIONS, RemediationPolicy,
    RemediationPolicySpec, RemediationPolicyStatus, ViolationPolicy,
};
use mapek_engine::knowledge::KnowledgeBase;
use mapek_engine::model::PolicyInfo;
use mapek_engine::model::{
    AnalysisResult, ContextKind, ContextSample, MetricSample, Millis, RemediationPlan, Violation,
};
use mapek_engine::{AnalyzerConfig, PatternAnalyzer, PlanTarget, Planner, PlannerConfig};

/// Runs the analyzer until `shutdown` completes: on every namespace the monitor
/// sends, and over all namespaces every evaluation interval.
pub async fn run(
    ctx: Arc<Context>,
    policies: Store<ViolationPolicy>,
    plans: Store<RemediationPolicy>,
    knowledge: Arc<RwLock<KnowledgeBase>>,
    mut wake: mpsc::Receiver<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(ctx.settings.default_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        let namespaces: BTreeSet<String> = tokio::select! {
            _ = &mut shutdown => return,
            Some(ns) = wake.recv() => {
                let mut set = BTreeSet::from([ns]);
                while let Ok(more) = wake.try_recv() {
                    set.insert(more);
                }
                set
            }
            _ = ticker.tick() => policies.state().iter().filter_map(|p| p.namespace()).collect(),
        };
        for ns in namespaces {
            let started = std::time::Instant::now();
            let result = analyze_namespace(&ctx, &policies, &plans, &knowledge, &ns).await;
            let seconds = started.elapsed().as_secs_f64();
            ctx.metrics.reconciled("analyzer", seconds, result.is_err());
            if let Err(e) = result {
                tracing::warn!(namespace = %ns, error = %e, "analysis failed");
            }
        }
    }
}

/// The engine's view of one policy's recorded violations: those from before
/// `since` (the end of the last execution on its target) are left out, as they
/// were already acted on.
pub fn engine_violations(policy: &ViolationPolicy, since: Millis) -> Vec<Violation> {
    let name = policy.name_any();
    let spec = &policy.spec;
    let target = &spec.target_ref.name;
    let Some(status) = &policy.status else {
        return Vec::new();
    };
    status
        .recent_violations
        .iter()
        .filter(|v| v.time.0.as_millisecond() > since)
        .map(|v| Violation {
            id: v.id.as_str().into(),
            policy: name.clone(),
            target: target.clone(),
            component: spec.component.clone().unwrap_or_else(|| target.clone()),
            metric: spec.metric.clone().unwrap_or_else(|| name.clone()),
            severity: spec.severity,
            value: v.value,
            threshold: v.threshold,
            at_ms: v.time.0.as_millisecond(),
        })
        .collect()
}

/// The engine's view of one policy's samples: every value the monitor holds for
/// its query, the policy's normal behaviour the engine judges a breach against.
/// A status written by an earlier version may still carry `recentSamples`: they
/// count until the monitor's memory holds as many.
pub fn engine_samples(policy: &ViolationPolicy, points: &[(Millis, f64)]) -> Vec<MetricSample> {
    let name = policy.name_any();
    let legacy = policy
        .status
        .as_ref()
        .map_or(&[][..], |s| s.recent_samples.as_slice());
    if legacy.len() > points.len() {
        return legacy
            .iter()
            .map(|s| MetricSample {
                policy: name.clone(),
                at_ms: s.time.0.as_millisecond(),
                value: s.value,
            })
            .collect();
    }
    points
        .iter()
        .map(|&(at_ms, value)| MetricSample {
            policy: name.clone(),
            at_ms,
            value,
        })
        .collect()
}

/// The engine's view of one of a policy's context queries: every value the
/// monitor holds for it.
pub fn context_samples(
    policy: &ViolationPolicy,
    kind: ContextKind,
    points: &[(Millis, f64)],
) -> Vec<ContextSample> {
    let name = policy.name_any();
    points
        .iter()
        .map(|&(at_ms, value)| ContextSample {
            policy: name.clone(),
            kind,
            at_ms,
            value,
        })
        .collect()
}

/// The engine's view of a policy's condition and evaluation interval.
pub fn policy_info(policy: &ViolationPolicy) -> PolicyInfo {
    let c = &policy.spec.condition;
    PolicyInfo {
        name: policy.name_any(),
        operator: c.operator,
        threshold: c.threshold,
        interval_ms: Some(
            std::time::Duration::from(policy.spec.evaluation_interval).as_millis() as Millis,
        ),
        for_ms: c
            .for_
            .map_or(0, |d| std::time::Duration::from(d).as_millis() as Millis),
    }
}

/// A shared cause (same-instant breaches across Deployments sharing a metric) is
/// not acted on: it is counted in a metric and reported as a Warning Event on each
/// policy involved.
async fn report_shared_causes(
    ctx: &Context,
    policies: &[Arc<ViolationPolicy>],
    analysis: &mapek_engine::model::AnalysisResult,
) {
    for cause in &analysis.shared_causes {
        ctx.metrics.shared_causes.inc();
        for name in &cause.policies {
            let Some(p) = policies.iter().find(|p| &p.name_any() == name) else {
                continue;
            };
            tracing::info!(policy = %name, metric = %cause.metric, "shared cause; no plan");
            let event = Event {
                type_: EventType::Warning,
                reason: "SharedCause".into(),
                note: Some(cause.description.clone()),
                action: "Analyze".into(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &p.object_ref(&())).await {
                tracing::debug!(error = %e, "cannot publish an event");
            }
        }
    }
}

/// Whether a plan is still open: waiting for approval, or approved and not finished.
pub fn is_open(plan: &RemediationPolicy) -> bool {
    let Some(status) = &plan.status else {
        return true;
    };
    match status.approval {
        ApprovalState::Pending => true,
        ApprovalState::Approved => !status.phase.is_finished(),
        ApprovalState::Rejected | ApprovalState::Expired => false,
    }
}

/// When a plan was closed, if it was: its execution finished, or it was rejected
/// or expired.
fn closed_at(plan: &RemediationPolicy) -> Option<Millis> {
    let status = plan.status.as_ref()?;
    match status.approval {
        ApprovalState::Rejected | ApprovalState::Expired => status
            .conditions
            .iter()
            .find(|c| c.type_ == crate::controllers::executor::decide::APPROVED)
            .map(|c| c.last_transition_time.0.as_millisecond()),
        _ => status
            .execution
            .as_ref()?
            .finished_at
            .as_ref()
            .map(|t| t.0.as_millisecond()),
    }
}

/// What a namespace's plans say about one Deployment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetPlans {
    /// A plan for it waits for approval or runs.
    pub open: bool,
    /// When its last plan was closed. Violations before that are not evidence
    /// for a new plan, and the policy's cooldown counts from it, so a rejected
    /// plan is not proposed again at once on the same evidence.
    pub last_closed: Option<Millis>,
}

/// The plans of `namespace` by the Deployment they target, in one pass.
pub fn by_target<'a>(
    plans: &'a [Arc<RemediationPolicy>],
    namespace: &str,
) -> HashMap<&'a str, TargetPlans> {
    let mut targets: HashMap<&str, TargetPlans> = HashMap::new();
    for p in plans {
        if p.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let t = targets.entry(p.spec.plan.target.as_str()).or_default();
        t.open |= is_open(p);
        t.last_closed = t.last_closed.max(closed_at(p));
    }
    targets
}

/// The policies of `namespace` that may get a plan now, each with the time from
/// which its violations count (the last plan's close): their Deployment has no
/// open plan and is out of the policy's cooldown. Only their violations are
/// analyzed: a Deployment already being handled would otherwise keep its place
/// among the strongest patterns (the engine keeps the top few of each type) and
/// crowd out the others, so that with many policies firing at once only a few
/// would get plans.
pub fn plan_candidates(
    in_ns: &[Arc<ViolationPolicy>],
    all_plans: &[Arc<RemediationPolicy>],
    namespace: &str,
    now: Millis,
) -> Vec<(Arc<ViolationPolicy>, Millis)> {
    let targets = by_target(all_plans, namespace);
    in_ns
        .iter()
        .filter_map(|p| {
            let t = targets
                .get(p.spec.target_ref.name.as_str())
                .copied()
                .unwrap_or_default();
            let cooldown =
                std::time::Duration::from(p.spec.remediation.cooldown).as_millis() as i64;
            let cooled = t
                .last_closed
                .is_none_or(|done| now >= done.saturating_add(cooldown));
            (!t.open && cooled).then(|| (p.clone(), t.last_closed.unwrap_or(i64::MIN)))
        })
        .collect()
}

/// The RemediationPolicy object for a plan.
pub fn plan_object(
    policy: &ViolationPolicy,
    plan: RemediationPlan,
    analysis: &AnalysisResult,
) -> RemediationPolicy {
    let causes: Vec<_> = analysis
        .root_causes
        .iter()
        .filter(|c| c.target == plan.target)
        .cloned()
        .collect();
    let supporting: BTreeSet<usize> = causes
        .iter()
        .filter(|c| c.kind == plan.root_cause)
        .flat_map(|c| c.supporting_patterns.iter().copied())
        .collect();
    let patterns: Vec<_> = supporting
        .iter()
        .filter_map(|i| analysis.patterns.get(*i).cloned())
        .collect();
    let mut violations: Vec<String> = patterns
        .iter()
        .flat_map(|p| p.evidence.iter().map(|id| id.as_str().to_owned()))
        .collect();
    violations.sort();
    violations.dedup();
    violations.truncate(MAX_EVIDENCE_VIOLATIONS);
    let plan_target = plan.target.to_string();
    let name = format!(
        "{}-{}",
        plan.target,
        &plan.plan_hash[..plan.plan_hash.len().min(10)]
    );
    let mut rp = RemediationPolicy::new(
        &name,
        RemediationPolicySpec {
            plan,
            evidence: Evidence {
                violations_analyzed: analysis.violations_analyzed as u64,
                violations,
                patterns,
                root_causes: causes,
                breaches: analysis
                    .breaches
                    .iter()
                    .filter(|b| b.target == plan_target)
                    .take(20)
                    .cloned()
                    .collect(),
            },
        },
    );
    rp.metadata.namespace = policy.namespace();
    rp.metadata.owner_references = policy.controller_owner_ref(&()).map(|r| vec![r]);
    rp.metadata.labels = Some(BTreeMap::from([
        (
            "mapek.io/target".to_string(),
            rp.spec.plan.target.to_string(),
        ),
        ("mapek.io/policy".to_string(), policy.name_any()),
    ]));
    rp
}

async fn analyze_namespace(
    ctx: &Context,
    policies: &Store<ViolationPolicy>,
    plans: &Store<RemediationPolicy>,
    knowledge: &RwLock<KnowledgeBase>,
    namespace: &str,
) -> Result<(), kube::Error> {
    let now = ctx.clock.now_ms();
    let in_ns: Vec<Arc<ViolationPolicy>> = policies
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace))
        .collect();
    let all_plans = plans.state();
    let candidates = plan_candidates(&in_ns, &all_plans, namespace, now);

    let started = std::time::Instant::now();
    let mut violations = Vec::new();
    for (p, since) in &candidates {
        violations.extend(engine_violations(p, *since));
    }
    if violations.is_empty() {
        return Ok(());
    }
    // The engine runs on a blocking thread: over a namespace of many policies
    // with hours of samples each it takes long enough to hold up the other
    // controllers. Samples are copied only when there is something to judge.
    let history = ctx.history.clone();
    let interval = ctx.settings.default_interval;
    let judged: Vec<Arc<ViolationPolicy>> = candidates.iter().map(|(p, _)| p.clone()).collect();
    let analysis = tokio::task::spawn_blocking(move || {
        let mut samples = Vec::new();
        let mut context = Vec::new();
        let mut infos = Vec::with_capacity(judged.len());
        for p in &judged {
            let key = crate::controllers::monitor::history_key(p, interval);
            samples.extend(engine_samples(p, &history.points(&key)));
            for (kind, key) in crate::controllers::monitor::context_keys(p, interval) {
                context.extend(context_samples(p, kind, &history.points(&key)));
            }
            infos.push(policy_info(p));
        }
        PatternAnalyzer::new(AnalyzerConfig::default()).analyze_with_context(
            &violations,
            &samples,
            &context,
            &infos,
            now,
        )
    })
    .await;
    let analysis = match analysis {
        Ok(analysis) => analysis,
        Err(e) => {
            tracing::error!(namespace = %namespace, error = %e, "the analysis did not finish; no plan");
            return Ok(());
        }
    };
    report_shared_causes(ctx, &in_ns, &analysis).await;
    ctx.metrics
        .phase("analyze", started.elapsed().as_secs_f64());
    for p in &analysis.patterns {
        ctx.metrics
            .patterns_detected
            .get_or_create(&crate::metrics::PatternLabels {
                pattern_type: format!("{:?}", p.pattern_type),
            })
            .inc();
    }

    // Every candidate is free of open plans and out of cooldown.
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let mut targets = Vec::new();
    for (p, _) in &candidates {
        let target = &p.spec.target_ref.name;
        if !analysis
            .root_causes
            .iter()
            .any(|c| c.policy == p.name_any())
        {
            continue;
        }
        let Some(deployment) = deployments.get_opt(target).await? else {
            tracing::debug!(policy = %p.name_any(), target = %target, "target Deployment not found; no plan");
            continue;
        };
        targets.push(PlanTarget {
            policy: p.name_any().into(),
            deployment: target.as_str().into(),
            current_replicas: deployment.spec.replicas.unwrap_or(1),
            severity: p.spec.severity,
            envelope: p.spec.remediation.envelope.clone(),
        });
    }
    if targets.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let generated = {
        let kb = knowledge.read().unwrap_or_else(|e| e.into_inner());
        Planner::new(PlannerConfig::default()).generate_plans(&analysis, &targets, &kb)
    };
    ctx.metrics.phase("plan", started.elapsed().as_secs_f64());

    let api: Api<RemediationPolicy> = Api::namespaced(ctx.client.clone(), namespace);
    for plan in generated {
        let Some(policy) = in_ns.iter().find(|p| p.name_any() == plan.policy) else {
            continue;
        };
        let rp = plan_object(policy, plan, &analysis);
        let name = rp.name_any();
        let created = match api.create(&PostParams::default(), &rp).await {
            Ok(created) => created,
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // The same plan (same hash) was proposed before and is closed.
                tracing::debug!(plan = %name, "an identical plan exists; not proposing it again");
                continue;
            }
            Err(e) => return Err(e),
        };
        let status = RemediationPolicyStatus {
            approval: ApprovalState::Pending,
            phase: ExecutionPhase::Pending,
            ..RemediationPolicyStatus::default()
        };
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await?;
        ctx.metrics.policies_generated.inc();
        tracing::info!(plan = %name, target = %rp.spec.plan.target, root_cause = ?rp.spec.plan.root_cause, "proposed a remediation plan");
        let note = format!(
            "{:?} on {} (confidence {:.2}): {}. Approve with: kubectl annotate remediationpolicy {name} -n {namespace} mapek.io/approve={}",
            rp.spec.plan.root_cause,
            rp.spec.plan.target,
            rp.spec.plan.confidence,
            rp.spec
                .plan
                .actions
                .iter()
                .map(mapek_engine::report::describe_action)
                .collect::<Vec<_>>()
                .join(", "),
            rp.spec.plan.plan_hash
        );
        let event = Event {
            type_: EventType::Normal,
            reason: "PlanProposed".into(),
            note: Some(note),
            action: "Plan".into(),
            secondary: None,
        };
        // The created object's reference carries its uid, which `kubectl describe`
        // matches Events by.
        let mut rp_ref = created.object_ref(&());
        rp_ref.namespace = Some(namespace.to_string());
        for reference in [rp_ref, policy.object_ref(&())] {
            if let Err(e) = ctx.recorder.publish(&event, &reference).await {
                tracing::debug!(error = %e, "cannot publish an event");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::monitor::decide::time;
    use mapek_api::{
        PolicyExecution, RecordedSample, RecordedViolation, ViolationPolicySpec,
        ViolationPolicyStatus,
    };
    use mapek_engine::model::{Priority, RiskLevel, RootCauseKind};

    fn policy() -> ViolationPolicy {
        let spec: ViolationPolicySpec = serde_json::from_value(json!({
            "targetRef": {"name": "web"}, "query": "q", "condition": {"threshold": 1.0},
            "component": "web-api", "severity": "critical"
        }))
        .unwrap();
        let mut p = ViolationPolicy::new("lat", spec);
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = Some("uid-1".into());
        p.status = Some(ViolationPolicyStatus {
            recent_violations: [10, 20, 30]
                .iter()
                .map(|s| RecordedViolation {
                    id: format!("lat-{s}"),
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
    fn violations_after_the_last_execution_and_every_sample_become_engine_input() {
        let v = engine_violations(&policy(), 15_000);
        let s = engine_samples(&policy(), &[(5_000, 0.5), (15_000, 0.7), (25_000, 2.0)]);
        assert_eq!(
            v.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
            ["lat-20", "lat-30"]
        );
        assert_eq!(
            (
                v[0].component.as_str(),
                v[0].metric.as_str(),
                v[0].target.as_str()
            ),
            ("web-api", "lat", "web")
        );
        assert_eq!(v[0].severity, mapek_engine::model::Severity::Critical);
        // Samples are the policy's behaviour: all of them are kept.
        assert_eq!(
            s.iter()
                .map(|s| (s.policy.as_str(), s.at_ms))
                .collect::<Vec<_>>(),
            [("lat", 5_000), ("lat", 15_000), ("lat", 25_000)]
        );
    }

    #[test]
    fn samples_an_earlier_version_kept_in_status_count_until_memory_holds_as_many() {
        let mut p = policy();
        p.status.as_mut().unwrap().recent_samples = vec![
            RecordedSample {
                time: time(5_000),
                value: 0.5,
            },
            RecordedSample {
                time: time(25_000),
                value: 2.0,
            },
        ];
        let at = |s: Vec<MetricSample>| s.iter().map(|s| s.at_ms).collect::<Vec<_>>();
        assert_eq!(at(engine_samples(&p, &[(30_000, 1.0)])), [5_000, 25_000]);
        assert_eq!(
            at(engine_samples(&p, &[(30_000, 1.0), (40_000, 1.0)])),
            [30_000, 40_000]
        );
    }

    #[test]
    fn policy_info_carries_the_condition_and_interval() {
        let info = policy_info(&policy());
        assert_eq!(info.name, "lat");
        assert_eq!(info.threshold, policy().spec.condition.threshold);
        assert_eq!(
            info.interval_ms,
            Some(std::time::Duration::from(policy().spec.evaluation_interval).as_millis() as i64)
        );
    }

    fn plan(target: &str) -> RemediationPlan {
        RemediationPlan {
            target: target.into(),
            policy: "lat".into(),
            root_cause: RootCauseKind::LoadSpike,
            confidence: 0.8,
            actions: vec![],
            expected_impact: String::new(),
            risk: RiskLevel::Low,
            priority: Priority::High,
            cost: 0.15,
            benefit: 0.5,
            score: 0.35,
            plan_hash: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn open_plans_and_last_finished_execution() {
        let mut rp = RemediationPolicy::new(
            "web-1",
            RemediationPolicySpec {
                plan: plan("web"),
                evidence: Evidence::default(),
            },
        );
        rp.metadata.namespace = Some("default".into());
        assert!(is_open(&rp), "no status yet means Pending");
        rp.status = Some(RemediationPolicyStatus {
            approval: ApprovalState::Approved,
            phase: ExecutionPhase::Completed,
            execution: Some(PolicyExecution {
                finished_at: Some(time(42_000)),
                ..PolicyExecution::default()
            }),
            ..RemediationPolicyStatus::default()
        });
        assert!(!is_open(&rp));
        let all = vec![Arc::new(rp)];
        let closed =
            |ns: &str, target: &str| by_target(&all, ns).get(target).and_then(|t| t.last_closed);
        assert_eq!(closed("default", "web"), Some(42_000));
        assert_eq!(closed("default", "other"), None);
        assert_eq!(closed("prod", "web"), None);
    }

    #[test]
    fn only_policies_whose_deployment_is_free_and_cooled_down_are_candidates() {
        let mk = |name: &str, target: &str| {
            let mut p = policy();
            p.metadata.name = Some(name.into());
            p.spec.target_ref.name = target.into();
            p.spec.remediation.cooldown = std::time::Duration::from_secs(60).into();
            Arc::new(p)
        };
        let in_ns = vec![mk("a", "web"), mk("b", "db"), mk("c", "cache")];
        let plan_for = |target: &str, status: Option<RemediationPolicyStatus>| {
            let mut rp = RemediationPolicy::new(
                &format!("{target}-plan"),
                RemediationPolicySpec {
                    plan: plan(target),
                    evidence: Evidence::default(),
                },
            );
            rp.metadata.namespace = Some("default".into());
            rp.status = status;
            Arc::new(rp)
        };
        let finished_at = |ms| {
            Some(RemediationPolicyStatus {
                approval: ApprovalState::Approved,
                phase: ExecutionPhase::Completed,
                execution: Some(PolicyExecution {
                    finished_at: Some(time(ms)),
                    ..PolicyExecution::default()
                }),
                ..RemediationPolicyStatus::default()
            })
        };
        // web: a Pending plan; db: finished at 100 s, cooldown 60 s.
        let plans = vec![plan_for("web", None), plan_for("db", finished_at(100_000))];
        let names = |now| -> Vec<String> {
            plan_candidates(&in_ns, &plans, "default", now)
                .iter()
                .map(|(p, _)| p.name_any())
                .collect()
        };
        assert_eq!(names(150_000), ["c"]);
        assert_eq!(names(160_000), ["b", "c"]);
        // Violations count from the last close of the Deployment's plans.
        let since: Vec<Millis> = plan_candidates(&in_ns, &plans, "default", 160_000)
            .iter()
            .map(|(_, since)| *since)
            .collect();
        assert_eq!(since, [100_000, i64::MIN]);
        // Plans of another namespace do not count.
        assert_eq!(plan_candidates(&in_ns, &plans, "prod", 150_000).len(), 3);
    }

    #[test]
    fn a_rejection_closes_a_plan_at_the_time_it_was_rejected() {
        let mut rp = RemediationPolicy::new(
            "web-2",
            RemediationPolicySpec {
                plan: plan("web"),
                evidence: Evidence::default(),
            },
        );
        rp.metadata.namespace = Some("default".into());
        let mut status = RemediationPolicyStatus {
            approval: ApprovalState::Rejected,
            ..RemediationPolicyStatus::default()
        };
        crate::conditions::set(
            &mut status.conditions,
            crate::controllers::executor::decide::APPROVED,
            false,
            "Rejected",
            "no",
            None,
            &time(77_000),
        );
        rp.status = Some(status);
        assert!(!is_open(&rp));
        let all = [Arc::new(rp)];
        assert_eq!(
            by_target(&all, "default")["web"],
            TargetPlans {
                open: false,
                last_closed: Some(77_000)
            }
        );
    }

    #[test]
    fn the_plan_object_is_owned_by_its_policy_and_named_by_target_and_hash() {
        let analysis = AnalysisResult {
            analysis_id: "a".into(),
            violations_analyzed: 3,
            patterns: vec![],
            root_causes: vec![],
            recommendations: vec![],
            confidence_level: 0.8,
            breaches: Vec::new(),
            shared_causes: Vec::new(),
        };
        let rp = plan_object(&policy(), plan("web"), &analysis);
        assert_eq!(rp.name_any(), "web-0123456789");
        assert_eq!(rp.metadata.namespace.as_deref(), Some("default"));
        let owner = &rp.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("ViolationPolicy", "lat", "uid-1")
        );
        assert_eq!(rp.spec.evidence.violations_analyzed, 3);
    }

    // Request-sequence tests against the scripted API server.

    use kube::runtime::reflector;
    use kube::runtime::watcher;

    use crate::controllers::executor::decide::fixtures;
    use crate::controllers::testing::*;
    use mapek_engine::model::ActionType;

    const NOW: Millis = 1_714_557_600_000;
    const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/web";
    const PLANS: &str = "/apis/mapek.io/v1alpha1/namespaces/default/remediationpolicies";

    fn store<K>(objects: Vec<K>) -> Store<K>
    where
        K: kube::Resource + Clone + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        let (store, mut writer) = reflector::store();
        for o in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(o));
        }
        store
    }

    /// `web-latency` on `web` (scale in [1, 6] by at most 2, default cooldown of
    /// 10 min) with a burst: four violations 50 to 20 s ago.
    fn bursting() -> ViolationPolicy {
        let mut p = fixtures::policy("Manual");
        p.metadata.uid = Some("uid-web-latency".into());
        p.status = Some(ViolationPolicyStatus {
            recent_violations: [50, 40, 30, 20]
                .iter()
                .map(|s| RecordedViolation {
                    id: format!("web-latency-{s}"),
                    time: time(NOW - s * 1000),
                    value: 0.9,
                    threshold: 0.5,
                })
                .collect(),
            violation_count: 4,
            ..ViolationPolicyStatus::default()
        });
        p
    }

    /// An earlier plan `fix-web` for `web` with this status.
    fn earlier_plan(status: Option<RemediationPolicyStatus>) -> RemediationPolicy {
        let mut rp = fixtures::plan(vec![fixtures::scale_up("a1", 3)], "Medium");
        rp.status = status;
        rp
    }

    fn finished_at(ms: Millis) -> RemediationPolicyStatus {
        RemediationPolicyStatus {
            approval: ApprovalState::Approved,
            phase: ExecutionPhase::Completed,
            execution: Some(PolicyExecution {
                started_at: Some(time(ms - 10_000)),
                finished_at: Some(time(ms)),
                ..PolicyExecution::default()
            }),
            ..RemediationPolicyStatus::default()
        }
    }

    /// Analyzes `default` with the bursting policy, `web` at 2 replicas and these
    /// plans in the plans store.
    async fn analyze(plans: Vec<RemediationPolicy>) -> Server {
        let mut server = Server::empty();
        server.insert(DEPLOY, &fixtures::deployment(2));
        let harness = Harness::start(server, NOW);
        let knowledge = RwLock::new(KnowledgeBase::new());
        analyze_namespace(
            &harness.ctx,
            &store(vec![bursting()]),
            &store(plans),
            &knowledge,
            "default",
        )
        .await
        .unwrap();
        harness.finish().await
    }

    #[tokio::test]
    async fn a_burst_becomes_one_pending_plan_within_the_envelope() {
        let server = analyze(vec![]).await;
        let posts = requests(&server, "POST", PLANS);
        assert_eq!(posts.len(), 1, "{:?}", lines(&server, false));
        let rp = &posts[0].body;
        let name = rp["metadata"]["name"].as_str().unwrap().to_string();
        let status_path = format!("{PLANS}/{name}/status");
        assert_eq!(
            lines(&server, false),
            [
                format!("GET {DEPLOY}"),
                format!("POST {PLANS}"),
                format!("PATCH {status_path}"),
                "EVENT Normal PlanProposed".to_string(),
                "EVENT Normal PlanProposed".to_string(),
            ]
        );
        assert_eq!(posts[0].code, 201);

        assert_eq!(rp["metadata"]["namespace"], "default");
        let owner = &rp["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ViolationPolicy");
        assert_eq!(owner["name"], "web-latency");
        assert_eq!(owner["uid"], "uid-web-latency");
        // Why now: the policy's judgement travels with the plan.
        let why = &rp["spec"]["evidence"]["breaches"][0];
        assert_eq!(why["policy"], "web-latency");
        assert_eq!(why["actionable"], true);
        assert!(
            why["reason"].as_str().unwrap().starts_with("breaching now"),
            "{why}"
        );
        assert_eq!(owner["controller"], true);
        let spec = &rp["spec"];
        assert_eq!(spec["target"], "web");
        assert_eq!(spec["policy"], "web-latency");
        assert_eq!(spec["rootCause"], "LoadSpike");
        let hash = spec["planHash"].as_str().unwrap();
        assert!(!hash.is_empty());
        assert_eq!(name, format!("web-{}", &hash[..10]));
        let evidence: Vec<&str> = spec["evidence"]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            evidence,
            [
                "web-latency-20",
                "web-latency-30",
                "web-latency-40",
                "web-latency-50"
            ]
        );

        let policy = bursting();
        let envelope = &policy.spec.remediation.envelope;
        let bounds = envelope.scale.clone().unwrap();
        let actions: Vec<mapek_engine::model::RemediationAction> =
            serde_json::from_value(spec["actions"].clone()).unwrap();
        assert!(!actions.is_empty());
        for a in &actions {
            assert!(envelope.allows(a.action_type), "{a:?}");
            assert_eq!(a.target, "web");
            if matches!(a.action_type, ActionType::ScaleUp | ActionType::ScaleDown) {
                let r = a.replicas.unwrap();
                assert!(
                    (bounds.min_replicas..=bounds.max_replicas).contains(&r)
                        && (r - 2).abs() <= bounds.max_step,
                    "{a:?} from 2 replicas outside {bounds:?}"
                );
            }
        }

        let patch = &server.seen[2];
        assert_eq!(patch.content_type, "application/merge-patch+json");
        assert_eq!(patch.body["status"]["approval"], "Pending");
        assert_eq!(patch.body["status"]["phase"], "Pending");
        let stored: RemediationPolicy = stored(&server, &format!("{PLANS}/{name}"));
        assert_eq!(stored.status.unwrap().approval, ApprovalState::Pending);

        let events: Vec<&serde_json::Value> = server.seen[3..].iter().map(|s| &s.body).collect();
        assert_eq!(events[0]["regarding"]["kind"], "RemediationPolicy");
        assert_eq!(events[0]["regarding"]["name"], json!(name));
        // The uid of the created object, so that `kubectl describe` finds the Event.
        assert_eq!(events[0]["regarding"]["uid"], json!(format!("uid-{name}")));
        assert_eq!(events[1]["regarding"]["uid"], "uid-web-latency");
        assert_eq!(events[1]["regarding"]["kind"], "ViolationPolicy");
        assert_eq!(events[1]["regarding"]["name"], "web-latency");
        assert!(
            events[0]["note"]
                .as_str()
                .unwrap()
                .contains(&format!("mapek.io/approve={hash}")),
            "{}",
            events[0]["note"]
        );
    }

    #[tokio::test]
    async fn an_open_plan_for_the_target_means_no_new_plan() {
        let server = analyze(vec![earlier_plan(None)]).await;
        assert!(server.seen.is_empty(), "{:?}", lines(&server, false));
        let server = analyze(vec![earlier_plan(Some(RemediationPolicyStatus::default()))]).await;
        assert!(server.seen.is_empty(), "{:?}", lines(&server, false));
    }

    #[tokio::test]
    async fn no_new_plan_during_the_cooldown_after_an_execution() {
        // Finished 2 min ago, before the burst: the burst is new evidence, but the
        // 10 min cooldown holds.
        let server = analyze(vec![earlier_plan(Some(finished_at(NOW - 120_000)))]).await;
        assert!(server.seen.is_empty(), "{:?}", lines(&server, false));
        // Finished 11 min ago: the same burst is planned for.
        let server = analyze(vec![earlier_plan(Some(finished_at(NOW - 660_000)))]).await;
        assert_eq!(requests(&server, "POST", PLANS).len(), 1);
    }
}
