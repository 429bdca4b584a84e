//! Remediation plans: the plan for one Deployment, its actions and the config
//! changes they make.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ActionType, ConfigTarget, Priority, RiskLevel, RootCauseKind, SharedStr};

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
    /// For `ROLLBACK_REVISION`: the rollout revision whose pod template the
    /// Deployment gets back (the one before the change blamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
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

impl RemediationPlan {
    /// The name of the RemediationPolicy that carries it: its target and the
    /// first 10 hex digits of its hash.
    pub fn object_name(&self) -> String {
        format!(
            "{}-{}",
            self.target,
            &self.plan_hash[..self.plan_hash.len().min(10)]
        )
    }
}
