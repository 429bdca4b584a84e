//! The analyzer's pure decisions: the engine's view of a policy (its violations,
//! samples, context samples and condition), which plans are open or closed,
//! which Deployments may get a new plan, and the RemediationPolicy object a plan
//! becomes. No I/O: the controller in `mod.rs` reads and writes around them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kube::{Resource, ResourceExt};

use mapek_api::{
    ApprovalState, Evidence, GitOpsMark, HpaMark, MAX_EVIDENCE_VIOLATIONS, RemediationPolicy,
    RemediationPolicySpec, ViolationPolicy,
};
use mapek_engine::model::PolicyInfo;
use mapek_engine::model::{
    AnalysisResult, ContextKind, ContextSample, Millis, Point, RemediationPlan, SharedStr,
    Violation,
};

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

/// The engine's view of one policy's samples: every value the monitor holds
/// for its query (`held`, oldest first, shared with the monitor and read in
/// place), the policy's normal behaviour the engine judges a breach against.
/// A status written by an earlier version may still carry `recentSamples`:
/// they count until the monitor's memory holds as many.
pub fn engine_points(policy: &ViolationPolicy, held: Arc<Vec<Point>>) -> Arc<Vec<Point>> {
    let legacy = policy
        .status
        .as_ref()
        .map_or(&[][..], |s| s.recent_samples.as_slice());
    if legacy.len() <= held.len() {
        return held;
    }
    Arc::new(
        legacy
            .iter()
            .map(|s| Point {
                at_ms: s.time.0.as_millisecond(),
                value: s.value,
            })
            .collect(),
    )
}

/// The engine's view of one of a policy's context queries, appended to `out`:
/// every value the monitor holds for it, sharing the policy's `name`.
pub fn context_samples(
    out: &mut Vec<ContextSample>,
    name: &SharedStr,
    kind: ContextKind,
    points: &[Point],
) {
    out.extend(points.iter().map(|p| ContextSample {
        policy: name.clone(),
        kind,
        at_ms: p.at_ms,
        value: p.value,
    }));
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
        keep_firing_for_ms: c
            .keep_firing_for
            .map(|d| std::time::Duration::from(d).as_millis() as Millis),
        max_plans_per_episode: policy.spec.remediation.max_plans_per_episode,
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
pub fn closed_at(plan: &RemediationPolicy) -> Option<Millis> {
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

/// The policies whose plan would have scaled but for an HPA (`withheld`: each
/// target with its full envelope, and why scale actions were left out), each
/// with what to tell: the reason, and the scale action the plan without the HPA
/// would have had (`unrestricted`: the plans for those targets with their full
/// envelopes). `planned`: the plans made without scale actions; a policy whose
/// unrestricted plan has no scale action is not reported.
pub fn hpa_withheld(
    withheld: &[(mapek_engine::PlanTarget, String)],
    unrestricted: &[RemediationPlan],
    planned: &[RemediationPlan],
) -> Vec<(String, String)> {
    use mapek_engine::model::ActionType;
    withheld
        .iter()
        .filter_map(|(target, reason)| {
            let policy = target.policy.to_string();
            let full = unrestricted.iter().find(|p| p.policy == policy)?;
            let scale = full
                .actions
                .iter()
                .find(|a| matches!(a.action_type, ActionType::ScaleUp | ActionType::ScaleDown))?;
            let instead = match planned.iter().find(|p| p.policy == policy) {
                Some(p) => format!(
                    "; planned instead: {}",
                    p.actions
                        .iter()
                        .map(mapek_engine::report::describe_action)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => "; no other action is planned".to_string(),
            };
            Some((
                policy,
                format!(
                    "{reason}. Without it the plan would be {}{instead}",
                    mapek_engine::report::describe_action(scale)
                ),
            ))
        })
        .collect()
}

/// The RemediationPolicy object for a plan.
pub fn plan_object(
    policy: &ViolationPolicy,
    plan: RemediationPlan,
    analysis: &AnalysisResult,
    git_ops: Option<GitOpsMark>,
    hpa: Option<HpaMark>,
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
    let name = plan.object_name();
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
            git_ops,
            hpa,
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
