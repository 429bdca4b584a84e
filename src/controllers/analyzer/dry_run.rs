//! The server-side dry run of a plan's patches when it is proposed: each
//! action's Deployment patch, built as the executor will build it
//! ([`patch::for_action`]), is sent with `dryRun=All`, so the API server runs
//! its schema validation, admission (ValidatingAdmissionPolicies, webhooks) and
//! quota checks and answers with the object it would store, which is compared
//! with the Deployment as read. The plan's `status.dryRun` holds each answer
//! and `kubectl mapek explain` prints it: an approver sees exactly what approval
//! will change, or what would refuse it.
//!
//! Each action is sent on its own against the Deployment as read: a dry run
//! persists nothing, so a later action's does not see an earlier one's change.
//! A scale action on a Deployment an HPA scales is sent as what the executor
//! will send, the HPA's `minReplicas` patch, against the HPA.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::controllers::FIELD_MANAGER;
use crate::controllers::executor::patch::{self, DeploymentPatch};
use crate::controllers::{hpa, revisions};
use mapek_api::DryRunResult;
use mapek_engine::model::{FieldChange, Millis, PatchKind, RemediationAction};

/// What a dry run is sent to: the Deployment, and the HPA that scales it when
/// the plan's scale actions go through one.
pub struct Targets<'a> {
    pub deployments: &'a Api<Deployment>,
    pub hpas: &'a Api<HorizontalPodAutoscaler>,
    pub deployment: &'a Deployment,
    pub replica_sets: &'a [ReplicaSet],
    pub hpa: Option<&'a HorizontalPodAutoscaler>,
}

/// Sends each action's patch with server-side dry run.
pub async fn dry_run(
    t: &Targets<'_>,
    actions: &[RemediationAction],
    now: Millis,
) -> Vec<DryRunResult> {
    let (api, d, sets) = (t.deployments, t.deployment, t.replica_sets);
    let params = PatchParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let mut out = Vec::with_capacity(actions.len());
    for a in actions {
        if let (PatchKind::Scale, Some(h)) = (a.action_type.patch_kind(), t.hpa) {
            out.push(result(a, hpa_dry_run(t.hpas, h, a, &params).await));
            continue;
        }
        let answer = match patch::for_action(a, d, sets, now) {
            Err(reason) => Err(format!("cannot build the patch: {reason}")),
            Ok(None) => Ok(Vec::new()),
            Ok(Some(p)) => {
                let sent = match &p {
                    DeploymentPatch::Json(p) => {
                        api.patch(&d.name_any(), &params, &Patch::Json::<()>(p.clone()))
                            .await
                    }
                    DeploymentPatch::Merge(v) => {
                        api.patch(&d.name_any(), &params, &Patch::Merge(v)).await
                    }
                };
                sent.map(|after| spec_changes(d, &after))
                    .map_err(|e| refusal(&e))
            }
        };
        out.push(result(a, answer));
    }
    out
}

/// A scale action through the HPA: its `minReplicas` patch, as the executor
/// will send it.
async fn hpa_dry_run(
    api: &Api<HorizontalPodAutoscaler>,
    h: &HorizontalPodAutoscaler,
    a: &RemediationAction,
    params: &PatchParams,
) -> Result<Vec<FieldChange>, String> {
    let replicas = a
        .replicas
        .ok_or("cannot build the patch: no replica count")?;
    let to = hpa::min_replicas_to_set(a.action_type, replicas, hpa::min_replicas(h));
    if to == hpa::min_replicas(h) {
        return Ok(Vec::new());
    }
    let after = api
        .patch(
            &h.name_any(),
            params,
            &Patch::Json::<()>(hpa::min_replicas_patch(h, to)),
        )
        .await
        .map_err(|e| refusal(&e))?;
    let name = h.name_any();
    Ok(
        revisions::diff(&json!({ "spec": h.spec }), &json!({ "spec": after.spec }))
            .into_iter()
            .map(|c| FieldChange {
                field: format!("HorizontalPodAutoscaler {name}: {}", c.field),
                ..c
            })
            .collect(),
    )
}

/// One action's result from what its dry run answered.
fn result(a: &RemediationAction, answer: Result<Vec<FieldChange>, String>) -> DryRunResult {
    match answer {
        Ok(changes) => DryRunResult {
            action_id: a.id.to_string(),
            accepted: true,
            changes,
            error: None,
        },
        Err(error) => DryRunResult {
            action_id: a.id.to_string(),
            accepted: false,
            changes: Vec::new(),
            error: Some(error),
        },
    }
}

/// What the API server said when it refused a patch, or why it could not be sent.
fn refusal(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!(
            "the API server answered {} {}: {}",
            s.code, s.reason, s.message
        ),
        other => format!("not sent: {other}"),
    }
}

/// The fields of the Deployment's spec that differ between `before` and `after`.
pub fn spec_changes(before: &Deployment, after: &Deployment) -> Vec<FieldChange> {
    revisions::diff(
        &json!({ "spec": before.spec }),
        &json!({ "spec": after.spec }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_are_the_specs_fields_that_differ() {
        let before: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
        }))
        .unwrap();
        let mut after = before.clone();
        after.spec.replicas = Some(4);
        after.spec.template.metadata.as_mut().unwrap().annotations = Some(
            [(
                mapek_api::RESTARTED_AT_ANNOTATION.to_string(),
                "t".to_string(),
            )]
            .into(),
        );
        let changes: Vec<(String, Option<String>, Option<String>)> = spec_changes(&before, &after)
            .into_iter()
            .map(|c| (c.field, c.before, c.after))
            .collect();
        assert_eq!(
            changes,
            [
                (
                    "spec.replicas".to_string(),
                    Some("2".to_string()),
                    Some("4".to_string())
                ),
                (
                    "spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt"
                        .to_string(),
                    None,
                    Some("t".to_string())
                ),
            ]
        );
    }
}
