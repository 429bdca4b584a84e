//! Execute: the pure decisions of the executor. Given a RemediationPolicy (its
//! plan, annotations and status), the ViolationPolicy whose envelope bounds it,
//! the live Deployment and the time, [`next_step`] says what to do next, and
//! [`transition`] says what that step writes to status. The controller
//! (`controllers::executor`) only reads objects, sends the patch a step asks for
//! and writes the status, one step at a time.
//!
//! The order of steps makes an execution safe to interrupt: each action's previous
//! state is written to status (write-ahead, the action `Running`) before its patch
//! is sent, and an action found `Running` after a restart is resolved by comparing
//! the live Deployment with the action's intended result, never by repeating it
//! blindly. An action counts as succeeded only once the Deployment's rollout is
//! complete ([`rollout`], the `kubectl rollout status` rule); a rollout that
//! stalls fails the action. A failed action's own change, if it took effect, is
//! undone first, then the finished ones in reverse order, each undo waited on
//! the same way.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;

use super::patch::{self, SettingRef};
use crate::conditions;
use crate::controllers::monitor::decide::time;
use crate::controllers::revisions;
use mapek_api::{
    APPROVE_ANNOTATION, APPROVED_BY_ANNOTATION, AUTO_APPROVER, ActionExecution, ApprovalState,
    ExecutionPhase, ExecutionStatus, HpaMode, PolicyExecution, PreviousConfig, PreviousHpa,
    PreviousState, PreviousTemplate, REJECT_ANNOTATION, RemediationPolicy, RemediationPolicyStatus,
    ViolationPolicy,
};
use mapek_engine::model::{
    ActionType, ApprovalMode, Millis, PatchKind, RemediationAction, RemediationEnvelope,
    RemediationPlan, RiskLevel,
};
use mapek_engine::plan::plan_hash;

mod checks;
#[cfg(test)]
pub(crate) mod fixtures;
mod rollback;
mod rollout;
#[cfg(test)]
mod tests;
mod transition;

pub use checks::{check_action, effect_visible, previous_state, restored, validate_plan};
pub use rollback::rollback_failed;
use rollback::rolling_back;
pub use rollout::{Rollout, rollout, rollout_since, scaled_by_hpa};
pub use transition::{Notice, describe, describe_undo, notice, transition};

/// How often a plan waiting for its missing ViolationPolicy looks again. The
/// executor does not watch ViolationPolicies, so this is how soon a plan notices
/// that its policy appeared: one read of the policy and the Deployment per plan
/// per interval, only while a plan waits.
pub const POLICY_REQUEUE: Duration = Duration::from_secs(5);
/// How often a plan waiting for its Deployment's rollout reads it again.
pub const ROLLOUT_REQUEUE: Duration = Duration::from_secs(2);
/// Condition type: whether the plan may run.
pub const APPROVED: &str = "Approved";
/// Condition type: whether an execution is under way (`False` with the reason
/// when it waits or is over).
pub const PROGRESSING: &str = "Progressing";

/// What the executor waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitKind {
    /// A human approval (or the approval TTL).
    Approval,
    /// The ViolationPolicy the plan names does not exist.
    Policy,
    /// Another plan is executing on the same Deployment.
    Target,
    /// The global limit of concurrent executions is reached.
    Slot,
    /// The Deployment's rollout of an applied (or undone) action is under way.
    Rollout,
    /// The storm brake holds approved plans: too many executions started lately.
    Brake,
}

/// The next thing the executor does for one RemediationPolicy.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Nothing to do until something changes or `requeue` passes.
    Wait {
        kind: WaitKind,
        message: String,
        requeue: Option<Duration>,
    },
    /// Nothing to do any more (finished, or already reported).
    Done,
    /// The approval TTL passed without an approval.
    Expire { message: String },
    /// `mapek.io/reject` is set.
    Reject { reason: String },
    /// An approval that cannot be honoured (wrong hash, edited plan, rejected or
    /// expired plan).
    RefuseApproval { message: String },
    /// Record the approval, and who gave it (`by`: the `mapek.io/approved-by`
    /// annotation, [`AUTO_APPROVER`] for an automatic approval).
    Approve {
        hash: String,
        auto: bool,
        by: Option<String>,
    },
    /// The plan is outside the envelope (or cannot run at all): nothing was patched.
    Fail { error: String },
    /// Start the execution: phase InProgress, every action Pending.
    Start,
    /// Record action `index` as Running with its previous state, before its patch.
    WriteAhead {
        index: usize,
        previous: Box<PreviousState>,
    },
    /// Send the patch of action `index` (already Running with its previous state).
    Apply { index: usize },
    /// The patch of action `index` (its change, or its undo) went through and
    /// left the Deployment at `generation`: its rollout is waited on next.
    /// Made by the controller, never by [`next_step`].
    Sent {
        index: usize,
        generation: Option<i64>,
    },
    /// Action `index` is done.
    MarkSucceeded { index: usize, result: String },
    /// Action `index` failed: the finished ones are rolled back next.
    FailAction { index: usize, error: String },
    /// Restore the previous state of action `index`.
    RollBack { index: usize },
    /// Action `index` is undone.
    MarkRolledBack { index: usize, result: String },
    /// The execution is over.
    Finish {
        phase: ExecutionPhase,
        error: Option<String>,
    },
}

/// Everything [`next_step`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub plan: &'a RemediationPolicy,
    /// The ViolationPolicy named by `spec.policy`, if it exists.
    pub policy: Option<&'a ViolationPolicy>,
    /// The Deployment named by `spec.target`, if it exists, as just read.
    pub deployment: Option<&'a Deployment>,
    /// The Deployment's ReplicaSets (its rollout history), read only for a plan
    /// with a `ROLLBACK_REVISION` action; empty otherwise.
    pub replica_sets: &'a [ReplicaSet],
    /// The namespace's HorizontalPodAutoscalers, read only for a plan with a
    /// scale action still to run or undo; empty otherwise.
    pub hpas: &'a [HorizontalPodAutoscaler],
    pub now: Millis,
}

/// Decides the next step. Pure: the same observation always gives the same step.
pub fn next_step(o: &Observed<'_>) -> Step {
    let status = o.plan.status.clone().unwrap_or_default();
    match status.phase {
        ExecutionPhase::Completed | ExecutionPhase::Failed | ExecutionPhase::RolledBack => {
            Step::Done
        }
        ExecutionPhase::InProgress => progress(o, &status),
        ExecutionPhase::Pending => before_start(o, &status),
    }
}

/// Whether deciding on `plan` needs its Deployment: not while it waits for a
/// human approval (Pending, no approval annotation, and `policy`, when known,
/// does not approve it itself), when the only steps left are to wait, expire
/// or reject, none of which reads the Deployment. Without this, every new plan
/// of a storm cost a Deployment GET per reconcile.
pub fn needs_deployment(plan: &RemediationPolicy, policy: Option<&ViolationPolicy>) -> bool {
    let status = plan.status.clone().unwrap_or_default();
    let auto = policy.is_some_and(|p| {
        p.spec.remediation.approval_mode == ApprovalMode::AutoLowRisk
            && plan.spec.plan.risk == RiskLevel::Low
    });
    status.phase != ExecutionPhase::Pending
        || status.approval == ApprovalState::Approved
        || annotation(plan, APPROVE_ANNOTATION).is_some()
        || auto
}

fn annotation<'a>(rp: &'a RemediationPolicy, key: &str) -> Option<&'a str> {
    rp.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn approved_condition_message(status: &RemediationPolicyStatus) -> Option<&str> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == APPROVED)
        .map(|c| c.message.as_str())
}

/// A refusal, unless the same one is already reported.
fn refuse(status: &RemediationPolicyStatus, message: String) -> Step {
    if approved_condition_message(status) == Some(message.as_str()) {
        Step::Done
    } else {
        Step::RefuseApproval { message }
    }
}

fn before_start(o: &Observed<'_>, status: &RemediationPolicyStatus) -> Step {
    let rp = o.plan;
    let plan = &rp.spec.plan;
    let approve = annotation(rp, APPROVE_ANNOTATION);
    if matches!(
        status.approval,
        ApprovalState::Rejected | ApprovalState::Expired
    ) {
        return match approve {
            Some(h) => refuse(
                status,
                format!(
                    "approval {h:?} ignored: the plan is {:?}{}",
                    status.approval,
                    status
                        .approval_message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
            ),
            None => Step::Done,
        };
    }
    if let Some(reason) = annotation(rp, REJECT_ANNOTATION) {
        let reason = if reason.trim().is_empty() {
            "rejected without a reason".to_string()
        } else {
            reason.to_string()
        };
        return Step::Reject { reason };
    }
    let Some(policy) = o.policy else {
        return Step::Wait {
            kind: WaitKind::Policy,
            message: format!(
                "ViolationPolicy {:?} not found: its envelope is needed to validate the plan",
                plan.policy
            ),
            requeue: Some(POLICY_REQUEUE),
        };
    };
    let remediation = &policy.spec.remediation;

    // Expiry: the TTL runs from the plan's creation.
    let mut requeue = None;
    if status.approval == ApprovalState::Pending
        && let Some(created) = &rp.metadata.creation_timestamp
    {
        let ttl = std::time::Duration::from(remediation.approval_ttl);
        let deadline = created.0.as_millisecond() + ttl.as_millis() as Millis;
        if o.now >= deadline {
            return Step::Expire {
                message: format!(
                    "not approved within the approval TTL of {}",
                    remediation.approval_ttl
                ),
            };
        }
        requeue = Some(Duration::from_millis((deadline - o.now) as u64));
    }

    let content = plan_hash(plan);
    let edited = plan.plan_hash != content;
    let auto =
        remediation.approval_mode == ApprovalMode::AutoLowRisk && plan.risk == RiskLevel::Low;
    let recorded = status.approval == ApprovalState::Approved
        && status.approved_hash.as_deref() == Some(content.as_str())
        && !edited;
    match approve {
        Some(h) if h != plan.plan_hash => {
            return refuse(
                status,
                format!(
                    "approval hash {h:?} does not match the plan hash {:?}: nothing runs",
                    plan.plan_hash
                ),
            );
        }
        Some(_) | None
            if edited
                && (approve.is_some() || auto || status.approval == ApprovalState::Approved) =>
        {
            return refuse(
                status,
                format!(
                    "the plan changed after it was hashed (spec.planHash {:?}, content hash {content:?}): nothing runs",
                    plan.plan_hash
                ),
            );
        }
        Some(_) => {}
        None if auto || recorded => {}
        None => {
            let why = if remediation.approval_mode == ApprovalMode::AutoLowRisk {
                format!("risk {:?} needs a human approval", plan.risk)
            } else {
                "approval mode is Manual".to_string()
            };
            return Step::Wait {
                kind: WaitKind::Approval,
                message: format!(
                    "waiting for approval ({why}): kubectl annotate remediationpolicy {} {APPROVE_ANNOTATION}={}",
                    rp.metadata.name.as_deref().unwrap_or_default(),
                    plan.plan_hash
                ),
                requeue,
            };
        }
    }
    if status.approval != ApprovalState::Approved
        || status.approved_hash.as_deref() != Some(content.as_str())
    {
        let auto = approve.is_none();
        return Step::Approve {
            hash: content,
            auto,
            by: match auto {
                true => Some(AUTO_APPROVER.to_string()),
                false => annotation(rp, APPROVED_BY_ANNOTATION).map(str::to_string),
            },
        };
    }
    match validate_plan(plan, policy, o.deployment, o.hpas) {
        Err(error) => Step::Fail { error },
        Ok(()) => Step::Start,
    }
}

fn progress(o: &Observed<'_>, status: &RemediationPolicyStatus) -> Step {
    let plan = &o.plan.spec.plan;
    let exec = status.execution.clone().unwrap_or_default();
    let records = &exec.actions;
    let aligned = records.len() == plan.actions.len()
        && records
            .iter()
            .zip(&plan.actions)
            .all(|(r, a)| r.action_id == a.id && r.action_type == a.action_type);

    // Rolling back: undo the failed action's own change if it took effect (a
    // rollout that stalled), then the Succeeded actions before it, last first;
    // each undo counts once its rollout completes.
    if let Some(failed) = records
        .iter()
        .position(|r| r.status == ExecutionStatus::Failed)
    {
        return rolling_back(o, records, failed, aligned);
    }
    let Some(i) = records
        .iter()
        .position(|r| r.status != ExecutionStatus::Succeeded)
    else {
        return Step::Finish {
            phase: ExecutionPhase::Completed,
            error: None,
        };
    };
    if !aligned {
        return Step::FailAction {
            index: i,
            error: "the plan's actions no longer match the execution record".into(),
        };
    }
    if status.approved_hash.as_deref() != Some(plan_hash(plan).as_str()) {
        return Step::FailAction {
            index: i,
            error: "the plan changed after it was approved".into(),
        };
    }
    let action = &plan.actions[i];
    let Some(d) = o.deployment else {
        return Step::FailAction {
            index: i,
            error: format!("Deployment {:?} not found", plan.target),
        };
    };
    let Some(policy) = o.policy else {
        return Step::FailAction {
            index: i,
            error: format!("ViolationPolicy {:?} not found", plan.policy),
        };
    };
    let envelope = &policy.spec.remediation.envelope;
    match records[i].status {
        ExecutionStatus::Pending => {
            if let Err(e) = check_action(plan, action, envelope, patch::replicas(d)) {
                return Step::FailAction { index: i, error: e };
            }
            match previous_state(
                action,
                d,
                o.replica_sets,
                o.hpas,
                policy.spec.remediation.hpa,
                o.now,
            ) {
                Ok(previous) => Step::WriteAhead {
                    index: i,
                    previous: Box::new(previous),
                },
                Err(error) => Step::FailAction { index: i, error },
            }
        }
        ExecutionStatus::Running => {
            let previous = records[i].previous.clone().unwrap_or_default();
            match effect_visible(action, &previous, d, o.hpas) {
                Ok(true) => match wait_for(
                    action,
                    &previous,
                    false,
                    d,
                    records[i].applied_generation,
                    millis(&records[i].started_at),
                    o.now,
                ) {
                    Rollout::Complete(done) => Step::MarkSucceeded {
                        index: i,
                        result: format!("{}; {done}", describe(action, &previous, &plan.target)),
                    },
                    Rollout::Progressing(message) => Step::Wait {
                        kind: WaitKind::Rollout,
                        message: format!("action {}: {message}", action.id),
                        requeue: Some(ROLLOUT_REQUEUE),
                    },
                    Rollout::Stalled(error) => Step::FailAction { index: i, error },
                },
                Ok(false) => match check_action(plan, action, envelope, patch::replicas(d)) {
                    Ok(()) => Step::Apply { index: i },
                    Err(error) => Step::FailAction { index: i, error },
                },
                Err(error) => Step::FailAction { index: i, error },
            }
        }
        other => Step::Finish {
            phase: ExecutionPhase::Failed,
            error: Some(format!(
                "action {} is {other:?} while the execution is in progress",
                records[i].action_id
            )),
        },
    }
}

/// What an applied (or, `undone`, an undone) action waits for: the rollout of
/// its change; for a scale action through an HPA, the HPA controller scaling
/// the Deployment to the `minReplicas` set, then the rollout.
fn wait_for(
    action: &RemediationAction,
    previous: &PreviousState,
    undone: bool,
    d: &Deployment,
    applied: Option<i64>,
    since: Option<Millis>,
    now: Millis,
) -> Rollout {
    match (action.action_type.patch_kind(), &previous.hpa) {
        (PatchKind::Scale, Some(h)) => {
            let min = match undone {
                true => h.min_replicas.unwrap_or(1),
                false => h.set,
            };
            scaled_by_hpa(d, &h.name, min, since, now)
        }
        _ => rollout_since(d, applied, since, now),
    }
}

/// A status time in milliseconds.
fn millis(t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<Millis> {
    t.as_ref().map(|t| t.0.as_millisecond())
}

/// Whether another plan in the list executes on `target` (its name if so).
pub fn busy_with<'a>(
    others: impl IntoIterator<Item = &'a RemediationPolicy>,
    me: &str,
    target: &str,
) -> Option<String> {
    others.into_iter().find_map(|rp| {
        let name = rp.metadata.name.as_deref().unwrap_or_default();
        let in_progress = rp
            .status
            .as_ref()
            .is_some_and(|s| s.phase == ExecutionPhase::InProgress);
        (name != me && rp.spec.plan.target == target && in_progress).then(|| name.to_string())
    })
}
