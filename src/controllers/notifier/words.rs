//! The annotations of the alerts: a one-line summary, the plan in words (each
//! action as the engine's `in_words` says it, as `kubectl mapek explain` does),
//! and the exact `kubectl` commands that approve or reject the plan.

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::controllers::analyzer::EXHAUSTED;
use mapek_api::{APPROVE_ANNOTATION, APPROVED_BY_ANNOTATION, REJECT_ANNOTATION};
use mapek_api::{RemediationPolicy, ViolationPolicy};
use mapek_engine::plan::describe::in_words;

type Annotations = BTreeMap<String, String>;

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The plan in words: why, what each action does, the expected impact and the risk.
pub fn plan_in_words(rp: &RemediationPolicy) -> String {
    let plan = &rp.spec.plan;
    let actions: Vec<String> = plan.actions.iter().map(in_words).collect();
    let actions = if actions.is_empty() {
        "no action".to_string()
    } else {
        actions.join("; then ")
    };
    format!(
        "Most likely root cause {:?} ({} confidence). The plan would {actions}. Expected impact: {}. Risk {:?}.",
        plan.root_cause,
        percent(plan.confidence),
        plan.expected_impact.trim_end_matches('.'),
        plan.risk
    )
}

/// The command that approves exactly this plan (its hash) as the caller.
pub fn approve_command(rp: &RemediationPolicy) -> String {
    format!(
        "kubectl annotate remediationpolicy {} -n {} {APPROVE_ANNOTATION}={} \"{APPROVED_BY_ANNOTATION}=$(kubectl auth whoami -o jsonpath='{{.status.userInfo.username}}')\"",
        rp.name_any(),
        rp.namespace().unwrap_or_default(),
        rp.spec.plan.plan_hash
    )
}

/// The command that rejects the plan, with a reason to fill in.
pub fn reject_command(rp: &RemediationPolicy) -> String {
    format!(
        "kubectl annotate remediationpolicy {} -n {} {REJECT_ANNOTATION}=\"<reason>\"",
        rp.name_any(),
        rp.namespace().unwrap_or_default()
    )
}

fn with_review(mut a: Annotations, review: Option<&str>) -> Annotations {
    if let Some(url) = review {
        a.insert("review_url".into(), url.to_string());
    }
    a
}

/// A plan waiting for approval.
pub fn pending(rp: &RemediationPolicy, review: Option<&str>) -> Annotations {
    let plan = &rp.spec.plan;
    let summary = format!(
        "Plan {} for Deployment {}/{} waits for approval: {:?}, risk {:?}, {} action(s)",
        rp.name_any(),
        rp.namespace().unwrap_or_default(),
        plan.target,
        plan.root_cause,
        plan.risk,
        plan.actions.len()
    );
    let a = Annotations::from([
        ("summary".into(), summary),
        ("description".into(), plan_in_words(rp)),
        ("approve".into(), approve_command(rp)),
        ("reject".into(), reject_command(rp)),
        ("plan_hash".into(), plan.plan_hash.clone()),
    ]);
    with_review(a, review)
}

/// A failed or rolled-back execution.
pub fn failed(rp: &RemediationPolicy, review: Option<&str>) -> Annotations {
    let status = rp.status.as_ref();
    let phase = status.map(|s| s.phase).unwrap_or_default();
    let error = status
        .and_then(|s| s.execution.as_ref())
        .and_then(|e| e.error.clone())
        .unwrap_or_else(|| "no error recorded".into());
    let summary = format!(
        "Execution of plan {} on Deployment {}/{}: {phase:?} ({error})",
        rp.name_any(),
        rp.namespace().unwrap_or_default(),
        rp.spec.plan.target
    );
    let a = Annotations::from([
        ("summary".into(), summary),
        ("description".into(), plan_in_words(rp)),
    ]);
    with_review(a, review)
}

/// A policy whose remediation is exhausted: its condition's message.
pub fn exhausted(vp: &ViolationPolicy, review: Option<&str>) -> Annotations {
    let message = vp
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == EXHAUSTED))
        .map(|c| format!("{} ({})", c.message, c.reason))
        .unwrap_or_default();
    let summary = format!(
        "ViolationPolicy {}/{} (Deployment {}): no more plans until the breach ends",
        vp.namespace().unwrap_or_default(),
        vp.name_any(),
        vp.spec.target_ref.name
    );
    let a = Annotations::from([("summary".into(), summary), ("description".into(), message)]);
    with_review(a, review)
}
