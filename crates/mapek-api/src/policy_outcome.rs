//! `PolicyOutcome`: what an executed plan achieved, measured by the knowledge
//! controller after a stabilization window. The learned statistics are rebuilt
//! from these objects at start-up, so a restart loses nothing.

// Repeated `type_ = ...` inside kube's `printcolumn(...)` is not a duplicate.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mapek_engine::knowledge;

/// The measured result of one executed RemediationPolicy.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mapek.io",
    version = "v1alpha1",
    kind = "PolicyOutcome",
    namespaced,
    status = "PolicyOutcomeStatus",
    shortname = "po",
    category = "mapek",
    doc = "The measured result of an executed remediation plan: violations before and after, and the outcome type.",
    printcolumn(name = "Plan", type_ = "string", json_path = ".spec.planName"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(name = "Root Cause", type_ = "string", json_path = ".spec.rootCause"),
    printcolumn(name = "Outcome", type_ = "string", json_path = ".spec.outcome"),
    printcolumn(
        name = "Before",
        type_ = "integer",
        json_path = ".spec.violationsBefore"
    ),
    printcolumn(name = "After", type_ = "integer", json_path = ".spec.violationsAfter"),
    printcolumn(
        name = "Stabilized (s)",
        type_ = "number",
        json_path = ".spec.timeToStabilizationSeconds"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOutcomeSpec {
    /// The judged result, as the engine's knowledge records it.
    #[serde(flatten)]
    pub outcome: knowledge::OutcomeRecord,
    /// Length of each of the two compared windows, in seconds.
    pub window_seconds: u64,
    /// Who approved the plan (its `status.approvedBy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// Reserved for the knowledge controller's bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOutcomeStatus {
    /// Whether the learned statistics include this outcome.
    #[serde(default)]
    pub learned: bool,
}
