//! Plain data shared by the engine and the custom resources: the vocabulary of the
//! loop (action types, severities, risk, outcomes, patterns, root causes) and the
//! values the engine reads (violations, metric samples, the remediation envelope).
//!
//! These types derive `JsonSchema` so that the CRDs embed them unchanged: one
//! definition serves the API, the engine and the offline scenario files.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. The engine never reads a clock: every time it
/// uses is a value of this type passed in by the caller.
pub type Millis = i64;

/// A remediation action type (the nine of the seed system). On Kubernetes each one
/// becomes one of three Deployment patches: scale, rolling restart or config change.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionType {
    ScaleUp,
    ScaleDown,
    RestartService,
    UpdateConfiguration,
    ThrottleRequests,
    BypassValidation,
    ActivateEmergencyOverride,
    RebalanceLoad,
    ApplyPolicy,
}

/// How an action touches a Deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchKind {
    /// The `scale` subresource (`spec.replicas`).
    Scale,
    /// A rolling restart: the pod-template annotation `kubectl rollout restart` sets.
    Restart,
    /// A pod-template env var or annotation that the ViolationPolicy lists.
    Config,
}

impl ActionType {
    /// Every action type, in declaration order.
    pub const ALL: [ActionType; 9] = [
        ActionType::ScaleUp,
        ActionType::ScaleDown,
        ActionType::RestartService,
        ActionType::UpdateConfiguration,
        ActionType::ThrottleRequests,
        ActionType::BypassValidation,
        ActionType::ActivateEmergencyOverride,
        ActionType::RebalanceLoad,
        ActionType::ApplyPolicy,
    ];

    /// The seed system's cost of taking this action, in [0, 1].
    pub fn cost(self) -> f64 {
        match self {
            ActionType::ScaleDown => 0.05,
            ActionType::ScaleUp => 0.15,
            ActionType::RestartService => 0.20,
            ActionType::RebalanceLoad => 0.25,
            ActionType::ApplyPolicy => 0.30,
            ActionType::UpdateConfiguration => 0.35,
            ActionType::ThrottleRequests => 0.40,
            ActionType::ActivateEmergencyOverride => 0.60,
            ActionType::BypassValidation => 0.70,
        }
    }

    /// Which Deployment patch carries this action out.
    pub fn patch_kind(self) -> PatchKind {
        match self {
            ActionType::ScaleUp | ActionType::ScaleDown => PatchKind::Scale,
            ActionType::RestartService | ActionType::RebalanceLoad => PatchKind::Restart,
            ActionType::UpdateConfiguration
            | ActionType::ThrottleRequests
            | ActionType::BypassValidation
            | ActionType::ActivateEmergencyOverride
            | ActionType::ApplyPolicy => PatchKind::Config,
        }
    }

    /// The wire name, as in `SCALE_UP`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::ScaleUp => "SCALE_UP",
            ActionType::ScaleDown => "SCALE_DOWN",
            ActionType::RestartService => "RESTART_SERVICE",
            ActionType::UpdateConfiguration => "UPDATE_CONFIGURATION",
            ActionType::ThrottleRequests => "THROTTLE_REQUESTS",
            ActionType::BypassValidation => "BYPASS_VALIDATION",
            ActionType::ActivateEmergencyOverride => "ACTIVATE_EMERGENCY_OVERRIDE",
            ActionType::RebalanceLoad => "REBALANCE_LOAD",
            ActionType::ApplyPolicy => "APPLY_POLICY",
        }
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown action type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown action type {0:?} (expected one of SCALE_UP, SCALE_DOWN, RESTART_SERVICE, UPDATE_CONFIGURATION, THROTTLE_REQUESTS, BYPASS_VALIDATION, ACTIVATE_EMERGENCY_OVERRIDE, REBALANCE_LOAD, APPLY_POLICY)"
)]
pub struct UnknownActionType(pub String);

impl FromStr for ActionType {
    type Err = UnknownActionType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionType::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownActionType(s.to_string()))
    }
}

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

/// Risk of a plan.
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
pub enum RiskLevel {
    #[default]
    Low,
    Medium,
    High,
}

/// Priority of an action or a plan.
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
pub enum Priority {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

/// Who may approve a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ApprovalMode {
    /// A human approves every plan with `kubectl annotate ... mapek.io/approve=<hash>`.
    #[default]
    Manual,
    /// Plans whose risk is `Low` run without a human; others wait as with `Manual`.
    AutoLowRisk,
}

/// The result of a remediation, judged by violations before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum OutcomeType {
    /// Every violation resolved.
    Success,
    /// Violations reduced by at least half.
    Partial,
    /// Violations reduced by less than half.
    Ineffective,
    /// More violations after than before.
    Degradation,
    /// No data to judge.
    Unknown,
    /// The execution failed (an action refused, or its rollout stalled) and was
    /// rolled back: nothing it changed remains. Learned as a failure.
    RolledBack,
}

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
}

/// An immutable string whose clones share one allocation: a violation id, which
/// the analysis copies into the evidence of every pattern it supports. Serialized,
/// deserialized and described by its schema exactly as a `String`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedStr(Arc<str>);

impl SharedStr {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr(s.into())
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr(s.into())
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> Self {
        s.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        **self == *other.0
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == *other.0
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl JsonSchema for SharedStr {
    fn inline_schema() -> bool {
        String::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        String::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
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
    /// The policy whose query produced it.
    pub policy: String,
    pub at_ms: Millis,
    pub value: f64,
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
    /// The policy whose context query produced it.
    pub policy: String,
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

/// What the engine knows of a policy beyond its violations and samples: its
/// condition and how often it is evaluated. Without it the engine infers the
/// direction and threshold from the violations and the interval from the samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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
}

/// Where a configuration setting lives in the Deployment's pod template.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConfigTarget {
    /// An environment variable of a container.
    #[default]
    Env,
    /// An annotation of the pod template.
    Annotation,
}

/// Scale bounds a plan must stay inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.minReplicas <= self.maxReplicas",
    "message": "minReplicas must not exceed maxReplicas",
    "fieldPath": ".minReplicas",
    "reason": "FieldValueInvalid"
}]))]
pub struct ScaleBounds {
    #[schemars(range(min = 0))]
    pub min_replicas: i32,
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// The largest change of replicas one action may make.
    #[schemars(range(min = 1))]
    pub max_step: i32,
}

/// A configuration setting that config actions may change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.allowedValues) || size(self.allowedValues) == 0 || self.value in self.allowedValues",
        "message": "value must be one of allowedValues",
        "fieldPath": ".value",
        "reason": "FieldValueInvalid"
    },
    {
        "rule": "self.actions.all(a, a in ['UPDATE_CONFIGURATION', 'THROTTLE_REQUESTS', 'BYPASS_VALIDATION', 'ACTIVATE_EMERGENCY_OVERRIDE', 'APPLY_POLICY'])",
        "message": "a config setting can only serve config actions (UPDATE_CONFIGURATION, THROTTLE_REQUESTS, BYPASS_VALIDATION, ACTIVATE_EMERGENCY_OVERRIDE, APPLY_POLICY)",
        "fieldPath": ".actions",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct ConfigSetting {
    /// Env var or annotation name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default)]
    pub target: ConfigTarget,
    /// For env vars: the container to change (the first container when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub container: Option<String>,
    /// The value a remediation sets.
    #[schemars(length(max = 1024))]
    pub value: String,
    /// When not empty, `value` must be one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 1024)))]
    pub allowed_values: Vec<String>,
    /// The action types that set this value (for example THROTTLE_REQUESTS).
    #[schemars(length(min = 1, max = 9))]
    pub actions: Vec<ActionType>,
}

/// What the planner may do for one policy: the allowed actions and their bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationEnvelope {
    /// Action types a plan may use; anything else is never planned.
    #[serde(default)]
    #[schemars(length(max = 9))]
    pub allowed_actions: Vec<ActionType>,
    /// Required when SCALE_UP or SCALE_DOWN is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleBounds>,
    /// Settings that config actions may change; nothing else is touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub config: Vec<ConfigSetting>,
}

impl RemediationEnvelope {
    /// Whether the envelope lets a plan use `action`.
    pub fn allows(&self, action: ActionType) -> bool {
        self.allowed_actions.contains(&action)
    }

    /// The setting a config action of this type would set, if any.
    pub fn setting_for(&self, action: ActionType) -> Option<&ConfigSetting> {
        self.config.iter().find(|s| s.actions.contains(&action))
    }
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
    pub breaches: Vec<super::judge::Breach>,
    /// Same-instant breaches across Deployments sharing a metric: reported, not
    /// acted on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_causes: Vec<super::judge::SharedCause>,
}

/// A config change an action makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    pub name: String,
    pub target: ConfigTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub value: String,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationAction {
    /// Unique within the plan, such as `a1`.
    pub id: SharedStr,
    pub action_type: ActionType,
    /// The Deployment it patches.
    pub target: SharedStr,
    /// For scale actions: the replica count to set (inside the bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// For config actions: the setting to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigChange>,
    pub priority: Priority,
    pub estimated_latency_seconds: u32,
}

/// One reviewable remediation plan for one Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationPlan {
    /// The Deployment.
    pub target: SharedStr,
    /// The ViolationPolicy whose envelope bounds it.
    pub policy: SharedStr,
    pub root_cause: RootCauseKind,
    /// Root-cause confidence, in [0, 1].
    pub confidence: f64,
    pub actions: Vec<RemediationAction>,
    pub expected_impact: String,
    pub risk: RiskLevel,
    pub priority: Priority,
    pub cost: f64,
    pub benefit: f64,
    /// benefit - cost.
    pub score: f64,
    /// A stable hash over the plan's content (hex), used for approval.
    pub plan_hash: String,
}
