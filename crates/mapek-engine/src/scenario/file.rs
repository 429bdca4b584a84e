//! The scenario file's shape, as written: the serde types of its top level,
//! policies, violations, series, outcomes, template changes, breach episodes and
//! the labelled expectation.

use serde::Deserialize;

use crate::model::{
    ComparisonOperator, EpisodePlanState, EpisodeState, Millis, RemediationEnvelope, Severity,
};

/// The file's shape, as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioFile {
    /// Free text shown in the report.
    #[serde(default)]
    pub(super) description: Option<String>,
    /// The time `t: 0` stands for.
    pub(super) start: String,
    /// When the analysis runs, in seconds after `start`; the last event when unset.
    #[serde(default)]
    pub(super) now: Option<f64>,
    pub(super) policies: Vec<ScenarioPolicy>,
    #[serde(default)]
    pub(super) violations: Vec<ScenarioViolation>,
    #[serde(default)]
    pub(super) series: Vec<ScenarioSeries>,
    /// Samples of the policies' load queries, shaped as `series`.
    #[serde(default)]
    pub(super) load: Vec<ScenarioSeries>,
    /// Samples of the policies' saturation queries, shaped as `series`.
    #[serde(default)]
    pub(super) saturation: Vec<ScenarioSeries>,
    /// What an SRE expects the engine to do (labelled scenarios of `make decisions`).
    #[serde(default)]
    pub(super) expect: Option<Expectation>,
    /// Outcomes of earlier remediations the knowledge base has learned from.
    #[serde(default)]
    pub(super) outcomes: Vec<ScenarioOutcome>,
    /// Pod-template changes of the Deployments (new rollout revisions).
    #[serde(default)]
    pub(super) changes: Vec<ScenarioChange>,
    /// The policies' breach episodes as they stood before `now`.
    #[serde(default)]
    pub(super) episodes: Vec<ScenarioEpisode>,
}

/// A policy's breach episode as it stood before `now`, as the operator keeps it
/// in the policy's status.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioEpisode {
    pub(super) policy: String,
    /// Seconds after `start` the judge first accepted the breach.
    pub(super) since: f64,
    /// Seconds after `start` of the latest evaluation over the threshold
    /// (`since` when unset).
    #[serde(default)]
    pub(super) last_breach: Option<f64>,
    /// Breaching when unset.
    #[serde(default)]
    pub(super) state: EpisodeState,
    /// Seconds after `start` the episode ended (Resolved only).
    #[serde(default)]
    pub(super) ended_at: Option<f64>,
    /// Its plans, oldest first.
    #[serde(default)]
    pub(super) plans: Vec<ScenarioEpisodePlan>,
}

/// One plan of an episode.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioEpisodePlan {
    pub(super) name: String,
    /// Seconds after `start` it was proposed.
    pub(super) t: f64,
    /// The breach's recent level when it was proposed.
    pub(super) level: f64,
    /// Open when unset.
    #[serde(default)]
    pub(super) state: EpisodePlanState,
    /// Seconds after `start` it closed (not for an Open plan).
    #[serde(default)]
    pub(super) closed_at: Option<f64>,
    /// It was allowed because the breach worsened past the bar.
    #[serde(default)]
    pub(super) worsened: bool,
    /// Its action types, in order (none when unset).
    #[serde(default)]
    pub(super) actions: Vec<crate::model::ActionType>,
}

/// A pod-template change of a Deployment, as the operator reads it from the
/// Deployment's ReplicaSets.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioChange {
    /// The Deployment (a policy's target).
    pub(super) target: String,
    /// Seconds after `start` the change was made.
    pub(super) t: f64,
    /// The revision the change started.
    pub(super) revision: i64,
    /// The revision before it (the one a rollback restores).
    pub(super) previous_revision: i64,
    /// What changed, field by field.
    #[serde(default)]
    pub(super) diff: Vec<ScenarioFieldChange>,
}

/// One field of a change: `{field, before, after}` (an absent value: unset).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioFieldChange {
    pub(super) field: String,
    #[serde(default)]
    pub(super) before: Option<String>,
    #[serde(default)]
    pub(super) after: Option<String>,
}

/// The labelled answer of a scenario: a plan for `target` whose first action is
/// `action`, or (`noPlan: true`) no plan for any Deployment.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    /// The Deployment the plan is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The plan's first action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::model::ActionType>,
    /// For a scale action: the replica count it should set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// No plan at all is the right answer.
    #[serde(default)]
    pub no_plan: bool,
    /// Why an SRE expects this, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An earlier remediation's outcome, as the knowledge controller records it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioOutcome {
    /// The Deployment (the first policy's target when unset).
    #[serde(default)]
    pub(super) target: Option<String>,
    pub(super) root_cause: crate::model::RootCauseKind,
    pub(super) actions: Vec<crate::model::ActionType>,
    pub(super) outcome: crate::model::OutcomeType,
    /// Seconds after `start` it was recorded (0 when unset).
    #[serde(default)]
    pub(super) t: f64,
}

/// A policy of a scenario: the parts of a ViolationPolicy the engine reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioPolicy {
    pub name: String,
    /// The Deployment.
    pub target: String,
    /// The target's name when unset.
    #[serde(default)]
    pub component: Option<String>,
    /// The policy's name when unset.
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub operator: ComparisonOperator,
    pub threshold: f64,
    /// The Deployment's replicas now (1 when unset).
    #[serde(default = "one")]
    pub current_replicas: i32,
    #[serde(default)]
    pub remediation: RemediationEnvelope,
    /// Seconds between evaluations of the policy's query; inferred from its series
    /// when unset.
    #[serde(default)]
    pub interval: Option<f64>,
    /// The condition's `for`, in seconds (0 when unset): how long the condition
    /// held before the first violation was recorded.
    #[serde(default, rename = "for")]
    pub for_seconds: Option<f64>,
    /// Seconds the metric must stay within the threshold before a breach
    /// episode ends (the policy's `keepFiringFor`); the engine's default when
    /// unset.
    #[serde(default)]
    pub keep_firing_for: Option<f64>,
    /// Most plans in one breach episode; the engine's default (2) when unset.
    #[serde(default)]
    pub max_plans_per_episode: Option<u32>,
}

impl ScenarioPolicy {
    /// The engine's view of the policy's condition and evaluation interval.
    pub fn info(&self) -> crate::model::PolicyInfo {
        crate::model::PolicyInfo {
            name: self.name.clone(),
            operator: self.operator,
            threshold: self.threshold,
            interval_ms: self.interval.map(|s| (s * 1000.0).round() as Millis),
            for_ms: self
                .for_seconds
                .map_or(0, |s| (s * 1000.0).round() as Millis),
            keep_firing_for_ms: self.keep_firing_for.map(|s| (s * 1000.0).round() as Millis),
            max_plans_per_episode: self.max_plans_per_episode,
        }
    }
}

fn one() -> i32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioViolation {
    pub(super) policy: String,
    /// Seconds after `start`.
    pub(super) t: f64,
    pub(super) value: f64,
    /// An id; `<policy>-<index>` when unset.
    #[serde(default)]
    pub(super) id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioSeries {
    pub(super) policy: String,
    /// Seconds after `start` of the first value.
    #[serde(default)]
    pub(super) start: f64,
    /// Seconds between values.
    pub(super) step: f64,
    pub(super) values: Vec<f64>,
}
