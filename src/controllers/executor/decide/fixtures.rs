//! Objects for the executor's tests.

use serde_json::{Value, json};

use super::*;

/// `web` at `replicas` replicas, rolled out: container `app` with `MODE=normal`.
pub(crate) fn deployment(replicas: i32) -> Deployment {
    let mut d = crate::controllers::executor::patch::tests::deployment(
        replicas,
        json!({
            "metadata": { "labels": { "app": "web" } },
            "spec": { "containers": [
                { "name": "app", "image": "web:1", "env": [ { "name": "MODE", "value": "normal" } ] }
            ] }
        }),
    );
    rolled_out(&mut d);
    d
}

/// `d` after a change of its spec that its controller has not observed yet.
pub(crate) fn changed(d: &mut Deployment) {
    d.metadata.generation = Some(d.metadata.generation.unwrap_or_default() + 1);
}

/// `d` once its controller has rolled out its spec: every replica updated and
/// available.
pub(crate) fn rolled_out(d: &mut Deployment) {
    let replicas = d.spec.replicas;
    let generation = d.metadata.generation.get_or_insert(1);
    d.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
        observed_generation: Some(*generation),
        replicas,
        updated_replicas: replicas,
        ready_replicas: replicas,
        available_replicas: replicas,
        ..Default::default()
    });
}

/// The ViolationPolicy `web-latency` on `web`: scale in [1, 6] by at most 2,
/// restarts, and `MODE` of container `app` set to `degraded` (or `safe`).
pub(crate) fn policy(approval_mode: &str) -> ViolationPolicy {
    serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1",
        "kind": "ViolationPolicy",
        "metadata": { "name": "web-latency", "namespace": "default" },
        "spec": {
            "targetRef": { "name": "web" },
            "query": "latency",
            "condition": { "threshold": 0.5 },
            "remediation": {
                "allowedActions": ["SCALE_UP", "SCALE_DOWN", "RESTART_SERVICE", "UPDATE_CONFIGURATION"],
                "scale": { "minReplicas": 1, "maxReplicas": 6, "maxStep": 2 },
                "config": [{
                    "name": "MODE", "target": "Env", "container": "app",
                    "value": "degraded", "allowedValues": ["degraded", "safe"],
                    "actions": ["UPDATE_CONFIGURATION"]
                }],
                "approvalMode": approval_mode,
                "approvalTtl": "1h"
            }
        }
    }))
    .unwrap()
}

pub(crate) fn scale_up(id: &str, replicas: i32) -> Value {
    json!({ "id": id, "actionType": "SCALE_UP", "target": "web", "replicas": replicas,
            "priority": "High", "estimatedLatencySeconds": 30 })
}

pub(crate) fn set_mode(id: &str, value: &str) -> Value {
    json!({ "id": id, "actionType": "UPDATE_CONFIGURATION", "target": "web",
            "config": { "name": "MODE", "target": "Env", "container": "app", "value": value },
            "priority": "Medium", "estimatedLatencySeconds": 10 })
}

pub(crate) fn restart(id: &str) -> Value {
    json!({ "id": id, "actionType": "RESTART_SERVICE", "target": "web",
            "priority": "Medium", "estimatedLatencySeconds": 60 })
}

/// The plan `fix-web` with these actions, its hash set, no status.
pub(crate) fn plan(actions: Vec<Value>, risk: &str) -> RemediationPolicy {
    let mut rp: RemediationPolicy = serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1",
        "kind": "RemediationPolicy",
        "metadata": { "name": "fix-web", "namespace": "default", "generation": 1, "resourceVersion": "1" },
        "spec": {
            "target": "web", "policy": "web-latency", "rootCause": "LoadSpike",
            "confidence": 0.8, "actions": actions, "expectedImpact": "lower latency",
            "risk": risk, "priority": "High", "cost": 0.2, "benefit": 0.7, "score": 0.5,
            "planHash": "",
            "evidence": { "violationsAnalyzed": 3 }
        }
    }))
    .unwrap();
    rp.spec.plan.plan_hash = plan_hash(&rp.spec.plan);
    rp
}

pub(crate) fn annotate(rp: &mut RemediationPolicy, key: &str, value: &str) {
    rp.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(key.into(), value.into());
}

/// The plan approved with its own hash.
pub(crate) fn approved(actions: Vec<Value>) -> RemediationPolicy {
    let mut rp = plan(actions, "Medium");
    let hash = rp.spec.plan.plan_hash.clone();
    annotate(&mut rp, APPROVE_ANNOTATION, &hash);
    rp
}
