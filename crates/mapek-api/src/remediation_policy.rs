//! `RemediationPolicy`: one reviewable remediation plan written by the analyzer,
//! with its evidence, and, in status, its approval and the record of its execution.
//!
//! A human approves it with
//! `kubectl annotate remediationpolicy <name> mapek.io/approve=<plan-hash>`; the hash
//! is printed by `kubectl get remediationpolicies`, so an approval applies to the
//! exact plan that was read.

// Repeated `type_ = ...` inside kube's `printcolumn(...)` is not a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;
use mapek_engine::model::{ActionType, ConfigTarget, RemediationPlan, RootCause, ViolationPattern};

/// Most violation ids kept as evidence in a plan.
pub const MAX_EVIDENCE_VIOLATIONS: usize = 100;

/// A remediation plan for one Deployment, waiting for approval or executed.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mapek.io",
    version = "v1alpha1",
    kind = "RemediationPolicy",
    namespaced,
    status = "RemediationPolicyStatus",
    shortname = "rp",
    category = "mapek",
    doc = "A remediation plan for a Deployment: evidence, root causes, actions, cost, benefit and risk. Approve with kubectl annotate remediationpolicy NAME mapek.io/approve=PLAN_HASH.",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(name = "Root Cause", type_ = "string", json_path = ".spec.rootCause"),
    printcolumn(name = "Confidence", type_ = "number", json_path = ".spec.confidence"),
    printcolumn(name = "Risk", type_ = "string", json_path = ".spec.risk"),
    printcolumn(name = "Approval", type_ = "string", json_path = ".status.approval"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Approved By",
        type_ = "string",
        json_path = ".status.approvedBy"
    ),
    printcolumn(name = "Plan Hash", type_ = "string", json_path = ".spec.planHash"),
    printcolumn(
        name = "Score",
        type_ = "number",
        json_path = ".spec.score",
        priority = 1
    ),
    printcolumn(
        name = "Policy",
        type_ = "string",
        json_path = ".spec.policy",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RemediationPolicySpec {
    /// The plan: target, root cause, actions, cost, benefit, score, risk, hash.
    #[serde(flatten)]
    pub plan: RemediationPlan,
    /// Why the plan was made.
    pub evidence: Evidence,
    /// The GitOps tool that manages the target Deployment, when one does (its
    /// tracking labels or annotations), and what the policy said to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ops: Option<GitOpsMark>,
    /// The HorizontalPodAutoscaler that targets the Deployment, when one does,
    /// and how the plan deals with it (scaling through its `minReplicas`, or
    /// scale actions left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<HpaMark>,
}

/// A plan's target is scaled by a HorizontalPodAutoscaler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HpaMark {
    /// The HorizontalPodAutoscaler's name (same namespace).
    pub name: String,
    /// Its `spec.minReplicas` when the plan was made (1 when unset).
    pub min_replicas: i32,
    /// Its `spec.maxReplicas`: the plan's replica counts stay within it.
    pub max_replicas: i32,
    /// The policy's choice.
    pub mode: crate::HpaMode,
    /// What an approver should know, in one sentence.
    pub message: String,
}

/// A plan's target is managed by a GitOps tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitOpsMark {
    /// `ArgoCD` or `Flux`.
    pub tool: GitOpsTool,
    /// The Argo CD Application, or the Flux Kustomization or HelmRelease
    /// (`namespace/name`), that manages the Deployment.
    pub owner: String,
    /// The label or annotation that says so.
    pub evidence: String,
    /// The policy's choice (`Warn` or `Allow`; under `Refuse` there is no plan).
    pub mode: crate::GitOpsMode,
    /// What an approver should know, in one sentence.
    pub message: String,
}

/// A GitOps tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GitOpsTool {
    #[serde(rename = "ArgoCD")]
    ArgoCd,
    Flux,
}

/// The analysis behind a plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// How many violations were analyzed.
    pub violations_analyzed: u64,
    /// Ids of the violations behind the root cause, at most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub violations: Vec<String>,
    /// The patterns that support the root cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<ViolationPattern>,
    /// The ranked root-cause hypotheses for the target, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_causes: Vec<RootCause>,
    /// Why now: the judgement of each of the target's policies (whether its breach
    /// holds now, persists and stands out from its normal), at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub breaches: Vec<mapek_engine::judge::Breach>,
}

/// Whether a human (or the auto-approval rule) let the plan run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApprovalState {
    #[default]
    Pending,
    Approved,
    Rejected,
    Expired,
}

/// The phase of a plan's execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ExecutionPhase {
    #[default]
    Pending,
    InProgress,
    Completed,
    Failed,
    RolledBack,
}

impl ExecutionPhase {
    /// Whether the execution is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ExecutionPhase::Completed | ExecutionPhase::Failed | ExecutionPhase::RolledBack
        )
    }
}

/// The state of one action of an execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ExecutionStatus {
    /// Not started.
    #[default]
    Pending,
    /// Its previous state is recorded (write-ahead) and its patch may have been sent.
    Running,
    Succeeded,
    Failed,
    /// It had succeeded and was undone after a later action failed.
    RolledBack,
    /// Not run because an earlier action failed.
    Skipped,
}

/// What an action changed, recorded before it runs so that it can be undone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousState {
    /// For scale actions: `spec.replicas` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// For restarts: the `kubectl.kubernetes.io/restartedAt` pod-template annotation
    /// before (`None` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    /// For restarts: the `restartedAt` value the restart writes (recorded
    /// before the patch). Its undo restores `restartedAt` only while the
    /// Deployment still carries this value: another writer's restart since is
    /// left alone. Absent in records of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_to: Option<String>,
    /// For config actions: the setting and its value before (`None` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PreviousConfig>,
    /// For rollbacks: the pod template before and the one the rollback sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PreviousTemplate>,
    /// For scale actions on a Deployment that a HorizontalPodAutoscaler
    /// targets: the HPA scaled through and its `minReplicas` before (the
    /// action sets `minReplicas`, never `spec.replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<PreviousHpa>,
}

/// A scale action's record when it goes through a HorizontalPodAutoscaler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousHpa {
    /// The HorizontalPodAutoscaler's name (same namespace).
    pub name: String,
    /// Its `spec.minReplicas` before (`None`: unset, which means 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// The `minReplicas` the action sets.
    pub set: i32,
}

/// A rollback's record: the Deployment's pod template before it (what an undo
/// restores) and the earlier revision's template it sets, both as the API server
/// returned them (`pod-template-hash` label left out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousTemplate {
    /// The Deployment's revision before the rollback
    /// (`deployment.kubernetes.io/revision`), when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The pod template before the rollback.
    #[schemars(schema_with = "pod_template_schema")]
    pub before: serde_json::Value,
    /// The template of the revision rolled back to.
    #[schemars(schema_with = "pod_template_schema")]
    pub after: serde_json::Value,
}

/// A pod template as the API server returned it: kept whole, not validated
/// again here (the API server validated it as a Deployment's).
fn pod_template_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "A pod template (spec.template of a Deployment)."
    })
}

/// A config setting's value before an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousConfig {
    pub name: String,
    pub target: ConfigTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `None` when the setting was absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The record of one action (seed: `ActionExecution`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecution {
    pub action_id: String,
    pub action_type: ActionType,
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Written before the patch is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousState>,
    /// The Deployment's `metadata.generation` right after this action's last
    /// patch (its change, or its undo): the rollout counts once the Deployment
    /// controller has observed at least this generation, whatever other writers
    /// changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_generation: Option<i64>,
    /// What happened, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// The record of an execution (seed: `PolicyExecution`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyExecution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionExecution>,
    /// Succeeded actions over all actions, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Approval and execution, in `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationPolicyStatus {
    #[serde(default)]
    pub approval: ApprovalState,
    /// The plan hash that was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_time: Option<Time>,
    /// Who approved the plan: the `mapek.io/approved-by` annotation sent with the
    /// approval (checked by the API server when the chart's approvers policy is
    /// on), or that its policy approved it automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Why the plan was rejected or expired, or why an approval was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_message: Option<String>,
    #[serde(default)]
    pub phase: ExecutionPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<PolicyExecution>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// What each action's patch would change, as the API server answered a
    /// server-side dry run of it when the plan was proposed, so that an approver
    /// sees exactly what approval will do (or what would refuse it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRunResult>,
}

/// The API server's answer to a server-side dry run of one action's patch,
/// sent against the Deployment as it was when the plan was proposed. Each
/// action is sent on its own: a dry run persists nothing, so a later action's
/// does not see an earlier one's change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResult {
    pub action_id: String,
    /// The API server accepted the patch (schema, admission, quota).
    pub accepted: bool,
    /// The fields of the Deployment's spec the patch changed, field by field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<mapek_engine::model::FieldChange>,
    /// Why it was refused, or could not be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
