//! Choosing a plan's actions: every allowed action scored against the
//! Deployment's root-cause distribution and the learned outcomes, given its
//! parameters (replicas, config setting), the best kept; and which of two
//! choices for the same Deployment wins.

use std::cmp::Ordering;

use smallvec::SmallVec;

use super::{
    PlanTarget, Planner, Sizing, prior_effectiveness, proportional_replicas, round4, scale_replicas,
};
use crate::analyze::LoadFit;
use crate::judge::Breach;
use crate::knowledge::KnowledgeBase;
use crate::model::{ActionType, ConfigSetting, LoadTrend, PatchKind, RootCause, RootCauseKind};

/// At most this many candidate actions per root-cause kind (`candidate_actions`):
/// the most actions a plan can have, whatever `maxActions` says.
pub(super) const MAX_CANDIDATES: usize = 4;

/// One scored, parameterised action before ids and priorities are assigned.
/// Small, because a thousand choices hold them: the sizing arithmetic of the
/// one scale-up is kept once per choice ([`Choice::sizing`]).
#[derive(Clone, Copy)]
pub(super) struct Candidate<'t> {
    pub(super) action_type: ActionType,
    pub(super) replicas: Option<i32>,
    /// For config actions: the envelope's setting it sets.
    pub(super) setting: Option<&'t ConfigSetting>,
    /// For a rollback: the revision it restores.
    pub(super) revision: Option<i64>,
    pub(super) benefit: f64,
    pub(super) cost: f64,
}

impl Candidate<'_> {
    fn score(&self) -> f64 {
        self.benefit - self.cost
    }
}

/// The actions chosen for one root cause on one target: everything that decides
/// which plan wins, before its text and hash are written.
pub(super) struct Choice<'t> {
    pub(super) kind: RootCauseKind,
    pub(super) target: &'t PlanTarget,
    pub(super) confidence: f64,
    /// The chosen actions, best first (at most one per candidate). Two, the
    /// default `maxActions`, are kept inline: a thousand choices wait for
    /// their plans, and their memory is paged in anew on every pass.
    pub(super) chosen: SmallVec<[Candidate<'t>; 2]>,
    pub(super) cost: f64,
    pub(super) benefit: f64,
    /// When a chosen scale-up was sized proportionally: the arithmetic, and the
    /// metric against the load when it was sized by load. Only SCALE_UP is
    /// sized so, and it is chosen at most once. Boxed: most plans have none,
    /// and a choice stays small.
    pub(super) sizing: Option<Box<(Sizing, Option<LoadFit>)>>,
}

impl Choice<'_> {
    fn score(&self) -> f64 {
        self.benefit - self.cost
    }

    /// The score the plan will carry.
    pub(super) fn score_rounded(&self) -> f64 {
        round4(self.benefit - self.cost)
    }
}

/// Which of two plans for the same Deployment is better: higher score, then higher
/// confidence, then the earlier root-cause kind and policy name. `Equal` leaves
/// the choice to the plan hash (the smaller wins).
pub(super) fn cmp_choice(a: &Choice<'_>, b: &Choice<'_>) -> Ordering {
    a.score()
        .total_cmp(&b.score())
        .then_with(|| a.confidence.total_cmp(&b.confidence))
        .then_with(|| b.kind.cmp(&a.kind))
        .then_with(|| b.target.policy.cmp(&a.target.policy))
}

impl Planner {
    /// The best actions for one target against the root-cause distribution of its
    /// Deployment, if any is allowed and worth its cost. An action's benefit is
    /// its expected effect under the distribution, `Σ_k P(k) × prior(k, action) ×
    /// knowledge factor(k, action)`; its score is benefit minus cost. The plan's
    /// root cause is the kind that contributes most to the first action's
    /// benefit, and its confidence that kind's probability.
    pub(super) fn choose_among<'t>(
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
        // At most one per action type: on the stack.
        let mut candidates: SmallVec<[(Candidate<'t>, RootCauseKind, f64); ActionType::ALL.len()]> =
            SmallVec::new();
        let mut scale_up_sizing = None;
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
            let (mut replicas, mut setting) = (None, None);
            let mut revision = None;
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
                            scale_up_sizing = Some((note, fit));
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
                // Only with a change to undo: the revision before it.
                PatchKind::Rollback => {
                    let Some(signal) = breach.and_then(|b| b.change.as_ref()) else {
                        continue;
                    };
                    revision = Some(signal.change.previous_revision);
                }
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
                revision,
                benefit: benefit.clamp(0.0, 1.0),
                cost: action.cost(),
            };
            if c.score() > self.config.min_score {
                candidates.push((c, kind, confidence));
            }
        }
        // Every action type appears once, so the order is total.
        candidates.sort_unstable_by(|a, b| {
            b.0.score()
                .total_cmp(&a.0.score())
                .then(a.0.action_type.cmp(&b.0.action_type))
        });

        // Two actions setting the same value would be one change twice.
        let mut chosen: SmallVec<[Candidate<'t>; 2]> = SmallVec::new();
        let mut head: Option<(RootCauseKind, f64)> = None;
        for (c, kind, confidence) in candidates {
            if chosen.len() >= self.config.max_actions.min(MAX_CANDIDATES) {
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
                head.get_or_insert((kind, confidence));
                chosen.push(c);
            }
        }
        let (kind, confidence) = head?;
        let cost = round4(chosen.iter().map(|c| c.cost).sum());
        let benefit = round4(chosen.iter().map(|c| c.benefit).sum());
        let scaled_up = chosen.iter().any(|c| c.action_type == ActionType::ScaleUp);
        Some(Choice {
            kind,
            target,
            confidence,
            chosen,
            cost,
            benefit,
            sizing: scale_up_sizing.filter(|_| scaled_up).map(Box::new),
        })
    }
}
