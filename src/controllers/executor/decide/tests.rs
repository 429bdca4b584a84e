//! Tests of the executor's decisions: approval, validation, progress, rollback.

use super::fixtures::*;
use super::*;

const NOW: Millis = 1_714_557_600_000;

fn step(rp: &RemediationPolicy, policy: Option<&ViolationPolicy>, d: Option<&Deployment>) -> Step {
    next_step(&Observed {
        plan: rp,
        policy,
        deployment: d,
        replica_sets: &[],
        hpas: &[],
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
            auto: false,
            by: None
        }
    );
    advance(&mut rp, &s);
    assert_eq!(status(&rp).approval, ApprovalState::Approved);
    assert_eq!(status(&rp).approved_by, None);
    assert!(conditions::is_true(&status(&rp).conditions, APPROVED));
    assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Start);
}

#[test]
fn the_approver_named_with_the_approval_is_recorded() {
    let mut rp = approved(vec![scale_up("a1", 4)]);
    annotate(&mut rp, APPROVED_BY_ANNOTATION, "alice");
    let s = step(&rp, Some(&policy("Manual")), Some(&deployment(2)));
    advance(&mut rp, &s);
    let st = status(&rp);
    assert_eq!(st.approved_by.as_deref(), Some("alice"));
    assert!(
        st.approval_message
            .as_deref()
            .unwrap()
            .contains("approved by alice"),
        "{st:?}"
    );
}

#[test]
fn auto_approval_only_for_low_risk() {
    let d = deployment(2);
    let low = plan(vec![scale_up("a1", 4)], "Low");
    let s = step(&low, Some(&policy("AutoLowRisk")), Some(&d));
    assert!(
        matches!(&s, Step::Approve { auto: true, by: Some(b), .. } if b == AUTO_APPROVER),
        "{s:?}"
    );
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
            previous: Box::new(PreviousState {
                replicas: Some(2),
                ..Default::default()
            })
        }
    );
    advance(&mut rp, &s);
    assert_eq!(action_statuses(&rp)[0], ExecutionStatus::Running);
    assert_eq!(step(&rp, Some(&policy), Some(&d)), Step::Apply { index: 0 });
    d.spec.replicas = Some(4); // the scale patch went through
    changed(&mut d);
    // It counts once its rollout is complete.
    let s = step(&rp, Some(&policy), Some(&d));
    assert!(
        matches!(
            s,
            Step::Wait {
                kind: WaitKind::Rollout,
                requeue: Some(ROLLOUT_REQUEUE),
                ..
            }
        ),
        "{s:?}"
    );
    rolled_out(&mut d);
    let s = step(&rp, Some(&policy), Some(&d));
    assert!(matches!(s, Step::MarkSucceeded { index: 0, .. }), "{s:?}");
    advance(&mut rp, &s);

    // a2: a restart; no annotation before, and the value it will write.
    let s = step(&rp, Some(&policy), Some(&d));
    assert_eq!(
        s,
        Step::WriteAhead {
            index: 1,
            previous: Box::new(PreviousState {
                restarted_to: Some("2024-05-01T10:00:00Z".into()),
                ..PreviousState::default()
            })
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
            crate::controllers::executor::patch::RESTARTED_AT_ANNOTATION.to_string(),
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
    changed(&mut d);
    rolled_out(&mut d);
    let s = step(&rp, Some(&policy), Some(&d));
    let Step::MarkSucceeded { result, .. } = &s else {
        panic!("{s:?}")
    };
    assert!(
        result.contains("from 2 to 3 replicas") && result.contains("3 of 3 replicas available"),
        "{result}"
    );
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

/// `d` with `MODE` of container `app` set to `value`.
fn with_mode(d: &Deployment, value: &str) -> Deployment {
    let mut d = d.clone();
    d.spec.template.spec.as_mut().unwrap().containers[0]
        .env
        .as_mut()
        .unwrap()[0]
        .value = Some(value.into());
    changed(&mut d);
    d
}

#[test]
fn a_stalled_rollout_fails_the_action_and_its_own_change_is_undone_first() {
    let mut rp = approved(vec![scale_up("a1", 3), set_mode("a2", "degraded")]);
    let policy = policy("Manual");
    let mut d = deployment(2);
    // Approve, start, a1 written ahead; a1 applied and rolled out.
    for _ in 0..3 {
        let s = step(&rp, Some(&policy), Some(&d));
        advance(&mut rp, &s);
    }
    d.spec.replicas = Some(3);
    changed(&mut d);
    rolled_out(&mut d);
    let s = step(&rp, Some(&policy), Some(&d));
    assert!(matches!(s, Step::MarkSucceeded { index: 0, .. }), "{s:?}");
    advance(&mut rp, &s);
    // a2 written ahead and applied; its new pods never become Ready.
    let s = step(&rp, Some(&policy), Some(&d));
    assert!(matches!(s, Step::WriteAhead { index: 1, .. }), "{s:?}");
    advance(&mut rp, &s);
    let mut bad = with_mode(&d, "degraded");
    bad.status = Some(
        serde_json::from_value(serde_json::json!({
            "observedGeneration": bad.metadata.generation, "replicas": 4,
            "updatedReplicas": 1, "availableReplicas": 3
        }))
        .unwrap(),
    );
    let s = step(&rp, Some(&policy), Some(&bad));
    assert!(
        matches!(&s, Step::Wait { kind: WaitKind::Rollout, message, .. } if message.contains("1 of 3 replicas updated")),
        "{s:?}"
    );
    // The Deployment controller gives up after progressDeadlineSeconds.
    let conditions = serde_json::json!([{ "type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": "ReplicaSet \"web-2\" has timed out progressing." }]);
    bad.status.as_mut().unwrap().conditions = Some(serde_json::from_value(conditions).unwrap());
    let s = step(&rp, Some(&policy), Some(&bad));
    let Step::FailAction { index: 1, error } = &s else {
        panic!("{s:?}")
    };
    assert!(error.contains("ProgressDeadlineExceeded"), "{error}");
    advance(&mut rp, &s);
    // a2's own change is undone first, then waited on.
    assert_eq!(
        step(&rp, Some(&policy), Some(&bad)),
        Step::RollBack { index: 1 }
    );
    let mut back = with_mode(&bad, "normal");
    let s = step(&rp, Some(&policy), Some(&back));
    assert!(
        matches!(&s, Step::Wait { kind: WaitKind::Rollout, message, .. } if message.contains("rolling back action a2")),
        "{s:?}"
    );
    rolled_out(&mut back);
    // Then a1, last first.
    assert_eq!(
        step(&rp, Some(&policy), Some(&back)),
        Step::RollBack { index: 0 }
    );
    back.spec.replicas = Some(2);
    changed(&mut back);
    let s = step(&rp, Some(&policy), Some(&back));
    assert!(
        matches!(
            s,
            Step::Wait {
                kind: WaitKind::Rollout,
                ..
            }
        ),
        "{s:?}"
    );
    rolled_out(&mut back);
    let s = step(&rp, Some(&policy), Some(&back));
    let Step::MarkRolledBack { index: 0, result } = &s else {
        panic!("{s:?}")
    };
    assert!(result.contains("scaled back to 2 replicas"), "{result}");
    advance(&mut rp, &s);
    let s = step(&rp, Some(&policy), Some(&back));
    assert_eq!(
        s,
        Step::Finish {
            phase: ExecutionPhase::RolledBack,
            error: None
        }
    );
    advance(&mut rp, &s);
    assert_eq!(
        action_statuses(&rp),
        [ExecutionStatus::RolledBack, ExecutionStatus::Failed]
    );
}

#[test]
fn a_rollout_no_controller_reports_on_fails_after_the_executors_own_deadline() {
    let mut rp = approved(vec![set_mode("a1", "degraded")]);
    let policy = policy("Manual");
    let d = deployment(2);
    for _ in 0..3 {
        let s = step(&rp, Some(&policy), Some(&d));
        advance(&mut rp, &s);
    }
    let applied = with_mode(&d, "degraded"); // never observed
    let written = NOW; // write-ahead time in `advance`
    let at = |ms: i64| {
        next_step(&Observed {
            plan: &rp,
            policy: Some(&policy),
            deployment: Some(&applied),
            replica_sets: &[],
            hpas: &[],
            now: written + ms,
        })
    };
    // Default progress deadline 600 s: the executor waits 1200 s.
    assert!(matches!(
        at(1_200_000),
        Step::Wait {
            kind: WaitKind::Rollout,
            ..
        }
    ));
    let Step::FailAction { index: 0, error } = at(1_200_001) else {
        panic!("{:?}", at(1_200_001))
    };
    assert!(
        error.contains("no complete rollout 1200s after the change"),
        "{error}"
    );
}

/// A ReplicaSet of `d` (revision `revision`) whose container `app` runs `MODE=mode`.
fn replica_set(d: &Deployment, revision: i64, mode: &str) -> ReplicaSet {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": format!("web-{revision}"), "namespace": "default",
            "creationTimestamp": "2024-05-01T09:00:00Z",
            "annotations": { revisions::REVISION_ANNOTATION: revision.to_string() },
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment",
                                  "name": "web", "uid": d.metadata.uid.clone().unwrap() }]
        },
        "spec": {
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web", "pod-template-hash": format!("h{revision}") } },
                "spec": { "containers": [
                    { "name": "app", "image": "web:1", "env": [ { "name": "MODE", "value": mode } ] }
                ] }
            }
        }
    }))
    .unwrap()
}

#[test]
fn a_rollback_records_both_templates_sets_the_earlier_one_and_undoes_to_the_later() {
    let mut policy = policy("Manual");
    policy
        .spec
        .remediation
        .envelope
        .allowed_actions
        .push(ActionType::RollbackRevision);
    let rollback = serde_json::json!({ "id": "a1", "actionType": "ROLLBACK_REVISION",
        "target": "web", "revision": 1, "priority": "High", "estimatedLatencySeconds": 60 });
    let mut rp = approved(vec![rollback]);
    let mut d = deployment(2);
    d.metadata.uid = Some("uid-web".into());
    d.metadata.annotations = Some([(revisions::REVISION_ANNOTATION.into(), "2".into())].into());
    d.spec.template.spec.as_mut().unwrap().containers[0].env =
        Some(vec![k8s_openapi::api::core::v1::EnvVar {
            name: "MODE".into(),
            value: Some("broken".into()),
            ..Default::default()
        }]);
    let sets = [replica_set(&d, 1, "normal"), replica_set(&d, 2, "broken")];
    let at = |rp: &RemediationPolicy, d: &Deployment, sets: &[ReplicaSet]| {
        next_step(&Observed {
            plan: rp,
            policy: Some(&policy),
            deployment: Some(d),
            replica_sets: sets,
            hpas: &[],
            now: NOW,
        })
    };
    for expected in ["Approve", "Start"] {
        let s = at(&rp, &d, &sets);
        assert!(format!("{s:?}").starts_with(expected), "{s:?}");
        advance(&mut rp, &s);
    }

    // Without the earlier revision's ReplicaSet there is nothing to roll back to.
    let s = at(&rp, &d, &sets[1..]);
    let Step::FailAction { index: 0, error } = &s else {
        panic!("{s:?}")
    };
    assert!(
        error.contains("revision 1 of Deployment \"web\" not found"),
        "{error}"
    );

    let s = at(&rp, &d, &sets);
    let Step::WriteAhead { index: 0, previous } = &s else {
        panic!("{s:?}")
    };
    let recorded = previous.template.clone().unwrap();
    assert_eq!(recorded.revision, Some(2));
    assert_eq!(recorded.before, revisions::template_of(&d));
    assert_eq!(
        recorded.after.pointer("/spec/containers/0/env/0/value"),
        Some(&serde_json::json!("normal"))
    );
    assert!(
        recorded
            .after
            .pointer("/metadata/labels/pod-template-hash")
            .is_none()
    );
    advance(&mut rp, &s);
    assert_eq!(at(&rp, &d, &[]), Step::Apply { index: 0 });

    // The patch went through: the template is revision 1's; once rolled out the
    // action succeeded.
    d.spec.template = serde_json::from_value(recorded.after.clone()).unwrap();
    changed(&mut d);
    rolled_out(&mut d);
    let s = at(&rp, &d, &[]);
    let Step::MarkSucceeded { index: 0, result } = &s else {
        panic!("{s:?}")
    };
    assert!(
        result.starts_with(
            "ROLLBACK_REVISION: rolled Deployment web back from revision 2 to the pod template of revision 1"
        ),
        "{result}"
    );

    // Undone: restored means the template before, and nothing else.
    let action = &rp.spec.plan.actions[0];
    let before: Deployment = {
        let mut b = d.clone();
        b.spec.template = serde_json::from_value(recorded.before.clone()).unwrap();
        b
    };
    assert_eq!(restored(action, previous, &d, &[]), Ok(false));
    assert_eq!(restored(action, previous, &before, &[]), Ok(true));
    assert_eq!(effect_visible(action, previous, &before, &[]), Ok(false));
    assert_eq!(
        describe_undo(action, previous),
        "restored the pod template of revision 2"
    );
}

#[test]
fn a_scale_up_through_an_hpa_records_and_raises_its_min_replicas_and_undoes_to_the_earlier() {
    use crate::controllers::hpa::tests::hpa;
    let policy = policy("Manual");
    let mut rp = approved(vec![scale_up("a1", 4)]);
    let mut d = deployment(2);
    let mut hpas = vec![
        hpa("web", "Deployment/web", Some(2), 6),
        hpa("cart", "Deployment/cart", Some(1), 3),
    ];
    let at = |rp: &RemediationPolicy, d: &Deployment, hpas: &[HorizontalPodAutoscaler], now| {
        next_step(&Observed {
            plan: rp,
            policy: Some(&policy),
            deployment: Some(d),
            replica_sets: &[],
            hpas,
            now,
        })
    };
    for expected in ["Approve", "Start"] {
        let s = at(&rp, &d, &hpas, NOW);
        assert!(format!("{s:?}").starts_with(expected), "{s:?}");
        advance(&mut rp, &s);
    }
    // Write-ahead: the HPA and its minReplicas before are recorded beside the
    // replicas; the action will set minReplicas 4.
    let s = at(&rp, &d, &hpas, NOW);
    let Step::WriteAhead { index: 0, previous } = &s else {
        panic!("{s:?}")
    };
    assert_eq!(previous.replicas, Some(2));
    assert_eq!(
        previous.hpa,
        Some(PreviousHpa {
            name: "web".into(),
            min_replicas: Some(2),
            set: 4
        })
    );
    advance(&mut rp, &s);
    assert_eq!(at(&rp, &d, &hpas, NOW), Step::Apply { index: 0 });

    // The HPA's minReplicas is 4, the Deployment not scaled yet: wait for the
    // HPA controller.
    hpas[0].spec.min_replicas = Some(4);
    let s = at(&rp, &d, &hpas, NOW);
    let Step::Wait {
        kind: WaitKind::Rollout,
        message,
        ..
    } = &s
    else {
        panic!("{s:?}")
    };
    assert!(
        message.contains("HorizontalPodAutoscaler web to scale"),
        "{message}"
    );
    // The HPA controller scaled it (spec.replicas 4) and it rolled out.
    d.spec.replicas = Some(4);
    changed(&mut d);
    rolled_out(&mut d);
    let s = at(&rp, &d, &hpas, NOW);
    let Step::MarkSucceeded { index: 0, result } = &s else {
        panic!("{s:?}")
    };
    assert!(
        result.starts_with("SCALE_UP: set HorizontalPodAutoscaler web's minReplicas from 2 to 4"),
        "{result}"
    );

    // Undone: restored means minReplicas back to 2, whatever spec.replicas is.
    let action = &rp.spec.plan.actions[0];
    assert_eq!(restored(action, previous, &d, &hpas), Ok(false));
    let mut before = hpas.clone();
    before[0].spec.min_replicas = Some(2);
    assert_eq!(restored(action, previous, &d, &before), Ok(true));
    assert_eq!(effect_visible(action, previous, &d, &before), Ok(false));
    assert_eq!(
        describe_undo(action, previous),
        "restored HorizontalPodAutoscaler web's minReplicas to 2"
    );
    // The HPA gone: the undo cannot tell, and says so.
    assert_eq!(
        restored(action, previous, &d, &[]),
        Err("HorizontalPodAutoscaler web not found".into())
    );
}

#[test]
fn a_scale_on_an_hpa_target_is_refused_when_the_policy_or_the_hpa_says_so() {
    use crate::controllers::hpa::tests::hpa;
    let d = deployment(2);
    let up =
        |replicas| serde_json::from_value::<RemediationAction>(scale_up("a1", replicas)).unwrap();
    let hpas = [hpa("web", "Deployment/web", Some(2), 3)];
    let e = previous_state(&up(3), &d, &[], &hpas, HpaMode::Refuse, 0).unwrap_err();
    assert!(e.contains("the policy's hpa is Refuse"), "{e}");
    let e = previous_state(&up(4), &d, &[], &hpas, HpaMode::RaiseMinReplicas, 0).unwrap_err();
    assert!(e.contains("above the maxReplicas 3"), "{e}");
    let two = [hpas[0].clone(), hpa("web-b", "Deployment/web", None, 5)];
    let e = previous_state(&up(3), &d, &[], &two, HpaMode::RaiseMinReplicas, 0).unwrap_err();
    assert!(e.contains("(web, web-b)"), "{e}");
    // No HPA: spec.replicas, as before.
    let plain = previous_state(&up(3), &d, &[], &[], HpaMode::Refuse, 0).unwrap();
    assert_eq!((plain.replicas, plain.hpa), (Some(2), None));
    // A scale-down lowers minReplicas, never below 1.
    let down: RemediationAction = serde_json::from_value(serde_json::json!({
        "id": "a1", "actionType": "SCALE_DOWN", "target": "web", "replicas": 1,
        "priority": "Low", "estimatedLatencySeconds": 30 }))
    .unwrap();
    let p = previous_state(&down, &d, &[], &hpas, HpaMode::RaiseMinReplicas, 0).unwrap();
    assert_eq!(p.hpa.map(|h| (h.min_replicas, h.set)), Some((Some(2), 1)));
}

#[test]
fn a_plan_scaling_an_hpa_target_under_refuse_fails_validation_and_patches_nothing() {
    use crate::controllers::hpa::tests::hpa;
    let mut policy = policy("Manual");
    policy.spec.remediation.hpa = HpaMode::Refuse;
    let mut rp = approved(vec![scale_up("a1", 3)]);
    let d = deployment(2);
    let hpas = [hpa("web", "Deployment/web", Some(2), 6)];
    let at = |rp: &RemediationPolicy| {
        next_step(&Observed {
            plan: rp,
            policy: Some(&policy),
            deployment: Some(&d),
            replica_sets: &[],
            hpas: &hpas,
            now: NOW,
        })
    };
    let s = at(&rp);
    assert!(matches!(s, Step::Approve { .. }), "{s:?}");
    advance(&mut rp, &s);
    let Step::Fail { error } = at(&rp) else {
        panic!("{:?}", at(&rp))
    };
    assert!(
        error.contains("action a1 (SCALE_UP): HorizontalPodAutoscaler web scales Deployment web and the policy's hpa is Refuse"),
        "{error}"
    );
}

#[test]
fn a_plan_waiting_for_a_human_is_decided_without_its_deployment() {
    let manual = policy("Manual");
    let auto = policy("AutoLowRisk");
    let d = deployment(2);
    let mut rejected = plan(vec![scale_up("a1", 4)], "Low");
    annotate(&mut rejected, REJECT_ANNOTATION, "not now");
    let waiting = [
        (plan(vec![scale_up("a1", 4)], "Low"), &manual),
        (plan(vec![restart("a1")], "Medium"), &auto),
        (rejected, &manual),
    ];
    for (rp, p) in &waiting {
        assert!(!needs_deployment(rp, None));
        assert!(!needs_deployment(rp, Some(p)));
        // The step is the same whether the Deployment was read or not.
        let with = format!("{:?}", step(rp, Some(p), Some(&d)));
        assert_eq!(format!("{:?}", step(rp, Some(p), None)), with);
    }
    // An approval, or a policy that approves the plan itself, needs it.
    let low = plan(vec![scale_up("a1", 4)], "Low");
    assert!(!needs_deployment(&low, None));
    assert!(needs_deployment(&low, Some(&auto)));
    assert!(needs_deployment(&approved(vec![scale_up("a1", 4)]), None));
    let mut started = approved(vec![scale_up("a1", 4)]);
    let approve = step(&started, Some(&manual), Some(&d));
    advance(&mut started, &approve);
    assert!(needs_deployment(&started, None));
}
