//! Planning (the "P" of MAPE-K): turns ranked root causes into reviewable
//! remediation plans that stay inside each policy's remediation envelope.
//!
//! For each root cause whose policy has a [`PlanTarget`], the candidate actions of
//! its kind ([`prior_effectiveness`]) are filtered by the envelope, given concrete
//! parameters (replicas inside the scale bounds, config values from the listed
//! settings), and scored: `benefit = confidence × prior × knowledge factor`,
//! `score = benefit - cost`. The best positive-scoring actions form the plan; each
//! Deployment gets at most one plan, the best-scoring one.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::knowledge::KnowledgeBase;
use super::model::{
    ActionType, AnalysisResult, ConfigChange, ConfigSetting, PatchKind, Priority,
    RemediationAction, RemediationEnvelope, RemediationPlan, RiskLevel, RootCause, RootCauseKind,
    ScaleBounds, Severity,
};

/// What the planner may act on for one policy: read by the controller from the
/// ViolationPolicy and the Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanTarget {
    /// The ViolationPolicy.
    pub policy: String,
    /// The Deployment it targets (the plan's target).
    pub deployment: String,
    /// The Deployment's current `spec.replicas`.
    pub current_replicas: i32,
    pub severity: Severity,
    pub envelope: RemediationEnvelope,
}

/// The planner's settings. Missing fields take their defaults when deserialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct PlannerConfig {
    /// At most this many actions per plan. Default 2.
    pub max_actions: usize,
    /// Actions whose score (benefit - cost) is not above this are dropped. Default 0.
    pub min_score: f64,
    /// Estimated latency of a scale action, seconds. Default 30.
    pub scale_latency_seconds: u32,
    /// Estimated latency of a rolling restart, seconds. Default 120.
    pub restart_latency_seconds: u32,
    /// Estimated latency of a config change (which also rolls the pods). Default 90.
    pub config_latency_seconds: u32,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            max_actions: 2,
            min_score: 0.0,
            scale_latency_seconds: 30,
            restart_latency_seconds: 120,
            config_latency_seconds: 90,
        }
    }
}

/// The candidate actions for each root-cause kind with their prior effectiveness
/// in [0, 1]: the share of incidents of that kind the action is expected to
/// resolve before anything is learned. Every kind has a config action, so a
/// policy that only allows UPDATE_CONFIGURATION can still get a plan (when the
/// root cause is confident enough for its benefit to exceed its cost of 0.35).
pub fn candidate_actions(kind: RootCauseKind) -> &'static [(ActionType, f64)] {
    use ActionType::*;
    match kind {
        RootCauseKind::LoadSpike => &[
            (ScaleUp, 0.9),
            (ThrottleRequests, 0.7),
            (RebalanceLoad, 0.6),
            (UpdateConfiguration, 0.5),
        ],
        RootCauseKind::GradualDegradation => &[
            (RestartService, 0.85),
            (ScaleUp, 0.5),
            (UpdateConfiguration, 0.5),
        ],
        RootCauseKind::RecurringLoad => &[
            (ScaleUp, 0.8),
            (ApplyPolicy, 0.6),
            (UpdateConfiguration, 0.5),
        ],
        RootCauseKind::ComponentFault => &[(RestartService, 0.8), (UpdateConfiguration, 0.6)],
        RootCauseKind::UpstreamDependency => &[
            (ThrottleRequests, 0.7),
            (ActivateEmergencyOverride, 0.65),
            (RebalanceLoad, 0.5),
            (UpdateConfiguration, 0.45),
        ],
        RootCauseKind::ChronicOverload => &[
            (ScaleUp, 0.85),
            (UpdateConfiguration, 0.6),
            (BypassValidation, 0.5),
        ],
    }
}

/// The prior effectiveness of `action` against `kind`; 0 when it is no candidate.
pub fn prior_effectiveness(kind: RootCauseKind, action: ActionType) -> f64 {
    candidate_actions(kind)
        .iter()
        .find(|(a, _)| *a == action)
        .map_or(0.0, |(_, p)| *p)
}

/// The replica count a scale action would set: inside `[minReplicas, maxReplicas]`
/// and at most `maxStep` away from `current` (SCALE_UP as high, SCALE_DOWN as low
/// as both allow). A current count outside the bounds is brought into them when
/// one step suffices. `None` when the bounds are invalid, both limits cannot hold
/// at once, the action would not move in its direction, or `action` is no scale
/// action.
pub fn scale_replicas(action: ActionType, current: i32, bounds: &ScaleBounds) -> Option<i32> {
    let (min, max, step) = (
        i64::from(bounds.min_replicas),
        i64::from(bounds.max_replicas),
        i64::from(bounds.max_step),
    );
    if min < 0 || max < min || step < 1 {
        return None;
    }
    let cur = i64::from(current);
    let lo = min.max(cur - step);
    let hi = max.min(cur + step);
    if lo > hi {
        return None;
    }
    let new = match action {
        ActionType::ScaleUp => (hi > cur).then_some(hi)?,
        ActionType::ScaleDown => (lo < cur).then_some(lo)?,
        _ => return None,
    };
    i32::try_from(new).ok()
}

/// A stable hash of a plan's content: the first 16 hex digits of the SHA-256 of its
/// canonical JSON with `plan_hash` empty. Controllers recompute it to check that an
/// approval names the plan that is stored.
///
/// Fractional numbers enter the hash with 6 decimals: a plan stored by the API
/// server comes back with its floats re-encoded, and the last binary digits of a
/// value such as `0.025000000000000026` do not survive that trip.
pub fn plan_hash(plan: &RemediationPlan) -> String {
    fn canonical(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(0.0);
                *v = serde_json::Value::String(format!("{f:.6}"));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(canonical),
            serde_json::Value::Object(map) => map.values_mut().for_each(canonical),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(plan).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("planHash".into(), serde_json::Value::String(String::new()));
    }
    canonical(&mut value);
    let json = serde_json::to_vec(&value).unwrap_or_default();
    let digest = Sha256::digest(&json);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Rounds to 4 decimals, so that a plan's figures read well and keep their value
/// through the API server.
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// The planner of the seed system.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Planner {
    pub config: PlannerConfig,
}

/// One scored, parameterised action before ids and priorities are assigned.
struct Candidate<'t> {
    action_type: ActionType,
    replicas: Option<i32>,
    /// For config actions: the envelope's setting it sets.
    setting: Option<&'t ConfigSetting>,
    benefit: f64,
    cost: f64,
}

impl Candidate<'_> {
    fn score(&self) -> f64 {
        self.benefit - self.cost
    }
}

/// The actions chosen for one root cause on one target: everything that decides
/// which plan wins, before its text and hash are written.
struct Choice<'t> {
    kind: RootCauseKind,
    target: &'t PlanTarget,
    confidence: f64,
    chosen: Vec<Candidate<'t>>,
    cost: f64,
    benefit: f64,
}

impl Choice<'_> {
    fn score(&self) -> f64 {
        self.benefit - self.cost
    }
}

/// Which of two plans for the same Deployment is better: higher score, then higher
/// confidence, then the earlier root-cause kind and policy name. `Equal` leaves
/// the choice to the plan hash (the smaller wins).
fn cmp_choice(a: &Choice<'_>, b: &Choice<'_>) -> Ordering {
    a.score()
        .total_cmp(&b.score())
        .then_with(|| a.confidence.total_cmp(&b.confidence))
        .then_with(|| b.kind.cmp(&a.kind))
        .then_with(|| b.target.policy.cmp(&a.target.policy))
}

impl Planner {
    pub fn new(config: PlannerConfig) -> Self {
        Planner { config }
    }

    /// One plan per Deployment at most: for every root cause whose policy has a
    /// target, the best plan inside the envelope; the best-scoring one per
    /// Deployment is kept. Sorted by priority (highest first), score, target and
    /// policy.
    ///
    /// Targets are looked up by policy through an index, and only the plan that
    /// wins for a Deployment is written out (text and hash): O((R + T) log T) for
    /// R root causes and T targets, plus one plan per Deployment.
    pub fn generate_policies(
        &self,
        analysis: &AnalysisResult,
        targets: &[PlanTarget],
        knowledge: &KnowledgeBase,
    ) -> Vec<RemediationPlan> {
        let mut by_policy: BTreeMap<&str, Vec<&PlanTarget>> = BTreeMap::new();
        for t in targets {
            by_policy.entry(t.policy.as_str()).or_default().push(t);
        }
        let mut best: BTreeMap<&str, (Choice<'_>, Option<RemediationPlan>)> = BTreeMap::new();
        for rc in &analysis.root_causes {
            let Some(ts) = by_policy.get(rc.policy.as_str()) else {
                continue;
            };
            for &target in ts {
                let Some(choice) = self.choose(rc, target, knowledge) else {
                    continue;
                };
                match best.entry(target.deployment.as_str()) {
                    Entry::Vacant(e) => {
                        e.insert((choice, None));
                    }
                    Entry::Occupied(mut e) => {
                        let (current, current_plan) = e.get_mut();
                        match cmp_choice(&choice, current) {
                            Ordering::Greater => {
                                e.insert((choice, None));
                            }
                            Ordering::Less => {}
                            Ordering::Equal => {
                                // A full tie: the smaller plan hash wins.
                                let current_hash = &current_plan
                                    .get_or_insert_with(|| self.build(current))
                                    .plan_hash;
                                let plan = self.build(&choice);
                                if plan.plan_hash < *current_hash {
                                    e.insert((choice, Some(plan)));
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut plans: Vec<RemediationPlan> = best
            .into_values()
            .map(|(choice, plan)| plan.unwrap_or_else(|| self.build(&choice)))
            .collect();
        plans.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| b.score.total_cmp(&a.score))
                .then_with(|| a.target.cmp(&b.target))
                .then_with(|| a.policy.cmp(&b.policy))
        });
        plans
    }

    /// The plan for one root cause on one target, if any action is allowed and
    /// worth its cost.
    pub fn plan_for(
        &self,
        rc: &RootCause,
        target: &PlanTarget,
        knowledge: &KnowledgeBase,
    ) -> Option<RemediationPlan> {
        self.choose(rc, target, knowledge)
            .map(|choice| self.build(&choice))
    }

    /// The best actions for one root cause on one target, if any is allowed and
    /// worth its cost.
    fn choose<'t>(
        &self,
        rc: &RootCause,
        target: &'t PlanTarget,
        knowledge: &KnowledgeBase,
    ) -> Option<Choice<'t>> {
        let confidence = if rc.confidence.is_finite() {
            rc.confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let envelope = &target.envelope;
        let mut candidates: Vec<Candidate<'t>> = Vec::new();
        for &(action, prior) in candidate_actions(rc.kind) {
            if !envelope.allows(action) {
                continue;
            }
            let (mut replicas, mut setting) = (None, None);
            match action.patch_kind() {
                PatchKind::Scale => {
                    let Some(bounds) = envelope.scale.as_ref() else {
                        continue;
                    };
                    let Some(r) = scale_replicas(action, target.current_replicas, bounds) else {
                        continue;
                    };
                    replicas = Some(r);
                }
                PatchKind::Restart => {}
                PatchKind::Config => {
                    let Some(s) = envelope.setting_for(action) else {
                        continue;
                    };
                    if !s.allowed_values.is_empty() && !s.allowed_values.contains(&s.value) {
                        continue;
                    }
                    setting = Some(s);
                }
            }
            let factor = knowledge.benefit_factor(rc.kind, action);
            let benefit = (confidence * prior * factor).clamp(0.0, 1.0);
            candidates.push(Candidate {
                action_type: action,
                replicas,
                setting,
                benefit,
                cost: action.cost(),
            });
        }
        candidates.retain(|c| c.score() > self.config.min_score);
        candidates.sort_by(|a, b| {
            b.score()
                .total_cmp(&a.score())
                .then(a.action_type.cmp(&b.action_type))
        });

        // Two actions setting the same value would be one change twice.
        let mut chosen: Vec<Candidate<'t>> = Vec::new();
        for c in candidates {
            if chosen.len() >= self.config.max_actions {
                break;
            }
            let duplicate = c.setting.is_some_and(|cs| {
                chosen.iter().any(|o| {
                    o.setting.is_some_and(|os| {
                        os.name == cs.name && os.target == cs.target && os.container == cs.container
                    })
                })
            });
            if !duplicate {
                chosen.push(c);
            }
        }
        if chosen.is_empty() {
            return None;
        }
        let cost = round4(chosen.iter().map(|c| c.cost).sum());
        let benefit = round4(chosen.iter().map(|c| c.benefit).sum());
        Some(Choice {
            kind: rc.kind,
            target,
            confidence,
            chosen,
            cost,
            benefit,
        })
    }

    /// Writes out a chosen plan: action ids, parameters, the expected impact, and
    /// the plan hash.
    fn build(&self, choice: &Choice<'_>) -> RemediationPlan {
        let Choice {
            kind,
            target,
            confidence,
            ref chosen,
            cost,
            benefit,
        } = *choice;
        let priority = priority(target.severity, confidence);
        let risk = risk(chosen, target.current_replicas);
        let actions: Vec<RemediationAction> = chosen
            .iter()
            .enumerate()
            .map(|(i, c)| RemediationAction {
                id: format!("a{}", i + 1),
                action_type: c.action_type,
                target: target.deployment.clone(),
                replicas: c.replicas,
                config: c.setting.map(|s| ConfigChange {
                    name: s.name.clone(),
                    target: s.target,
                    container: s.container.clone(),
                    value: s.value.clone(),
                }),
                priority,
                estimated_latency_seconds: self.latency(c.action_type),
            })
            .collect();
        let steps: Vec<String> = actions.iter().map(describe).collect();
        let mut plan = RemediationPlan {
            target: target.deployment.clone(),
            policy: target.policy.clone(),
            root_cause: kind,
            confidence: round4(confidence),
            expected_impact: format!(
                "Expected to relieve {kind:?} on {} (confidence {confidence:.2}) by {}: benefit {benefit:.2} against cost {cost:.2}.",
                target.deployment,
                steps.join(", then ")
            ),
            actions,
            risk,
            priority,
            cost,
            benefit,
            score: round4(benefit - cost),
            plan_hash: String::new(),
        };
        plan.plan_hash = plan_hash(&plan);
        plan
    }

    fn latency(&self, action: ActionType) -> u32 {
        match action.patch_kind() {
            PatchKind::Scale => self.config.scale_latency_seconds,
            PatchKind::Restart => self.config.restart_latency_seconds,
            PatchKind::Config => self.config.config_latency_seconds,
        }
    }
}

/// From `severity.weight() × confidence`: at least 0.75 Critical, 0.5 High, 0.25
/// Medium, else Low.
pub fn priority(severity: Severity, confidence: f64) -> Priority {
    let s = severity.weight() * confidence;
    if s >= 0.75 {
        Priority::Critical
    } else if s >= 0.5 {
        Priority::High
    } else if s >= 0.25 {
        Priority::Medium
    } else {
        Priority::Low
    }
}

/// From the costliest action (at least 0.6 High, 0.35 Medium), the total cost
/// (above 1.0 High, at least 0.6 Medium) and the scale step (more than half the
/// current replicas, or from zero, at least Medium).
fn risk(chosen: &[Candidate], current: i32) -> RiskLevel {
    let max_cost = chosen.iter().map(|c| c.cost).fold(0.0, f64::max);
    let total: f64 = chosen.iter().map(|c| c.cost).sum();
    let mut risk = if max_cost >= 0.6 {
        RiskLevel::High
    } else if max_cost >= 0.35 {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    };
    if total > 1.0 {
        risk = risk.max(RiskLevel::High);
    } else if total >= 0.6 {
        risk = risk.max(RiskLevel::Medium);
    }
    for r in chosen.iter().filter_map(|c| c.replicas) {
        let delta = (i64::from(r) - i64::from(current)).abs();
        if current <= 0 || 2 * delta > i64::from(current) {
            risk = risk.max(RiskLevel::Medium);
        }
    }
    risk
}

fn describe(a: &RemediationAction) -> String {
    match (&a.replicas, &a.config) {
        (Some(r), _) => format!("{} to {r} replicas", a.action_type),
        (_, Some(c)) => format!("{} ({:?} {}={})", a.action_type, c.target, c.name, c.value),
        _ => a.action_type.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::knowledge::tests::outcome;
    use crate::engine::model::{ConfigSetting, ConfigTarget};

    fn rc(kind: RootCauseKind, confidence: f64) -> RootCause {
        RootCause {
            kind,
            target: "web".into(),
            policy: "lat".into(),
            confidence,
            description: String::new(),
            supporting_patterns: vec![],
        }
    }

    fn analysis(causes: Vec<RootCause>) -> AnalysisResult {
        AnalysisResult {
            analysis_id: "an-0".into(),
            violations_analyzed: 0,
            patterns: vec![],
            root_causes: causes,
            recommendations: vec![],
            confidence_level: 0.0,
        }
    }

    fn bounds(min: i32, max: i32, step: i32) -> ScaleBounds {
        ScaleBounds {
            min_replicas: min,
            max_replicas: max,
            max_step: step,
        }
    }

    fn target(allowed: &[ActionType], current: i32) -> PlanTarget {
        PlanTarget {
            policy: "lat".into(),
            deployment: "web".into(),
            current_replicas: current,
            severity: Severity::Critical,
            envelope: RemediationEnvelope {
                allowed_actions: allowed.to_vec(),
                scale: Some(bounds(1, 10, 3)),
                config: vec![],
            },
        }
    }

    fn setting(actions: &[ActionType], value: &str, allowed: &[&str]) -> ConfigSetting {
        ConfigSetting {
            name: "RATE_LIMIT".into(),
            target: ConfigTarget::Env,
            container: None,
            value: value.into(),
            allowed_values: allowed.iter().map(|s| s.to_string()).collect(),
            actions: actions.to_vec(),
        }
    }

    fn plan(causes: Vec<RootCause>, targets: &[PlanTarget]) -> Vec<RemediationPlan> {
        Planner::default().generate_policies(&analysis(causes), targets, &KnowledgeBase::new())
    }

    #[test]
    fn scale_replicas_bounds() {
        let b = bounds(2, 10, 3);
        assert_eq!(scale_replicas(ActionType::ScaleUp, 4, &b), Some(7));
        assert_eq!(scale_replicas(ActionType::ScaleUp, 9, &b), Some(10));
        assert_eq!(scale_replicas(ActionType::ScaleUp, 10, &b), None);
        // Below the bounds: brought in when one step suffices.
        assert_eq!(scale_replicas(ActionType::ScaleUp, 0, &b), Some(3));
        assert_eq!(
            scale_replicas(ActionType::ScaleUp, 0, &bounds(5, 10, 2)),
            None
        );
        // Above the bounds: scaling up is impossible.
        assert_eq!(scale_replicas(ActionType::ScaleUp, 12, &b), None);
        assert_eq!(scale_replicas(ActionType::ScaleDown, 12, &b), Some(9));
        assert_eq!(scale_replicas(ActionType::ScaleDown, 2, &b), None);
        assert_eq!(
            scale_replicas(ActionType::ScaleUp, 4, &bounds(5, 3, 1)),
            None
        );
        assert_eq!(
            scale_replicas(ActionType::ScaleUp, 4, &bounds(1, 9, 0)),
            None
        );
        assert_eq!(
            scale_replicas(
                ActionType::ScaleUp,
                i32::MAX,
                &bounds(0, i32::MAX, i32::MAX)
            ),
            None
        );
        assert_eq!(
            scale_replicas(
                ActionType::ScaleUp,
                i32::MIN,
                &bounds(0, i32::MAX, i32::MAX)
            ),
            None
        );
        assert_eq!(scale_replicas(ActionType::RestartService, 4, &b), None);
    }

    #[test]
    fn load_spike_plan_hand_computed() {
        use ActionType::*;
        // Confidence 0.8, no knowledge: SCALE_UP benefit 0.8·0.9 = 0.72, score 0.57;
        // THROTTLE benefit 0.56, score 0.16; REBALANCE 0.48, score 0.23.
        // Best two: SCALE_UP then REBALANCE_LOAD.
        let t = target(&[ScaleUp, ThrottleRequests, RebalanceLoad], 4);
        let mut t = t;
        t.envelope.config = vec![setting(&[ThrottleRequests], "100", &[])];
        let plans = plan(vec![rc(RootCauseKind::LoadSpike, 0.8)], &[t]);
        assert_eq!(plans.len(), 1);
        let p = &plans[0];
        let types: Vec<ActionType> = p.actions.iter().map(|a| a.action_type).collect();
        assert_eq!(types, vec![ScaleUp, RebalanceLoad]);
        assert_eq!(p.actions[0].id, "a1");
        assert_eq!(p.actions[1].id, "a2");
        assert_eq!(p.actions[0].replicas, Some(7));
        assert_eq!(p.actions[0].estimated_latency_seconds, 30);
        assert_eq!(p.actions[1].estimated_latency_seconds, 120);
        assert!((p.cost - 0.40).abs() < 1e-12);
        assert!((p.benefit - 1.20).abs() < 1e-12);
        assert!((p.score - 0.80).abs() < 1e-12);
        // Critical (1.0) × 0.8 = 0.8 => Critical.
        assert_eq!(p.priority, Priority::Critical);
        // Max cost 0.25, total 0.40, step 3 of 4 (> half) => Medium.
        assert_eq!(p.risk, RiskLevel::Medium);
        assert_eq!(p.plan_hash, plan_hash(p));
        assert_eq!(p.plan_hash.len(), 16);
        assert!(p.expected_impact.contains("SCALE_UP to 7 replicas"));
    }

    #[test]
    fn disallowed_actions_are_never_planned() {
        use ActionType::*;
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 1.0)],
            &[target(&[RestartService], 4)],
        );
        // RESTART_SERVICE is no LoadSpike candidate: nothing to plan.
        assert!(plans.is_empty());
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 1.0)],
            &[target(&[RebalanceLoad], 4)],
        );
        assert_eq!(plans[0].actions.len(), 1);
        assert_eq!(plans[0].actions[0].action_type, RebalanceLoad);
    }

    #[test]
    fn scale_needs_bounds_and_room() {
        use ActionType::*;
        let mut t = target(&[ScaleUp], 4);
        t.envelope.scale = None;
        assert!(plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]).is_empty());
        let t = target(&[ScaleUp], 10);
        assert!(plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]).is_empty());
    }

    #[test]
    fn config_actions_need_a_listed_setting_with_an_allowed_value() {
        use ActionType::*;
        let cause = || vec![rc(RootCauseKind::ComponentFault, 1.0)];
        let t = target(&[UpdateConfiguration], 4);
        assert!(plan(cause(), std::slice::from_ref(&t)).is_empty());
        let mut t2 = t.clone();
        t2.envelope.config = vec![setting(&[ThrottleRequests], "1", &[])];
        assert!(plan(cause(), &[t2]).is_empty());
        let mut t3 = t.clone();
        t3.envelope.config = vec![setting(&[UpdateConfiguration], "5", &["1", "2"])];
        assert!(plan(cause(), &[t3]).is_empty());
        let mut t4 = t.clone();
        t4.envelope.config = vec![setting(&[UpdateConfiguration], "2", &["1", "2"])];
        let plans = plan(cause(), &[t4]);
        assert_eq!(plans.len(), 1);
        // 1.0 × 0.6 - 0.35 = 0.25
        assert!((plans[0].score - 0.25).abs() < 1e-12);
        let c = plans[0].actions[0].config.as_ref().unwrap();
        assert_eq!((c.name.as_str(), c.value.as_str()), ("RATE_LIMIT", "2"));
        assert_eq!(plans[0].risk, RiskLevel::Medium);
    }

    #[test]
    fn every_kind_has_a_config_option() {
        use ActionType::UpdateConfiguration;
        for kind in [
            RootCauseKind::LoadSpike,
            RootCauseKind::GradualDegradation,
            RootCauseKind::RecurringLoad,
            RootCauseKind::ComponentFault,
            RootCauseKind::UpstreamDependency,
            RootCauseKind::ChronicOverload,
        ] {
            let mut t = target(&[UpdateConfiguration], 4);
            t.envelope.config = vec![setting(&[UpdateConfiguration], "x", &[])];
            let plans = plan(vec![rc(kind, 1.0)], &[t]);
            assert_eq!(plans.len(), 1, "{kind:?}");
            assert_eq!(plans[0].actions[0].action_type, UpdateConfiguration);
        }
    }

    #[test]
    fn one_setting_is_not_changed_twice() {
        use ActionType::*;
        let mut t = target(&[ThrottleRequests, UpdateConfiguration], 4);
        t.envelope.config = vec![setting(&[ThrottleRequests, UpdateConfiguration], "9", &[])];
        let plans = plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]);
        assert_eq!(plans[0].actions.len(), 1);
        assert_eq!(plans[0].actions[0].action_type, ThrottleRequests);
    }

    #[test]
    fn low_confidence_gives_no_plan() {
        // 0.1 × 0.9 = 0.09 < 0.15.
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.1)],
            &[target(&[ActionType::ScaleUp], 4)],
        );
        assert!(plans.is_empty());
    }

    #[test]
    fn knowledge_changes_the_ranking() {
        use ActionType::*;
        use RootCauseKind::GradualDegradation as G;
        let t = target(&[RestartService, ScaleUp], 4);
        let planner = Planner::new(PlannerConfig {
            max_actions: 1,
            ..PlannerConfig::default()
        });
        let a = analysis(vec![rc(G, 0.9)]);
        // Prior: RESTART 0.9·0.85 - 0.2 = 0.565 beats SCALE_UP 0.9·0.5 - 0.15 = 0.3.
        let before = planner.generate_policies(&a, std::slice::from_ref(&t), &KnowledgeBase::new());
        assert_eq!(before[0].actions[0].action_type, RestartService);
        // Restarts failed 4 times (Beta(1, 5), factor 2/6), scaling worked 4 times
        // (Beta(5, 1), factor 10/6): RESTART 0.765/3 - 0.2 = 0.055, SCALE_UP 0.75 - 0.15 = 0.6.
        let mut outs = Vec::new();
        for _ in 0..4 {
            outs.push(outcome(G, &[RestartService], 10, 10, None));
            outs.push(outcome(G, &[ScaleUp], 10, 0, Some(20)));
        }
        let kb = KnowledgeBase::from_outcomes(&outs);
        let after = planner.generate_policies(&a, &[t], &kb);
        assert_eq!(after[0].actions[0].action_type, ScaleUp);
        assert!((after[0].score - 0.6).abs() < 1e-12);
        assert_ne!(after[0].plan_hash, before[0].plan_hash);
    }

    #[test]
    fn one_plan_per_deployment_best_score_wins() {
        use ActionType::*;
        let t = target(&[ScaleUp, RestartService], 4);
        let plans = plan(
            vec![
                rc(RootCauseKind::ComponentFault, 0.9),
                rc(RootCauseKind::LoadSpike, 0.8),
            ],
            &[t],
        );
        assert_eq!(plans.len(), 1);
        // LoadSpike: SCALE_UP 0.72 - 0.15 = 0.57 alone (RESTART no candidate).
        // ComponentFault: RESTART 0.72 - 0.20 = 0.52 alone. LoadSpike wins.
        assert_eq!(plans[0].root_cause, RootCauseKind::LoadSpike);
    }

    #[test]
    fn root_causes_without_a_target_are_skipped_and_plans_sorted() {
        use ActionType::*;
        let mut other = target(&[ScaleUp], 4);
        other.policy = "err".into();
        other.deployment = "api".into();
        other.severity = Severity::Info;
        let mut c2 = rc(RootCauseKind::LoadSpike, 0.9);
        c2.policy = "err".into();
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.9), c2, {
                let mut c = rc(RootCauseKind::LoadSpike, 0.9);
                c.policy = "nobody".into();
                c
            }],
            &[other, target(&[ScaleUp], 4)],
        );
        let order: Vec<(&str, Priority)> = plans
            .iter()
            .map(|p| (p.target.as_str(), p.priority))
            .collect();
        // web: Critical (1.0 × 0.9); api: Info 0.5 × 0.9 = 0.45 => Medium.
        assert_eq!(
            order,
            vec![("web", Priority::Critical), ("api", Priority::Medium)]
        );
    }

    #[test]
    fn plan_hash_is_stable_and_content_sensitive() {
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.8)],
            &[target(&[ActionType::ScaleUp], 4)],
        );
        let p = plans[0].clone();
        assert_eq!(plan_hash(&p), p.plan_hash);
        let mut q = p.clone();
        q.plan_hash = "anything".into();
        assert_eq!(plan_hash(&q), p.plan_hash);
        q.actions[0].replicas = Some(6);
        assert_ne!(plan_hash(&q), p.plan_hash);
        assert!(p.plan_hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn plan_hash_is_the_sha256_of_the_json_without_the_hash_floats_with_6_decimals() {
        let p = plan(
            vec![rc(RootCauseKind::LoadSpike, 0.8)],
            &[target(&[ActionType::ScaleUp, ActionType::RebalanceLoad], 4)],
        )
        .remove(0);
        let mut q = p.clone();
        q.plan_hash = String::new();
        // The plan's only fractional numbers are its top-level figures.
        let mut value = serde_json::to_value(&q).unwrap();
        for key in ["confidence", "cost", "benefit", "score"] {
            let f = value[key].as_f64().unwrap();
            value[key] = serde_json::Value::String(format!("{f:.6}"));
        }
        let digest = Sha256::digest(serde_json::to_vec(&value).unwrap());
        let want: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(p.plan_hash, want);
        assert_eq!(plan_hash(&q), want);
    }

    #[test]
    fn a_full_tie_between_plans_for_one_deployment_goes_to_the_smaller_hash() {
        use ActionType::*;
        // Two targets of one policy on one Deployment whose plans tie on score,
        // confidence, kind and policy but differ in content (the replicas).
        let a = target(&[ScaleUp], 4);
        let mut b = target(&[ScaleUp], 5);
        b.envelope.scale = Some(bounds(1, 10, 3));
        let cause = vec![rc(RootCauseKind::LoadSpike, 0.8)];
        let one = plan(cause.clone(), std::slice::from_ref(&a)).remove(0);
        let two = plan(cause.clone(), std::slice::from_ref(&b)).remove(0);
        assert_eq!(one.score, two.score);
        assert_ne!(one.plan_hash, two.plan_hash);
        let want = if one.plan_hash < two.plan_hash {
            &one
        } else {
            &two
        };
        assert_eq!(&plan(cause.clone(), &[a.clone(), b.clone()])[0], want);
        assert_eq!(&plan(cause, &[b, a])[0], want);
    }

    #[test]
    fn nan_confidence_plans_nothing() {
        let plans = plan(
            vec![rc(RootCauseKind::LoadSpike, f64::NAN)],
            &[target(&[ActionType::ScaleUp], 4)],
        );
        assert!(plans.is_empty());
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;

    #[test]
    fn the_hash_survives_float_re_encoding() {
        let plan: RemediationPlan = serde_json::from_value(serde_json::json!({
            "target": "web", "policy": "p", "rootCause": "LoadSpike", "confidence": 0.625,
            "actions": [], "expectedImpact": "", "risk": "Low", "priority": "Low",
            "cost": 0.35, "benefit": 0.375, "score": 0.025000000000000026, "planHash": ""
        }))
        .unwrap();
        let mut reencoded = plan.clone();
        // What the API server gave back for the score above.
        reencoded.score = 0.025000000000000022;
        assert_ne!(plan.score, reencoded.score);
        assert_eq!(plan_hash(&plan), plan_hash(&reencoded));
        reencoded.score = 0.026;
        assert_ne!(plan_hash(&plan), plan_hash(&reencoded));
        assert_eq!(round4(0.025000000000000026), 0.025);
    }
}
