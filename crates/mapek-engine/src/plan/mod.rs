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
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analyze::LoadFit;
use super::fnv::FnvMap;
use super::judge::Breach;
use super::knowledge::KnowledgeBase;
use super::model::{
    ActionType, AnalysisResult, ConfigChange, ConfigSetting, LoadTrend, PatchKind, Priority,
    RemediationAction, RemediationEnvelope, RemediationPlan, RiskLevel, RootCause, RootCauseKind,
    Severity, SharedStr,
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

/// The planner of the seed system.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Planner {
    pub config: PlannerConfig,
}

/// At most this many candidate actions per root-cause kind (`candidate_actions`),
/// so a plan's candidates and chosen actions are kept in arrays, not vectors.
const MAX_CANDIDATES: usize = 4;

/// One scored, parameterised action before ids and priorities are assigned.
#[derive(Clone, Copy)]
struct Candidate<'t> {
    action_type: ActionType,
    replicas: Option<i32>,
    /// For config actions: the envelope's setting it sets.
    setting: Option<&'t ConfigSetting>,
    /// For a proportionally sized scale action: the arithmetic, for the plan.
    sizing: Option<Sizing>,
    /// When the scale-up was sized by load: the metric against the load.
    by_load: Option<LoadFit>,
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
    /// The chosen actions, best first (at most one per candidate).
    chosen: [Option<Candidate<'t>>; MAX_CANDIDATES],
    cost: f64,
    benefit: f64,
}

impl Choice<'_> {
    fn score(&self) -> f64 {
        self.benefit - self.cost
    }

    /// The score the plan will carry.
    fn score_rounded(&self) -> f64 {
        round4(self.benefit - self.cost)
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
        let mut causes_of: FnvMap<&str, Vec<&RootCause>> = FnvMap::default();
        for rc in &analysis.root_causes {
            causes_of.entry(rc.target.as_str()).or_default().push(rc);
        }
        // Without judgements, the policies that root causes name.
        let named: std::collections::HashSet<&str> = analysis
            .root_causes
            .iter()
            .map(|rc| rc.policy.as_str())
            .collect();
        let mut choices: Vec<(Choice<'_>, Option<Box<RemediationPlan>>)> = Vec::new();
        let mut best: FnvMap<&str, u32> = FnvMap::default();
        for target in targets {
            let breach = breach_of.get(target.policy.as_str()).copied();
            let allowed = if judged {
                breach.is_some_and(|b| b.actionable)
            } else {
                named.contains(target.policy.as_str())
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

    /// The best actions for one target against the root-cause distribution of its
    /// Deployment, if any is allowed and worth its cost. An action's benefit is
    /// its expected effect under the distribution, `Σ_k P(k) × prior(k, action) ×
    /// knowledge factor(k, action)`; its score is benefit minus cost. The plan's
    /// root cause is the kind that contributes most to the first action's
    /// benefit, and its confidence that kind's probability.
    fn choose_among<'t>(
        &self,
        causes: &[&RootCause],
        target: &'t PlanTarget,
        breach: Option<&Breach>,
        knowledge: &KnowledgeBase,
    ) -> Option<Choice<'t>> {
        let p = |rc: &RootCause| {
            if rc.confidence.is_finite() {
                rc.confidence.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        let envelope = &target.envelope;
        let mut candidates: Vec<(Candidate<'t>, RootCauseKind, f64)> = Vec::new();
        let load_trend = breach.and_then(|b| b.load.as_ref()).map(|l| l.trend);
        for action in ActionType::ALL {
            if !envelope.allows(action) {
                continue;
            }
            // At flat load more replicas would not relieve the breach.
            if action == ActionType::ScaleUp && load_trend == Some(LoadTrend::Flat) {
                continue;
            }
            // Expected benefit, and the kind contributing most to it.
            let mut benefit = 0.0;
            let mut lead: Option<(f64, RootCauseKind, f64)> = None;
            for rc in causes {
                let prior = prior_effectiveness(rc.kind, action);
                if prior <= 0.0 {
                    continue;
                }
                let part = p(rc) * prior * knowledge.benefit_factor(rc.kind, action);
                benefit += part;
                if lead.is_none_or(|(b, k, _)| part > b || (part == b && rc.kind < k)) {
                    lead = Some((part, rc.kind, p(rc)));
                }
            }
            let Some((_, kind, confidence)) = lead else {
                continue;
            };
            let (mut replicas, mut setting, mut sizing, mut by_load) = (None, None, None, None);
            match action.patch_kind() {
                PatchKind::Scale => {
                    let Some(bounds) = envelope.scale.as_ref() else {
                        continue;
                    };
                    // With a rising load, the capacity the load needs; else
                    // the breach's level over its threshold, as HPA does.
                    let fit = breach.and_then(LoadFit::of);
                    let ratio = fit
                        .map(|f| f.ratio())
                        .or_else(|| breach.and_then(Breach::overload_ratio));
                    if action == ActionType::ScaleUp {
                        by_load = fit;
                    }
                    let r = match (action, ratio) {
                        (ActionType::ScaleUp, Some(ratio)) => {
                            let Some((r, note)) = proportional_replicas(
                                target.current_replicas,
                                ratio,
                                self.config.scale_headroom,
                                bounds,
                            ) else {
                                continue;
                            };
                            sizing = Some(note);
                            r
                        }
                        _ => {
                            let Some(r) = scale_replicas(action, target.current_replicas, bounds)
                            else {
                                continue;
                            };
                            r
                        }
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
            let c = Candidate {
                action_type: action,
                replicas,
                setting,
                sizing,
                by_load,
                benefit: benefit.clamp(0.0, 1.0),
                cost: action.cost(),
            };
            if c.score() > self.config.min_score {
                candidates.push((c, kind, confidence));
            }
        }
        // Every action type appears once, so the order is total.
        candidates.sort_by(|a, b| {
            b.0.score()
                .total_cmp(&a.0.score())
                .then(a.0.action_type.cmp(&b.0.action_type))
        });

        // Two actions setting the same value would be one change twice.
        let mut chosen: [Option<Candidate<'t>>; MAX_CANDIDATES] = [None; MAX_CANDIDATES];
        let mut len = 0;
        let mut head: Option<(RootCauseKind, f64)> = None;
        for (c, kind, confidence) in candidates {
            if len >= self.config.max_actions.min(MAX_CANDIDATES) {
                break;
            }
            let duplicate = c.setting.is_some_and(|cs| {
                chosen[..len].iter().flatten().any(|o| {
                    o.setting.is_some_and(|os| {
                        os.name == cs.name && os.target == cs.target && os.container == cs.container
                    })
                })
            });
            if !duplicate {
                head.get_or_insert((kind, confidence));
                chosen[len] = Some(c);
                len += 1;
            }
        }
        let (kind, confidence) = head?;
        let cost = round4(chosen.iter().flatten().map(|c| c.cost).sum());
        let benefit = round4(chosen.iter().flatten().map(|c| c.benefit).sum());
        Some(Choice {
            kind,
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
            .flatten()
            .enumerate()
            .map(|(i, c)| RemediationAction {
                id: action_id(i),
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
        let mut expected_impact =
            expected_impact(kind, target, confidence, &actions, benefit, cost);
        for c in chosen.iter().flatten() {
            let Some(z) = c.sizing else {
                continue;
            };
            match c.by_load {
                Some(f) => expected_impact.push_str(&format!(
                    " Sized by load: the metric went from {:.4} at load {:.4} (healthy) to {:.4} at {:.4}, so it reaches its threshold {} at about {:.4}; ceil({} × {:.2} (load over that) × {:.2} (headroom)) = {}",
                    f.baseline_metric,
                    f.baseline_load,
                    f.recent_metric,
                    f.recent_load,
                    f.threshold,
                    f.load_at_threshold,
                    z.current.max(1),
                    z.ratio,
                    1.0 + z.headroom,
                    z.desired
                )),
                None => expected_impact.push_str(&format!(
                    " Sized as HPA does: ceil({} × {:.2} (level over threshold) × {:.2} (headroom)) = {}",
                    z.current.max(1),
                    z.ratio,
                    1.0 + z.headroom,
                    z.desired
                )),
            }
            if i64::from(z.replicas) != z.desired {
                expected_impact.push_str(&format!(
                    ", set to {} by the envelope (bounds, maxStep, at least one more)",
                    z.replicas
                ));
            }
            expected_impact.push_str(" replicas.");
        }
        let mut plan = RemediationPlan {
            target: target.deployment.clone(),
            policy: target.policy.clone(),
            root_cause: kind,
            confidence: round4(confidence),
            expected_impact,
            actions,
            risk,
            priority,
            cost,
            benefit,
            score: choice.score_rounded(),
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

/// `a1`, `a2`, ...: the id of the action at `index`. The first ones are made
/// once and shared by every plan.
fn action_id(index: usize) -> SharedStr {
    static IDS: OnceLock<[SharedStr; 4]> = OnceLock::new();
    let ids = IDS.get_or_init(|| ["a1", "a2", "a3", "a4"].map(SharedStr::from));
    ids.get(index)
        .cloned()
        .unwrap_or_else(|| format!("a{}", index + 1).into())
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
fn risk(chosen: &[Option<Candidate>], current: i32) -> RiskLevel {
    let max_cost = chosen.iter().flatten().map(|c| c.cost).fold(0.0, f64::max);
    let total: f64 = chosen.iter().flatten().map(|c| c.cost).sum();
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
    for r in chosen.iter().flatten().filter_map(|c| c.replicas) {
        let delta = (i64::from(r) - i64::from(current)).abs();
        if current <= 0 || 2 * delta > i64::from(current) {
            risk = risk.max(RiskLevel::Medium);
        }
    }
    risk
}

/// `Expected to relieve <kind> on <deployment> (confidence <c>) by <step>, then
/// <step>: benefit <b> against cost <c>.`, written into one string.
fn expected_impact(
    kind: RootCauseKind,
    target: &PlanTarget,
    confidence: f64,
    actions: &[RemediationAction],
    benefit: f64,
    cost: f64,
) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(160 + target.deployment.len());
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
