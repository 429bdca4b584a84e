//! The words for an action, in two forms, kept in one place so that every
//! report, table and explanation describes an action the same way:
//!
//! - [`short`], such as `SCALE_UP to 5` or `UPDATE_CONFIGURATION MODE=lenient`:
//!   the action type and its parameter, for places where a plan's actions sit in
//!   one cell or one line (the `analyze` report's table, the decision scenarios,
//!   the operator's Events). Its older path, `report::describe_action`, re-exports it.
//! - [`in_words`], such as `scale Deployment web to 5 replicas`: what the action
//!   does to the Deployment, for the person who approves the plan (`kubectl mapek
//!   explain`).
//!
//! The canonical form in `canonical.rs` (`SCALE_UP to 7 replicas`, the steps of a
//! plan's expected impact) stays apart on purpose: it writes bytes that
//! `plan_hash` hashes, and an approval names that hash. Changing a byte of it
//! changes the hash of every plan, so pending approvals stop matching; it must
//! never follow a change of wording here. These two forms are free to change.

use crate::model::{ConfigTarget, PatchKind, RemediationAction};

/// An action in a few words, such as `SCALE_UP to 5` or `UPDATE_CONFIGURATION MODE=lenient`.
pub fn short(a: &RemediationAction) -> String {
    match (&a.replicas, &a.config, a.revision) {
        (Some(r), _, _) => format!("{} to {r}", a.action_type),
        (None, Some(c), _) => format!("{} {}={}", a.action_type, c.name, c.value),
        (None, None, Some(r)) => format!("{} to revision {r}", a.action_type),
        (None, None, None) => a.action_type.to_string(),
    }
}

/// What one action does, in words, such as `scale Deployment web to 5 replicas`
/// or `set env var MODE of container app to "safe" on Deployment web`.
pub fn in_words(action: &RemediationAction) -> String {
    match action.action_type.patch_kind() {
        PatchKind::Scale => match action.replicas {
            Some(r) => format!("scale Deployment {} to {r} replicas", action.target),
            None => format!("scale Deployment {}", action.target),
        },
        PatchKind::Restart => format!("rolling restart of Deployment {}", action.target),
        PatchKind::Rollback => match action.revision {
            Some(r) => format!(
                "roll Deployment {} back to the pod template of revision {r}",
                action.target
            ),
            None => format!("roll Deployment {} back", action.target),
        },
        PatchKind::Config => match &action.config {
            Some(c) => {
                let place = match (c.target, &c.container) {
                    (ConfigTarget::Env, Some(container)) => {
                        format!("env var {} of container {container}", c.name)
                    }
                    (ConfigTarget::Env, None) => format!("env var {}", c.name),
                    (ConfigTarget::Annotation, _) => format!("pod-template annotation {}", c.name),
                };
                format!(
                    "set {place} to {:?} on Deployment {}",
                    c.value, action.target
                )
            }
            None => format!("change the configuration of Deployment {}", action.target),
        },
    }
}

#[cfg(test)]
mod tests;
