//! The objects the tests read: a RemediationPolicy with two actions, evidence and
//! root causes in any approval state, and PolicyOutcomes.

use mapek_api::RemediationPolicy;
use serde_json::{Value, json};

pub(crate) const RPS: &str = "/apis/mapek.io/v1alpha1/namespaces/shop/remediationpolicies";

pub(crate) fn plan(name: &str, ns: &str, approval: Option<&str>) -> Value {
    let mut rp = json!({
        "apiVersion": "mapek.io/v1alpha1",
        "kind": "RemediationPolicy",
        "metadata": { "name": name, "namespace": ns, "resourceVersion": "7" },
        "spec": {
            "target": "web", "policy": "web-latency", "rootCause": "LoadSpike",
            "confidence": 0.82,
            "actions": [
                { "id": "a1", "actionType": "SCALE_UP", "target": "web", "replicas": 5,
                  "priority": "High", "estimatedLatencySeconds": 30 },
                { "id": "a2", "actionType": "UPDATE_CONFIGURATION", "target": "web",
                  "config": { "name": "MODE", "target": "Env", "container": "app", "value": "safe" },
                  "priority": "Medium", "estimatedLatencySeconds": 10 }
            ],
            "expectedImpact": "latency back under 0.5 s",
            "risk": "Medium", "priority": "High",
            "cost": 0.5, "benefit": 0.9, "score": 0.4,
            "planHash": "9f3c2a7b",
            "evidence": {
                "violationsAnalyzed": 12,
                "violations": ["v1", "v2"],
                "patterns": [{ "patternType": "TemporalBurst", "confidence": 0.9,
                               "hypothesis": "5 violations within 2 minutes",
                               "subject": "web-latency", "targets": ["web"], "evidence": ["v1"] }],
                "rootCauses": [
                    { "kind": "LoadSpike", "target": "web", "policy": "web-latency",
                      "confidence": 0.82, "description": "a sudden rise in load",
                      "supportingPatterns": [0] },
                    { "kind": "ComponentFault", "target": "web", "policy": "web-latency",
                      "confidence": 0.3, "description": "web fails on its own",
                      "supportingPatterns": [] }
                ]
            }
        }
    });
    if let Some(a) = approval {
        rp["status"] = json!({ "approval": a, "phase": "Pending" });
    }
    rp
}

pub(crate) fn rp(value: Value) -> RemediationPolicy {
    serde_json::from_value(value).unwrap()
}

pub(crate) fn outcome(name: &str, outcome: &str) -> Value {
    json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "PolicyOutcome",
        "metadata": { "name": name, "namespace": "shop" },
        "spec": {
            "planName": name, "planHash": "h", "target": "web", "policy": "web-latency",
            "rootCause": "LoadSpike", "actionTypes": ["SCALE_UP"],
            "violationsBefore": 10, "violationsAfter": 0, "resolvedCount": 10,
            "outcome": outcome, "successConfidence": 0.9, "recordedAtMs": 1,
            "windowSeconds": 120
        }
    })
}
