//! Whether a Deployment's rollout is complete, by the rule `kubectl rollout status`
//! applies: the controller has observed the spec (`observedGeneration`), every
//! replica is updated, no old replica is left, and every updated replica is
//! available. Where the generation of the executor's own patch is known, the
//! controller must have observed that one, not necessarily the latest: another
//! writer who keeps changing the Deployment's annotations (each change bumps
//! its generation) cannot hold the executor's wait forever. A Deployment whose `Progressing` condition says
//! `ProgressDeadlineExceeded` has stalled: its controller gave up on it after
//! `spec.progressDeadlineSeconds` without progress.
//!
//! The executor also keeps its own deadline, for a cluster whose Deployment
//! controller does not answer: twice the progress deadline (at least a minute
//! more than it) from when the action was written ahead.

use k8s_openapi::api::apps::v1::Deployment;

use mapek_engine::model::Millis;

/// The `Progressing` condition's reason once the progress deadline has passed.
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
/// The Deployment's own default for `spec.progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// Where a Deployment's rollout stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// Every replica updated and available, none old left.
    Complete(String),
    /// Still going: what it waits for.
    Progressing(String),
    /// It will not finish by itself: why.
    Stalled(String),
}

/// The rollout state of `d` as just read, for a change that gave it generation
/// `applied` (the latest generation when unknown).
pub fn rollout(d: &Deployment, applied: Option<i64>) -> Rollout {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let status = d.status.clone().unwrap_or_default();
    let generation = applied.unwrap_or(d.metadata.generation.unwrap_or_default());
    if status.observed_generation.unwrap_or_default() < generation {
        return Rollout::Progressing(format!(
            "waiting for the controller to observe Deployment {name}'s spec (generation {generation})"
        ));
    }
    if let Some(c) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        && c.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED)
    {
        return Rollout::Stalled(format!(
            "the rollout of Deployment {name} made no progress within its progress deadline of {}s ({PROGRESS_DEADLINE_EXCEEDED}: {})",
            deadline_seconds(d),
            c.message.as_deref().unwrap_or_default()
        ));
    }
    let wanted = d.spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or_default();
    let replicas = status.replicas.unwrap_or_default();
    let available = status.available_replicas.unwrap_or_default();
    let paused = d.spec.paused.unwrap_or(false);
    if paused && (updated < wanted || replicas > updated || available < updated) {
        return Rollout::Stalled(format!(
            "Deployment {name} is paused: its rollout does not go on until it is resumed \
             (kubectl rollout resume deployment/{name})"
        ));
    }
    if updated < wanted {
        Rollout::Progressing(format!(
            "waiting for the rollout of Deployment {name}: {updated} of {wanted} replicas updated"
        ))
    } else if replicas > updated {
        Rollout::Progressing(format!(
            "waiting for the rollout of Deployment {name}: {} old replicas pending termination",
            replicas - updated
        ))
    } else if available < updated {
        Rollout::Progressing(format!(
            "waiting for the rollout of Deployment {name}: {available} of {updated} updated replicas available"
        ))
    } else {
        Rollout::Complete(format!(
            "rollout complete: {available} of {wanted} replicas available"
        ))
    }
}

/// `spec.progressDeadlineSeconds`, or its default.
pub fn deadline_seconds(d: &Deployment) -> i32 {
    d.spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
}

/// The rollout of `d` (see [`rollout`]), stalled once `now` is past the
/// executor's own deadline counted from `since` (when the change was sent), for
/// a Deployment controller that never reports:
/// `max(2 × progress deadline, progress deadline + 60 s)`.
pub fn rollout_since(
    d: &Deployment,
    applied: Option<i64>,
    since: Option<Millis>,
    now: Millis,
) -> Rollout {
    within_deadline(d, rollout(d, applied), since, now)
}

/// The rollout of `d` scaled by its HorizontalPodAutoscaler `hpa` whose
/// `minReplicas` is now `min`: the HPA controller raises `spec.replicas` to at
/// least `min` (at its next sync, whether or not it can read its metrics),
/// then the rollout completes as in [`rollout`] (for the latest generation:
/// the HPA's write is not the executor's). Stalled after the executor's own
/// deadline, as in [`rollout_since`].
pub fn scaled_by_hpa(
    d: &Deployment,
    hpa: &str,
    min: i32,
    since: Option<Millis>,
    now: Millis,
) -> Rollout {
    let replicas = d.spec.replicas.unwrap_or(1);
    let state = match replicas < min {
        true => Rollout::Progressing(format!(
            "waiting for HorizontalPodAutoscaler {hpa} to scale Deployment {} to its \
             minReplicas {min} (spec.replicas is {replicas})",
            d.metadata.name.as_deref().unwrap_or_default()
        )),
        false => rollout(d, None),
    };
    within_deadline(d, state, since, now)
}

/// `state`, stalled once `now` is past the executor's own deadline.
fn within_deadline(d: &Deployment, state: Rollout, since: Option<Millis>, now: Millis) -> Rollout {
    let Rollout::Progressing(waiting) = &state else {
        return state;
    };
    let deadline = i64::from(deadline_seconds(d).max(0));
    let limit_ms = (2 * deadline).max(deadline + 60) * 1000;
    match since {
        Some(since) if now.saturating_sub(since) > limit_ms => Rollout::Stalled(format!(
            "no complete rollout {}s after the change ({waiting})",
            limit_ms / 1000
        )),
        _ => state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": { "name": "web", "generation": 3 },
            "spec": { "replicas": 2, "selector": {}, "template": {}, "progressDeadlineSeconds": 30 },
            "status": status
        }))
        .unwrap()
    }

    fn waiting(r: &Rollout, needle: &str) -> bool {
        matches!(r, Rollout::Progressing(m) if m.contains(needle))
    }

    #[test]
    fn follows_the_kubectl_rollout_status_rule() {
        let unobserved = deployment(json!({ "observedGeneration": 2, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 2 }));
        assert!(waiting(&rollout(&unobserved, None), "observe"));
        let updating = deployment(json!({ "observedGeneration": 3, "replicas": 3,
            "updatedReplicas": 1, "availableReplicas": 2 }));
        assert!(waiting(
            &rollout(&updating, None),
            "1 of 2 replicas updated"
        ));
        let old_left = deployment(json!({ "observedGeneration": 3, "replicas": 3,
            "updatedReplicas": 2, "availableReplicas": 2 }));
        assert!(waiting(&rollout(&old_left, None), "1 old replicas"));
        let unavailable = deployment(json!({ "observedGeneration": 3, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 1 }));
        assert!(waiting(
            &rollout(&unavailable, None),
            "1 of 2 updated replicas available"
        ));
        let done = deployment(json!({ "observedGeneration": 3, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 2 }));
        assert!(matches!(rollout(&done, None), Rollout::Complete(_)));
        assert!(matches!(
            rollout(&Deployment::default(), None),
            Rollout::Progressing(_)
        ));
        let mut paused = updating.clone();
        paused.spec.paused = Some(true);
        assert!(matches!(rollout(&paused, None), Rollout::Stalled(m) if m.contains("paused")));
    }

    #[test]
    fn the_generation_of_the_executors_own_change_is_enough() {
        // Generation 3 is another writer's annotation; the executor's patch gave 2.
        let later = deployment(json!({ "observedGeneration": 2, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 2 }));
        assert!(matches!(rollout(&later, Some(2)), Rollout::Complete(_)));
        assert!(waiting(&rollout(&later, None), "observe"));
        assert!(waiting(&rollout(&later, Some(4)), "generation 4"));
    }

    #[test]
    fn a_passed_progress_deadline_is_a_stall() {
        let stalled = deployment(json!({ "observedGeneration": 3, "replicas": 3,
            "updatedReplicas": 1, "availableReplicas": 2,
            "conditions": [{ "type": "Progressing", "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"web-2\" has timed out progressing." }] }));
        let Rollout::Stalled(why) = rollout(&stalled, None) else {
            panic!("{:?}", rollout(&stalled, None))
        };
        assert!(why.contains("30s") && why.contains("timed out"), "{why}");
    }

    #[test]
    fn a_scale_through_an_hpa_waits_for_the_hpa_controller_then_the_rollout() {
        let done = deployment(json!({ "observedGeneration": 3, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 2 }));
        // spec.replicas 2, minReplicas raised to 4: the HPA has not synced yet.
        let Rollout::Progressing(why) = scaled_by_hpa(&done, "web", 4, Some(0), 1_000) else {
            panic!()
        };
        assert!(
            why.contains("HorizontalPodAutoscaler web") && why.contains("minReplicas 4"),
            "{why}"
        );
        assert!(matches!(
            scaled_by_hpa(&done, "web", 4, Some(0), 90_001),
            Rollout::Stalled(_)
        ));
        let mut scaled = done.clone();
        scaled.spec.replicas = Some(4);
        scaled.metadata.generation = Some(4);
        assert!(waiting(
            &scaled_by_hpa(&scaled, "web", 4, Some(0), 1_000),
            "observe"
        ));
        let status = scaled.status.as_mut().unwrap();
        (status.observed_generation, status.replicas) = (Some(4), Some(4));
        (status.updated_replicas, status.available_replicas) = (Some(4), Some(4));
        assert!(matches!(
            scaled_by_hpa(&scaled, "web", 4, Some(0), 1_000),
            Rollout::Complete(_)
        ));
        // A lowered minReplicas (a scale-down, or the undo of a scale-up) waits
        // for nothing more than the rollout.
        assert!(matches!(
            scaled_by_hpa(&scaled, "web", 2, Some(0), 1_000),
            Rollout::Complete(_)
        ));
    }

    #[test]
    fn the_executor_gives_up_when_no_controller_reports() {
        let silent = deployment(json!({ "observedGeneration": 2 }));
        // Deadline 30 s: the executor's own limit is max(60, 90) = 90 s.
        assert!(matches!(
            rollout_since(&silent, None, Some(0), 90_000),
            Rollout::Progressing(_)
        ));
        assert!(matches!(
            rollout_since(&silent, None, Some(0), 90_001),
            Rollout::Stalled(_)
        ));
        assert!(matches!(
            rollout_since(&silent, None, None, i64::MAX),
            Rollout::Progressing(_)
        ));
    }
}
