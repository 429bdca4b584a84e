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
//! blindly. A failed action rolls back the finished ones in reverse order.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;

use crate::conditions;
use crate::crd::{
    APPROVE_ANNOTATION, ActionExecution, ApprovalState, ExecutionPhase, ExecutionStatus,
    PolicyExecution, PreviousConfig, PreviousState, REJECT_ANNOTATION, RemediationPolicy,
    RemediationPolicyStatus, ViolationPolicy,
};
use crate::deployment::{self, SettingRef};
use crate::monitor::time;
use mapek_engine::model::{
    ActionType, ApprovalMode, Millis, PatchKind, RemediationAction, RemediationEnvelope,
    RemediationPlan, RiskLevel,
};
use mapek_engine::plan::plan_hash;

/// How often a plan waiting for its missing ViolationPolicy looks again. The
/// executor does not watch ViolationPolicies, so this is how soon a plan notices
/// that its policy appeared: one read of the policy and the Deployment per plan
/// per interval, only while a plan waits.
pub const POLICY_REQUEUE: Duration = Duration::from_secs(5);
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
    /// Record the approval.
    Approve { hash: String, auto: bool },
    /// The plan is outside the envelope (or cannot run at all): nothing was patched.
    Fail { error: String },
    /// Start the execution: phase InProgress, every action Pending.
    Start,
    /// Record action `index` as Running with its previous state, before its patch.
    WriteAhead {
        index: usize,
        previous: PreviousState,
    },
    /// Send the patch of action `index` (already Running with its previous state).
    Apply { index: usize },
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
        return Step::Approve {
            hash: content,
            auto: approve.is_none(),
        };
    }
    match validate_plan(plan, policy, o.deployment) {
        Err(error) => Step::Fail { error },
        Ok(()) => Step::Start,
    }
}

/// Checks a whole plan against the envelope and the live Deployment before it
/// starts: scale steps are simulated from the current replicas.
pub fn validate_plan(
    plan: &RemediationPlan,
    policy: &ViolationPolicy,
    deployment: Option<&Deployment>,
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
    let mut replicas = deployment::replicas(d);
    for action in &plan.actions {
        check_action(plan, action, envelope, replicas)
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
    }
}

/// The state an action changes, read from the live Deployment.
pub fn previous_state(action: &RemediationAction, d: &Deployment) -> Result<PreviousState, String> {
    Ok(match action.action_type.patch_kind() {
        PatchKind::Scale => PreviousState {
            replicas: Some(deployment::replicas(d)),
            ..Default::default()
        },
        PatchKind::Restart => PreviousState {
            restarted_at: deployment::restarted_at(d),
            ..Default::default()
        },
        PatchKind::Config => {
            let change = action.config.as_ref().ok_or("no config setting")?;
            let value = deployment::config_value(d, &SettingRef::from(change))
                .map_err(|e| e.to_string())?;
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

/// Whether the live Deployment already shows the action's intended result.
pub fn effect_visible(
    action: &RemediationAction,
    previous: &PreviousState,
    d: &Deployment,
) -> Result<bool, String> {
    Ok(match action.action_type.patch_kind() {
        PatchKind::Scale => action.replicas == Some(deployment::replicas(d)),
        PatchKind::Restart => {
            let now = deployment::restarted_at(d);
            now.is_some() && now != previous.restarted_at
        }
        PatchKind::Config => {
            let change = action.config.as_ref().ok_or("no config setting")?;
            deployment::config_value(d, &SettingRef::from(change)).map_err(|e| e.to_string())?
                == Some(change.value.clone())
        }
    })
}

/// Whether the live Deployment is back in the action's previous state.
pub fn restored(
    action: &RemediationAction,
    previous: &PreviousState,
    d: &Deployment,
) -> Result<bool, String> {
    Ok(match action.action_type.patch_kind() {
        PatchKind::Scale => previous.replicas == Some(deployment::replicas(d)),
        PatchKind::Restart => previous.restarted_at == deployment::restarted_at(d),
        PatchKind::Config => {
            let prev = previous
                .config
                .as_ref()
                .ok_or("no previous config recorded")?;
            deployment::config_value(d, &SettingRef::from(prev)).map_err(|e| e.to_string())?
                == prev.value
        }
    })
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

    // Rolling back: undo the Succeeded actions before the failed one, last first.
    if let Some(failed) = records
        .iter()
        .position(|r| r.status == ExecutionStatus::Failed)
    {
        let undo = records[..failed]
            .iter()
            .rposition(|r| r.status == ExecutionStatus::Succeeded);
        return match undo {
            None => Step::Finish {
                phase: ExecutionPhase::RolledBack,
                error: None,
            },
            Some(j) if !aligned => Step::Finish {
                phase: ExecutionPhase::Failed,
                error: Some(format!(
                    "cannot roll back action {}: the plan no longer matches the execution record",
                    records[j].action_id
                )),
            },
            Some(j) => {
                let previous = records[j].previous.clone().unwrap_or_default();
                match o
                    .deployment
                    .map(|d| restored(&plan.actions[j], &previous, d))
                {
                    Some(Ok(true)) => Step::MarkRolledBack {
                        index: j,
                        result: "found already restored".into(),
                    },
                    _ => Step::RollBack { index: j },
                }
            }
        };
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
            if let Err(e) = check_action(plan, action, envelope, deployment::replicas(d)) {
                return Step::FailAction { index: i, error: e };
            }
            match previous_state(action, d) {
                Ok(previous) => Step::WriteAhead { index: i, previous },
                Err(error) => Step::FailAction { index: i, error },
            }
        }
        ExecutionStatus::Running => {
            let previous = records[i].previous.clone().unwrap_or_default();
            match effect_visible(action, &previous, d) {
                Ok(true) => Step::MarkSucceeded {
                    index: i,
                    result: format!(
                        "{}: found already applied on Deployment {}",
                        action.action_type, plan.target
                    ),
                },
                Ok(false) => match check_action(plan, action, envelope, deployment::replicas(d)) {
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

/// A one-line account of an action that was applied.
pub fn describe(action: &RemediationAction, previous: &PreviousState, target: &str) -> String {
    match action.action_type.patch_kind() {
        PatchKind::Scale => format!(
            "{}: scaled Deployment {target} from {} to {} replicas",
            action.action_type,
            previous.replicas.unwrap_or_default(),
            action.replicas.unwrap_or_default()
        ),
        PatchKind::Restart => format!("{}: restarted Deployment {target}", action.action_type),
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
        },
        Step::Expire { message } => {
            status.approval = ApprovalState::Expired;
            status.approval_message = Some(message.clone());
            set(status, APPROVED, false, "Expired", message);
        }
        Step::Reject { reason } => {
            status.approval = ApprovalState::Rejected;
            status.approved_hash = None;
            status.approval_message = Some(reason.clone());
            set(status, APPROVED, false, "Rejected", reason);
        }
        Step::RefuseApproval { message } => {
            if status.approval == ApprovalState::Approved {
                status.approval = ApprovalState::Pending;
                status.approved_hash = None;
                status.approval_time = None;
            }
            if status.approval == ApprovalState::Pending {
                status.approval_message = Some(message.clone());
            }
            set(status, APPROVED, false, "ApprovalRefused", message);
        }
        Step::Approve { hash, auto } => {
            let message = if *auto {
                "approved automatically: risk Low and approvalMode AutoLowRisk".to_string()
            } else {
                format!("approved with {APPROVE_ANNOTATION}={hash}")
            };
            status.approval = ApprovalState::Approved;
            status.approved_hash = Some(hash.clone());
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
                r.previous = Some(previous.clone());
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

fn records(plan: &RemediationPlan, status: ExecutionStatus) -> Vec<ActionExecution> {
    plan.actions
        .iter()
        .map(|a| ActionExecution {
            action_id: a.id.to_string(),
            action_type: a.action_type,
            status,
            started_at: None,
            finished_at: None,
            previous: None,
            result: None,
        })
        .collect()
}

fn record(status: &mut RemediationPolicyStatus, index: usize) -> Option<&mut ActionExecution> {
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
        Step::Done
        | Step::Wait { .. }
        | Step::Start
        | Step::Apply { .. }
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

/// Objects for the executor's tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use serde_json::{Value, json};

    use super::*;

    /// `web` at `replicas` replicas: container `app` with `MODE=normal`.
    pub(crate) fn deployment(replicas: i32) -> Deployment {
        crate::deployment::tests::deployment(
            replicas,
            json!({
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [
                    { "name": "app", "image": "web:1", "env": [ { "name": "MODE", "value": "normal" } ] }
                ] }
            }),
        )
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
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    const NOW: Millis = 1_714_557_600_000;

    fn step(
        rp: &RemediationPolicy,
        policy: Option<&ViolationPolicy>,
        d: Option<&Deployment>,
    ) -> Step {
        next_step(&Observed {
            plan: rp,
            policy,
            deployment: d,
            now: NOW,
        })
    }

    /// Applies a step's status change to the plan, as the controller does.
    fn advance(rp: &mut RemediationPolicy, s: &Step) {
        let mut status = rp.status.clone().unwrap_or_default();
        transition(s, &mut status, &rp.spec.plan, rp.metadata.generation, NOW);
        rp.status = Some(status);
    }

    fn status(rp: &RemediationPolicy) -> &RemediationPolicyStatus {
        rp.status.as_ref().unwrap()
    }

    fn action_statuses(rp: &RemediationPolicy) -> Vec<ExecutionStatus> {
        status(rp)
            .execution
            .as_ref()
            .unwrap()
            .actions
            .iter()
            .map(|a| a.status)
            .collect()
    }

    #[test]
    fn manual_plans_wait_for_an_approval() {
        let rp = plan(vec![scale_up("a1", 4)], "Low");
        let policy = policy("Manual");
        match step(&rp, Some(&policy), Some(&deployment(2))) {
            Step::Wait { kind, message, .. } => {
                assert_eq!(kind, WaitKind::Approval);
                assert!(message.contains(&rp.spec.plan.plan_hash), "{message}");
            }
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_hash_is_refused_once() {
        let mut rp = plan(vec![scale_up("a1", 4)], "Low");
        annotate(&mut rp, APPROVE_ANNOTATION, "0123456789abcdef");
        let policy = policy("Manual");
        let d = deployment(2);
        let s = step(&rp, Some(&policy), Some(&d));
        let Step::RefuseApproval { message } = &s else {
            panic!("expected a refusal, got {s:?}")
        };
        assert!(message.contains("0123456789abcdef"), "{message}");
        advance(&mut rp, &s);
        assert_eq!(status(&rp).approval, ApprovalState::Pending);
        assert_eq!(
            status(&rp).approval_message.as_deref(),
            Some(message.as_str())
        );
        assert_eq!(status(&rp).phase, ExecutionPhase::Pending);
        // Already reported: no second refusal (and no second Event).
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Done);
    }

    #[test]
    fn an_approval_of_a_plan_edited_after_hashing_is_refused() {
        let mut rp = approved(vec![scale_up("a1", 4)]);
        rp.spec.plan.actions[0].replicas = Some(3); // hash not updated
        let s = step(&rp, Some(&policy("Manual")), Some(&deployment(2)));
        match s {
            Step::RefuseApproval { message } => assert!(message.contains("changed"), "{message}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Same with auto-approval.
        let mut rp = plan(vec![scale_up("a1", 4)], "Low");
        rp.spec.plan.actions[0].replicas = Some(3);
        assert!(matches!(
            step(&rp, Some(&policy("AutoLowRisk")), Some(&deployment(2))),
            Step::RefuseApproval { .. }
        ));
    }

    #[test]
    fn the_right_hash_approves_then_starts() {
        let mut rp = approved(vec![scale_up("a1", 4)]);
        let policy = policy("Manual");
        let d = deployment(2);
        let s = step(&rp, Some(&policy), Some(&d));
        assert_eq!(
            s,
            Step::Approve {
                hash: rp.spec.plan.plan_hash.clone(),
                auto: false
            }
        );
        advance(&mut rp, &s);
        assert_eq!(status(&rp).approval, ApprovalState::Approved);
        assert!(conditions::is_true(&status(&rp).conditions, APPROVED));
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Start);
    }

    #[test]
    fn auto_approval_only_for_low_risk() {
        let d = deployment(2);
        let low = plan(vec![scale_up("a1", 4)], "Low");
        assert!(matches!(
            step(&low, Some(&policy("AutoLowRisk")), Some(&d)),
            Step::Approve { auto: true, .. }
        ));
        assert!(matches!(
            step(&low, Some(&policy("Manual")), Some(&d)),
            Step::Wait {
                kind: WaitKind::Approval,
                ..
            }
        ));
        let medium = plan(vec![scale_up("a1", 4)], "Medium");
        assert!(matches!(
            step(&medium, Some(&policy("AutoLowRisk")), Some(&d)),
            Step::Wait {
                kind: WaitKind::Approval,
                ..
            }
        ));
    }

    #[test]
    fn rejection_wins_and_later_approvals_are_refused() {
        let mut rp = plan(vec![scale_up("a1", 4)], "Medium");
        annotate(&mut rp, REJECT_ANNOTATION, "too risky on Friday");
        let policy = policy("Manual");
        let d = deployment(2);
        let s = step(&rp, Some(&policy), Some(&d));
        assert_eq!(
            s,
            Step::Reject {
                reason: "too risky on Friday".into()
            }
        );
        advance(&mut rp, &s);
        assert_eq!(status(&rp).approval, ApprovalState::Rejected);
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Done);
        let hash = rp.spec.plan.plan_hash.clone();
        annotate(&mut rp, APPROVE_ANNOTATION, &hash);
        let s = step(&rp, Some(&policy), Some(&d));
        match &s {
            Step::RefuseApproval { message } => {
                assert!(message.contains("Rejected"), "{message}");
                assert!(message.contains("too risky on Friday"), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        advance(&mut rp, &s);
        assert_eq!(status(&rp).approval, ApprovalState::Rejected);
        assert_eq!(
            status(&rp).approval_message.as_deref(),
            Some("too risky on Friday")
        );
        assert_eq!(status(&rp).phase, ExecutionPhase::Pending);
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Done);
    }

    #[test]
    fn plans_expire_after_the_approval_ttl() {
        let mut rp = plan(vec![scale_up("a1", 4)], "Medium");
        rp.metadata.creation_timestamp = Some(time(NOW - 3_600_000));
        let policy = policy("Manual");
        let d = deployment(2);
        let s = step(&rp, Some(&policy), Some(&d));
        assert!(matches!(s, Step::Expire { .. }), "{s:?}");
        advance(&mut rp, &s);
        assert_eq!(status(&rp).approval, ApprovalState::Expired);
        let hash = rp.spec.plan.plan_hash.clone();
        annotate(&mut rp, APPROVE_ANNOTATION, &hash);
        assert!(matches!(
            step(&rp, Some(&policy), Some(&d)),
            Step::RefuseApproval { .. }
        ));
        // One second younger: still waiting, with a requeue at the deadline.
        let mut young = plan(vec![scale_up("a1", 4)], "Medium");
        young.metadata.creation_timestamp = Some(time(NOW - 3_599_000));
        match step(&young, Some(&policy), Some(&d)) {
            Step::Wait { requeue, .. } => assert_eq!(requeue, Some(Duration::from_secs(1))),
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    /// Approves and returns the step after approval (validation).
    fn after_approval(actions: Vec<serde_json::Value>, replicas: i32) -> Step {
        let mut rp = approved(actions);
        let policy = policy("Manual");
        let d = deployment(replicas);
        let s = step(&rp, Some(&policy), Some(&d));
        assert!(matches!(s, Step::Approve { .. }), "{s:?}");
        advance(&mut rp, &s);
        step(&rp, Some(&policy), Some(&d))
    }

    fn assert_fails(s: Step, needle: &str) {
        match s {
            Step::Fail { error } => assert!(error.contains(needle), "{error:?} lacks {needle:?}"),
            other => panic!("expected a validation failure, got {other:?}"),
        }
    }

    #[test]
    fn plans_outside_the_envelope_fail_validation() {
        assert_fails(
            after_approval(vec![scale_up("a1", 7)], 5),
            "outside the policy's bounds [1, 6]",
        );
        assert_fails(after_approval(vec![scale_up("a1", 5)], 2), "max step of 2");
        // Steps are checked from the replicas the previous action leaves: 2 -> 4 -> 6
        // is two steps of 2, and 4 -> 3 is no scale-up (though 2 -> 3 would be).
        assert_fails(
            after_approval(vec![scale_up("a1", 4), scale_up("a2", 3)], 2),
            "action a2 (SCALE_UP): SCALE_UP from 4 to 3",
        );
        assert_eq!(
            after_approval(vec![scale_up("a1", 4), scale_up("a2", 6)], 2),
            Step::Start
        );
        assert_fails(
            after_approval(vec![scale_up("a1", 1)], 2),
            "SCALE_UP from 2 to 1",
        );
        assert_fails(
            after_approval(vec![set_mode("a1", "turbo")], 2),
            "not one the policy allows",
        );
        let mut unlisted = set_mode("a1", "degraded");
        unlisted["config"]["name"] = "LOG_LEVEL".into();
        assert_fails(
            after_approval(vec![unlisted], 2),
            "not a setting the policy lets",
        );
        let throttle = serde_json::json!({ "id": "a1", "actionType": "THROTTLE_REQUESTS", "target": "web",
            "priority": "Low", "estimatedLatencySeconds": 1 });
        assert_fails(after_approval(vec![throttle], 2), "not an allowed action");
        let mut elsewhere = restart("a1");
        elsewhere["target"] = "db".into();
        assert_fails(after_approval(vec![elsewhere], 2), "targets \"db\"");
    }

    #[test]
    fn a_missing_policy_makes_the_plan_wait() {
        let rp = approved(vec![scale_up("a1", 4)]);
        assert!(matches!(
            step(&rp, None, Some(&deployment(2))),
            Step::Wait {
                kind: WaitKind::Policy,
                requeue: Some(POLICY_REQUEUE),
                ..
            }
        ));
    }

    #[test]
    fn actions_run_write_ahead_first_and_roll_back_in_reverse() {
        let mut rp = approved(vec![
            scale_up("a1", 4),
            restart("a2"),
            set_mode("a3", "degraded"),
        ]);
        let policy = policy("Manual");
        let mut d = deployment(2);
        for expected in ["Approve", "Start"] {
            let s = step(&rp, Some(&policy), Some(&d));
            assert!(format!("{s:?}").starts_with(expected), "{s:?}");
            advance(&mut rp, &s);
        }
        assert_eq!(status(&rp).phase, ExecutionPhase::InProgress);

        // a1: previous replicas recorded before the patch.
        let s = step(&rp, Some(&policy), Some(&d));
        assert_eq!(
            s,
            Step::WriteAhead {
                index: 0,
                previous: PreviousState {
                    replicas: Some(2),
                    ..Default::default()
                }
            }
        );
        advance(&mut rp, &s);
        assert_eq!(action_statuses(&rp)[0], ExecutionStatus::Running);
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Apply { index: 0 });
        d.spec.replicas = Some(4); // the scale patch went through
        let s = step(&rp, Some(&policy), Some(&d));
        assert!(matches!(s, Step::MarkSucceeded { index: 0, .. }), "{s:?}");
        advance(&mut rp, &s);

        // a2: a restart; no annotation before.
        let s = step(&rp, Some(&policy), Some(&d));
        assert_eq!(
            s,
            Step::WriteAhead {
                index: 1,
                previous: PreviousState::default()
            }
        );
        advance(&mut rp, &s);
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Apply { index: 1 });
        advance(
            &mut rp,
            &Step::MarkSucceeded {
                index: 1,
                result: "restarted".into(),
            },
        );
        d.spec.template.metadata.as_mut().unwrap().annotations = Some(
            [(
                crate::deployment::RESTARTED_AT_ANNOTATION.to_string(),
                "now".to_string(),
            )]
            .into(),
        );

        // a3: previous MODE recorded, then its patch fails.
        let s = step(&rp, Some(&policy), Some(&d));
        let Step::WriteAhead { index: 2, previous } = &s else {
            panic!("{s:?}")
        };
        assert_eq!(
            previous.config.as_ref().unwrap().value.as_deref(),
            Some("normal")
        );
        advance(&mut rp, &s);
        advance(
            &mut rp,
            &Step::FailAction {
                index: 2,
                error: "500".into(),
            },
        );
        // Roll back a2 first (its annotation is still set), then a1.
        assert_eq!(
            step(&rp, Some(&policy), Some(&d)),
            Step::RollBack { index: 1 }
        );
        d.spec.template.metadata.as_mut().unwrap().annotations = None; // restored
        let s = step(&rp, Some(&policy), Some(&d));
        assert!(matches!(s, Step::MarkRolledBack { index: 1, .. }), "{s:?}");
        advance(&mut rp, &s);
        assert_eq!(
            step(&rp, Some(&policy), Some(&d)),
            Step::RollBack { index: 0 }
        );
        advance(
            &mut rp,
            &Step::MarkRolledBack {
                index: 0,
                result: "scaled back".into(),
            },
        );
        let s = step(&rp, Some(&policy), Some(&d));
        assert_eq!(
            s,
            Step::Finish {
                phase: ExecutionPhase::RolledBack,
                error: None
            }
        );
        advance(&mut rp, &s);
        assert_eq!(status(&rp).phase, ExecutionPhase::RolledBack);
        assert_eq!(
            action_statuses(&rp),
            [
                ExecutionStatus::RolledBack,
                ExecutionStatus::RolledBack,
                ExecutionStatus::Failed
            ]
        );
        let exec = status(&rp).execution.as_ref().unwrap();
        assert_eq!(exec.success_rate, Some(0.0));
        assert!(exec.error.as_deref().unwrap().contains("a3"), "{exec:?}");
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Done);
    }

    #[test]
    fn a_running_action_is_resolved_from_the_live_deployment() {
        let mut rp = approved(vec![set_mode("a1", "degraded"), scale_up("a2", 3)]);
        let policy = policy("Manual");
        let d = deployment(2);
        for _ in 0..3 {
            let s = step(&rp, Some(&policy), Some(&d));
            advance(&mut rp, &s);
        }
        assert_eq!(action_statuses(&rp)[0], ExecutionStatus::Running);
        // Not applied: apply it (once).
        assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Apply { index: 0 });
        // Applied before the crash: mark it, do not repeat it.
        let mut applied = deployment(2);
        applied.spec.template.spec.as_mut().unwrap().containers[0]
            .env
            .as_mut()
            .unwrap()[0]
            .value = Some("degraded".into());
        let s = step(&rp, Some(&policy), Some(&applied));
        assert!(matches!(s, Step::MarkSucceeded { index: 0, .. }), "{s:?}");
        advance(&mut rp, &s);
        assert!(matches!(
            step(&rp, Some(&policy), Some(&applied)),
            Step::WriteAhead { index: 1, .. }
        ));
    }

    #[test]
    fn the_step_is_checked_again_against_the_live_replicas() {
        let mut rp = approved(vec![scale_up("a1", 4)]);
        let policy = policy("Manual");
        for _ in 0..2 {
            let s = step(&rp, Some(&policy), Some(&deployment(2)));
            advance(&mut rp, &s);
        }
        // Someone scaled to 1 meanwhile: 1 -> 4 is more than the max step.
        match step(&rp, Some(&policy), Some(&deployment(1))) {
            Step::FailAction { index: 0, error } => assert!(error.contains("max step"), "{error}"),
            other => panic!("expected the action to fail, got {other:?}"),
        }
    }

    #[test]
    fn all_succeeded_completes_with_full_success_rate() {
        let mut rp = approved(vec![scale_up("a1", 3)]);
        let policy = policy("Manual");
        let mut d = deployment(2);
        for _ in 0..3 {
            let s = step(&rp, Some(&policy), Some(&d));
            advance(&mut rp, &s);
        }
        d.spec.replicas = Some(3);
        let s = step(&rp, Some(&policy), Some(&d));
        advance(&mut rp, &s);
        let s = step(&rp, Some(&policy), Some(&d));
        assert_eq!(
            s,
            Step::Finish {
                phase: ExecutionPhase::Completed,
                error: None
            }
        );
        advance(&mut rp, &s);
        let st = status(&rp);
        assert_eq!(st.phase, ExecutionPhase::Completed);
        assert_eq!(st.execution.as_ref().unwrap().success_rate, Some(1.0));
        assert!(st.execution.as_ref().unwrap().finished_at.is_some());
        let n = notice(&s, &rp.spec.plan, &RemediationPolicyStatus::default(), st).unwrap();
        assert_eq!((n.warning, n.reason), (false, "Completed"));
    }

    #[test]
    fn a_plan_edited_during_execution_stops() {
        let mut rp = approved(vec![scale_up("a1", 3)]);
        let policy = policy("Manual");
        let d = deployment(2);
        for _ in 0..2 {
            let s = step(&rp, Some(&policy), Some(&d));
            advance(&mut rp, &s);
        }
        rp.spec.plan.actions[0].replicas = Some(4);
        match step(&rp, Some(&policy), Some(&d)) {
            Step::FailAction { index: 0, error } => assert!(error.contains("changed"), "{error}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn busy_with_finds_another_plan_in_progress_on_the_target() {
        let mut other = approved(vec![scale_up("a1", 3)]);
        other.metadata.name = Some("other".into());
        let me = approved(vec![scale_up("a1", 3)]);
        assert_eq!(busy_with([&other, &me], "fix-web", "web"), None);
        other.status = Some(RemediationPolicyStatus {
            phase: ExecutionPhase::InProgress,
            ..Default::default()
        });
        assert_eq!(
            busy_with([&other, &me], "fix-web", "web"),
            Some("other".into())
        );
        assert_eq!(busy_with([&other, &me], "fix-web", "db"), None);
        assert_eq!(busy_with([&other], "other", "web"), None);
    }
}
