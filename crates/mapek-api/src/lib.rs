//! `mapek-api`: the three custom resources of the `mapek.io/v1alpha1` API, what users declare
//! ([`ViolationPolicy`]), the plans the operator proposes ([`RemediationPolicy`]) and
//! what it learned from them ([`PolicyOutcome`]), plus the CRD generation that
//! `mapek-operator crdgen` prints. Types only (kube's derive, k8s-openapi, schemars):
//! the operator and the kubectl plugin share them without sharing a runtime.

pub mod duration;
mod policy_outcome;
mod remediation_policy;
mod violation_policy;

pub use policy_outcome::*;
pub use remediation_policy::*;
pub use violation_policy::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every kind here.
pub const GROUP: &str = "mapek.io";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";

/// Annotation whose value, equal to the plan hash, approves a plan.
pub const APPROVE_ANNOTATION: &str = "mapek.io/approve";
/// Annotation whose value (a reason) rejects a plan.
pub const REJECT_ANNOTATION: &str = "mapek.io/reject";
/// Annotation naming the user who approved a plan, set with the approval
/// (`kubectl mapek approve` sets it; with the chart's approvers policy, the API
/// server refuses an approval whose value is not the sender's user name).
pub const APPROVED_BY_ANNOTATION: &str = "mapek.io/approved-by";
/// Annotation whose value, equal to the plan hash, lets an approved plan start
/// while the storm brake holds the others.
pub const STORM_BRAKE_OVERRIDE_ANNOTATION: &str = "mapek.io/storm-brake-override";
/// The pod-template annotation a rolling restart sets, as `kubectl rollout
/// restart` does: the executor writes it, the workload simulator reads it.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
/// What `status.approvedBy` says of a plan approved by its policy's
/// `approvalMode: AutoLowRisk` rather than by a person.
pub const AUTO_APPROVER: &str = "auto (approvalMode AutoLowRisk, risk Low)";

/// Every CRD, in the order `crds/` lists them.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    [
        ViolationPolicy::crd(),
        RemediationPolicy::crd(),
        PolicyOutcome::crd(),
    ]
    .into_iter()
    .map(kubernetes_formats)
    .collect()
}

/// Kubernetes knows the integer formats `int32` and `int64` only: schemars'
/// `uint32`/`uint64`/`uint` become those, with `minimum: 0` kept or added.
fn kubernetes_formats(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                let replacement = match map.get("format").and_then(|f| f.as_str()) {
                    Some("uint32") => Some("int32"),
                    Some("uint64") | Some("uint") => Some("int64"),
                    _ => None,
                };
                if let Some(format) = replacement {
                    map.insert("format".into(), format.into());
                    map.entry("minimum").or_insert(0.into());
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&crd).expect("a CRD always serializes");
    walk(&mut value);
    serde_json::from_value(value).expect("the rewritten CRD keeps its shape")
}

/// The file name under `crds/` of a CRD.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// A CRD as the YAML document `crdgen` prints and `crds/` holds.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    serde_saphyr::to_string(crd).expect("a CRD always serializes to YAML")
}

/// A Kubernetes API condition, as in `metav1.Condition`.
pub type Condition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A reference to the Deployment a policy or plan is about.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// Only `Deployment` is supported.
    #[serde(default)]
    pub kind: TargetKind,
    /// The Deployment's name, in the policy's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Kinds of workload a policy may target.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum TargetKind {
    #[default]
    Deployment,
}
