//! The checks before and during an execution: a plan against its envelope and the
//! live Deployment, an action's previous state (the write-ahead record), and
//! whether an action's effect is visible or undone. A scale action on a
//! Deployment that a HorizontalPodAutoscaler targets changes the HPA's
//! `minReplicas` instead of `spec.replicas` (decided at its write-ahead, from the
//! HPAs read then, and recorded in `PreviousState.hpa`).

use super::*;
use crate::controllers::hpa;

/// Checks a whole plan against the envelope and the live Deployment before it
/// starts: scale steps are simulated from the current replicas, and a scale
/// action on a Deployment an HPA targets must be one the HPA and the policy's
/// `hpa` allow (`hpas`: the namespace's HPAs).
pub fn validate_plan(
    plan: &RemediationPlan,
    policy: &ViolationPolicy,
    deployment: Option<&Deployment>,
    hpas: &[HorizontalPodAutoscaler],
) -> Result<(), String> {
    if plan.target != policy.spec.target_ref.name {
        return Err(format!(
            "the plan targets Deployment {:?} but ViolationPolicy {:?} covers {:?}",
            plan.target,
            policy.metadata.name.as_deref().unwrap_or_default(),
            policy.spec.target_ref.name
        ));
    }
    if plan.actions.is_empty() {
        return Err("the plan has no actions".into());
    }
    let Some(d) = deployment else {
        return Err(format!("Deployment {:?} not found", plan.target));
    };
    let envelope = &policy.spec.remediation.envelope;
    let mut replicas = patch::replicas(d);
    for action in &plan.actions {
        check_action(plan, action, envelope, replicas)
            .and_then(|()| match action.action_type.patch_kind() {
                PatchKind::Scale => {
                    previous_hpa(action, d, hpas, policy.spec.remediation.hpa).map(|_| ())
                }
                _ => Ok(()),
            })
            .map_err(|e| format!("action {} ({}): {e}", action.id, action.action_type))?;
        if let (PatchKind::Scale, Some(r)) = (action.action_type.patch_kind(), action.replicas) {
            replicas = r;
        }
    }
    Ok(())
}

/// Checks one action against the envelope, with `current` the replicas it starts
/// from.
pub fn check_action(
    plan: &RemediationPlan,
    action: &RemediationAction,
    envelope: &RemediationEnvelope,
    current: i32,
) -> Result<(), String> {
    let kind = action.action_type;
    if action.target != plan.target {
        return Err(format!(
            "targets {:?}, not the plan's Deployment {:?}",
            action.target, plan.target
        ));
    }
    if !envelope.allows(kind) {
        return Err(format!("{kind} is not an allowed action of the policy"));
    }
    match kind.patch_kind() {
        PatchKind::Scale => {
            let bounds = envelope
                .scale
                .as_ref()
                .ok_or("the policy has no scale bounds")?;
            let replicas = action.replicas.ok_or("no replica count")?;
            if replicas < bounds.min_replicas || replicas > bounds.max_replicas {
                return Err(format!(
                    "{replicas} replicas is outside the policy's bounds [{}, {}]",
                    bounds.min_replicas, bounds.max_replicas
                ));
            }
            if (replicas - current).abs() > bounds.max_step {
                return Err(format!(
                    "{current} to {replicas} replicas is more than the policy's max step of {}",
                    bounds.max_step
                ));
            }
            if (kind == ActionType::ScaleUp && replicas < current)
                || (kind == ActionType::ScaleDown && replicas > current)
            {
                return Err(format!("{kind} from {current} to {replicas} replicas"));
            }
            Ok(())
        }
        PatchKind::Restart => Ok(()),
        PatchKind::Config => {
            let change = action.config.as_ref().ok_or("no config setting")?;
            let setting = envelope
                .config
                .iter()
                .find(|s| {
                    s.name == change.name
                        && s.target == change.target
                        && s.container == change.container
                        && s.actions.contains(&kind)
                })
                .ok_or_else(|| {
                    format!(
                        "{:?} {:?} is not a setting the policy lets {kind} change",
                        change.target, change.name
                    )
                })?;
            if change.value != setting.value && !setting.allowed_values.contains(&change.value) {
                return Err(format!(
                    "value {:?} of {:?} is not one the policy allows",
                    change.value, change.name
                ));
            }
            Ok(())
        }
        PatchKind::Rollback => match action.revision {
            Some(r) if r > 0 => Ok(()),
            Some(r) => Err(format!("revision {r} is not a rollout revision")),
            None => Err("no revision to roll back to".into()),
        },
    }
}

/// The state an action changes, read from the live Deployment (and, for a
/// rollback, the template of the revision it restores from the Deployment's
/// ReplicaSets, `sets`).
pub fn previous_state(
    action: &RemediationAction,
    d: &Deployment,
    sets: &[ReplicaSet],
    hpas: &[HorizontalPodAutoscaler],
    mode: HpaMode,
    now: Millis,
) -> Result<PreviousState, String> {
    Ok(match action.action_type.patch_kind() {
        PatchKind::Rollback => {
            let wanted = action.revision.ok_or("no revision to roll back to")?;
            let after = revisions::template_of_revision(d, sets, wanted).ok_or_else(|| {
                format!(
                    "revision {wanted} of Deployment {:?} not found: no ReplicaSet of it \
                         carries that revision (spec.revisionHistoryLimit may have removed it)",
                    d.name_any()
                )
            })?;
            PreviousState {
                template: Some(PreviousTemplate {
                    revision: revisions::current_revision(d),
                    before: revisions::template_of(d),
                    after,
                }),
                ..Default::default()
            }
        }
        PatchKind::Scale => PreviousState {
            replicas: Some(patch::replicas(d)),
            hpa: previous_hpa(action, d, hpas, mode)?,
            ..Default::default()
        },
        PatchKind::Restart => PreviousState {
            restarted_at: patch::restarted_at(d),
            restarted_to: Some(patch::restarted_at_value(now)),
            ..Default::default()
        },
        PatchKind::Config => {
            let change = action.config.as_ref().ok_or("no config setting")?;
            let value =
                patch::config_value(d, &SettingRef::from(change)).map_err(|e| e.to_string())?;
            PreviousState {
                config: Some(PreviousConfig {
                    name: change.name.clone(),
                    target: change.target,
                    container: change.container.clone(),
                    value,
                }),
                ..Default::default()
            }
        }
    })
}

/// The HPA a scale action goes through, with its `minReplicas` before and the
/// one the action sets; `None` when no HPA targets the Deployment. An error
/// when the action cannot be taken: several HPAs target it, the policy refuses
/// to scale an HPA's target, or the count is above the HPA's `maxReplicas`.
fn previous_hpa(
    action: &RemediationAction,
    d: &Deployment,
    hpas: &[HorizontalPodAutoscaler],
    mode: HpaMode,
) -> Result<Option<PreviousHpa>, String> {
    let name = d.name_any();
    let Some(h) = hpa::find(hpas, &name)? else {
        return Ok(None);
    };
    let hpa_name = h.name_any();
    if mode == HpaMode::Refuse {
        return Err(format!(
            "HorizontalPodAutoscaler {hpa_name} scales Deployment {name} and the policy's hpa \
             is Refuse: no scale action is taken"
        ));
    }
    let replicas = action.replicas.ok_or("no replica count")?;
    let max = hpa::max_replicas(h);
    if replicas > max {
        return Err(format!(
            "{replicas} replicas is above the maxReplicas {max} of HorizontalPodAutoscaler \
             {hpa_name}, which scales Deployment {name}"
        ));
    }
    let before = h.spec.min_replicas;
    Ok(Some(PreviousHpa {
        name: hpa_name,
        min_replicas: before,
        set: hpa::min_replicas_to_set(action.action_type, replicas, before.unwrap_or(1)),
    }))
}

/// The `minReplicas` of the HPA a scale action recorded, as read now.
fn hpa_min(h: &PreviousHpa, hpas: &[HorizontalPodAutoscaler]) -> Result<i32, String> {
    hpa::named(hpas, &h.name)
        .map(hpa::min_replicas)
        .ok_or_else(|| format!("HorizontalPodAutoscaler {} not found", h.name))
}

/// Whether the live Deployment (or, for a scale action through an HPA, the
/// HPA) already shows the action's intended result.
pub fn effect_visible(
    action: &RemediationAction,
    previous: &PreviousState,
    d: &Deployment,
    hpas: &[HorizontalPodAutoscaler],
) -> Result<bool, String> {
    if let (PatchKind::Scale, Some(h)) = (action.action_type.patch_kind(), &previous.hpa) {
        return Ok(hpa_min(h, hpas)? == h.set);
    }
    Ok(match action.action_type.patch_kind() {
        PatchKind::Scale => action.replicas == Some(patch::replicas(d)),
        PatchKind::Rollback => {
            let t = previous.template.as_ref().ok_or("no template recorded")?;
            revisions::template_of(d) == t.after
        }
        PatchKind::Restart => {
            let live = patch::restarted_at(d);
            match &previous.restarted_to {
                Some(ours) => live.as_ref() == Some(ours),
                // A record of an earlier version: any new value.
                None => live.is_some() && live != previous.restarted_at,
            }
        }
        PatchKind::Config => {
            let change = action.config.as_ref().ok_or("no config setting")?;
            patch::config_value(d, &SettingRef::from(change)).map_err(|e| e.to_string())?
                == Some(change.value.clone())
        }
    })
}

/// Whether the live Deployment (or the HPA a scale action went through) is
/// back in the action's previous state.
pub fn restored(
    action: &RemediationAction,
    previous: &PreviousState,
    d: &Deployment,
    hpas: &[HorizontalPodAutoscaler],
) -> Result<bool, String> {
    if let (PatchKind::Scale, Some(h)) = (action.action_type.patch_kind(), &previous.hpa) {
        return Ok(hpa_min(h, hpas)? == h.min_replicas.unwrap_or(1));
    }
    Ok(match action.action_type.patch_kind() {
        PatchKind::Scale => previous.replicas == Some(patch::replicas(d)),
        PatchKind::Restart => previous.restarted_at == patch::restarted_at(d),
        PatchKind::Rollback => {
            let t = previous.template.as_ref().ok_or("no template recorded")?;
            revisions::template_of(d) == t.before
        }
        PatchKind::Config => {
            let prev = previous
                .config
                .as_ref()
                .ok_or("no previous config recorded")?;
            patch::config_value(d, &SettingRef::from(prev)).map_err(|e| e.to_string())?
                == prev.value
        }
    })
}
