//! The offline report of `mapek-operator analyze`: runs the engine on a scenario
//! and renders what it found (patterns, root causes, recommendations) and the plans
//! it would write, as a readable table or as JSON.

use serde::Serialize;

use crate::knowledge::KnowledgeBase;
use crate::model::{AnalysisResult, PolicyInfo, RemediationPlan};
use crate::scenario::Scenario;
use crate::{AnalyzerConfig, PatternAnalyzer, PlanTarget, Planner, PlannerConfig};

/// What the engine made of a scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub analysis: AnalysisResult,
    pub plans: Vec<RemediationPlan>,
}

impl Report {
    /// Runs analysis and planning, with default thresholds and the knowledge
    /// learned from the scenario's earlier outcomes (none when it lists none).
    pub fn from_scenario(scenario: &Scenario) -> Report {
        let policies: Vec<PolicyInfo> = scenario.policies.iter().map(|p| p.info()).collect();
        let analysis = PatternAnalyzer::new(AnalyzerConfig::default()).analyze_with_episodes(
            &scenario.violations,
            &scenario.samples,
            &scenario.context,
            &scenario.changes,
            &policies,
            &scenario.episodes,
            scenario.now,
        );
        // An escalation tries what its episode has not (see
        // `Episode::escalation_envelope`).
        let envelope = |p: &crate::scenario::ScenarioPolicy| match analysis
            .episodes
            .iter()
            .find(|e| e.policy == p.name)
        {
            Some(e) => e.escalation_envelope(&p.remediation),
            None => p.remediation.clone(),
        };
        let targets: Vec<PlanTarget> = scenario
            .policies
            .iter()
            .map(|p| PlanTarget {
                policy: p.name.as_str().into(),
                deployment: p.target.as_str().into(),
                current_replicas: p.current_replicas,
                severity: p.severity,
                envelope: envelope(p),
            })
            .collect();
        let plans = Planner::new(PlannerConfig::default()).generate_plans(
            &analysis,
            &targets,
            &KnowledgeBase::from_outcomes(&scenario.outcomes),
        );
        Report {
            description: scenario.description.clone(),
            analysis,
            plans,
        }
    }

    /// Pretty JSON, one document.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report always serializes");
        text.push('\n');
        text
    }

    /// Aligned plain-text tables for a terminal.
    pub fn to_table(&self) -> String {
        let a = &self.analysis;
        let mut out = String::new();
        if let Some(d) = &self.description {
            out += &format!("Scenario: {d}\n");
        }
        out += &format!(
            "Analysis {}: {} violations, {} patterns, overall confidence {:.2}\n\n",
            a.analysis_id,
            a.violations_analyzed,
            a.patterns.len(),
            a.confidence_level
        );

        out += "PATTERNS\n";
        out += &table(
            &["TYPE", "SUBJECT", "CONFIDENCE", "EVIDENCE", "HYPOTHESIS"],
            a.patterns
                .iter()
                .map(|p| {
                    vec![
                        format!("{:?}", p.pattern_type),
                        p.subject.clone(),
                        format!("{:.2}", p.confidence),
                        p.evidence.len().to_string(),
                        p.hypothesis.clone(),
                    ]
                })
                .collect(),
        );

        out += "\nROOT CAUSES\n";
        out += &table(
            &[
                "RANK",
                "KIND",
                "TARGET",
                "POLICY",
                "CONFIDENCE",
                "DESCRIPTION",
            ],
            a.root_causes
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    vec![
                        (i + 1).to_string(),
                        format!("{:?}", r.kind),
                        r.target.clone(),
                        r.policy.clone(),
                        format!("{:.2}", r.confidence),
                        r.description.clone(),
                    ]
                })
                .collect(),
        );

        if !a.recommendations.is_empty() {
            out += "\nRECOMMENDATIONS\n";
            for r in &a.recommendations {
                out += &format!("- {r}\n");
            }
        }

        out += "\nPLANS (RemediationPolicies the operator would write)\n";
        out += &table(
            &[
                "TARGET",
                "ROOT CAUSE",
                "ACTIONS",
                "COST",
                "BENEFIT",
                "SCORE",
                "RISK",
                "PRIORITY",
                "PLAN HASH",
            ],
            self.plans
                .iter()
                .map(|p| {
                    vec![
                        p.target.to_string(),
                        format!("{:?}", p.root_cause),
                        p.actions
                            .iter()
                            .map(describe_action)
                            .collect::<Vec<_>>()
                            .join(", "),
                        format!("{:.2}", p.cost),
                        format!("{:.2}", p.benefit),
                        format!("{:.2}", p.score),
                        format!("{:?}", p.risk),
                        format!("{:?}", p.priority),
                        p.plan_hash.clone(),
                    ]
                })
                .collect(),
        );
        out
    }
}

/// An action in a few words, such as `SCALE_UP to 5`: [`crate::plan::describe::short`],
/// kept at this path for its callers.
pub use crate::plan::describe::short as describe_action;

/// Left-aligned columns separated by two spaces under `headers`; `(none)` for no
/// rows.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "(none)\n".into();
    }
    let mut all = Vec::with_capacity(rows.len() + 1);
    all.push(headers.iter().map(|h| h.to_string()).collect());
    all.extend(rows);
    columns(&all, 2)
}

/// The one table renderer of the project (`analyze` and `kubectl mapek` both use
/// it): each row on a line, every cell but the last left-aligned to its column's
/// widest cell (in characters) and followed by `gap` spaces, trailing spaces
/// trimmed.
pub fn columns(rows: &[Vec<String>], gap: usize) -> String {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count() + gap;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_characters_and_trim_the_last_cell() {
        let rows: Vec<Vec<String>> = [
            vec!["NAME", "μs", "NOTE"],
            vec!["a", "12345", ""],
            vec!["bbb", "1"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        assert_eq!(
            columns(&rows, 2),
            "NAME  μs     NOTE\na     12345\nbbb   1\n"
        );
        assert_eq!(table(&["A"], Vec::new()), "(none)\n");
    }
}
