//! `explain`: one plan told in words for the person who approves it (where it
//! stands, why it was made, what each action does, at what risk).

use std::fmt::Write as _;

use kube::ResourceExt;
use mapek_api::{ApprovalState, RemediationPolicy, ViolationPolicy};
use mapek_engine::model::EpisodeMark;

use crate::render::{approval, percent};

/// What one action does, in words: the engine's [`mapek_engine::plan::describe::in_words`].
pub use mapek_engine::plan::describe::in_words as describe_action;

/// One plan in words: where it stands, why it was made, what it does, at what risk.
pub fn explain(rp: &RemediationPolicy) -> String {
    let name = rp.name_any();
    let ns = rp.namespace().unwrap_or_else(|| "default".into());
    let plan = &rp.spec.plan;
    let evidence = &rp.spec.evidence;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan {name} (namespace {ns}) for Deployment {}, proposed under ViolationPolicy {}.",
        plan.target, plan.policy
    );
    let state = approval(rp);
    let phase = rp.status.as_ref().map(|s| s.phase).unwrap_or_default();
    let _ = writeln!(out, "State: {state:?}, execution {phase:?}.");
    if let Some(by) = rp.status.as_ref().and_then(|s| s.approved_by.as_ref()) {
        let _ = writeln!(out, "Approved by: {by}");
    }
    if let Some(message) = rp.status.as_ref().and_then(|s| s.approval_message.as_ref()) {
        let _ = writeln!(out, "Note: {message}");
    }
    if let Some(mark) = &rp.spec.git_ops {
        let _ = writeln!(
            out,
            "GitOps ({:?}): {} ({}).",
            mark.mode, mark.message, mark.evidence
        );
    }
    if let Some(mark) = &rp.spec.hpa {
        let _ = writeln!(
            out,
            "HorizontalPodAutoscaler {} (minReplicas {}, maxReplicas {}; hpa {:?}): {}.",
            mark.name, mark.min_replicas, mark.max_replicas, mark.mode, mark.message
        );
    }
    let _ = writeln!(out, "Plan hash: {}", plan.plan_hash);
    let _ = writeln!(
        out,
        "\nWhy: the most likely root cause is {:?}, with {} confidence.",
        plan.root_cause,
        percent(plan.confidence)
    );
    if let Some(since) = rp.annotations().get("mapek.io/episode-since") {
        let _ = writeln!(out, "Breach episode: since {since}.");
    }
    for b in &evidence.breaches {
        let _ = writeln!(out, "Why now ({}): {}.", b.policy, b.reason);
        if let Some(mark) = &b.episode {
            let _ = writeln!(out, "{}", episode_mark(mark));
        }
        if let Some(signal) = &b.change {
            let c = &signal.change;
            let _ = writeln!(
                out,
                "The change before it: revision {} of Deployment {} ({} before the breach began; \
                 rolling back restores revision {}):",
                c.revision,
                c.target,
                minutes(signal.lead_ms),
                c.previous_revision
            );
            for f in &c.diff {
                let _ = writeln!(
                    out,
                    "  {}: {} -> {}",
                    f.field,
                    shown(f.before.as_deref()),
                    shown(f.after.as_deref())
                );
            }
        }
    }
    if !evidence.root_causes.is_empty() {
        let _ = writeln!(out, "Root causes considered, most likely first:");
        for (i, cause) in evidence.root_causes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {:?} ({}): {}",
                i + 1,
                cause.kind,
                percent(cause.confidence),
                cause.description
            );
        }
    }
    let _ = writeln!(
        out,
        "Evidence: {} violations analyzed{}",
        evidence.violations_analyzed,
        if evidence.patterns.is_empty() {
            ", no pattern recorded.".to_string()
        } else {
            format!(
                "; {} pattern{} found:",
                evidence.patterns.len(),
                if evidence.patterns.len() == 1 {
                    ""
                } else {
                    "s"
                }
            )
        }
    );
    for p in &evidence.patterns {
        let _ = writeln!(
            out,
            "  - {:?} ({} confidence, about {}): {}",
            p.pattern_type,
            percent(p.confidence),
            p.subject,
            p.hypothesis
        );
    }
    let _ = writeln!(out, "\nWhat it does, in order:");
    for (i, action) in plan.actions.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} [{}]: {} (priority {:?}, about {} s)",
            i + 1,
            action.action_type,
            action.id,
            describe_action(action),
            action.priority,
            action.estimated_latency_seconds
        );
        let dry_run = rp
            .status
            .as_ref()
            .and_then(|s| s.dry_run.iter().find(|r| r.action_id == action.id.as_str()));
        match dry_run {
            Some(r) if !r.accepted => {
                let _ = writeln!(
                    out,
                    "     Dry run: REFUSED: {}",
                    r.error.as_deref().unwrap_or("no reason given")
                );
            }
            Some(r) if r.changes.is_empty() => {
                let _ = writeln!(out, "     Dry run: accepted, changes nothing");
            }
            Some(r) => {
                let _ = writeln!(out, "     Dry run: accepted; it changes:");
                for c in &r.changes {
                    let _ = writeln!(
                        out,
                        "       {}: {} -> {}",
                        c.field,
                        shown(c.before.as_deref()),
                        shown(c.after.as_deref())
                    );
                }
            }
            None => {}
        }
    }
    let _ = writeln!(out, "Expected impact: {}", plan.expected_impact);
    let _ = writeln!(
        out,
        "Risk: {:?}. Cost {:.2}, benefit {:.2}, score {:.2}, priority {:?}.",
        plan.risk, plan.cost, plan.benefit, plan.score, plan.priority
    );
    if state == ApprovalState::Pending {
        let _ = writeln!(
            out,
            "\nApprove: kubectl mapek approve {name} -n {ns}\nReject:  kubectl mapek reject {name} -n {ns} --reason \"...\""
        );
    } else if let Some(execution) = rp.status.as_ref().and_then(|s| s.execution.as_ref()) {
        let _ = writeln!(out, "\nExecution:");
        for a in &execution.actions {
            let _ = writeln!(
                out,
                "  {} [{}]: {:?}{}",
                a.action_type,
                a.action_id,
                a.status,
                a.result
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
        if let Some(error) = &execution.error {
            let _ = writeln!(out, "  Error: {error}");
        }
    }
    out
}

/// A plan's breach episode as its evidence recorded it: since when, which plan
/// of how many, in what state, and why a plan could follow.
fn episode_mark(m: &EpisodeMark) -> String {
    format!(
        "Episode: since {}, plan {} of at most {} (state {:?} before it): {}{}.",
        at(m.since_ms),
        m.plans + 1,
        m.max_plans,
        m.state,
        m.reason,
        if m.worsened {
            "; allowed because the breach worsened past the bar"
        } else {
            ""
        }
    )
}

/// A time in milliseconds as RFC 3339.
fn at(ms: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_millisecond(ms).map_or(ms.to_string(), |t| t.to_string())
}

/// One ViolationPolicy's breach episode in words: since when, its plans and
/// their fates, its state and why, and the `Exhausted` condition.
pub fn explain_policy(vp: &ViolationPolicy) -> String {
    let name = vp.name_any();
    let ns = vp.namespace().unwrap_or_else(|| "default".into());
    let c = &vp.spec.condition;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ViolationPolicy {name} (namespace {ns}) on Deployment {}: {:?} {}.",
        vp.spec.target_ref.name, c.operator, c.threshold
    );
    let status = vp.status.clone().unwrap_or_default();
    if let Some(v) = status.last_value {
        let _ = writeln!(out, "Last value: {v}.");
    }
    let Some(e) = &status.episode else {
        let _ = writeln!(out, "No breach episode yet.");
        return out;
    };
    let _ = writeln!(
        out,
        "Breach episode: {:?}, since {}, last breach {}{}; {} of at most {} plans.",
        e.state,
        e.since.0,
        e.last_breach.0,
        e.ended_at
            .as_ref()
            .map(|t| format!(", ended {}", t.0))
            .unwrap_or_default(),
        e.plans.len(),
        e.max_plans
    );
    if !e.message.is_empty() {
        let _ = writeln!(out, "Why: {}.", e.message);
    }
    for (i, p) in e.plans.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} proposed {} at level {}: {:?}{}{}",
            i + 1,
            p.name,
            p.proposed_at.0,
            p.level,
            p.state,
            p.closed_at
                .as_ref()
                .map(|t| format!(" (closed {})", t.0))
                .unwrap_or_default(),
            if p.worsened {
                "; allowed because the breach worsened past the bar"
            } else {
                ""
            }
        );
    }
    if let Some(cond) = status.conditions.iter().find(|c| c.type_ == "Exhausted") {
        let _ = writeln!(
            out,
            "Condition Exhausted={} ({}): {}",
            cond.status, cond.reason, cond.message
        );
    }
    out
}

#[cfg(test)]
mod tests;

/// A field's value as explain prints it: quoted, or `(unset)`.
fn shown(value: Option<&str>) -> String {
    value.map_or("(unset)".into(), |v| format!("{v:?}"))
}

/// A span as minutes and seconds, such as `3m05s` or `40s`.
fn minutes(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s / 60 {
        0 => format!("{s}s"),
        m => format!("{m}m{:02}s", s % 60),
    }
}
