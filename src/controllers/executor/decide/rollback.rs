//! Rolling back an execution after an action failed: the failed action's own
//! change is undone if it took effect (a rollout that stalled), then the
//! finished actions before it, last first, each undo counting once its
//! rollout completes; and the end of an execution whose rollback cannot go on.

use super::*;

/// The end of an execution whose rollback cannot go on: Failed, with `what`
/// after the error that started the rollback.
pub fn rollback_failed(rp: &RemediationPolicy, what: &str) -> Step {
    let before = rp
        .status
        .as_ref()
        .and_then(|s| s.execution.as_ref())
        .and_then(|e| e.error.clone())
        .unwrap_or_default();
    Step::Finish {
        phase: ExecutionPhase::Failed,
        error: Some(format!("{before}; {what}")),
    }
}

/// The rollback after action `failed` failed.
pub(super) fn rolling_back(
    o: &Observed<'_>,
    records: &[ActionExecution],
    failed: usize,
    aligned: bool,
) -> Step {
    let plan = &o.plan.spec.plan;
    let earlier = |what: String| rollback_failed(o.plan, &what);
    // Since when the rollback runs: the executor's own rollout deadline counts
    // from there.
    let since = millis(&records[failed].finished_at);
    // What undoing action `j` needs next; `None` when nothing: the failed
    // action's change is not (or no longer) there and the rollout is complete.
    let undo = |j: usize| -> Option<Step> {
        let action = &plan.actions[j];
        let (Some(previous), Some(d)) = (records[j].previous.as_ref(), o.deployment) else {
            // Without a record or a Deployment a Succeeded action's undo fails
            // in the controller, which says why.
            return (j != failed).then_some(Step::RollBack { index: j });
        };
        // The failed action is undone only if its change took effect: a value
        // another writer set since its write-ahead is left alone.
        let undone = match j == failed {
            true => effect_visible(action, previous, d, o.hpas).map(|applied| !applied),
            false => restored(action, previous, d, o.hpas),
        };
        Some(match undone {
            Ok(false) => Step::RollBack { index: j },
            Err(e) => earlier(format!("cannot roll back action {}: {e}", action.id)),
            Ok(true) => match wait_for(
                action,
                previous,
                true,
                d,
                records[j].applied_generation,
                since,
                o.now,
            ) {
                Rollout::Complete(_) if j == failed => return None,
                Rollout::Complete(done) => Step::MarkRolledBack {
                    index: j,
                    result: format!("{}; {done}", describe_undo(action, previous)),
                },
                Rollout::Progressing(message) => Step::Wait {
                    kind: WaitKind::Rollout,
                    message: format!("rolling back action {}: {message}", action.id),
                    requeue: Some(ROLLOUT_REQUEUE),
                },
                Rollout::Stalled(why) => earlier(format!(
                    "the rollback of action {} did not complete: {why}",
                    action.id
                )),
            },
        })
    };
    if aligned && let Some(step) = undo(failed) {
        return step;
    }
    match records[..failed]
        .iter()
        .rposition(|r| r.status == ExecutionStatus::Succeeded)
    {
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
        Some(j) => undo(j).unwrap_or(Step::RollBack { index: j }),
    }
}
