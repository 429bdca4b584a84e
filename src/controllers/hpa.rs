//! HorizontalPodAutoscalers: which one scales a Deployment, and what that means
//! for a scale action. An HPA sets its target's `spec.replicas` itself, so a
//! change of it by anyone else is undone at the HPA's next sync (15 s by
//! default). A scale action on such a Deployment therefore goes through the
//! HPA: its `minReplicas` becomes the action's replica count (inside its
//! `maxReplicas`), and the HPA controller scales the Deployment up to it; or,
//! by the policy's choice ([`HpaMode::Refuse`]), no scale action is planned.
//!
//! Pure functions over what the controllers read (the namespace's
//! `autoscaling/v2` HPAs), and the one read ([`list`]). The analyzer uses
//! [`plan_view`] to give the planner the envelope the HPA leaves; the executor
//! uses [`find`], [`min_replicas`] and [`min_replicas_patch`].

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use mapek_api::{HpaMark, HpaMode};
use mapek_engine::model::{ActionType, RemediationEnvelope};

/// Whether `hpa` scales the Deployment named `deployment` (same namespace):
/// its `scaleTargetRef` is kind `Deployment` of API group `apps` (any version,
/// or none given) with that name.
pub fn targets(hpa: &HorizontalPodAutoscaler, deployment: &str) -> bool {
    let r = &hpa.spec.scale_target_ref;
    let group_ok = r
        .api_version
        .as_deref()
        .is_none_or(|v| v.split_once('/').is_some_and(|(g, _)| g == "apps"));
    r.kind == "Deployment" && r.name == deployment && group_ok
}

/// The HPA that scales `deployment` among `hpas` (`None` if none does); an
/// error naming them when several do (the HPA controller itself refuses to
/// act then, and no single `minReplicas` decides).
pub fn find<'a>(
    hpas: &'a [HorizontalPodAutoscaler],
    deployment: &str,
) -> Result<Option<&'a HorizontalPodAutoscaler>, String> {
    let found: Vec<&HorizontalPodAutoscaler> =
        hpas.iter().filter(|h| targets(h, deployment)).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        several => Err(format!(
            "Deployment {deployment} is the scale target of {} HorizontalPodAutoscalers ({}): \
             no scale action is taken until only one targets it",
            several.len(),
            several
                .iter()
                .map(|h| h.name_any())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The HPA named `name` among `hpas`.
pub fn named<'a>(
    hpas: &'a [HorizontalPodAutoscaler],
    name: &str,
) -> Option<&'a HorizontalPodAutoscaler> {
    hpas.iter().find(|h| h.name_any() == name)
}

/// `spec.minReplicas`, 1 when unset (the API server's default).
pub fn min_replicas(hpa: &HorizontalPodAutoscaler) -> i32 {
    hpa.spec.min_replicas.unwrap_or(1)
}

/// `spec.maxReplicas`.
pub fn max_replicas(hpa: &HorizontalPodAutoscaler) -> i32 {
    hpa.spec.max_replicas
}

/// The `minReplicas` a scale action to `replicas` sets on an HPA whose
/// `minReplicas` is `before`: a scale-up never lowers it, a scale-down never
/// raises it nor sets it below 1.
pub fn min_replicas_to_set(kind: ActionType, replicas: i32, before: i32) -> i32 {
    match kind {
        ActionType::ScaleDown => before.min(replicas.max(1)),
        _ => before.max(replicas),
    }
}

/// The JSON Patch (RFC 6902) that sets `spec.minReplicas` of `hpa` (as read)
/// to `to`, guarded by a `test` of the value it replaces (of the
/// `resourceVersion` when unset), so that a value another writer set since it
/// was read makes it fail with a conflict rather than be overwritten.
pub fn min_replicas_patch(hpa: &HorizontalPodAutoscaler, to: i32) -> json_patch::Patch {
    let ops = match hpa.spec.min_replicas {
        Some(v) => vec![
            json!({ "op": "test", "path": "/spec/minReplicas", "value": v }),
            json!({ "op": "replace", "path": "/spec/minReplicas", "value": to }),
        ],
        None => hpa
            .metadata
            .resource_version
            .iter()
            .map(|rv| json!({ "op": "test", "path": "/metadata/resourceVersion", "value": rv }))
            .chain([json!({ "op": "add", "path": "/spec/minReplicas", "value": to })])
            .collect(),
    };
    serde_json::from_value(Value::Array(ops))
        .expect("the operations built above are valid RFC 6902 operations")
}

/// What the planner may do for one target given the namespace's HPAs and the
/// policy's choice.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanView {
    /// The envelope the planner gets: without SCALE_UP and SCALE_DOWN when
    /// they are refused, its `maxReplicas` at most the HPA's otherwise.
    pub envelope: RemediationEnvelope,
    /// What the plan carries about the HPA.
    pub mark: Option<HpaMark>,
    /// Why scale actions were taken out of the envelope, if they were.
    pub withheld: Option<String>,
}

fn scales(envelope: &RemediationEnvelope) -> bool {
    envelope.allows(ActionType::ScaleUp) || envelope.allows(ActionType::ScaleDown)
}

fn without_scaling(envelope: &RemediationEnvelope) -> RemediationEnvelope {
    let mut e = envelope.clone();
    e.allowed_actions
        .retain(|a| !matches!(a, ActionType::ScaleUp | ActionType::ScaleDown));
    e
}

/// The planner's view of `deployment` (see [`PlanView`]).
pub fn plan_view(
    hpas: &[HorizontalPodAutoscaler],
    deployment: &str,
    mode: HpaMode,
    envelope: &RemediationEnvelope,
) -> PlanView {
    let plain = || PlanView {
        envelope: envelope.clone(),
        mark: None,
        withheld: None,
    };
    let hpa = match find(hpas, deployment) {
        Ok(None) => return plain(),
        Ok(Some(hpa)) => hpa,
        Err(reason) if scales(envelope) => {
            return PlanView {
                envelope: without_scaling(envelope),
                mark: None,
                withheld: Some(reason),
            };
        }
        Err(_) => return plain(),
    };
    let (name, min, max) = (hpa.name_any(), min_replicas(hpa), max_replicas(hpa));
    match mode {
        HpaMode::Refuse => {
            let message = format!(
                "Deployment {deployment} is scaled by HorizontalPodAutoscaler {name} \
                 (minReplicas {min}, maxReplicas {max}) and the policy's hpa is Refuse: \
                 SCALE_UP and SCALE_DOWN are left out of its plans"
            );
            PlanView {
                envelope: without_scaling(envelope),
                withheld: scales(envelope).then(|| message.clone()),
                mark: Some(HpaMark {
                    name,
                    min_replicas: min,
                    max_replicas: max,
                    mode,
                    message,
                }),
            }
        }
        HpaMode::RaiseMinReplicas => {
            let mut e = envelope.clone();
            if let Some(bounds) = e.scale.as_mut() {
                bounds.max_replicas = bounds.max_replicas.min(max);
                bounds.min_replicas = bounds.min_replicas.min(bounds.max_replicas);
            }
            PlanView {
                envelope: e,
                withheld: None,
                mark: Some(HpaMark {
                    name: name.clone(),
                    min_replicas: min,
                    max_replicas: max,
                    mode,
                    message: format!(
                        "Deployment {deployment} is scaled by HorizontalPodAutoscaler {name}: \
                         a scale action sets its minReplicas (now {min}), never spec.replicas, \
                         and stays within its maxReplicas {max}; the HPA controller then \
                         scales the Deployment"
                    ),
                }),
            }
        }
    }
}

/// The planner's view of a Deployment when the namespace's HPAs could not be
/// read (`reason`): one may scale it, so no scale action is planned for it.
pub fn unknown(deployment: &str, envelope: &RemediationEnvelope, reason: &str) -> PlanView {
    PlanView {
        envelope: without_scaling(envelope),
        mark: None,
        withheld: scales(envelope).then(|| {
            format!(
                "the namespace's HorizontalPodAutoscalers cannot be read ({reason}): one may \
                 scale Deployment {deployment}, so SCALE_UP and SCALE_DOWN are left out"
            )
        }),
    }
}

/// The namespace's `autoscaling/v2` HorizontalPodAutoscalers.
pub async fn list(
    api: &Api<HorizontalPodAutoscaler>,
) -> Result<Vec<HorizontalPodAutoscaler>, kube::Error> {
    // From the API server's watch cache (`resourceVersion=0`): a consistent
    // list waits for the cache to catch up with etcd, which held every
    // approval of a scale plan up by about 75 ms in `make bench-e2e`.
    Ok(api.list(&ListParams::default().match_any()).await?.items)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mapek_engine::model::ScaleBounds;

    /// An `autoscaling/v2` HPA `name` on `target` (`KIND/NAME` of `apps/v1`).
    pub(crate) fn hpa(
        name: &str,
        target: &str,
        min: Option<i32>,
        max: i32,
    ) -> HorizontalPodAutoscaler {
        let (kind, target) = target.split_once('/').unwrap();
        serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "7"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
                     "minReplicas": min, "maxReplicas": max}
        }))
        .unwrap()
    }

    fn envelope() -> RemediationEnvelope {
        RemediationEnvelope {
            allowed_actions: vec![
                ActionType::ScaleUp,
                ActionType::RestartService,
                ActionType::ScaleDown,
            ],
            scale: Some(ScaleBounds {
                min_replicas: 1,
                max_replicas: 10,
                max_step: 3,
            }),
            config: vec![],
        }
    }

    #[test]
    fn the_hpa_whose_scale_target_is_the_deployment_is_found() {
        let hpas = [
            hpa("other", "Deployment/cart", Some(1), 4),
            hpa("web-rs", "ReplicaSet/web", Some(1), 4),
            hpa("web", "Deployment/web", Some(2), 6),
        ];
        assert_eq!(
            find(&hpas, "web").unwrap().map(|h| h.name_any()),
            Some("web".into())
        );
        assert_eq!(find(&hpas, "checkout").unwrap(), None);
        // Another group's "Deployment" is not the apps one.
        let mut foreign = hpa("x", "Deployment/api", Some(1), 3);
        foreign.spec.scale_target_ref.api_version = Some("example.com/v1".into());
        assert_eq!(find(&[foreign], "api").unwrap(), None);
        let two = [
            hpa("web", "Deployment/web", Some(2), 6),
            hpa("web-2", "Deployment/web", Some(1), 3),
        ];
        let why = find(&two, "web").unwrap_err();
        assert!(
            why.contains("2 HorizontalPodAutoscalers (web, web-2)"),
            "{why}"
        );
    }

    #[test]
    fn min_replicas_is_raised_for_a_scale_up_and_lowered_not_below_one_for_a_scale_down() {
        assert_eq!(min_replicas_to_set(ActionType::ScaleUp, 4, 2), 4);
        assert_eq!(min_replicas_to_set(ActionType::ScaleUp, 4, 5), 5);
        assert_eq!(min_replicas_to_set(ActionType::ScaleDown, 2, 4), 2);
        assert_eq!(min_replicas_to_set(ActionType::ScaleDown, 0, 4), 1);
        assert_eq!(min_replicas_to_set(ActionType::ScaleDown, 3, 2), 2);
    }

    #[test]
    fn the_patch_tests_the_min_replicas_it_replaces() {
        let h = hpa("web", "Deployment/web", Some(2), 6);
        assert_eq!(
            serde_json::to_value(min_replicas_patch(&h, 4)).unwrap(),
            json!([{"op": "test", "path": "/spec/minReplicas", "value": 2},
                   {"op": "replace", "path": "/spec/minReplicas", "value": 4}])
        );
        let unset = hpa("web", "Deployment/web", None, 6);
        assert_eq!(
            serde_json::to_value(min_replicas_patch(&unset, 3)).unwrap(),
            json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                   {"op": "add", "path": "/spec/minReplicas", "value": 3}])
        );
        assert_eq!(min_replicas(&unset), 1);
    }

    #[test]
    fn the_planner_scales_within_the_hpa_or_not_at_all() {
        let hpas = [hpa("web", "Deployment/web", Some(2), 6)];
        let raise = plan_view(&hpas, "web", HpaMode::RaiseMinReplicas, &envelope());
        assert_eq!(raise.envelope.scale.as_ref().unwrap().max_replicas, 6);
        assert_eq!(raise.envelope.allowed_actions, envelope().allowed_actions);
        assert_eq!(raise.withheld, None);
        let mark = raise.mark.unwrap();
        assert_eq!(
            (mark.name.as_str(), mark.min_replicas, mark.max_replicas),
            ("web", 2, 6)
        );
        assert!(
            mark.message.contains("sets its minReplicas (now 2)"),
            "{}",
            mark.message
        );

        let refuse = plan_view(&hpas, "web", HpaMode::Refuse, &envelope());
        assert_eq!(
            refuse.envelope.allowed_actions,
            [ActionType::RestartService]
        );
        assert!(refuse.withheld.unwrap().contains("hpa is Refuse"));
        assert_eq!(refuse.mark.unwrap().mode, HpaMode::Refuse);

        // No HPA: the envelope as it is.
        let plain = plan_view(&hpas, "cart", HpaMode::Refuse, &envelope());
        assert_eq!(
            (plain.envelope, plain.mark, plain.withheld),
            (envelope(), None, None)
        );

        // Two HPAs: no scaling, whatever the mode.
        let two = [hpas[0].clone(), hpa("web-2", "Deployment/web", None, 3)];
        let ambiguous = plan_view(&two, "web", HpaMode::RaiseMinReplicas, &envelope());
        assert_eq!(
            ambiguous.envelope.allowed_actions,
            [ActionType::RestartService]
        );
        assert!(ambiguous.withheld.unwrap().contains("web, web-2"));

        // An envelope whose minimum is above the HPA's maximum stays valid.
        let mut high = envelope();
        high.scale.as_mut().unwrap().min_replicas = 8;
        let clamped = plan_view(&hpas, "web", HpaMode::RaiseMinReplicas, &high).envelope;
        let b = clamped.scale.unwrap();
        assert_eq!((b.min_replicas, b.max_replicas), (6, 6));

        // HPAs that cannot be read: no scaling, and the reason says why.
        let unread = unknown("web", &envelope(), "403 Forbidden");
        assert_eq!(
            unread.envelope.allowed_actions,
            [ActionType::RestartService]
        );
        assert!(
            unread
                .withheld
                .unwrap()
                .contains("cannot be read (403 Forbidden)"),
        );
        assert_eq!(unread.mark, None);
    }
}
