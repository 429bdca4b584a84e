//! The tables: the pending plans (`plans`) and what was learned (`insights`),
//! pure functions of the objects, in `kubectl get`'s column style.

use std::fmt::Write as _;

use kube::ResourceExt;
use mapek_api::{ApprovalState, RemediationPolicy};
use mapek_engine::knowledge::LearningInsight;

/// The approval state of a plan (a plan without status yet is pending).
pub fn approval(rp: &RemediationPolicy) -> ApprovalState {
    rp.status.as_ref().map(|s| s.approval).unwrap_or_default()
}

pub(crate) fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// One line of evidence: violations analyzed and the patterns with confidence.
pub fn evidence_summary(rp: &RemediationPolicy) -> String {
    let e = &rp.spec.evidence;
    let mut out = format!("{} violations", e.violations_analyzed);
    if !e.patterns.is_empty() {
        let patterns: Vec<String> = e
            .patterns
            .iter()
            .map(|p| format!("{:?} {}", p.pattern_type, percent(p.confidence)))
            .collect();
        let _ = write!(out, "; {}", patterns.join(", "));
    }
    out
}

/// The pending plans as a table; `namespace` is `None` when listing all namespaces
/// (a NAMESPACE column is added).
pub fn format_plans(plans: &[RemediationPolicy], namespace: Option<&str>) -> String {
    let pending: Vec<&RemediationPolicy> = plans
        .iter()
        .filter(|rp| approval(rp) == ApprovalState::Pending)
        .collect();
    if pending.is_empty() {
        return match namespace {
            Some(ns) => format!("No pending plans in namespace {ns}.\n"),
            None => "No pending plans in any namespace.\n".into(),
        };
    }
    let mut rows = vec![{
        let mut h = Vec::new();
        if namespace.is_none() {
            h.push("NAMESPACE".to_string());
        }
        h.extend(
            [
                "NAME",
                "TARGET",
                "ROOT CAUSE",
                "CONFIDENCE",
                "RISK",
                "ACTIONS",
                "EVIDENCE",
            ]
            .map(String::from),
        );
        h
    }];
    for rp in pending {
        let plan = &rp.spec.plan;
        let mut row = Vec::new();
        if namespace.is_none() {
            row.push(rp.namespace().unwrap_or_default());
        }
        let actions: Vec<&str> = plan
            .actions
            .iter()
            .map(|a| a.action_type.as_str())
            .collect();
        row.extend([
            rp.name_any(),
            plan.target.to_string(),
            format!("{:?}", plan.root_cause),
            percent(plan.confidence),
            format!("{:?}", plan.risk),
            actions.join(","),
            evidence_summary(rp),
        ]);
        rows.push(row);
    }
    table(&rows)
}

/// Columns three spaces apart, as `kubectl get` prints them.
fn table(rows: &[Vec<String>]) -> String {
    mapek_engine::report::columns(rows, 3)
}

/// What the knowledge learned, from `outcomes` PolicyOutcome objects.
pub fn format_insights(insights: &[LearningInsight], outcomes: usize) -> String {
    if insights.is_empty() {
        return format!(
            "Nothing learned yet ({outcomes} PolicyOutcome{} with a judged result).\n",
            if outcomes == 1 { "" } else { "s" }
        );
    }
    let mut rows = vec![
        [
            "ROOT CAUSE",
            "ACTION",
            "SUCCESS RATE",
            "CONFIDENCE",
            "OBSERVATIONS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for i in insights {
        rows.push(vec![
            format!("{:?}", i.root_cause),
            i.action_type.to_string(),
            percent(i.success_rate),
            percent(i.confidence),
            i.observations.to_string(),
        ]);
    }
    let mut out = format!(
        "Learned from {outcomes} PolicyOutcome{}:\n\n",
        if outcomes == 1 { "" } else { "s" }
    );
    out.push_str(&table(&rows));
    out.push('\n');
    for i in insights {
        let _ = writeln!(out, "- {}", i.message);
    }
    out
}

#[cfg(test)]
mod tests;
