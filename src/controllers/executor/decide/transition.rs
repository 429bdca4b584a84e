//! What a step writes to status ([`transition`]), the Event it records
//! ([`notice`]) and the one-line account of an applied action ([`describe`]).

use super::*;

/// A one-line account of an action that was applied.
pub fn describe(action: &RemediationAction, previous: &PreviousState, target: &str) -> String {
    if let (PatchKind::Scale, Some(h)) = (action.action_type.patch_kind(), &previous.hpa) {
        return format!(
            "{}: set HorizontalPodAutoscaler {}'s minReplicas from {} to {} (Deployment \
             {target} had {} replicas; its HPA scales it, spec.replicas was not patched)",
            action.action_type,
            h.name,
            h.min_replicas.unwrap_or(1),
            h.set,
            previous.replicas.unwrap_or_default()
        );
    }
    match action.action_type.patch_kind() {
        PatchKind::Scale => format!(
            "{}: scaled Deployment {target} from {} to {} replicas",
            action.action_type,
            previous.replicas.unwrap_or_default(),
            action.replicas.unwrap_or_default()
        ),
        PatchKind::Restart => format!("{}: restarted Deployment {target}", action.action_type),
        PatchKind::Rollback => format!(
            "{}: rolled Deployment {target} back from revision {} to the pod template of revision {}",
            action.action_type,
            revision_shown(previous),
            action.revision.unwrap_or_default()
        ),
        PatchKind::Config => match &action.config {
            Some(c) => format!(
                "{}: set {:?} {} of Deployment {target} to {:?} (was {})",
                action.action_type,
                c.target,
                c.name,
                c.value,
                previous
                    .config
                    .as_ref()
                    .and_then(|p| p.value.as_deref())
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "absent".into())
            ),
            None => format!("{}: no config setting", action.action_type),
        },
    }
}

/// The revision a rollback started from, as recorded.
fn revision_shown(previous: &PreviousState) -> String {
    previous
        .template
        .as_ref()
        .and_then(|t| t.revision)
        .map_or_else(|| "(unnumbered)".into(), |r| r.to_string())
}

/// A one-line account of an action that was undone.
pub fn describe_undo(action: &RemediationAction, previous: &PreviousState) -> String {
    if let (PatchKind::Scale, Some(h)) = (action.action_type.patch_kind(), &previous.hpa) {
        return format!(
            "restored HorizontalPodAutoscaler {}'s minReplicas to {}",
            h.name,
            h.min_replicas.unwrap_or(1)
        );
    }
    match action.action_type.patch_kind() {
        PatchKind::Scale => format!(
            "scaled back to {} replicas",
            previous.replicas.unwrap_or_default()
        ),
        PatchKind::Restart => match &previous.restarted_at {
            Some(v) => format!("restored restartedAt {v:?}"),
            None => "removed restartedAt".into(),
        },
        PatchKind::Rollback => format!(
            "restored the pod template of revision {}",
            revision_shown(previous)
        ),
        PatchKind::Config => match &previous.config {
            Some(PreviousConfig {
                name,
                value: Some(v),
                ..
            }) => format!("restored {name} to {v:?}"),
            Some(p) => format!("removed {}", p.name),
            None => "no previous config recorded".into(),
        },
    }
}

/// What a step writes to status. Steps that only patch the Deployment
/// (`Apply`, `RollBack`) and `Done` write nothing.
pub fn transition(
    step: &Step,
    status: &mut RemediationPolicyStatus,
    plan: &RemediationPlan,
    generation: Option<i64>,
    now: Millis,
) {
    let at = time(now);
    let set =
        |status: &mut RemediationPolicyStatus, type_: &str, ok: bool, reason: &str, msg: &str| {
            conditions::set(
                &mut status.conditions,
                type_,
                ok,
                reason,
                msg,
                generation,
                &at,
            );
        };
    match step {
        Step::Done | Step::Apply { .. } | Step::RollBack { .. } => return,
        Step::Wait { kind, message, .. } => match kind {
            WaitKind::Approval => set(status, APPROVED, false, "AwaitingApproval", message),
            WaitKind::Policy => set(status, PROGRESSING, false, "PolicyNotFound", message),
            WaitKind::Target => set(status, PROGRESSING, false, "WaitingForTarget", message),
            WaitKind::Slot => set(status, PROGRESSING, false, "WaitingForSlot", message),
            WaitKind::Rollout => set(status, PROGRESSING, true, "WaitingForRollout", message),
            WaitKind::Brake => set(status, PROGRESSING, false, "StormBrake", message),
        },
        Step::Expire { message } => {
            status.approval = ApprovalState::Expired;
            status.approval_message = Some(message.clone());
            set(status, APPROVED, false, "Expired", message);
        }
        Step::Reject { reason } => {
            status.approval = ApprovalState::Rejected;
            status.approved_hash = None;
            status.approved_by = None;
            status.approval_message = Some(reason.clone());
            set(status, APPROVED, false, "Rejected", reason);
        }
        Step::RefuseApproval { message } => {
            if status.approval == ApprovalState::Approved {
                status.approval = ApprovalState::Pending;
                status.approved_hash = None;
                status.approved_by = None;
                status.approval_time = None;
            }
            if status.approval == ApprovalState::Pending {
                status.approval_message = Some(message.clone());
            }
            set(status, APPROVED, false, "ApprovalRefused", message);
        }
        Step::Approve { hash, auto, by } => {
            let message = if *auto {
                "approved automatically: risk Low and approvalMode AutoLowRisk".to_string()
            } else {
                let who = by
                    .as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default();
                format!("approved{who} with {APPROVE_ANNOTATION}={hash}")
            };
            status.approval = ApprovalState::Approved;
            status.approved_hash = Some(hash.clone());
            status.approved_by = by.clone();
            status.approval_time = Some(at.clone());
            status.approval_message = Some(message.clone());
            set(status, APPROVED, true, "Approved", &message);
        }
        Step::Fail { error } => {
            status.phase = ExecutionPhase::Failed;
            status.execution = Some(PolicyExecution {
                started_at: None,
                finished_at: Some(at.clone()),
                actions: records(plan, ExecutionStatus::Skipped),
                success_rate: Some(0.0),
                error: Some(format!("validation failed: {error}")),
            });
            set(status, PROGRESSING, false, "ValidationFailed", error);
        }
        Step::Start => {
            status.phase = ExecutionPhase::InProgress;
            status.execution = Some(PolicyExecution {
                started_at: Some(at.clone()),
                actions: records(plan, ExecutionStatus::Pending),
                ..Default::default()
            });
            set(
                status,
                PROGRESSING,
                true,
                "Executing",
                "executing the plan's actions in order",
            );
        }
        Step::WriteAhead { index, previous } => {
            if let Some(r) = record(status, *index) {
                r.status = ExecutionStatus::Running;
                r.started_at = Some(at.clone());
                r.previous = Some(previous.as_ref().clone());
            }
        }
        Step::Sent { index, generation } => {
            if let Some(r) = record(status, *index) {
                r.applied_generation = *generation;
            }
        }
        Step::MarkSucceeded { index, result } => {
            if let Some(r) = record(status, *index) {
                r.status = ExecutionStatus::Succeeded;
                r.finished_at = Some(at.clone());
                r.result = Some(result.clone());
            }
        }
        Step::FailAction { index, error } => {
            let mut what = format!("action {index}");
            if let Some(r) = record(status, *index) {
                r.status = ExecutionStatus::Failed;
                r.finished_at = Some(at.clone());
                r.result = Some(error.clone());
                what = format!("action {} ({})", r.action_id, r.action_type);
            }
            if let Some(e) = status.execution.as_mut() {
                e.error = Some(format!("{what} failed: {error}"));
            }
            set(
                status,
                PROGRESSING,
                true,
                "RollingBack",
                &format!("{what} failed: {error}"),
            );
        }
        Step::MarkRolledBack { index, result } => {
            if let Some(r) = record(status, *index) {
                r.status = ExecutionStatus::RolledBack;
                r.finished_at = Some(at.clone());
                r.result = Some(result.clone());
            }
        }
        Step::Finish { phase, error } => {
            status.phase = *phase;
            let e = status.execution.get_or_insert_with(Default::default);
            for r in &mut e.actions {
                if matches!(
                    r.status,
                    ExecutionStatus::Pending | ExecutionStatus::Running
                ) {
                    r.status = ExecutionStatus::Skipped;
                }
            }
            let succeeded = e
                .actions
                .iter()
                .filter(|r| r.status == ExecutionStatus::Succeeded)
                .count();
            e.success_rate = Some(if e.actions.is_empty() {
                0.0
            } else {
                succeeded as f64 / e.actions.len() as f64
            });
            e.finished_at = Some(at.clone());
            if let Some(error) = error {
                e.error = Some(error.clone());
            }
            let message = match (phase, &e.error) {
                (ExecutionPhase::Completed, _) => "every action succeeded".to_string(),
                (_, Some(err)) => err.clone(),
                (p, None) => format!("{p:?}"),
            };
            set(status, PROGRESSING, false, &format!("{phase:?}"), &message);
        }
    }
    status.observed_generation = generation;
}

pub(super) fn records(plan: &RemediationPlan, status: ExecutionStatus) -> Vec<ActionExecution> {
    plan.actions
        .iter()
        .map(|a| ActionExecution {
            action_id: a.id.to_string(),
            action_type: a.action_type,
            status,
            started_at: None,
            finished_at: None,
            previous: None,
            applied_generation: None,
            result: None,
        })
        .collect()
}

pub(super) fn record(
    status: &mut RemediationPolicyStatus,
    index: usize,
) -> Option<&mut ActionExecution> {
    status.execution.as_mut()?.actions.get_mut(index)
}

/// An Event for a step: whether it is a warning, its reason, action and note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    pub action: String,
    pub note: String,
}

/// The Event a step is reported with, if any, given the status before the step
/// and after it. Waits are not reported, except the start of a wait for a missing
/// ViolationPolicy (the wait itself recurs every minute).
pub fn notice(
    step: &Step,
    plan: &RemediationPlan,
    before: &RemediationPolicyStatus,
    status: &RemediationPolicyStatus,
) -> Option<Notice> {
    let n = |warning, reason, action: &str, note: String| {
        Some(Notice {
            warning,
            reason,
            action: action.to_string(),
            note,
        })
    };
    let action_of = |index: usize| {
        plan.actions
            .get(index)
            .map(|a| (a.id.to_string(), a.action_type.as_str().to_string()))
            .unwrap_or_else(|| (index.to_string(), "Execute".into()))
    };
    let result_of = |index: usize| {
        status
            .execution
            .as_ref()
            .and_then(|e| e.actions.get(index))
            .and_then(|r| r.result.clone())
            .unwrap_or_default()
    };
    match step {
        Step::Wait {
            kind: WaitKind::Policy,
            message,
            ..
        } if before != status => n(true, "PolicyNotFound", "Validate", message.clone()),
        Step::Wait {
            kind: WaitKind::Brake,
            message,
            ..
        } if before != status => n(true, "StormBrake", "Execute", message.clone()),
        Step::Done
        | Step::Wait { .. }
        | Step::Start
        | Step::Apply { .. }
        | Step::Sent { .. }
        | Step::RollBack { .. } => None,
        Step::Expire { message } => n(true, "Expired", "Approval", message.clone()),
        Step::Reject { reason } => n(false, "Rejected", "Approval", reason.clone()),
        Step::RefuseApproval { message } => n(true, "ApprovalRefused", "Approval", message.clone()),
        Step::Approve { .. } => n(
            false,
            "Approved",
            "Approval",
            status.approval_message.clone().unwrap_or_default(),
        ),
        Step::Fail { error } => n(
            true,
            "Failed",
            "Validate",
            format!("validation failed, nothing patched: {error}"),
        ),
        Step::WriteAhead { index, .. } => {
            let (id, kind) = action_of(*index);
            n(
                false,
                "ActionStarted",
                &kind,
                format!("action {id} ({kind}) on Deployment {}", plan.target),
            )
        }
        Step::MarkSucceeded { index, .. } => {
            let (_, kind) = action_of(*index);
            n(false, "ActionSucceeded", &kind, result_of(*index))
        }
        Step::FailAction { index, error } => {
            let (id, kind) = action_of(*index);
            n(
                true,
                "ActionFailed",
                &kind,
                format!("action {id} ({kind}) failed: {error}"),
            )
        }
        Step::MarkRolledBack { index, result } => {
            let (id, kind) = action_of(*index);
            n(
                false,
                "ActionRolledBack",
                &kind,
                format!("action {id} ({kind}) rolled back: {result}"),
            )
        }
        Step::Finish { phase, .. } => {
            let error = status
                .execution
                .as_ref()
                .and_then(|e| e.error.clone())
                .unwrap_or_default();
            match phase {
                ExecutionPhase::Completed => n(
                    false,
                    "Completed",
                    "Execute",
                    "every action succeeded".into(),
                ),
                ExecutionPhase::RolledBack => n(
                    true,
                    "RolledBack",
                    "Execute",
                    format!("rolled back: {error}"),
                ),
                _ => n(true, "Failed", "Execute", error),
            }
        }
    }
}
