//! The CRD files under `crds/` must be exactly what the Rust types generate, and the
//! schema must carry the validation rules (checked with kube's client-side CEL
//! evaluator, the same rules the API server runs).

use mapek_api::{ViolationPolicy, all_crds, crd_file_name, crd_yaml};
use serde_json::json;

#[test]
fn crds_folder_matches_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    for crd in all_crds() {
        let path = dir.join(crd_file_name(&crd));
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make crds`", path.display()));
        assert!(
            on_disk == crd_yaml(&crd),
            "{} differs from the Rust types; run `make crds` and commit the result",
            path.display()
        );
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        all_crds().len(),
        "crds/ holds files no type generates"
    );
}

fn policy(remediation: serde_json::Value) -> ViolationPolicy {
    serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1",
        "kind": "ViolationPolicy",
        "metadata": {"name": "checkout-latency", "namespace": "default"},
        "spec": {
            "targetRef": {"name": "checkout"},
            "query": "histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[1m]))",
            "condition": {"operator": "GreaterThan", "threshold": 0.5, "for": "1m"},
            "remediation": remediation
        }
    }))
    .expect("test policy deserializes")
}

fn cel_errors(p: &ViolationPolicy) -> String {
    match kube::core::cel::validate_cel(p) {
        Ok(()) => String::new(),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn a_well_formed_policy_passes_the_cel_rules() {
    let p = policy(json!({
        "allowedActions": ["SCALE_UP", "UPDATE_CONFIGURATION"],
        "scale": {"minReplicas": 2, "maxReplicas": 10, "maxStep": 2},
        "config": [{"name": "VALIDATION_MODE", "value": "lenient",
                    "allowedValues": ["strict", "lenient"], "actions": ["UPDATE_CONFIGURATION"]}],
        "cooldown": "10m", "approvalMode": "Manual", "approvalTtl": "1h"
    }));
    assert_eq!(cel_errors(&p), "");
}

#[test]
fn min_above_max_is_rejected() {
    let p = policy(json!({
        "allowedActions": ["SCALE_UP"],
        "scale": {"minReplicas": 5, "maxReplicas": 3, "maxStep": 1},
        "cooldown": "10m", "approvalMode": "Manual", "approvalTtl": "1h"
    }));
    assert!(
        cel_errors(&p).contains("minReplicas must not exceed maxReplicas"),
        "{}",
        cel_errors(&p)
    );
}

#[test]
fn scaling_without_bounds_is_rejected() {
    let p = policy(json!({
        "allowedActions": ["SCALE_DOWN"],
        "cooldown": "10m", "approvalMode": "Manual", "approvalTtl": "1h"
    }));
    assert!(
        cel_errors(&p).contains("scale bounds"),
        "{}",
        cel_errors(&p)
    );
}

#[test]
fn a_config_action_needs_a_listed_setting() {
    let p = policy(json!({
        "allowedActions": ["THROTTLE_REQUESTS"],
        "config": [{"name": "MODE", "value": "a", "actions": ["UPDATE_CONFIGURATION"]}],
        "cooldown": "10m", "approvalMode": "Manual", "approvalTtl": "1h"
    }));
    assert!(
        cel_errors(&p).contains("needs a remediation.config setting"),
        "{}",
        cel_errors(&p)
    );
}

#[test]
fn a_config_value_outside_allowed_values_is_rejected() {
    let p = policy(json!({
        "allowedActions": ["UPDATE_CONFIGURATION"],
        "config": [{"name": "MODE", "value": "chaos", "allowedValues": ["strict", "lenient"],
                    "actions": ["UPDATE_CONFIGURATION"]}],
        "cooldown": "10m", "approvalMode": "Manual", "approvalTtl": "1h"
    }));
    assert!(
        cel_errors(&p).contains("value must be one of allowedValues"),
        "{}",
        cel_errors(&p)
    );
}

#[test]
fn a_scale_action_cannot_be_a_config_setting_action() {
    let p = policy(json!({
        "allowedActions": [],
        "config": [{"name": "MODE", "value": "a", "actions": ["SCALE_UP"]}],
        "cooldown": "10m", "approvalMode": "Manual", "approvalTtl": "1h"
    }));
    assert!(
        cel_errors(&p).contains("can only serve config actions"),
        "{}",
        cel_errors(&p)
    );
}
