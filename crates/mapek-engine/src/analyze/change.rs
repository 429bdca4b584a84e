//! Change signals: whether a policy's breach began shortly after a change of
//! its Deployment's pod template (an image, env var, annotation or resources:
//! a new rollout revision), so that the change is a root cause of its own
//! ([`RootCauseKind::BadChange`]) and undoing it (`ROLLBACK_REVISION`) the
//! remedy.
//!
//! The operator reads the Deployment's ReplicaSets and passes their changes as
//! [`TemplateChange`]s (a rolling restart, which only changes the restart
//! annotation, is not one). For a current, actionable breach, the change
//! blamed ([`signal`]) is the latest one of its Deployment such that:
//! - it came at most `window_ms` (15 min) before the breach's run began (a
//!   change after the run began, during an already-running breach, is never
//!   blamed);
//! - the policy's metric was within its threshold on at least
//!   `min_healthy_before` (5) evaluations in the hour before the change: the
//!   previous revision ran healthy, else the breach was already there and the
//!   change is not blamed;
//! - the breach's load (see [`super::load`]) is not rising: a rising load
//!   explains the breach better (an overload, which capacity relieves).
//!
//! What it changes ([`apply`]): on the breach's Deployment, `weight` (0.9) of
//! every other root cause's confidence moves to a `BadChange` cause (created
//! when absent), so the target's total is unchanged and the other hypotheses
//! keep their order among themselves. A change is no detector's pattern, so this
//! happens after ranking, in place of explaining away (see `rank.rs`). Each
//! Deployment is weighed once, by the first of its breaches (in policy order)
//! that carries a change; a target with no root cause at all gets none (there is
//! no evidence to move). The planner proposes `ROLLBACK_REVISION` (to the
//! change's previous revision) only for a breach that carries a change.

use std::collections::BTreeSet;
use std::fmt::Write;

pub use crate::config::ChangeConfig;
use crate::decimal::Fixed;
use crate::judge::Breach;
use crate::model::{
    ChangeSignal, FieldChange, LoadTrend, Millis, Point, RootCause, RootCauseKind, TemplateChange,
};

/// The span before a change in which the previous revision must have run
/// healthy.
const HEALTHY_SPAN_MS: Millis = 3_600_000;

/// At most this many field changes are named in a reason.
const MAX_FIELDS_NAMED: usize = 3;

/// The change of `changes` (those of the breach's Deployment) that the breach
/// followed, if any (see the module documentation). `history` is the policy's
/// metric samples in time order.
pub fn signal(
    breach: &Breach,
    history: &[Point],
    changes: &[TemplateChange],
    config: &ChangeConfig,
) -> Option<ChangeSignal> {
    if !(breach.current && breach.actionable) {
        return None;
    }
    if breach
        .load
        .as_ref()
        .is_some_and(|l| l.trend == LoadTrend::Rising)
    {
        return None;
    }
    let run_start = breach.run_start_ms?;
    let window = config.window_ms.max(0);
    // The latest change in the window; ties go to the higher revision.
    let change = changes
        .iter()
        .filter(|c| c.target == breach.target)
        .filter(|c| c.at_ms <= run_start && run_start.saturating_sub(c.at_ms) <= window)
        .max_by(|a, b| {
            a.at_ms
                .cmp(&b.at_ms)
                .then(a.revision.cmp(&b.revision))
                .then(a.previous_revision.cmp(&b.previous_revision))
        })?;
    let from = change.at_ms.saturating_sub(HEALTHY_SPAN_MS);
    let healthy = history
        .iter()
        .filter(|s| {
            s.at_ms >= from
                && s.at_ms < change.at_ms
                && s.value.is_finite()
                && !breach.operator.violates(s.value, breach.threshold)
        })
        .count();
    if healthy < config.min_healthy_before.max(1) {
        return None;
    }
    let lead_ms = run_start - change.at_ms;
    let reason = format!(
        "began {} after revision {} of {} ({}); revision {} ran healthy before",
        duration(lead_ms),
        change.revision,
        change.target,
        diff_text(&change.diff),
        change.previous_revision,
    );
    Some(ChangeSignal {
        change: change.clone(),
        lead_ms,
        reason,
    })
}

/// A lead time in a few characters: `45s`, `3m`, `3m30s`.
fn duration(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// The diff in words: at most [`MAX_FIELDS_NAMED`] fields, then "and N more".
fn diff_text(diff: &[FieldChange]) -> String {
    if diff.is_empty() {
        return "no field listed".into();
    }
    let value = |v: &Option<String>| match v {
        Some(v) => format!("{v:?}"),
        None => "unset".into(),
    };
    let mut out = String::new();
    for (i, f) in diff.iter().take(MAX_FIELDS_NAMED).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{}: {} -> {}",
            f.field,
            value(&f.before),
            value(&f.after)
        );
    }
    if diff.len() > MAX_FIELDS_NAMED {
        let _ = write!(out, " and {} more", diff.len() - MAX_FIELDS_NAMED);
    }
    out
}

/// Moves root-cause evidence to the bad change of each Deployment whose breach
/// carries one (see the module documentation), then sorts the causes as the
/// ranking does.
pub fn apply(causes: &mut Vec<RootCause>, breaches: &[Breach], config: &ChangeConfig) {
    let w = if config.weight.is_finite() {
        config.weight.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for b in breaches {
        let Some(signal) = &b.change else {
            continue;
        };
        if !done.insert(b.target.as_str()) {
            continue;
        }
        let why = format!(
            " Weakened by revision {} of {}: the breach of policy {} began after it.",
            signal.change.revision, b.target, b.policy
        );
        let (moved, mut supports) = super::rank::take_share(
            causes,
            &b.target,
            |k| k != RootCauseKind::BadChange,
            w,
            &why,
        );
        if moved <= 0.0 {
            continue;
        }
        if let Some(rc) = causes
            .iter_mut()
            .find(|rc| rc.target == b.target && rc.kind == RootCauseKind::BadChange)
        {
            rc.confidence = (rc.confidence + moved).min(1.0);
            rc.supporting_patterns.extend(supports);
            rc.supporting_patterns.sort_unstable();
            rc.supporting_patterns.dedup();
            let _ = write!(
                rc.description,
                " Strengthened by policy {}: {}.",
                b.policy, signal.reason
            );
        } else {
            supports.sort_unstable();
            supports.dedup();
            let confidence = moved.min(1.0);
            causes.push(RootCause {
                kind: RootCauseKind::BadChange,
                target: b.target.clone(),
                policy: b.policy.clone(),
                confidence,
                description: format!(
                    "BadChange on {} (confidence {confidence}): the breach of policy {} {}.",
                    b.target,
                    b.policy,
                    signal.reason,
                    confidence = Fixed(confidence, 2)
                ),
                supporting_patterns: supports,
            });
        }
    }
    super::rank::sort_causes(causes);
}

#[cfg(test)]
mod tests;
