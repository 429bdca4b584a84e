//! The remediation envelope: which actions the planner may use for a policy,
//! within which scale bounds, and which configuration settings it may change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ActionType;

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
