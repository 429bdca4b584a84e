//! The action vocabulary: action types and the Deployment patch each one
//! becomes, and the risk, priority, approval mode and outcome of a remediation.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A remediation action type (the nine of the seed system, and
/// `ROLLBACK_REVISION`). On Kubernetes each one becomes one of four Deployment
/// patches: scale, rolling restart, config change or rollback.
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
    /// Undo the Deployment's latest pod-template change: its template becomes
    /// the previous revision's again, as `kubectl rollout undo` does.
    RollbackRevision,
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
    /// The whole pod template, set back to an earlier revision's.
    Rollback,
}

impl ActionType {
    /// Every action type, in declaration order.
    pub const ALL: [ActionType; 10] = [
        ActionType::ScaleUp,
        ActionType::ScaleDown,
        ActionType::RestartService,
        ActionType::UpdateConfiguration,
        ActionType::ThrottleRequests,
        ActionType::BypassValidation,
        ActionType::ActivateEmergencyOverride,
        ActionType::RebalanceLoad,
        ActionType::ApplyPolicy,
        ActionType::RollbackRevision,
    ];

    /// The seed system's cost of taking this action, in [0, 1].
    pub fn cost(self) -> f64 {
        match self {
            ActionType::ScaleDown => 0.05,
            ActionType::ScaleUp => 0.15,
            ActionType::RestartService => 0.20,
            ActionType::RebalanceLoad => 0.25,
            ActionType::ApplyPolicy => 0.30,
            // A whole template back to one that ran before: more than a restart,
            // less than an untried setting.
            ActionType::RollbackRevision => 0.25,
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
            ActionType::RollbackRevision => PatchKind::Rollback,
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
            ActionType::RollbackRevision => "ROLLBACK_REVISION",
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
    "unknown action type {0:?} (expected one of SCALE_UP, SCALE_DOWN, RESTART_SERVICE, UPDATE_CONFIGURATION, THROTTLE_REQUESTS, BYPASS_VALIDATION, ACTIVATE_EMERGENCY_OVERRIDE, REBALANCE_LOAD, APPLY_POLICY, ROLLBACK_REVISION)"
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
