//! `ViolationPolicy`: what a user asks the operator to watch (a PromQL query and a
//! condition on one Deployment) and what it may do about it (the remediation
//! envelope). Its status records the evaluations and violations the monitor saw.

// Repeated `type_ = ...` inside kube's `printcolumn(...)` is not a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, TargetRef};
use mapek_engine::model::{
    ApprovalMode, ComparisonOperator, EpisodePlanState, EpisodeState, RemediationEnvelope, Severity,
};

/// Most violations kept in `status.recentViolations`; older ones are dropped and
/// only counted.
pub const MAX_RECENT_VIOLATIONS: usize = 50;
/// Most samples an operator before 0.2 kept in `status.recentSamples`; the
/// samples now live in the operator's memory (see `status.samples`).
pub const MAX_RECENT_SAMPLES: usize = 120;

// `make decisions` replays NAB with the monitor's bound on violations: keep them one.
const _: () = assert!(mapek_engine::decisions::replay::KEPT_VIOLATIONS == MAX_RECENT_VIOLATIONS);

/// What to watch on one Deployment and what may be done about it.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mapek.io",
    version = "v1alpha1",
    kind = "ViolationPolicy",
    namespaced,
    status = "ViolationPolicyStatus",
    shortname = "vp",
    category = "mapek",
    doc = "A PromQL condition on a Deployment and the remediations allowed when it is violated.",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.targetRef.name"),
    printcolumn(name = "Severity", type_ = "string", json_path = ".spec.severity"),
    printcolumn(
        name = "Operator",
        type_ = "string",
        json_path = ".spec.condition.operator",
        priority = 1
    ),
    printcolumn(
        name = "Threshold",
        type_ = "number",
        json_path = ".spec.condition.threshold"
    ),
    printcolumn(name = "Value", type_ = "number", json_path = ".status.lastValue"),
    printcolumn(
        name = "Violating",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Violating\")].status"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Violations",
        type_ = "integer",
        json_path = ".status.violationCount"
    ),
    printcolumn(
        name = "Episode",
        type_ = "string",
        json_path = ".status.episode.state",
        priority = 1
    ),
    printcolumn(
        name = "Approval",
        type_ = "string",
        json_path = ".spec.remediation.approvalMode",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ViolationPolicySpec {
    /// The Deployment this policy watches and may remediate.
    pub target_ref: TargetRef,
    /// A PromQL instant query that returns a single number.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// When the query's value is a violation.
    pub condition: ViolationCondition,
    #[serde(default)]
    pub severity: Severity,
    /// Groups violations for spatial analysis; the target's name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The metric's name in analysis output; the policy's name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// How often the query is evaluated (a duration such as `30s`).
    #[serde(
        default = "default_evaluation_interval",
        deserialize_with = "crate::duration::deserialize"
    )]
    #[schemars(schema_with = "duration_schema")]
    pub evaluation_interval: Duration,
    /// What the operator may do about violations.
    #[serde(default)]
    pub remediation: RemediationSpec,
    /// Context queries evaluated with the policy, which tell an overload
    /// (violations rising with load) from a fault, a leak or a bad change
    /// (violations at flat load), and size scale-ups by load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextQueries>,
}

/// PromQL instant queries of the target's context, each returning one number,
/// evaluated at the policy's interval (shared with other policies like any query)
/// and kept in the operator's memory beside the policy's samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextQueries {
    /// The load the target serves, such as its request rate
    /// (`sum(rate(http_requests_total{app="checkout"}[1m]))`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub load: Option<String>,
    /// How saturated it is, such as CPU used over requested (reported, not yet
    /// used to decide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub saturation: Option<String>,
}

impl ContextQueries {
    /// The queries set, with what each measures.
    pub fn queries(&self) -> impl Iterator<Item = (mapek_engine::model::ContextKind, &str)> {
        use mapek_engine::model::ContextKind;
        [
            (ContextKind::Load, self.load.as_deref()),
            (ContextKind::Saturation, self.saturation.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, q)| Some((k, q?)))
    }
}

/// The condition that makes a query value a violation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViolationCondition {
    #[serde(default)]
    pub operator: ComparisonOperator,
    pub threshold: f64,
    /// How long the condition must hold before it counts, as the `for` of a
    /// Prometheus alerting rule (`0s` by default).
    #[serde(
        rename = "for",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::duration::deserialize_option"
    )]
    #[schemars(schema_with = "optional_duration_schema")]
    pub for_: Option<Duration>,
    /// How long the metric must stay within the threshold before a breach
    /// episode ends, as the `keep_firing_for` of a Prometheus alerting rule
    /// (`5m` when unset): a shorter dip does not end the episode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::duration::deserialize_option"
    )]
    #[schemars(schema_with = "optional_duration_schema")]
    pub keep_firing_for: Option<Duration>,
}

/// The remediation envelope plus the approval rules for its plans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.allowedActions) || !('SCALE_UP' in self.allowedActions || 'SCALE_DOWN' in self.allowedActions) || has(self.scale)",
        "message": "scale bounds (remediation.scale) are required when SCALE_UP or SCALE_DOWN is allowed",
        "fieldPath": ".scale",
        "reason": "FieldValueRequired"
    },
    {
        "rule": "!has(self.allowedActions) || self.allowedActions.all(a, !(a in ['UPDATE_CONFIGURATION', 'THROTTLE_REQUESTS', 'BYPASS_VALIDATION', 'ACTIVATE_EMERGENCY_OVERRIDE', 'APPLY_POLICY']) || (has(self.config) && self.config.exists(s, a in s.actions)))",
        "message": "every allowed config action (UPDATE_CONFIGURATION, THROTTLE_REQUESTS, BYPASS_VALIDATION, ACTIVATE_EMERGENCY_OVERRIDE, APPLY_POLICY) needs a remediation.config setting that lists it",
        "fieldPath": ".config",
        "reason": "FieldValueRequired"
    }
]))]
pub struct RemediationSpec {
    #[serde(flatten)]
    pub envelope: RemediationEnvelope,
    /// The least time between two executions on the same Deployment.
    #[serde(
        default = "default_cooldown",
        deserialize_with = "crate::duration::deserialize"
    )]
    #[schemars(schema_with = "duration_schema")]
    pub cooldown: Duration,
    /// Who approves plans.
    #[serde(default)]
    pub approval_mode: ApprovalMode,
    /// How long a plan waits for approval before it expires.
    #[serde(
        default = "default_approval_ttl",
        deserialize_with = "crate::duration::deserialize"
    )]
    #[schemars(schema_with = "duration_schema")]
    pub approval_ttl: Duration,
    /// What to do when the target Deployment is managed by Argo CD or Flux,
    /// whose next sync may undo a change the operator makes: `Refuse` (no plan),
    /// `Warn` (the plan says so; the default) or `Allow` (the plan is marked only).
    #[serde(default)]
    pub git_ops: GitOpsMode,
    /// What a scale action does when a HorizontalPodAutoscaler targets the
    /// Deployment (it would undo a change of `spec.replicas`):
    /// `RaiseMinReplicas` (the default: the HPA's `minReplicas` is set to the
    /// action's replica count, recorded and rolled back like any change) or
    /// `Refuse` (no scale action is planned for it; the plan, or an Event, says
    /// why).
    #[serde(default)]
    pub hpa: HpaMode,
    /// The most plans one breach episode may get (2 when unset): a first plan
    /// and, when it was executed and the breach went on, escalations. Then the
    /// policy is `Exhausted` until the episode ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_plans_per_episode: Option<u32>,
}

/// How a policy scales a Deployment that a HorizontalPodAutoscaler targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HpaMode {
    /// Scale through the HPA: its `minReplicas` becomes the action's replica
    /// count (a scale-up never lowers it, a scale-down never below 1), inside
    /// the HPA's `maxReplicas`; the HPA controller then scales the Deployment.
    #[default]
    RaiseMinReplicas,
    /// Never scale it: SCALE_UP and SCALE_DOWN are left out of its plans.
    Refuse,
}

/// How a policy treats a target that a GitOps tool manages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GitOpsMode {
    /// No plan for it: an Event on the policy says why.
    Refuse,
    /// A plan, whose `gitOps` says which tool manages the Deployment and that
    /// its next sync may undo the change unless it is told to leave the
    /// operator's fields alone (see the README).
    #[default]
    Warn,
    /// A plan, marked with the tool like `Warn`, for targets whose GitOps tool
    /// is set up to leave the operator's changes alone.
    Allow,
}

impl Default for RemediationSpec {
    fn default() -> Self {
        RemediationSpec {
            envelope: RemediationEnvelope::default(),
            cooldown: default_cooldown(),
            approval_mode: ApprovalMode::default(),
            approval_ttl: default_approval_ttl(),
            git_ops: GitOpsMode::default(),
            hpa: HpaMode::default(),
            max_plans_per_episode: None,
        }
    }
}

fn default_evaluation_interval() -> Duration {
    Duration::from(std::time::Duration::from_secs(30))
}

fn default_cooldown() -> Duration {
    Duration::from(std::time::Duration::from_secs(600))
}

fn default_approval_ttl() -> Duration {
    Duration::from(std::time::Duration::from_secs(3600))
}

/// A `metav1.Duration`: a string such as `30s`, `5m` or `1h30m`, never negative.
pub(crate) fn duration_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
        "description": "A duration such as 30s, 5m or 1h30m."
    })
}

fn optional_duration_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(generator)
}

/// What the monitor saw, in `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViolationPolicyStatus {
    /// `Ready` (the query evaluates) and `Violating` (the condition fires).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The last value the query returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluation_time: Option<Time>,
    /// Since when the condition has held without yet lasting `for` (pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<Time>,
    /// All violations ever recorded, including those dropped from the list.
    #[serde(default)]
    pub violation_count: u64,
    /// The latest violations, oldest first, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub recent_violations: Vec<RecordedViolation>,
    /// Deprecated and no longer written: the query values, which earlier versions
    /// kept here (at most 120), now live in the operator's memory and are summed up
    /// in `samples`. Kept so that old statuses still read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 120))]
    pub recent_samples: Vec<RecordedSample>,
    /// A summary of the query values the operator holds in memory for the
    /// analyzer (the values themselves are not written to the API server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<SampleSummary>,
    /// The policy's current (or last) breach episode, written by the analyzer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<PolicyEpisode>,
}

/// A breach episode as the status shows it: one incident, from the first
/// evaluation accepted as a breach until the metric has been within its
/// threshold for `keepFiringFor`, and the plans it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEpisode {
    /// `Breaching` (no plan yet), `Planned`, `Exhausted` (no more plans until it
    /// ends) or `Resolved`.
    pub state: EpisodeState,
    /// The first evaluation accepted as a breach.
    pub since: Time,
    /// The latest evaluation over the threshold.
    pub last_breach: Time,
    /// When it ended (Resolved only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Time>,
    /// Its plans, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PolicyEpisodePlan>,
    /// The most plans it may have (`maxPlansPerEpisode`).
    pub max_plans: u32,
    /// The state in one sentence.
    #[serde(default)]
    pub message: String,
}

/// One plan of a breach episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEpisodePlan {
    /// The RemediationPolicy's name.
    pub name: String,
    pub proposed_at: Time,
    /// The breach's recent level when it was proposed.
    pub level: f64,
    /// `Open`, `Executed`, `Failed`, `Rejected` or `Expired`.
    pub state: EpisodePlanState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Time>,
    /// It was allowed because the breach worsened past the bar.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worsened: bool,
    /// Its action types, in order: an escalation tries others (or a larger
    /// scale step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub actions: Vec<mapek_engine::model::ActionType>,
}

/// What the operator's in-memory history of a policy's query holds, written with
/// the status (at most every status refresh, so it may lag the last evaluation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SampleSummary {
    /// Values held (live evaluations and, after a restart, values read back from
    /// Prometheus with a range query).
    pub count: u32,
    /// The time of the oldest value held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// One violation as kept in status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedViolation {
    /// Unique within the policy, such as `checkout-latency-17`.
    pub id: String,
    pub time: Time,
    pub value: f64,
    pub threshold: f64,
}

/// One query value as kept in status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedSample {
    pub time: Time,
    pub value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `prometheus_response` fuzz target: without serde_json's
    /// `float_roundtrip`, a value near `f64::MAX` written to the status read back
    /// one unit in the last place lower.
    #[test]
    fn the_status_reads_back_every_value_exactly() {
        for v in [
            1.7976931348623157e308,
            1.7976931348623155e308,
            5e-324,
            0.1 + 0.2,
        ] {
            let status = ViolationPolicyStatus {
                last_value: Some(v),
                ..ViolationPolicyStatus::default()
            };
            let written = serde_json::to_string(&status).unwrap();
            let read: ViolationPolicyStatus = serde_json::from_str(&written).unwrap();
            assert_eq!(read.last_value, Some(v), "{written}");
        }
    }
}
