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
use std::collections::hash_map::Entry;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::fnv::FnvMap;
use super::judge::Breach;
use super::knowledge::KnowledgeBase;
use super::model::{
    ActionType, AnalysisResult, Priority, RemediationAction, RemediationEnvelope, RemediationPlan,
    RootCause, RootCauseKind, Severity, SharedStr,
};

/// What the planner may act on for one policy: read by the controller from the
/// ViolationPolicy and the Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanTarget {
    /// The ViolationPolicy.
    pub policy: SharedStr,
    /// The Deployment it targets (the plan's target).
    pub deployment: SharedStr,
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
    /// Proportional sizing: extra capacity on top of HPA's rule
    /// (`ceil(current × value / threshold × (1 + headroom))`). Default 0.1.
    pub scale_headroom: f64,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            max_actions: 2,
            min_score: 0.0,
            scale_latency_seconds: 30,
            restart_latency_seconds: 120,
            config_latency_seconds: 90,
            scale_headroom: 0.1,
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
        // Only undoing the change undoes a bad change.
        RootCauseKind::BadChange => &[(RollbackRevision, 0.9)],
    }
}

/// The prior effectiveness of `action` against `kind`; 0 when it is no candidate.
pub fn prior_effectiveness(kind: RootCauseKind, action: ActionType) -> f64 {
    candidate_actions(kind)
        .iter()
        .find(|(a, _)| *a == action)
        .map_or(0.0, |(_, p)| *p)
}

mod canonical;
pub mod describe;
#[cfg(test)]
mod hash_tests;
mod sizing;
#[cfg(test)]
mod tests;

pub use canonical::plan_hash;
use canonical::{describe, kind_name, push_fixed};
pub use sizing::{Sizing, proportional_replicas, scale_replicas};

/// Rounds to 4 decimals, so that a plan's figures read well and keep their value
/// through the API server.
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

mod build;
mod choose;

pub use build::priority;
use choose::{Choice, cmp_choice};

/// The planner of the seed system.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Planner {
    pub config: PlannerConfig,
}

impl Planner {
    pub fn new(config: PlannerConfig) -> Self {
        Planner { config }
    }

    /// One plan per Deployment at most. Only a policy whose breach the analysis
    /// judged actionable (current, persistent, standing out, not a shared cause)
    /// may lead to a plan; an analysis without judgements (built by hand) treats
    /// every policy as actionable. For each such policy, the actions are chosen
    /// against the whole root-cause distribution of its Deployment (expected
    /// benefit under the distribution and the learned posteriors, minus cost);
    /// the best-scoring plan per Deployment is kept. Sorted by priority (highest
    /// first), score, target and policy.
    pub fn generate_plans(
        &self,
        analysis: &AnalysisResult,
        targets: &[PlanTarget],
        knowledge: &KnowledgeBase,
    ) -> Vec<RemediationPlan> {
        let judged = !analysis.breaches.is_empty();
        let breach_of: FnvMap<&str, &Breach> = analysis
            .breaches
            .iter()
            .map(|b| (b.policy.as_str(), b))
            .collect();
        let causes = &analysis.root_causes;
        // A Deployment's causes, the first few inline (one allocation less
        // per Deployment).
        let mut causes_of: FnvMap<&str, SmallVec<[&RootCause; 4]>> =
            FnvMap::with_capacity_and_hasher(causes.len(), Default::default());
        for rc in causes {
            causes_of.entry(rc.target.as_str()).or_default().push(rc);
        }
        // Without judgements, the policies that root causes name.
        let named: FnvMap<&str, ()> = if judged {
            FnvMap::default()
        } else {
            causes.iter().map(|rc| (rc.policy.as_str(), ())).collect()
        };
        // Sized for every target at once: a thousand choices grown one
        // doubling at a time were copied ten times.
        let mut choices: Vec<(Choice<'_>, Option<Box<RemediationPlan>>)> =
            Vec::with_capacity(targets.len());
        let mut best: FnvMap<&str, u32> =
            FnvMap::with_capacity_and_hasher(targets.len(), Default::default());
        for target in targets {
            let breach = breach_of.get(target.policy.as_str()).copied();
            let allowed = if judged {
                breach.is_some_and(|b| b.actionable)
            } else {
                named.contains_key(target.policy.as_str())
            };
            if !allowed {
                continue;
            }
            let Some(causes) = causes_of.get(target.deployment.as_str()) else {
                continue;
            };
            let Some(choice) = self.choose_among(causes, target, breach, knowledge) else {
                continue;
            };
            match best.entry(target.deployment.as_str()) {
                Entry::Vacant(e) => {
                    e.insert(choices.len() as u32);
                    choices.push((choice, None));
                }
                Entry::Occupied(e) => {
                    let entry = &mut choices[*e.get() as usize];
                    let (current, current_plan) = entry;
                    match cmp_choice(&choice, current) {
                        Ordering::Greater => *entry = (choice, None),
                        Ordering::Less => {}
                        Ordering::Equal => {
                            // A full tie: the smaller plan hash wins.
                            let current_hash = &current_plan
                                .get_or_insert_with(|| Box::new(self.build(current)))
                                .plan_hash;
                            let plan = self.build(&choice);
                            if plan.plan_hash < *current_hash {
                                *entry = (choice, Some(Box::new(plan)));
                            }
                        }
                    }
                }
            }
        }
        let mut order: Vec<(Priority, f64, &str, &str, u32)> = choices
            .iter()
            .enumerate()
            .map(|(i, (choice, _))| {
                (
                    priority(choice.target.severity, choice.confidence),
                    choice.score_rounded(),
                    choice.target.deployment.as_str(),
                    choice.target.policy.as_str(),
                    i as u32,
                )
            })
            .collect();
        order.sort_unstable_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| b.1.total_cmp(&a.1))
                .then_with(|| a.2.cmp(b.2))
                .then_with(|| a.3.cmp(b.3))
        });
        let mut plans = Vec::with_capacity(order.len());
        for &(.., i) in &order {
            let (choice, plan) = &mut choices[i as usize];
            plans.push(plan.take().map_or_else(|| self.build(choice), |p| *p));
        }
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
        self.choose_among(&[rc], target, None, knowledge)
            .map(|choice| self.build(&choice))
    }
}

/// `Expected to relieve <kind> on <deployment> (confidence <c>) by <step>, then
/// <step>: benefit <b> against cost <c>.`, written into one string with `room`
/// bytes to spare.
fn expected_impact(
    kind: RootCauseKind,
    target: &PlanTarget,
    confidence: f64,
    actions: &[RemediationAction],
    benefit: f64,
    cost: f64,
    room: usize,
) -> String {
    // Sized for the whole text, so it is allocated once: the fixed words
    // and figures, the Deployment, and each step's words and setting.
    let steps: usize = actions
        .iter()
        .map(|a| {
            64 + a
                .config
                .as_ref()
                .map_or(0, |c| c.name.len() + c.value.len())
        })
        .sum();
    let mut out: Vec<u8> = Vec::with_capacity(112 + target.deployment.len() + steps + room);
    out.extend_from_slice(b"Expected to relieve ");
    out.extend_from_slice(kind_name(kind).as_bytes());
    out.extend_from_slice(b" on ");
    out.extend_from_slice(target.deployment.as_bytes());
    out.extend_from_slice(b" (confidence ");
    push_fixed(&mut out, confidence, 2);
    out.extend_from_slice(b") by ");
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", then ");
        }
        describe(&mut out, a);
    }
    out.extend_from_slice(b": benefit ");
    push_fixed(&mut out, benefit, 2);
    out.extend_from_slice(b" against cost ");
    push_fixed(&mut out, cost, 2);
    out.push(b'.');
    // Only whole strings and ASCII were appended.
    String::from_utf8(out).unwrap_or_default()
}
