//! Knowledge (the "K" of MAPE-K): judges remediations by the violations before and
//! after them and learns, per root-cause kind and action type, how often an action
//! works. The statistics are a pure function of the [`OutcomeRecord`]s, so
//! the controller rebuilds them from the PolicyOutcome objects at start-up
//! ([`KnowledgeBase::from_outcomes`]) and a restart loses nothing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{ActionType, Millis, OutcomeType, RemediationPlan, RootCauseKind};

/// Judges a remediation by the violations counted in equal windows before and
/// after it:
/// - `Unknown`: no count on either side, or none before and none after (there was
///   nothing to resolve, so the remediation cannot be judged either way);
/// - `Degradation`: more after than before (including 0 before, some after);
/// - `Success`: some before, none after;
/// - `Partial`: reduced by at least half (`2·(before - after) >= before`);
/// - `Ineffective`: reduced by less than half, including no change.
pub fn classify_outcome(before: Option<u32>, after: Option<u32>) -> OutcomeType {
    let (Some(before), Some(after)) = (before, after) else {
        return OutcomeType::Unknown;
    };
    if before == 0 && after == 0 {
        OutcomeType::Unknown
    } else if after > before {
        OutcomeType::Degradation
    } else if after == 0 {
        OutcomeType::Success
    } else if 2 * u64::from(before - after) >= u64::from(before) {
        OutcomeType::Partial
    } else {
        OutcomeType::Ineffective
    }
}

/// How much evidence a classification rests on: `1 - 1 / (1 + before + after)`,
/// 0 for `Unknown`. 10 before and 0 after give 10/11.
pub fn success_confidence(before: Option<u32>, after: Option<u32>) -> f64 {
    match (before, after, classify_outcome(before, after)) {
        (_, _, OutcomeType::Unknown) => 0.0,
        (Some(b), Some(a), _) => 1.0 - 1.0 / (1.0 + f64::from(b) + f64::from(a)),
        _ => 0.0,
    }
}

/// The judged result of one executed plan (named apart from the PolicyOutcome
/// custom resource, which embeds it as `spec.outcome`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRecord {
    /// Name of the RemediationPolicy whose plan was executed.
    pub plan_name: String,
    /// The plan hash that was approved and executed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plan_hash: String,
    /// The Deployment.
    pub target: String,
    /// The ViolationPolicy whose violations were counted.
    pub policy: String,
    pub root_cause: RootCauseKind,
    /// The action types the plan executed (each is credited with the outcome).
    pub action_types: Vec<ActionType>,
    /// Violations in the window before the remediation; none when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violations_before: Option<u32>,
    /// Violations in the stabilization window after it; none when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violations_after: Option<u32>,
    /// `before - after` when both are known and it is positive, else 0.
    pub resolved_count: u32,
    /// Seconds from the end of execution until the violations stopped, if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_stabilization_seconds: Option<u32>,
    pub outcome: OutcomeType,
    /// In [0, 1]: see [`success_confidence`].
    pub success_confidence: f64,
    pub recorded_at_ms: Millis,
    /// Why the execution failed, for a `RolledBack` outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl OutcomeRecord {
    /// The record of `plan`, executed as `plan_name`, judged `outcome` at `now`:
    /// the plan's hash, target, policy, root cause and action types, with no
    /// violation counts, no stabilization time, a success confidence of 0 and no
    /// detail (the callers set what they know).
    fn of_plan(plan_name: &str, plan: &RemediationPlan, outcome: OutcomeType, now: Millis) -> Self {
        OutcomeRecord {
            plan_name: plan_name.to_string(),
            plan_hash: plan.plan_hash.clone(),
            target: plan.target.to_string(),
            policy: plan.policy.to_string(),
            root_cause: plan.root_cause,
            action_types: plan.actions.iter().map(|a| a.action_type).collect(),
            violations_before: None,
            violations_after: None,
            resolved_count: 0,
            time_to_stabilization_seconds: None,
            outcome,
            success_confidence: 0.0,
            recorded_at_ms: now,
            detail: None,
        }
    }
}

/// What has been learned about one action type against one root-cause kind.
///
/// Each judged outcome is one Bernoulli-like trial with success credit 1
/// (`Success`), 0.5 (`Partial`) or 0 (`Ineffective`, `Degradation`,
/// `RolledBack`); `Unknown` is not counted. The success probability has the posterior
/// `Beta(1 + credit, 1 + trials - credit)` from a uniform `Beta(1, 1)` prior.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPattern {
    pub root_cause: RootCauseKind,
    pub action_type: ActionType,
    pub successes: u32,
    pub partials: u32,
    pub ineffective: u32,
    pub degradations: u32,
    pub unknown: u32,
    /// Executions that failed and were rolled back.
    #[serde(default)]
    pub rolled_back: u32,
    /// Sum of the stabilization times of successful and partial outcomes that had one.
    pub stabilization_seconds_total: u64,
    pub stabilization_samples: u32,
}

impl PolicyPattern {
    fn new(root_cause: RootCauseKind, action_type: ActionType) -> Self {
        PolicyPattern {
            root_cause,
            action_type,
            successes: 0,
            partials: 0,
            ineffective: 0,
            degradations: 0,
            unknown: 0,
            rolled_back: 0,
            stabilization_seconds_total: 0,
            stabilization_samples: 0,
        }
    }

    /// Judged outcomes (everything but `Unknown`).
    pub fn trials(&self) -> u32 {
        self.successes
            .saturating_add(self.partials)
            .saturating_add(self.ineffective)
            .saturating_add(self.degradations)
            .saturating_add(self.rolled_back)
    }

    /// The posterior's `(alpha, beta)`.
    pub fn posterior(&self) -> (f64, f64) {
        let credit = f64::from(self.successes) + 0.5 * f64::from(self.partials);
        let trials = f64::from(self.trials());
        (1.0 + credit, 1.0 + trials - credit)
    }

    /// The posterior mean `alpha / (alpha + beta)`; 0.5 without data.
    pub fn success_rate(&self) -> f64 {
        let (a, b) = self.posterior();
        a / (a + b)
    }

    /// `1 - sd / sd_prior`: 0 without data, approaching 1 as the posterior narrows.
    /// `sd_prior = sqrt(1/12)` is the standard deviation of `Beta(1, 1)`.
    pub fn confidence(&self) -> f64 {
        let (a, b) = self.posterior();
        let var = a * b / ((a + b) * (a + b) * (a + b + 1.0));
        (1.0 - (var * 12.0).sqrt()).clamp(0.0, 1.0)
    }

    /// Mean seconds to stabilize over successful and partial outcomes that had a time.
    pub fn mean_time_to_stabilize(&self) -> Option<f64> {
        (self.stabilization_samples > 0).then(|| {
            self.stabilization_seconds_total as f64 / f64::from(self.stabilization_samples)
        })
    }

    fn add(&mut self, outcome: &OutcomeRecord) {
        let counter = match outcome.outcome {
            OutcomeType::Success => &mut self.successes,
            OutcomeType::Partial => &mut self.partials,
            OutcomeType::Ineffective => &mut self.ineffective,
            OutcomeType::Degradation => &mut self.degradations,
            OutcomeType::Unknown => &mut self.unknown,
            OutcomeType::RolledBack => &mut self.rolled_back,
        };
        *counter = counter.saturating_add(1);
        if matches!(outcome.outcome, OutcomeType::Success | OutcomeType::Partial)
            && let Some(t) = outcome.time_to_stabilization_seconds
        {
            self.stabilization_seconds_total = self
                .stabilization_seconds_total
                .saturating_add(u64::from(t));
            self.stabilization_samples = self.stabilization_samples.saturating_add(1);
        }
    }
}

/// A sentence about what has been learned, with the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LearningInsight {
    pub root_cause: RootCauseKind,
    pub action_type: ActionType,
    pub success_rate: f64,
    pub confidence: f64,
    /// Judged outcomes behind it.
    pub observations: u32,
    pub message: String,
}

/// The learned statistics, one [`PolicyPattern`] per (root cause, action type).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnowledgeBase {
    patterns: BTreeMap<(RootCauseKind, ActionType), PolicyPattern>,
}

impl KnowledgeBase {
    /// An empty knowledge base: every action is judged by its prior alone.
    pub fn new() -> Self {
        KnowledgeBase::default()
    }

    /// Rebuilds the statistics from stored outcome records (their stored outcome
    /// type is trusted). The order of the records does not matter.
    pub fn from_outcomes<'a>(outcomes: impl IntoIterator<Item = &'a OutcomeRecord>) -> Self {
        let mut kb = KnowledgeBase::new();
        for o in outcomes {
            kb.record(o);
        }
        kb
    }

    /// Adds one stored outcome to the statistics. Each distinct action type of the
    /// outcome is credited once.
    pub fn record(&mut self, outcome: &OutcomeRecord) {
        let mut actions = outcome.action_types.clone();
        actions.sort();
        actions.dedup();
        for action in actions {
            self.patterns
                .entry((outcome.root_cause, action))
                .or_insert_with(|| PolicyPattern::new(outcome.root_cause, action))
                .add(outcome);
        }
    }

    /// Judges an executed plan, records the outcome and returns the record to store.
    pub fn record_outcome(
        &mut self,
        plan_name: &str,
        plan: &RemediationPlan,
        violations_before: Option<u32>,
        violations_after: Option<u32>,
        time_to_stabilization_seconds: Option<u32>,
        now: Millis,
    ) -> OutcomeRecord {
        let outcome = classify_outcome(violations_before, violations_after);
        let resolved_count = match (violations_before, violations_after) {
            (Some(b), Some(a)) => b.saturating_sub(a),
            _ => 0,
        };
        let record = OutcomeRecord {
            violations_before,
            violations_after,
            resolved_count,
            time_to_stabilization_seconds,
            success_confidence: success_confidence(violations_before, violations_after),
            ..OutcomeRecord::of_plan(plan_name, plan, outcome, now)
        };
        self.record(&record);
        record
    }

    /// Records a plan whose execution failed and was rolled back (`detail` says
    /// why): a failure of each of its action types against its root cause,
    /// judged at once, with no violation counts.
    pub fn record_rolled_back(
        &mut self,
        plan_name: &str,
        plan: &RemediationPlan,
        detail: Option<String>,
        now: Millis,
    ) -> OutcomeRecord {
        let record = OutcomeRecord {
            detail,
            ..OutcomeRecord::of_plan(plan_name, plan, OutcomeType::RolledBack, now)
        };
        self.record(&record);
        record
    }

    /// What has been learned about `action` against `cause`, if anything.
    pub fn pattern(&self, cause: RootCauseKind, action: ActionType) -> Option<&PolicyPattern> {
        self.patterns.get(&(cause, action))
    }

    /// Every learned pattern, ordered by root cause and action type.
    pub fn patterns(&self) -> impl Iterator<Item = &PolicyPattern> {
        self.patterns.values()
    }

    /// The posterior mean success rate; 0.5 (the prior) without data.
    pub fn success_rate(&self, cause: RootCauseKind, action: ActionType) -> f64 {
        self.pattern(cause, action)
            .map_or(0.5, PolicyPattern::success_rate)
    }

    /// How much the planner should scale its prior benefit estimate: the posterior
    /// mean relative to the prior mean, `success_rate / 0.5`, in (0, 2). Exactly 1
    /// without data, above 1 for actions that have worked, below for ones that
    /// have not. The posterior shrinks early results toward 1.
    pub fn benefit_factor(&self, cause: RootCauseKind, action: ActionType) -> f64 {
        2.0 * self.success_rate(cause, action)
    }

    /// One sentence per learned pattern with at least one judged outcome, grouped
    /// by root cause, best success rate first.
    pub fn generate_insights(&self) -> Vec<LearningInsight> {
        let mut out: Vec<LearningInsight> = self
            .patterns
            .values()
            .filter(|p| p.trials() > 0)
            .map(|p| {
                let mut message = format!(
                    "{} resolved {} of {} {:?} incidents",
                    p.action_type,
                    p.successes,
                    p.trials(),
                    p.root_cause
                );
                if p.partials > 0 {
                    message.push_str(&format!(" ({} more partially)", p.partials));
                }
                if p.degradations > 0 {
                    message.push_str(&format!(", made {} worse", p.degradations));
                }
                if let Some(t) = p.mean_time_to_stabilize() {
                    message.push_str(&format!(", about {t:.0} s to stabilize"));
                }
                message.push_str(&format!(
                    " (success rate {:.2}, confidence {:.2}).",
                    p.success_rate(),
                    p.confidence()
                ));
                LearningInsight {
                    root_cause: p.root_cause,
                    action_type: p.action_type,
                    success_rate: p.success_rate(),
                    confidence: p.confidence(),
                    observations: p.trials(),
                    message,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            a.root_cause
                .cmp(&b.root_cause)
                .then_with(|| b.success_rate.total_cmp(&a.success_rate))
                .then_with(|| a.action_type.cmp(&b.action_type))
        });
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Priority, RemediationAction, RiskLevel};

    #[test]
    fn outcome_boundaries() {
        assert_eq!(classify_outcome(Some(10), Some(0)), OutcomeType::Success);
        assert_eq!(classify_outcome(Some(10), Some(5)), OutcomeType::Partial);
        assert_eq!(
            classify_outcome(Some(10), Some(6)),
            OutcomeType::Ineffective
        );
        assert_eq!(
            classify_outcome(Some(10), Some(10)),
            OutcomeType::Ineffective
        );
        assert_eq!(
            classify_outcome(Some(10), Some(12)),
            OutcomeType::Degradation
        );
        assert_eq!(classify_outcome(None, None), OutcomeType::Unknown);
        assert_eq!(classify_outcome(Some(10), None), OutcomeType::Unknown);
        assert_eq!(classify_outcome(None, Some(0)), OutcomeType::Unknown);
        assert_eq!(classify_outcome(Some(0), Some(0)), OutcomeType::Unknown);
        assert_eq!(classify_outcome(Some(0), Some(1)), OutcomeType::Degradation);
        assert_eq!(classify_outcome(Some(1), Some(0)), OutcomeType::Success);
        assert_eq!(classify_outcome(Some(1), Some(1)), OutcomeType::Ineffective);
        // 3 -> 1: reduced by 2 of 3 (>= half) => Partial; 3 -> 2: by 1 of 3 => Ineffective.
        assert_eq!(classify_outcome(Some(3), Some(1)), OutcomeType::Partial);
        assert_eq!(classify_outcome(Some(3), Some(2)), OutcomeType::Ineffective);
        assert_eq!(
            classify_outcome(Some(u32::MAX), Some(u32::MAX / 2)),
            OutcomeType::Partial
        );
        assert_eq!(
            classify_outcome(Some(u32::MAX), Some(u32::MAX / 2 + 1)),
            OutcomeType::Ineffective
        );
    }

    #[test]
    fn success_confidence_hand_values() {
        assert!((success_confidence(Some(10), Some(0)) - 10.0 / 11.0).abs() < 1e-12);
        assert_eq!(success_confidence(Some(1), Some(0)), 0.5);
        assert_eq!(success_confidence(None, Some(3)), 0.0);
        assert_eq!(success_confidence(Some(0), Some(0)), 0.0);
    }

    pub(crate) fn outcome(
        cause: RootCauseKind,
        actions: &[ActionType],
        before: u32,
        after: u32,
        tts: Option<u32>,
    ) -> OutcomeRecord {
        OutcomeRecord {
            plan_name: "p".into(),
            plan_hash: String::new(),
            target: "web".into(),
            policy: "lat".into(),
            root_cause: cause,
            action_types: actions.to_vec(),
            violations_before: Some(before),
            violations_after: Some(after),
            resolved_count: before.saturating_sub(after),
            time_to_stabilization_seconds: tts,
            outcome: classify_outcome(Some(before), Some(after)),
            success_confidence: success_confidence(Some(before), Some(after)),
            recorded_at_ms: 0,
            detail: None,
        }
    }

    #[test]
    fn beta_posterior_hand_values() {
        use ActionType::ScaleUp;
        use RootCauseKind::LoadSpike;
        // 5 successes (10 + 14 + 12 + 10 + 14 = 60 s to stabilize) and 1 ineffective.
        let mut outs: Vec<OutcomeRecord> = [10, 14, 12, 10, 14]
            .iter()
            .map(|&t| outcome(LoadSpike, &[ScaleUp], 10, 0, Some(t)))
            .collect();
        outs.push(outcome(LoadSpike, &[ScaleUp], 10, 9, Some(100)));
        let kb = KnowledgeBase::from_outcomes(&outs);
        let p = kb.pattern(LoadSpike, ScaleUp).unwrap();
        // Beta(1 + 5, 1 + 1) = Beta(6, 2): mean 6/8 = 0.75.
        assert_eq!(p.posterior(), (6.0, 2.0));
        assert_eq!(p.success_rate(), 0.75);
        // var = 6·2 / (8²·9) = 12/576; sd/sd_prior = sqrt(12/576 · 12) = 0.5.
        assert!((p.confidence() - 0.5).abs() < 1e-12);
        // Only successes count toward the stabilization time: 60 / 5 = 12.
        assert_eq!(p.mean_time_to_stabilize(), Some(12.0));
        assert_eq!(kb.benefit_factor(LoadSpike, ScaleUp), 1.5);
        let insights = kb.generate_insights();
        assert_eq!(insights.len(), 1);
        assert_eq!(
            insights[0].message,
            "SCALE_UP resolved 5 of 6 LoadSpike incidents, about 12 s to stabilize (success rate 0.75, confidence 0.50)."
        );
    }

    #[test]
    fn a_rolled_back_execution_is_learned_as_a_failure() {
        use ActionType::UpdateConfiguration;
        use RootCauseKind::ComponentFault;
        let mut kb = KnowledgeBase::new();
        kb.record(&outcome(
            ComponentFault,
            &[UpdateConfiguration],
            10,
            0,
            None,
        ));
        let plan: RemediationPlan = serde_json::from_value(serde_json::json!({
            "target": "web", "policy": "lat", "rootCause": "ComponentFault",
            "confidence": 0.9, "actions": [{ "id": "a1", "actionType": "UPDATE_CONFIGURATION",
            "target": "web", "priority": "High", "estimatedLatencySeconds": 10 }],
            "expectedImpact": "x", "risk": "Medium", "priority": "High",
            "cost": 0.1, "benefit": 0.5, "score": 0.4, "planHash": "h"
        }))
        .unwrap();
        let r = kb.record_rolled_back("p2", &plan, Some("rollout stalled".into()), 5);
        assert_eq!(r.outcome, OutcomeType::RolledBack);
        assert_eq!(r.detail.as_deref(), Some("rollout stalled"));
        let p = kb.pattern(ComponentFault, UpdateConfiguration).unwrap();
        // One success and one rollback: Beta(2, 2).
        assert_eq!((p.rolled_back, p.trials()), (1, 2));
        assert_eq!(p.success_rate(), 0.5);
        // The stored record rebuilds the same statistics.
        let json = serde_json::to_value(&r).unwrap();
        let back: OutcomeRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn partial_counts_half_and_unknown_not_at_all() {
        use ActionType::RestartService;
        use RootCauseKind::GradualDegradation as G;
        let mut unknown = outcome(G, &[RestartService], 0, 0, None);
        assert_eq!(unknown.outcome, OutcomeType::Unknown);
        unknown.violations_before = None;
        let outs = [
            outcome(G, &[RestartService], 10, 5, None),
            outcome(G, &[RestartService, RestartService], 10, 12, None),
            unknown,
        ];
        let kb = KnowledgeBase::from_outcomes(&outs);
        let p = kb.pattern(G, RestartService).unwrap();
        // credit 0.5 over 2 trials: Beta(1.5, 2.5), mean 1.5/4 = 0.375.
        assert_eq!(p.posterior(), (1.5, 2.5));
        assert_eq!(p.success_rate(), 0.375);
        assert_eq!(p.trials(), 2);
        assert_eq!(p.unknown, 1);
        assert_eq!(p.degradations, 1);
        assert!((kb.benefit_factor(G, RestartService) - 0.75).abs() < 1e-12);
        assert!(kb.generate_insights()[0].message.contains("made 1 worse"));
    }

    #[test]
    fn neutral_without_data() {
        let kb = KnowledgeBase::new();
        assert_eq!(
            kb.benefit_factor(RootCauseKind::LoadSpike, ActionType::ScaleUp),
            1.0
        );
        assert!(kb.generate_insights().is_empty());
        let p = PolicyPattern::new(RootCauseKind::LoadSpike, ActionType::ScaleUp);
        assert_eq!(p.confidence(), 0.0);
        assert_eq!(p.mean_time_to_stabilize(), None);
    }

    #[test]
    fn rebuild_is_order_independent_and_matches_recording() {
        use ActionType::*;
        use RootCauseKind::*;
        let plan = RemediationPlan {
            target: "web".into(),
            policy: "lat".into(),
            root_cause: LoadSpike,
            confidence: 0.8,
            actions: vec![RemediationAction {
                id: "a1".into(),
                action_type: ScaleUp,
                target: "web".into(),
                replicas: Some(3),
                config: None,
                revision: None,
                priority: Priority::High,
                estimated_latency_seconds: 30,
            }],
            expected_impact: String::new(),
            risk: RiskLevel::Low,
            priority: Priority::High,
            cost: 0.15,
            benefit: 0.5,
            score: 0.35,
            plan_hash: "abc".into(),
        };
        let mut live = KnowledgeBase::new();
        let mut records = vec![
            live.record_outcome("r1", &plan, Some(10), Some(0), Some(20), 5),
            live.record_outcome("r2", &plan, Some(10), Some(7), None, 6),
        ];
        assert_eq!(records[0].outcome, OutcomeType::Success);
        assert_eq!(records[0].resolved_count, 10);
        assert_eq!(records[0].plan_hash, "abc");
        assert_eq!(records[0].action_types, vec![ScaleUp]);
        assert_eq!(records[1].outcome, OutcomeType::Ineffective);
        records.push(outcome(ComponentFault, &[RestartService], 4, 1, Some(3)));
        live.record(&records[2]);
        let forward = KnowledgeBase::from_outcomes(&records);
        records.reverse();
        let backward = KnowledgeBase::from_outcomes(&records);
        assert_eq!(forward, live);
        assert_eq!(backward, live);
        assert_eq!(live.generate_insights(), backward.generate_insights());
    }

    #[test]
    fn outcome_serializes_camel_case() {
        let o = outcome(
            RootCauseKind::LoadSpike,
            &[ActionType::ScaleUp],
            3,
            0,
            Some(7),
        );
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["violationsBefore"], 3);
        assert_eq!(json["timeToStabilizationSeconds"], 7);
        assert_eq!(json["actionTypes"][0], "SCALE_UP");
        assert_eq!(json["outcome"], "Success");
        let back: OutcomeRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, o);
    }
}
