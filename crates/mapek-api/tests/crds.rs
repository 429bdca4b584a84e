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

#[test]
fn episode_settings_and_status_are_optional_and_read_back() {
    // An existing policy without the new fields reads as before.
    let old = policy(json!({"cooldown": "10m"}));
    assert_eq!(old.spec.condition.keep_firing_for, None);
    assert_eq!(old.spec.remediation.max_plans_per_episode, None);
    let p: ViolationPolicy = serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1",
        "kind": "ViolationPolicy",
        "metadata": {"name": "checkout-latency", "namespace": "default"},
        "spec": {
            "targetRef": {"name": "checkout"},
            "query": "q",
            "condition": {"threshold": 0.5, "for": "1m", "keepFiringFor": "3m"},
            "remediation": {"maxPlansPerEpisode": 3}
        },
        "status": {"episode": {
            "state": "Exhausted", "since": "2026-12-06T10:00:00Z",
            "lastBreach": "2026-12-06T10:20:00Z", "maxPlans": 3, "message": "exhausted",
            "plans": [{"name": "checkout-1", "proposedAt": "2026-12-06T10:01:00Z",
                       "level": 0.9, "state": "Rejected", "closedAt": "2026-12-06T10:05:00Z"}]
        }}
    }))
    .unwrap();
    assert_eq!(
        p.spec
            .condition
            .keep_firing_for
            .map(std::time::Duration::from),
        Some(std::time::Duration::from_secs(180))
    );
    assert_eq!(p.spec.remediation.max_plans_per_episode, Some(3));
    let e = p.status.as_ref().unwrap().episode.as_ref().unwrap();
    assert_eq!(
        e.plans[0].state,
        mapek_engine::model::EpisodePlanState::Rejected
    );
    assert_eq!(cel_errors(&p), "");
    // The schema says what the API server checks: at least one plan per episode.
    let crd = serde_json::to_value(mapek_api::all_crds())
        .unwrap()
        .to_string();
    assert!(
        crd.contains("maxPlansPerEpisode"),
        "no maxPlansPerEpisode in the CRDs"
    );
    let yaml = crd_yaml(
        &mapek_api::all_crds()
            .into_iter()
            .find(|c| c.spec.names.kind == "ViolationPolicy")
            .unwrap(),
    );
    assert!(yaml.contains("keepFiringFor"), "{yaml}");
    assert!(
        yaml.contains(".status.episode.state"),
        "no Episode printcolumn"
    );
    let max = yaml.split("maxPlansPerEpisode:").nth(1).unwrap();
    assert!(max[..400].contains("minimum: 1"), "{}", &max[..400]);
}
