//! What an analysis finds: the pattern and root-cause kinds, the patterns with
//! their evidence, ranked root causes and the [`AnalysisResult`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SharedStr;
use super::{Breach, SharedCause};

/// The kinds of pattern the analyzer detects.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum PatternType {
    /// Several violations close together in time.
    TemporalBurst,
    /// A sustained, statistically significant rise of a metric.
    Trend,
    /// Violations recurring at a regular period.
    Periodic,
    /// Several violations from the same component, policy or metric.
    Spatial,
    /// One policy's metric moving ahead of another policy's violations.
    Causal,
    /// More violations than usual in a window.
    Frequency,
}

/// The root-cause categories the analyzer ranks; the planner maps each to the
/// actions that can address it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum RootCauseKind {
    /// A sudden rise in load (from bursts).
    LoadSpike,
    /// Slow exhaustion of a resource, such as a leak (from trends).
    GradualDegradation,
    /// Load that comes back on a schedule (from periodicity).
    RecurringLoad,
    /// One component failing repeatedly (from spatial clustering).
    ComponentFault,
    /// A problem upstream that drives this one (from causal correlation).
    UpstreamDependency,
    /// Violations far more often than the baseline (from frequency).
    ChronicOverload,
    /// A pod-template change of the Deployment shortly before its breach began
    /// (from its rollout history: see [`crate::analyze::change`]).
    BadChange,
}

/// A pattern found by one detector, with the violations that show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViolationPattern {
    pub pattern_type: PatternType,
    /// In [0, 1].
    pub confidence: f64,
    /// One sentence a human can check against the evidence.
    pub hypothesis: String,
    /// What the pattern is about: a policy, component or metric name.
    pub subject: String,
    /// The Deployments the evidence comes from.
    pub targets: Vec<String>,
    /// Ids of the violations that show the pattern.
    pub evidence: Vec<SharedStr>,
}

/// A ranked root-cause hypothesis for one Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootCause {
    pub kind: RootCauseKind,
    /// The Deployment it is about.
    pub target: String,
    /// The policy whose envelope bounds remediation of it.
    pub policy: String,
    /// In [0, 1].
    pub confidence: f64,
    pub description: String,
    /// Indices into the analysis' patterns that support it.
    pub supporting_patterns: Vec<usize>,
}

/// What one analysis found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisResult {
    /// Stable id derived from the input.
    pub analysis_id: String,
    pub violations_analyzed: usize,
    pub patterns: Vec<ViolationPattern>,
    /// Highest confidence first.
    pub root_causes: Vec<RootCause>,
    pub recommendations: Vec<String>,
    /// Overall confidence of the analysis, in [0, 1].
    pub confidence_level: f64,
    /// Per policy with violations: whether its breach holds now and stands out
    /// (only an actionable breach may lead to a plan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaches: Vec<Breach>,
    /// Same-instant breaches across Deployments sharing a metric: reported, not
    /// acted on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_causes: Vec<SharedCause>,
    /// Per judged policy with an episode: its breach episode after this
    /// analysis (see [`crate::episode`]), for the caller to keep and pass back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub episodes: Vec<super::Episode>,
}
