//! What the engine reads of a policy: its violations with their severity, its
//! metric and context samples, the load signal of a breach, and its condition
//! (comparison operator, threshold, interval).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Millis, SharedStr};

/// How bad a violation is.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    /// A weight in (0, 1] used to scale confidence and priority.
    pub fn weight(self) -> f64 {
        match self {
            Severity::Info => 0.5,
            Severity::Warning => 0.75,
            Severity::Critical => 1.0,
        }
    }
}

/// How a metric value is compared with the threshold. A violation is a value for
/// which the comparison holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ComparisonOperator {
    #[default]
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
}

impl ComparisonOperator {
    /// Whether `value` violates `threshold`. NaN never violates.
    pub fn violates(self, value: f64, threshold: f64) -> bool {
        match self {
            ComparisonOperator::GreaterThan => value > threshold,
            ComparisonOperator::GreaterThanOrEqual => value >= threshold,
            ComparisonOperator::LessThan => value < threshold,
            ComparisonOperator::LessThanOrEqual => value <= threshold,
        }
    }
}

/// One recorded violation: a metric value that broke its policy's condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// Unique id within the analysis window.
    pub id: SharedStr,
    /// The ViolationPolicy that recorded it.
    pub policy: String,
    /// The Deployment the policy targets.
    pub target: String,
    /// The component label used for grouping.
    pub component: String,
    /// The metric (or query) name.
    pub metric: String,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    /// When it was observed.
    pub at_ms: Millis,
}

/// Samples of history the operator keeps in memory per policy, and so the most
/// the engine is given per policy: 1,440, twelve hours at a 30 s interval. The
/// judgement's long-memory gate (see [`crate::judge`]) needs eight hours of them;
/// `make decisions` replays NAB with this bound.
pub const HISTORY_SAMPLES: usize = 1440;

/// One sample of a policy's metric series, violating or not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricSample {
    /// The policy whose query produced it: shared by its samples (serialized
    /// as a string).
    pub policy: SharedStr,
    pub at_ms: Millis,
    pub value: f64,
}

/// One value of a policy's metric at one time: what the detectors read of a
/// sample, 16 bytes, kept in each policy's series (see [`Series`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub at_ms: Millis,
    pub value: f64,
}

impl From<&MetricSample> for Point {
    fn from(s: &MetricSample) -> Point {
        Point {
            at_ms: s.at_ms,
            value: s.value,
        }
    }
}

/// One policy's metric series as its caller holds it, oldest first: the
/// analysis reads it in place (the operator's monitor keeps thousands of them,
/// and copying them into [`MetricSample`]s for every analysis doubled its
/// memory in a storm).
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    pub policy: &'a str,
    pub points: &'a [Point],
}

/// The samples an analysis reads: one list of them (scenarios, tests, the
/// replay), or each policy's series as its caller holds it (read in place).
#[derive(Clone, Copy, Debug)]
pub enum Samples<'a> {
    List(&'a [MetricSample]),
    Series(&'a [Series<'a>]),
}

impl<'a> From<&'a [MetricSample]> for Samples<'a> {
    fn from(samples: &'a [MetricSample]) -> Samples<'a> {
        Samples::List(samples)
    }
}

impl<'a> From<&'a Vec<MetricSample>> for Samples<'a> {
    fn from(samples: &'a Vec<MetricSample>) -> Samples<'a> {
        Samples::List(samples)
    }
}

/// What a context query of a policy measures: the work offered to the service
/// (`Load`, such as a request or message arrival rate) or how full its resources
/// are (`Saturation`, such as a thread pool's or a queue's occupancy).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ContextKind {
    Load,
    Saturation,
}

/// One sample of a policy's context query (its `load` or `saturation`),
/// evaluated with the policy: what the engine reads to tell an overload
/// (violations rising with the load) from a fault, a leak or a bad change
/// (violations at flat load). See [`crate::analyze::load`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextSample {
    /// The policy whose context query produced it: shared by its samples
    /// (serialized as a string).
    pub policy: SharedStr,
    pub kind: ContextKind,
    pub at_ms: Millis,
    pub value: f64,
}

/// Which way a policy's load moved between the healthy evaluations before its
/// breach and the breach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LoadTrend {
    /// The load rose at least `risingRatio` times its healthy baseline: the
    /// breach is an overload.
    Rising,
    /// The load is at most `flatRatio` times its healthy baseline (or fell): the
    /// breach is not load.
    Flat,
    /// In between: the load neither explains nor rules out the breach.
    Unclear,
}

/// What a policy's load says of its current breach (see
/// [`crate::analyze::load`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadSignal {
    pub trend: LoadTrend,
    /// `recent / baseline`.
    pub ratio: f64,
    /// Median load of the breach's latest evaluations.
    pub recent: f64,
    /// Median load of the healthy evaluations before the breach.
    pub baseline: f64,
    /// Median of the policy's metric over those healthy evaluations, and over
    /// the breach's latest evaluations (for sizing by load).
    pub baseline_metric: f64,
    pub recent_metric: f64,
    /// How many healthy evaluations the baseline has.
    pub healthy: usize,
    /// The same ratio for the policy's saturation query, when it has one
    /// (reported; not used to decide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation_ratio: Option<f64>,
    /// The signal in one sentence.
    pub reason: String,
}

/// A change of a Deployment's pod template: the rollout revision it started,
/// read from the Deployment's ReplicaSets (their `deployment.kubernetes.io/revision`
/// annotations and templates). A rolling restart (only the restart annotation
/// changed) is not one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateChange {
    /// The Deployment.
    pub target: String,
    /// When the change was made (its ReplicaSet's creation).
    pub at_ms: Millis,
    /// The revision the change started (the Deployment's current one).
    pub revision: i64,
    /// The revision before it: the template `ROLLBACK_REVISION` restores.
    pub previous_revision: i64,
    /// What changed, field by field.
    pub diff: Vec<FieldChange>,
}

/// One field of a pod template that a change set, altered or removed, such as
/// `containers[web].image` or `containers[web].env[MODE]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    /// The value before the change (absent: the field was not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The value after the change (absent: the change removed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// What the engine found of a change before a policy's current breach (see
/// [`crate::analyze::change`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSignal {
    /// The change blamed.
    pub change: TemplateChange,
    /// Time from the change to the first breaking evaluation of the run, ms.
    pub lead_ms: Millis,
    /// The signal in one sentence.
    pub reason: String,
}

/// What the engine knows of a policy beyond its violations and samples: its
/// condition and how often it is evaluated. Without it the engine infers the
/// direction and threshold from the violations and the interval from the samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInfo {
    /// The ViolationPolicy.
    pub name: String,
    pub operator: ComparisonOperator,
    pub threshold: f64,
    /// Time between evaluations, ms; inferred from the samples when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<Millis>,
    /// The condition's `for`, ms.
    #[serde(default)]
    pub for_ms: Millis,
    /// How long the metric must stay within the threshold before a breach
    /// episode ends, ms (`keepFiringFor`); the engine's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for_ms: Option<Millis>,
    /// Most plans in one breach episode; the engine's default (2) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_plans_per_episode: Option<u32>,
}
