//! Writing out a chosen plan: action ids and parameters, priority, risk, the
//! expected impact with its sizing note, and the plan hash.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::choose::{Candidate, Choice};
use super::{Planner, Sizing, expected_impact, plan_hash, round4};
use crate::analyze::LoadFit;
use crate::model::{
    ActionType, ConfigChange, PatchKind, Priority, RemediationAction, RemediationPlan, RiskLevel,
    Severity, SharedStr,
};

impl Planner {
    /// Writes out a chosen plan: action ids, parameters, the expected impact, and
    /// the plan hash.
    pub(super) fn build(&self, choice: &Choice<'_>) -> RemediationPlan {
        let Choice {
            kind,
            target,
            confidence,
            ref chosen,
            cost,
            benefit,
            sizing: _,
        } = *choice;
        let priority = priority(target.severity, confidence);
        let risk = risk(chosen, target.current_replicas);
        let actions: Vec<RemediationAction> = chosen
            .iter()
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
                revision: c.revision,
                priority,
                estimated_latency_seconds: self.latency(c.action_type),
            })
            .collect();
        // Room for the sizing note too, so the text is allocated once.
        let note = if choice.sizing.is_some() { 256 } else { 0 };
        let mut expected_impact =
            expected_impact(kind, target, confidence, &actions, benefit, cost, note);
        if let Some((z, by_load)) = choice.sizing.as_deref() {
            sizing_note(&mut expected_impact, z, by_load.as_ref());
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
            // A rollback is a rollout, as a restart is.
            PatchKind::Restart | PatchKind::Rollback => self.config.restart_latency_seconds,
            PatchKind::Config => self.config.config_latency_seconds,
        }
    }
}

/// How a proportional scale-up was sized, appended to the expected impact.
fn sizing_note(out: &mut String, z: &Sizing, by_load: Option<&LoadFit>) {
    // Writing to a String cannot fail.
    let _ = match by_load {
        Some(f) => write!(
            out,
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
        ),
        None => write!(
            out,
            " Sized as HPA does: ceil({} × {:.2} (level over threshold) × {:.2} (headroom)) = {}",
            z.current.max(1),
            z.ratio,
            1.0 + z.headroom,
            z.desired
        ),
    };
    if i64::from(z.replicas) != z.desired {
        let _ = write!(
            out,
            ", set to {} by the envelope (bounds, maxStep, at least one more)",
            z.replicas
        );
    }
    out.push_str(" replicas.");
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
