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
use sha2::{Digest, Sha256};

use crate::conditions;
use crate::crd::{
    APPROVE_ANNOTATION, ActionExecution, ApprovalState, ExecutionPhase, ExecutionStatus,
    PolicyExecution, PreviousConfig, PreviousState, REJECT_ANNOTATION, RemediationPolicy,
    RemediationPolicyStatus, ViolationPolicy,
};
use crate::deployment::{self, SettingRef};
use crate::engine::model::{
    ActionType, ApprovalMode, Millis, PatchKind, RemediationAction, RemediationEnvelope,
    RemediationPlan, RiskLevel,
};
use crate::monitor::time;

/// Condition type: whether the plan may run.
pub const APPROVED: &str = "Approved";
/// Condition type: whether an execution is under way (`False` with the reason
/// when it waits or is over).
pub const PROGRESSING: &str = "Progressing";

/// The plan hash: sha256 over the canonical JSON (object keys sorted, no
/// whitespace) of the plan with `planHash` set to `""`, first 16 hex digits.
// TODO(merge): use engine::plan::plan_hash
fn plan_hash(plan: &RemediationPlan) -> String {
    let mut plan = plan.clone();
    plan.plan_hash = String::new();
    let value = serde_json::to_value(&plan).expect("a plan always serializes to JSON");
    let digest = Sha256::digest(canonical_json(&value).as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// The content hash of a plan, as approvals must quote it.
pub fn content_hash(plan: &RemediationPlan) -> String {
    plan_hash(plan)
}

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
            requeue: Some(Duration::from_secs(60)),
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
            action_id: a.id.clone(),
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

/// The Event a step is reported with, if any.
pub fn notice(
    step: &Step,
    plan: &RemediationPlan,
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
            .map(|a| (a.id.clone(), a.action_type.as_str().to_string()))
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
