//! What the fuzz targets share: the objects they start from (a rolled-out
//! Deployment, a ViolationPolicy, a plan with its hash), the invariant every
//! executor step must keep, and a check that text shown as HTML is escaped.

use k8s_openapi::api::apps::v1::Deployment;
use mapek::controllers::executor::decide::{
    Observed, Step, check_action, next_step, transition, validate_plan,
};
use mapek::controllers::executor::patch;
use mapek_api::{
    APPROVE_ANNOTATION, ApprovalState, RemediationPolicy, RemediationPolicyStatus, ViolationPolicy,
};
use mapek_engine::model::{PatchKind, RemediationEnvelope, RemediationPlan};
use mapek_engine::plan::plan_hash;
use serde_json::{Value, json};

/// Deployment `web` at `replicas`, its rollout complete.
pub fn deployment(replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "default", "resourceVersion": "7", "generation": 1 },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [
                    { "name": "app", "image": "web:1", "env": [ { "name": "MODE", "value": "normal" } ] }
                ] }
            }
        },
        "status": { "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": replicas, "availableReplicas": replicas }
    }))
    .expect("the fuzz Deployment deserializes")
}

/// The remediation of [`policy`]: scale in [1, 6] by at most 2, restarts, and
/// `MODE` of container `app` set to `degraded` (or `safe`).
pub fn remediation(approval_mode: &str) -> Value {
    json!({
        "allowedActions": ["SCALE_UP", "SCALE_DOWN", "RESTART_SERVICE", "UPDATE_CONFIGURATION"],
        "scale": { "minReplicas": 1, "maxReplicas": 6, "maxStep": 2 },
        "config": [{
            "name": "MODE", "target": "Env", "container": "app",
            "value": "degraded", "allowedValues": ["degraded", "safe"],
            "actions": ["UPDATE_CONFIGURATION"]
        }],
        "approvalMode": approval_mode,
        "approvalTtl": "1h"
    })
}

/// ViolationPolicy `web-latency` on `web` with this `spec.remediation`.
pub fn policy_with(remediation: Value) -> Value {
    json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
        "metadata": { "name": "web-latency", "namespace": "default" },
        "spec": {
            "targetRef": { "name": "web" },
            "query": "latency",
            "condition": { "threshold": 0.5 },
            "remediation": remediation
        }
    })
}

/// [`policy_with`] [`remediation`], as the operator reads it.
pub fn policy(approval_mode: &str) -> ViolationPolicy {
    serde_json::from_value(policy_with(remediation(approval_mode)))
        .expect("the fuzz policy deserializes")
}

/// Plan `fix-web` of `web-latency` with these actions, created at
/// 2026-11-26T10:00:00Z, its hash set, no status.
pub fn plan(actions: Vec<Value>, risk: &str) -> RemediationPolicy {
    let mut rp: RemediationPolicy =
        serde_json::from_value(plan_json(actions, risk)).expect("the fuzz plan deserializes");
    rp.spec.plan.plan_hash = plan_hash(&rp.spec.plan);
    rp
}

/// The object of [`plan`], its hash empty.
pub fn plan_json(actions: Vec<Value>, risk: &str) -> Value {
    json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "RemediationPolicy",
        "metadata": { "name": "fix-web", "namespace": "default", "generation": 1,
                      "resourceVersion": "1", "creationTimestamp": "2026-11-26T10:00:00Z" },
        "spec": {
            "target": "web", "policy": "web-latency", "rootCause": "LoadSpike",
            "confidence": 0.8, "actions": actions, "expectedImpact": "lower latency",
            "risk": risk, "priority": "High", "cost": 0.2, "benefit": 0.7, "score": 0.5,
            "planHash": "",
            "evidence": { "violationsAnalyzed": 3 }
        }
    })
}

/// A SCALE_UP (or SCALE_DOWN) of `web` to `replicas`.
pub fn scale(id: &str, up: bool, replicas: i64) -> Value {
    let kind = if up { "SCALE_UP" } else { "SCALE_DOWN" };
    json!({ "id": id, "actionType": kind, "target": "web", "replicas": replicas,
            "priority": "High", "estimatedLatencySeconds": 30 })
}

/// 2026-11-26T10:00:00Z plus `offset_ms`.
pub const CREATED_MS: i64 = 1_795_687_200_000;

/// The invariant of every executor step: nothing is approved, started or
/// patched unless the plan carries an approval of its own content and every
/// action it runs stays inside the policy's envelope.
pub fn check_step(
    step: &Step,
    rp: &RemediationPolicy,
    policy: Option<&ViolationPolicy>,
    d: Option<&Deployment>,
) {
    let plan = &rp.spec.plan;
    let status = rp.status.clone().unwrap_or_default();
    let content = plan_hash(plan);
    match step {
        Step::Approve { hash, auto, .. } => {
            assert_eq!(
                hash, &content,
                "an approval records the plan's content hash"
            );
            assert_eq!(plan.plan_hash, content, "an edited plan is never approved");
            let annotated = rp.annotations_get(mapek_api::APPROVE_ANNOTATION);
            match auto {
                true => assert!(
                    annotated.is_none(),
                    "an auto-approval with an approve annotation"
                ),
                false => assert_eq!(annotated, Some(plan.plan_hash.as_str())),
            }
        }
        Step::Start => {
            assert_eq!(
                status.approval,
                ApprovalState::Approved,
                "start without approval"
            );
            assert_eq!(status.approved_hash.as_deref(), Some(content.as_str()));
            let (p, d) = (
                policy.expect("a start needs the policy"),
                d.expect("and the Deployment"),
            );
            validate_plan(plan, p, Some(d), &[]).expect("a started plan validates");
            within(plan, &p.spec.remediation.envelope, patch::replicas(d));
        }
        Step::WriteAhead { index, .. } | Step::Apply { index } => {
            assert_eq!(
                status.approval,
                ApprovalState::Approved,
                "a patch without approval"
            );
            assert_eq!(status.approved_hash.as_deref(), Some(content.as_str()));
            let (p, d) = (
                policy.expect("a patch needs the policy"),
                d.expect("and the Deployment"),
            );
            let action = &plan.actions[*index];
            let envelope = &p.spec.remediation.envelope;
            check_action(plan, action, envelope, patch::replicas(d))
                .expect("a patched action checks");
        }
        _ => {}
    }
}

/// The executor's next steps for a plan, as its controller takes them (each
/// step's status written, without the patches), and the plugin's text.
pub fn drive(rp: &RemediationPolicy, vp: &ViolationPolicy, replicas: i32) -> Vec<Step> {
    let mut steps = Vec::new();
    let d: Deployment = deployment(replicas.max(0));
    let mut rp = rp.clone();
    for i in 0..6 {
        let now = CREATED_MS + 60_000 * i;
        let o = Observed {
            plan: &rp,
            policy: Some(vp),
            deployment: Some(&d),
            replica_sets: &[],
            hpas: &[],
            now,
        };
        let step = next_step(&o);
        check_step(&step, &rp, Some(vp), Some(&d));
        let mut status: RemediationPolicyStatus = rp.status.clone().unwrap_or_default();
        transition(&step, &mut status, &rp.spec.plan, Some(1), now);
        if status.approval == ApprovalState::Approved {
            assert!(
                rp.status
                    .as_ref()
                    .is_some_and(|s| s.approval == ApprovalState::Approved)
                    || rp
                        .metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key(APPROVE_ANNOTATION))
                    || vp.spec.remediation.approval_mode
                        == mapek_engine::model::ApprovalMode::AutoLowRisk,
                "approved from nothing: {step:?}"
            );
        }
        rp.status = Some(status);
        steps.push(step);
    }
    let _ = kubectl_mapek::explain(&rp);
    let _ = kubectl_mapek::format_plans(std::slice::from_ref(&rp), None);
    steps
}

/// `rp` with `mapek.io/approve` set to its plan hash.
pub fn approve(rp: &mut RemediationPolicy) {
    let hash = rp.spec.plan.plan_hash.clone();
    rp.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(APPROVE_ANNOTATION.into(), hash);
}

/// Every scale action of `plan`, simulated from `current`, stays within the
/// envelope's bounds and step.
pub fn within(plan: &RemediationPlan, envelope: &RemediationEnvelope, mut current: i32) {
    for a in &plan.actions {
        assert!(
            envelope.allows(a.action_type),
            "{} is not allowed",
            a.action_type
        );
        if a.action_type.patch_kind() == PatchKind::Scale {
            let b = envelope.scale.as_ref().expect("scaling needs bounds");
            let r = a.replicas.expect("a scale action has replicas");
            assert!(
                b.min_replicas <= r && r <= b.max_replicas,
                "{r} outside {b:?}"
            );
            assert!((i64::from(r) - i64::from(current)).abs() <= i64::from(b.max_step));
            current = r;
        }
    }
}

/// Text from an object, shown in a page: it must not open a tag.
pub fn assert_escaped(page: &str, raw: &str) {
    if raw.contains('<') {
        assert!(!page.contains(raw), "unescaped {raw:?} in the page");
    }
}

/// Reading an annotation of a RemediationPolicy.
pub trait Annotations {
    fn annotations_get(&self, key: &str) -> Option<&str>;
}

impl Annotations for RemediationPolicy {
    fn annotations_get(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }
}
