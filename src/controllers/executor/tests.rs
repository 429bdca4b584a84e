//! Request-sequence tests: the scripted API server of
//! [`crate::controllers::testing`] answers the executor, and each test checks
//! the exact requests it received.

use serde_json::json;

use super::*;
use crate::controllers::Settings;
use crate::controllers::executor::decide::fixtures::*;
use crate::controllers::testing::*;
use mapek_api::{APPROVE_ANNOTATION, ExecutionPhase, ExecutionStatus, RESTARTED_AT_ANNOTATION};

const NS: &str = "/apis/mapek.io/v1alpha1/namespaces/default";
const RP: &str = "/apis/mapek.io/v1alpha1/namespaces/default/remediationpolicies/fix-web";
const RP_STATUS: &str =
    "/apis/mapek.io/v1alpha1/namespaces/default/remediationpolicies/fix-web/status";
const VP: &str = "/apis/mapek.io/v1alpha1/namespaces/default/violationpolicies/web-latency";
const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/web";
const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";

/// The guarded scale patch from `from` to `to` replicas.
fn scale_ops(from: i32, to: i32) -> Value {
    json!([
        {"op": "test", "path": "/spec/replicas", "value": from},
        {"op": "replace", "path": "/spec/replicas", "value": to}
    ])
}

impl Server {
    /// The plan, its policy and its Deployment.
    fn new(rp: &RemediationPolicy, deployment: &Deployment) -> Server {
        let mut s = Server::empty();
        s.insert(RP, rp);
        s.insert(VP, &policy("Manual"));
        s.insert(DEPLOY, deployment);
        s
    }
}

/// Runs one reconcile against the server; returns its result and the server.
async fn reconcile_once(rp: &RemediationPolicy, server: Server) -> (Result<Action, Error>, Server) {
    reconcile_with(rp, server, Arc::new(ExecutionLimits::new(4))).await
}

async fn reconcile_with(
    rp: &RemediationPolicy,
    server: Server,
    limits: Arc<ExecutionLimits>,
) -> (Result<Action, Error>, Server) {
    let harness = Harness::with(server, 1_714_557_600_000, Settings::default(), limits);
    let result = reconcile(Arc::new(rp.clone()), harness.ctx.clone()).await;
    (result, harness.finish().await)
}

/// The status the executor wrote with its `n`th status patch (0-based), as
/// stored after that patch: replays the merge patches.
fn status_after(server: &Server, n: usize) -> Value {
    let mut status = json!({});
    for s in requests(server, "PATCH", RP_STATUS).into_iter().take(n + 1) {
        json_patch::merge(&mut status, &s.body["status"]);
    }
    status
}

/// The requests the server saw up to and including the first Deployment patch.
fn until_the_deployment_patch(server: &Server) -> Vec<String> {
    let mut all = lines(server, false);
    let patch = all
        .iter()
        .position(|l| l == &format!("PATCH {DEPLOY}"))
        .expect("a Deployment patch");
    all.truncate(patch + 1);
    all
}

#[tokio::test]
async fn a_wrong_hash_patches_nothing_and_says_why() {
    let mut rp = plan(vec![scale_up("a1", 4)], "Medium");
    annotate(&mut rp, APPROVE_ANNOTATION, "0123456789abcdef");
    let server = Server::new(&rp, &deployment(2));
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(matches!(result, Ok(a) if a == Action::await_change()));
    assert_eq!(
        lines(&server, false),
        [
            format!("GET {VP}"),
            format!("GET {DEPLOY}"),
            // Read up front because an approval is there.
            format!("GET {NS}/remediationpolicies"),
            // A scale action goes through an HPA if one targets the Deployment.
            format!("GET {HPAS}"),
            format!("PATCH {RP_STATUS}"),
            "EVENT Warning ApprovalRefused".to_string(),
        ]
    );
    let status = &server.seen[4].body["status"];
    assert_eq!(status["approval"], "Pending");
    assert_eq!(status["phase"], "Pending");
    let message = status["approvalMessage"].as_str().unwrap();
    assert!(
        message.contains("0123456789abcdef") && message.contains("does not match"),
        "{message}"
    );
    let event = &server.seen[5].body;
    assert!(event["note"].as_str().unwrap().contains("does not match"));
    assert_eq!(event["regarding"]["name"], "fix-web");
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(d.spec.replicas, Some(2));
}

#[tokio::test]
async fn a_failed_second_action_rolls_back_the_first() {
    let rp = approved(vec![scale_up("a1", 4), set_mode("a2", "degraded")]);
    let mut server = Server::new(&rp, &deployment(2));
    server.faults.push(Fault {
        method: "PATCH",
        path: DEPLOY,
        nth: 2,
        code: 403,
        meanwhile: None,
    });
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_ok(), "{result:?}");
    let status_patch = format!("PATCH {RP_STATUS}");
    assert_eq!(
        lines(&server, true),
        [
            status_patch.as_str(),      // approved, started, a1 written ahead
            &format!("PATCH {DEPLOY}"), // a1 scaled
            "EVENT Normal Approved",
            "EVENT Normal ActionStarted",
            &status_patch,              // a1 succeeded, a2 written ahead
            &format!("PATCH {DEPLOY}"), // answered 403
            "EVENT Normal ActionSucceeded",
            "EVENT Normal ActionStarted",
            &status_patch,              // a2 failed
            &format!("PATCH {DEPLOY}"), // a1 rolled back
            "EVENT Warning ActionFailed",
            &status_patch, // a1 rolled back, the execution rolled back
            "EVENT Normal ActionRolledBack",
            "EVENT Warning RolledBack",
        ]
    );
    let patches = requests(&server, "PATCH", DEPLOY);
    assert_eq!(patches[0].body, scale_ops(2, 4));
    assert_eq!(patches[0].content_type, "application/json-patch+json");
    assert_eq!(patches[2].body, scale_ops(4, 2));
    // Write-ahead: a1 was Running with its previous replicas before the scale.
    let before_scale = status_after(&server, 0);
    assert_eq!(before_scale["execution"]["actions"][0]["status"], "Running");
    assert_eq!(
        before_scale["execution"]["actions"][0]["previous"]["replicas"],
        2
    );

    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::RolledBack);
    let exec = status.execution.unwrap();
    let states: Vec<_> = exec.actions.iter().map(|a| a.status).collect();
    assert_eq!(
        states,
        [ExecutionStatus::RolledBack, ExecutionStatus::Failed]
    );
    let error = exec.error.unwrap();
    assert!(error.contains("a2") && error.contains("403"), "{error}");
    assert_eq!(exec.success_rate, Some(0.0));
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(d.spec.replicas, Some(2));
    assert_eq!(
        crate::controllers::executor::patch::config_value(
            &d,
            &SettingRef {
                name: "MODE".into(),
                target: mapek_engine::model::ConfigTarget::Env,
                container: Some("app".into())
            }
        )
        .unwrap()
        .as_deref(),
        Some("normal")
    );
}

/// Whether container `app`'s `MODE` is `degraded` (the setting whose pods never
/// become Ready in the test below).
fn degraded(d: &Value) -> bool {
    d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .is_some_and(|env| {
            env.iter()
                .any(|v| v["name"] == "MODE" && v["value"] == "degraded")
        })
}

#[tokio::test]
async fn a_change_whose_rollout_stalls_is_undone_and_waited_on() {
    let rp = approved(vec![set_mode("a1", "degraded")]);
    let mut server = Server::new(&rp, &deployment(2));
    server.stalls = Some(degraded);
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_ok(), "{result:?}");
    let status_patch = format!("PATCH {RP_STATUS}");
    assert_eq!(
        lines(&server, true),
        [
            status_patch.as_str(),      // approved, started, a1 written ahead
            &format!("PATCH {DEPLOY}"), // MODE=degraded: its rollout stalls
            "EVENT Normal Approved",
            "EVENT Normal ActionStarted",
            &status_patch,              // a1 failed
            &format!("PATCH {DEPLOY}"), // MODE=normal again
            "EVENT Warning ActionFailed",
            &status_patch, // the execution rolled back, once that rollout completed
            "EVENT Warning RolledBack",
        ]
    );
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::RolledBack);
    let exec = status.execution.unwrap();
    assert_eq!(exec.actions[0].status, ExecutionStatus::Failed);
    let error = exec.error.unwrap();
    assert!(
        error.contains("a1") && error.contains("ProgressDeadlineExceeded"),
        "{error}"
    );
    let d: Deployment = stored(&server, DEPLOY);
    assert!(!degraded(&serde_json::to_value(&d).unwrap()));
}

#[tokio::test]
async fn a_rollout_under_way_is_waited_on_across_reconciles() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let mut server = Server::new(&rp, &deployment(2));
    server.deployment_controller = false;
    let (result, mut server) = reconcile_once(&rp, server).await;
    assert_eq!(
        result.unwrap(),
        Action::requeue(crate::controllers::executor::decide::ROLLOUT_REQUEUE)
    );
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.clone().unwrap();
    assert_eq!(
        status.execution.unwrap().actions[0].status,
        ExecutionStatus::Running
    );
    let waiting = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(waiting.reason, "WaitingForRollout");
    assert!(
        waiting.message.contains("2 of 4 replicas updated"),
        "{}",
        waiting.message
    );
    // The controller catches up: the next look marks the action and finishes,
    // with no second patch.
    let mut d: Deployment = stored(&server, DEPLOY);
    rolled_out(&mut d);
    server.insert(DEPLOY, &d);
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests(&server, "PATCH", DEPLOY).len(), 1);
    let rp: RemediationPolicy = stored(&server, RP);
    assert_eq!(rp.status.unwrap().phase, ExecutionPhase::Completed);
}

/// The plan as a crash left it: approved, a1 (scale 2 -> 4) Running with its
/// previous state written, a2 Pending.
fn interrupted() -> RemediationPolicy {
    let mut rp = approved(vec![scale_up("a1", 4), set_mode("a2", "degraded")]);
    rp.status = Some(
        serde_json::from_value(json!({
            "approval": "Approved",
            "approvedHash": rp.spec.plan.plan_hash,
            "phase": "InProgress",
            "execution": { "actions": [
                { "actionId": "a1", "actionType": "SCALE_UP", "status": "Running",
                  "previous": { "replicas": 2 } },
                { "actionId": "a2", "actionType": "UPDATE_CONFIGURATION", "status": "Pending" }
            ] }
        }))
        .unwrap(),
    );
    rp
}

#[tokio::test]
async fn a_restart_after_write_ahead_does_not_repeat_an_applied_action() {
    let rp = interrupted();
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &deployment(4))).await;
    assert!(result.is_ok(), "{result:?}");
    let status_patch = format!("PATCH {RP_STATUS}");
    assert_eq!(
        lines(&server, true),
        [
            status_patch.as_str(), // a1 found applied, a2 written ahead
            &format!("PATCH {DEPLOY}"),
            "EVENT Normal ActionSucceeded",
            "EVENT Normal ActionStarted",
            &status_patch, // a2 succeeded, completed
            "EVENT Normal ActionSucceeded",
            "EVENT Normal Completed",
        ]
    );
    let patches = requests(&server, "PATCH", DEPLOY);
    assert_eq!(patches.len(), 1, "only a2's config patch");
    assert!(!patches[0].body.to_string().contains("/spec/replicas"));
    let first = &server
        .seen
        .iter()
        .find(|s| s.path == RP_STATUS)
        .unwrap()
        .body;
    assert_eq!(
        first["status"]["execution"]["actions"][0]["status"],
        "Succeeded"
    );
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::Completed);
    assert_eq!(status.execution.unwrap().success_rate, Some(1.0));
}

#[tokio::test]
async fn a_restart_after_write_ahead_applies_an_unapplied_action_once() {
    let rp = interrupted();
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &deployment(2))).await;
    assert!(result.is_ok(), "{result:?}");
    let patches = requests(&server, "PATCH", DEPLOY);
    assert_eq!(patches.len(), 2, "a1's scale, then a2's config");
    assert_eq!(patches[0].body, scale_ops(2, 4));
    let rp: RemediationPolicy = stored(&server, RP);
    assert_eq!(rp.status.unwrap().phase, ExecutionPhase::Completed);
}

#[tokio::test]
async fn an_approved_scale_reaches_the_deployment_after_four_reads_and_one_write() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &deployment(2))).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        until_the_deployment_patch(&server),
        [
            // Sent together.
            format!("GET {VP}"),
            format!("GET {DEPLOY}"),
            format!("GET {NS}/remediationpolicies"), // the other plans on the target
            format!("GET {HPAS}"),                   // none targets it: spec.replicas
            // Approved, started and written ahead: durable before the patch.
            format!("PATCH {RP_STATUS}"),
            format!("PATCH {DEPLOY}"),
        ]
    );
    let written = status_after(&server, 0);
    assert_eq!(written["approval"], "Approved");
    assert_eq!(written["execution"]["actions"][0]["status"], "Running");
    assert_eq!(
        written["execution"]["actions"][0]["previous"]["replicas"],
        2
    );
    let rp: RemediationPolicy = stored(&server, RP);
    assert_eq!(rp.status.unwrap().phase, ExecutionPhase::Completed);
}

#[tokio::test]
async fn a_replica_whose_leadership_lapsed_writes_nothing() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let limits = Arc::new(ExecutionLimits::new(4));
    let server = Server::new(&rp, &deployment(2));
    let harness = Harness::with(server, 1_714_557_600_000, Settings::default(), limits);
    harness.ctx.leadership.end();
    let result = reconcile(Arc::new(rp.clone()), harness.ctx.clone()).await;
    let server = harness.finish().await;
    assert!(result.is_err(), "{result:?}");
    let writes: Vec<String> = lines(&server, false)
        .into_iter()
        .filter(|l| !l.starts_with("GET "))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn a_plan_without_its_policy_waits_and_says_so_once() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let mut server = Server::new(&rp, &deployment(2));
    server.objects.remove(VP);
    let (result, server) = reconcile_once(&rp, server).await;
    assert_eq!(result.unwrap(), Action::requeue(decide::POLICY_REQUEUE));
    assert_eq!(
        lines(&server, true),
        [
            format!("PATCH {RP_STATUS}"),
            "EVENT Warning PolicyNotFound".to_string()
        ]
    );
    // The next look finds the same wait: no write, no second Event.
    let rp: RemediationPolicy = stored(&server, RP);
    let (_, server) = reconcile_once(&rp, server).await;
    assert_eq!(lines(&server, true).len(), 2);
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
}

#[tokio::test]
async fn a_server_error_on_a_patch_is_retried_not_failed() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let mut server = Server::new(&rp, &deployment(2));
    server.faults.push(Fault {
        method: "PATCH",
        path: DEPLOY,
        nth: 1,
        code: 503,
        meanwhile: None,
    });
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_err(), "a 503 is retried by the error policy");
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.clone().unwrap();
    assert_eq!(status.phase, ExecutionPhase::InProgress);
    let exec = status.execution.unwrap();
    assert_eq!(exec.actions[0].status, ExecutionStatus::Running);
    // The retry finds the action unapplied and applies it, once.
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_ok(), "{result:?}");
    let patches = requests(&server, "PATCH", DEPLOY);
    assert_eq!(patches.iter().filter(|p| p.code == 200).count(), 1);
    let rp: RemediationPolicy = stored(&server, RP);
    assert_eq!(rp.status.unwrap().phase, ExecutionPhase::Completed);
}

#[tokio::test]
async fn a_replica_count_changed_since_the_write_ahead_is_not_overwritten() {
    // a1 was written ahead at 2 replicas; another writer set 3 since.
    let rp = interrupted();
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &deployment(3))).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(d.spec.replicas, Some(3));
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    // Nothing had finished, so nothing to roll back.
    assert_eq!(status.phase, ExecutionPhase::RolledBack);
    let error = status.execution.unwrap().error.unwrap();
    assert!(error.contains("another writer"), "{error}");
}

#[tokio::test]
async fn a_replica_count_changed_between_read_and_patch_is_not_overwritten() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let mut server = Server::new(&rp, &deployment(2));
    // While the scale patch is in flight, another writer sets 3 replicas: the
    // patch is refused as a conflict, and the fresh read shows the other count.
    server.faults.push(Fault {
        method: "PATCH",
        path: DEPLOY,
        nth: 1,
        code: 409,
        meanwhile: Some(Box::new(|objects| {
            objects.get_mut(DEPLOY).unwrap()["spec"]["replicas"] = json!(3);
        })),
    });
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests(&server, "PATCH", DEPLOY).len(), 1);
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(d.spec.replicas, Some(3));
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::RolledBack);
    let exec = status.execution.unwrap();
    assert_eq!(exec.actions[0].status, ExecutionStatus::Failed);
    let error = exec.error.unwrap();
    assert!(error.contains("3 replicas, not the 2"), "{error}");
}

#[tokio::test]
async fn a_rollback_does_not_overwrite_a_count_another_writer_set() {
    // a1 scaled 2 -> 4 and a2 failed; since then another writer set 5.
    let mut rp = interrupted();
    let status = rp.status.as_mut().unwrap();
    let exec = status.execution.as_mut().unwrap();
    exec.actions[0].status = ExecutionStatus::Succeeded;
    exec.actions[1].status = ExecutionStatus::Failed;
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &deployment(5))).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::Failed);
    let error = status.execution.unwrap().error.unwrap();
    assert!(error.contains("rolling back action a1 failed"), "{error}");
    assert!(error.contains("another writer"), "{error}");
}

#[tokio::test]
async fn a_setting_changed_since_the_write_ahead_is_not_overwritten() {
    let mut rp = approved(vec![set_mode("a1", "degraded")]);
    rp.status = Some(
        serde_json::from_value(json!({
            "approval": "Approved",
            "approvedHash": rp.spec.plan.plan_hash,
            "phase": "InProgress",
            "execution": { "actions": [
                { "actionId": "a1", "actionType": "UPDATE_CONFIGURATION", "status": "Running",
                  "previous": { "config": { "name": "MODE", "target": "Env",
                                            "container": "app", "value": "safe" } } }
            ] }
        }))
        .unwrap(),
    );
    // The live value is "normal", not the "safe" recorded before the patch.
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &deployment(2))).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let rp: RemediationPolicy = stored(&server, RP);
    let error = rp.status.unwrap().execution.unwrap().error.unwrap();
    assert!(
        error.contains("MODE is \"normal\", not the \"safe\""),
        "{error}"
    );
}

#[tokio::test]
async fn scale_beyond_the_bounds_is_refused_without_a_patch() {
    let rp = approved(vec![scale_up("a1", 7)]);
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &deployment(5))).await;
    assert!(result.is_ok(), "{result:?}");
    let status_patch = format!("PATCH {RP_STATUS}");
    assert_eq!(
        lines(&server, true),
        [
            status_patch.as_str(), // approved and failed, in one write
            "EVENT Normal Approved",
            "EVENT Warning Failed",
        ]
    );
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::Failed);
    let error = status.execution.unwrap().error.unwrap();
    assert!(
        error.contains("outside the policy's bounds [1, 6]"),
        "{error}"
    );
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(d.spec.replicas, Some(5));
}

#[tokio::test]
async fn a_conflicting_config_patch_is_recomputed_from_a_fresh_read() {
    let rp = approved(vec![set_mode("a1", "degraded")]);
    let mut server = Server::new(&rp, &deployment(2));
    // While the first patch is in flight, someone adds an env var in front of
    // MODE: the first patch's paths are stale, and the server answers 409.
    server.faults.push(Fault {
        method: "PATCH",
        path: DEPLOY,
        nth: 1,
        code: 409,
        meanwhile: Some(Box::new(|objects| {
            let env = objects
                .get_mut(DEPLOY)
                .unwrap()
                .pointer_mut("/spec/template/spec/containers/0/env")
                .unwrap()
                .as_array_mut()
                .unwrap();
            env.insert(0, json!({"name": "OTHER", "value": "x"}));
        })),
    });
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_ok(), "{result:?}");
    let all = lines(&server, false);
    let first = all
        .iter()
        .position(|l| l == &format!("PATCH {DEPLOY}"))
        .unwrap();
    assert_eq!(
        all[first..first + 3],
        [
            format!("PATCH {DEPLOY}"),
            format!("GET {DEPLOY}"),
            format!("PATCH {DEPLOY}"),
        ]
    );
    let patches = requests(&server, "PATCH", DEPLOY);
    assert_eq!(patches.len(), 2);
    assert_eq!(patches[0].code, 409);
    assert_eq!(patches[1].code, 200);
    assert_eq!(patches[1].content_type, "application/json-patch+json");
    assert_eq!(
        patches[1].body,
        json!([
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
            {"op": "test", "path": "/spec/template/spec/containers/0/env/1",
             "value": {"name": "MODE", "value": "normal"}},
            {"op": "replace", "path": "/spec/template/spec/containers/0/env/1",
             "value": {"name": "MODE", "value": "degraded"}}
        ])
    );
    assert_ne!(patches[0].body, patches[1].body);
    let d: Value = server.objects[DEPLOY].clone();
    assert_eq!(
        d.pointer("/spec/template/spec/containers/0/env").unwrap(),
        &json!([{"name": "OTHER", "value": "x"}, {"name": "MODE", "value": "degraded"}])
    );
    let rp: RemediationPolicy = stored(&server, RP);
    assert_eq!(rp.status.unwrap().phase, ExecutionPhase::Completed);
}

#[tokio::test]
async fn conflicts_are_retried_a_bounded_number_of_times() {
    let rp = approved(vec![set_mode("a1", "degraded")]);
    let mut server = Server::new(&rp, &deployment(2));
    for nth in 1..=MAX_PATCH_ATTEMPTS + 1 {
        server.faults.push(Fault {
            method: "PATCH",
            path: DEPLOY,
            nth,
            code: 409,
            meanwhile: None,
        });
    }
    let (result, server) = reconcile_once(&rp, server).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests(&server, "PATCH", DEPLOY).len(), MAX_PATCH_ATTEMPTS);
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    // Nothing finished before it, so nothing to roll back.
    assert_eq!(status.phase, ExecutionPhase::RolledBack);
    let error = status.execution.unwrap().error.unwrap();
    assert!(error.contains("still conflicting"), "{error}");
}

#[tokio::test]
async fn another_plan_in_progress_on_the_target_makes_it_wait() {
    let rp = approved(vec![scale_up("a1", 3)]);
    let mut server = Server::new(&rp, &deployment(2));
    let mut other = interrupted();
    other.metadata.name = Some("other".into());
    server.objects.insert(
        format!("{NS}/remediationpolicies/other"),
        serde_json::to_value(&other).unwrap(),
    );
    let (result, server) = reconcile_once(&rp, server).await;
    assert_eq!(result.unwrap(), Action::requeue(BUSY_REQUEUE));
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::Pending);
    let progressing = status
        .conditions
        .iter()
        .find(|c| c.type_ == decide::PROGRESSING)
        .unwrap();
    assert!(
        progressing
            .message
            .contains("waiting for RemediationPolicy other"),
        "{progressing:?}"
    );
}

/// Limits whose plan cache holds `plans` (as the executor's watch has them).
fn limits_with_cache(plans: Vec<RemediationPolicy>) -> Arc<ExecutionLimits> {
    let limits = Arc::new(ExecutionLimits::new(4));
    limits.use_plan_cache(listed(plans));
    limits
}

#[tokio::test]
async fn with_a_watch_cache_the_other_plans_are_not_listed() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let limits = limits_with_cache(vec![rp.clone()]);
    let server = Server::new(&rp, &deployment(2));
    let (result, server) = reconcile_with(&rp, server, limits).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        until_the_deployment_patch(&server),
        [
            format!("GET {VP}"),
            format!("GET {DEPLOY}"),
            format!("GET {HPAS}"),
            format!("PATCH {RP_STATUS}"),
            format!("PATCH {DEPLOY}"),
        ]
    );
}

#[tokio::test]
async fn a_scale_on_an_hpa_target_patches_the_hpas_min_replicas_and_never_spec_replicas() {
    let rp = approved(vec![scale_up("a1", 4)]);
    let mut server = Server::new(&rp, &deployment(2));
    let hpa_path = format!("{HPAS}/web");
    server.insert(
        &hpa_path,
        &crate::controllers::hpa::tests::hpa("web", "Deployment/web", Some(2), 6),
    );
    let (result, server) = reconcile_once(&rp, server).await;
    // The scripted server has no HPA controller: the plan waits for it.
    assert_eq!(result.unwrap(), Action::requeue(decide::ROLLOUT_REQUEUE));
    assert!(
        requests(&server, "PATCH", DEPLOY).is_empty(),
        "{:?}",
        lines(&server, false)
    );
    let patches = requests(&server, "PATCH", &hpa_path);
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].content_type, "application/json-patch+json");
    assert_eq!(
        patches[0].body,
        json!([{"op": "test", "path": "/spec/minReplicas", "value": 2},
               {"op": "replace", "path": "/spec/minReplicas", "value": 4}])
    );
    let hpa: k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler =
        stored(&server, &hpa_path);
    assert_eq!(hpa.spec.min_replicas, Some(4));
    let rp: RemediationPolicy = stored(&server, RP);
    let status = rp.status.unwrap();
    let record = &status.execution.unwrap().actions[0];
    assert_eq!(record.status, ExecutionStatus::Running);
    let previous = record.previous.clone().unwrap();
    assert_eq!(previous.replicas, Some(2));
    assert_eq!(
        previous.hpa.map(|h| (h.name, h.min_replicas, h.set)),
        Some(("web".to_string(), Some(2), 4))
    );
    let waiting = status
        .conditions
        .iter()
        .find(|c| c.type_ == decide::PROGRESSING)
        .unwrap();
    assert!(
        waiting
            .message
            .contains("waiting for HorizontalPodAutoscaler web to scale"),
        "{waiting:?}"
    );
}

#[tokio::test]
async fn a_cached_plan_in_progress_on_the_target_makes_it_wait() {
    let rp = approved(vec![scale_up("a1", 3)]);
    let mut other = interrupted();
    other.metadata.name = Some("other".into());
    other.metadata.namespace = Some("default".into());
    let limits = limits_with_cache(vec![rp.clone(), other]);
    let (result, server) = reconcile_with(&rp, Server::new(&rp, &deployment(2)), limits).await;
    assert_eq!(result.unwrap(), Action::requeue(BUSY_REQUEUE));
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    assert!(requests(&server, "GET", &format!("{NS}/remediationpolicies")).is_empty());
}

#[tokio::test]
async fn a_plan_this_process_wrote_in_progress_counts_before_the_cache_shows_it() {
    // The cache holds no other plan, but this process has just written
    // `other` InProgress on the same Deployment.
    let rp = approved(vec![scale_up("a1", 3)]);
    let limits = limits_with_cache(vec![rp.clone()]);
    limits.written("default/web", "other", ExecutionPhase::InProgress);
    let (result, server) =
        reconcile_with(&rp, Server::new(&rp, &deployment(2)), limits.clone()).await;
    assert_eq!(result.unwrap(), Action::requeue(BUSY_REQUEUE));
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    // Once `other` is written finished, the target is free.
    limits.written("default/web", "other", ExecutionPhase::Completed);
    let (result, server) =
        reconcile_with(&rp, Server::new(&rp, &deployment(2)), limits.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests(&server, "PATCH", DEPLOY).len(), 1);
    // Its own execution, written InProgress and then Completed, is not kept.
    assert_eq!(limits.in_progress_on("default/web", "someone-else"), None);
}

#[tokio::test]
async fn a_plan_edited_after_the_reconcile_read_it_is_not_acted_on() {
    // The reconcile starts from the approved plan as its watch event had it,
    // while the stored plan has since been edited (a newer resourceVersion).
    let rp = approved(vec![scale_up("a1", 4)]);
    let mut edited = rp.clone();
    edited.spec.plan.actions[0].replicas = Some(5);
    edited.metadata.resource_version = Some("2".into());
    let mut server = Server::new(&rp, &deployment(2));
    server.insert(RP, &edited);
    let (result, server) = reconcile_once(&rp, server).await;
    assert_eq!(result.unwrap(), Action::requeue(CONFLICT_REQUEUE));
    let status_patches = requests(&server, "PATCH", RP_STATUS);
    assert_eq!(status_patches.len(), 1);
    assert_eq!(status_patches[0].body["metadata"]["resourceVersion"], "1");
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let latest: RemediationPolicy = stored(&server, RP);
    assert_eq!(latest.status, None, "the refused write changed nothing");
    // Decided again on the stored version, the edit is refused.
    let (_, server) = reconcile_once(&latest, server).await;
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let after: RemediationPolicy = stored(&server, RP);
    let message = after.status.unwrap().approval_message.unwrap_or_default();
    assert!(message.contains("changed after it was hashed"), "{message}");
}

#[tokio::test]
async fn no_free_slot_makes_it_wait() {
    let rp = approved(vec![scale_up("a1", 3)]);
    let limits = Arc::new(ExecutionLimits::new(1));
    let held = limits.try_claim("default/db").unwrap();
    let (result, server) =
        reconcile_with(&rp, Server::new(&rp, &deployment(2)), limits.clone()).await;
    assert_eq!(result.unwrap(), Action::requeue(BUSY_REQUEUE));
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let rp: RemediationPolicy = stored(&server, RP);
    assert_eq!(rp.status.unwrap().phase, ExecutionPhase::Pending);
    drop(held);
    // Released: the Deployment and the slot can be claimed again.
    assert!(limits.try_claim("default/web").is_ok());
}

#[test]
fn merge_diff_writes_only_changes_and_nulls_removed_fields() {
    let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "gone": true});
    let new = json!({"a": 1, "b": {"c": 2, "d": 4}, "e": [1, 2]});
    let diff = merge_diff(&old, &new);
    assert_eq!(diff, json!({"b": {"d": 4}, "e": [1, 2], "gone": null}));
    let mut applied = old.clone();
    json_patch::merge(&mut applied, &diff);
    assert_eq!(applied, new);
}

#[test]
fn the_storm_brake_counts_starts_in_its_window() {
    let w = Duration::from_secs(600);
    assert_eq!(storm_brake([0, 1, 2], 1_000, 0, w), None, "0: no brake");
    assert_eq!(storm_brake([100, 200], 1_000, 3, w), None);
    // Three starts in the last 10 minutes with at most 3: held until the
    // oldest of them leaves the window.
    assert_eq!(
        storm_brake([100_000, 200_000, 300_000], 400_000, 3, w),
        Some((3, 700_000))
    );
    // Older starts do not count.
    assert_eq!(storm_brake([0, 200_000, 300_000], 700_000, 3, w), None);
    // With more than max in the window, it lifts when only max - 1 remain.
    assert_eq!(storm_brake([10, 20, 30, 40], 100, 2, w), Some((4, 600_030)));
}

/// A plan of another Deployment whose execution started at `started`.
fn started_elsewhere(name: &str, started: Millis) -> RemediationPolicy {
    let mut other = plan(vec![scale_up("a1", 3)], "Medium");
    other.metadata.name = Some(name.into());
    other.spec.plan.target = "api".into();
    other.status = Some(
        serde_json::from_value(json!({
            "approval": "Approved", "phase": "Completed",
            "execution": { "startedAt": crate::controllers::monitor::decide::time(started) }
        }))
        .unwrap(),
    );
    other
}

#[tokio::test]
async fn the_storm_brake_holds_a_plan_until_overridden() {
    const NOW: Millis = 1_714_557_600_000;
    let settings = Settings {
        storm_brake_max_executions: 1,
        ..Settings::default()
    };
    let rp = approved(vec![scale_up("a1", 4)]);
    let mut server = Server::new(&rp, &deployment(2));
    server.insert(
        &format!("{NS}/remediationpolicies/earlier"),
        &started_elsewhere("earlier", NOW - 60_000),
    );
    let harness = Harness::with(
        server,
        NOW,
        settings.clone(),
        Arc::new(ExecutionLimits::new(4)),
    );
    let result = reconcile(Arc::new(rp.clone()), harness.ctx.clone()).await;
    let server = harness.finish().await;
    // Held until the earlier start leaves the 10-minute window.
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(540)));
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    assert!(lines(&server, false).contains(&"EVENT Warning StormBrake".to_string()));
    let held: RemediationPolicy = stored(&server, RP);
    let status = held.status.clone().unwrap();
    assert_eq!(status.phase, ExecutionPhase::Pending);
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(c.reason, "StormBrake");
    assert!(
        c.message.contains("1 executions started in the last 10m"),
        "{}",
        c.message
    );

    // A human lets it through with the plan's hash.
    let mut let_through = held.clone();
    let hash = let_through.spec.plan.plan_hash.clone();
    annotate(
        &mut let_through,
        mapek_api::STORM_BRAKE_OVERRIDE_ANNOTATION,
        &hash,
    );
    let mut server = server;
    server.insert(RP, &let_through);
    let harness = Harness::with(server, NOW, settings, Arc::new(ExecutionLimits::new(4)));
    let result = reconcile(Arc::new(let_through), harness.ctx.clone()).await;
    let server = harness.finish().await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests(&server, "PATCH", DEPLOY).len(), 1);
    let done: RemediationPolicy = stored(&server, RP);
    assert_eq!(done.status.unwrap().phase, ExecutionPhase::Completed);
}

#[test]
fn reservations_count_executions_between_their_reconciles() {
    let limits = ExecutionLimits::new(1);
    assert!(limits.reserve("default/a", "p1", 1));
    assert!(
        limits.reserve("default/a", "p1", 1),
        "a plan's own reservation"
    );
    assert!(
        !limits.reserve("default/b", "p2", 1),
        "the limit is reached"
    );
    limits.release("default/a", "p2");
    assert!(
        !limits.reserve("default/b", "p2", 1),
        "only p1 releases p1's"
    );
    limits.release("default/a", "p1");
    assert!(limits.reserve("default/b", "p2", 1));
    // Written finished, the execution no longer counts.
    limits.written("default/b", "p2", ExecutionPhase::Completed);
    assert!(limits.reserve("default/c", "p3", 1));
}

#[test]
fn backoff_doubles_and_resets() {
    let limits = ExecutionLimits::new(1);
    assert_eq!(limits.backoff("x"), Duration::from_secs(5));
    assert_eq!(limits.backoff("x"), Duration::from_secs(10));
    assert_eq!(limits.backoff("x"), Duration::from_secs(20));
    limits.reset("x");
    assert_eq!(limits.backoff("x"), Duration::from_secs(5));
}

/// `fix-web`: a1 restarted web (its annotation "T0" before, "T1" the value it
/// wrote), then a2 failed: a1's restart is to be undone.
fn restart_to_undo() -> RemediationPolicy {
    let mut rp = approved(vec![restart("a1"), set_mode("a2", "degraded")]);
    rp.status = Some(
        serde_json::from_value(json!({
            "approval": "Approved",
            "approvedHash": rp.spec.plan.plan_hash,
            "phase": "InProgress",
            "execution": { "actions": [
                { "actionId": "a1", "actionType": "RESTART_SERVICE", "status": "Succeeded",
                  "previous": { "restartedAt": "T0", "restartedTo": "T1" } },
                { "actionId": "a2", "actionType": "UPDATE_CONFIGURATION", "status": "Failed" }
            ] }
        }))
        .unwrap(),
    );
    rp
}

/// `deployment(2)` with its pod template's restart annotation at `value`.
fn restarted(value: &str) -> Deployment {
    let mut d = deployment(2);
    d.spec
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(Default::default)
        .insert(RESTARTED_AT_ANNOTATION.into(), value.into());
    d
}

#[tokio::test]
async fn a_restart_is_undone_only_while_the_deployment_carries_its_value() {
    // Still the operator's value: restored to the one before.
    let rp = restart_to_undo();
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &restarted("T1"))).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests(&server, "PATCH", DEPLOY).len(), 1);
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(patch::restarted_at(&d).as_deref(), Some("T0"));
    // Another writer restarted it since ("T2"): left alone, and said so.
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &restarted("T2"))).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(requests(&server, "PATCH", DEPLOY).is_empty());
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(patch::restarted_at(&d).as_deref(), Some("T2"));
    let status = stored::<RemediationPolicy>(&server, RP).status.unwrap();
    assert_eq!(status.phase, ExecutionPhase::Failed);
    let error = status.execution.unwrap().error.unwrap();
    assert!(error.contains("rolling back action a1 failed"), "{error}");
    assert!(error.contains("another writer"), "{error}");
}

#[tokio::test]
async fn a_restart_writes_the_value_recorded_before_its_patch() {
    let mut rp = approved(vec![restart("a1")]);
    rp.status = Some(
        serde_json::from_value(json!({
            "approval": "Approved",
            "approvedHash": rp.spec.plan.plan_hash,
            "phase": "InProgress",
            "execution": { "actions": [
                { "actionId": "a1", "actionType": "RESTART_SERVICE", "status": "Running",
                  "previous": { "restartedAt": "T0", "restartedTo": "T1" } }
            ] }
        }))
        .unwrap(),
    );
    let (result, server) = reconcile_once(&rp, Server::new(&rp, &restarted("T0"))).await;
    assert!(result.is_ok(), "{result:?}");
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(patch::restarted_at(&d).as_deref(), Some("T1"));
}

/// One reconcile of `rp` with `cached` in the policy watch cache.
async fn reconcile_cached(rp: &RemediationPolicy, cached: ViolationPolicy) -> Server {
    let server = Server::new(rp, &deployment(2));
    let limits = Arc::new(ExecutionLimits::new(4));
    let harness = Harness::with(server, 1_714_557_600_000, Settings::default(), limits);
    harness.ctx.caches.use_policy_cache(
        listed(vec![cached]),
        crate::controllers::caches::Listed::done(),
    );
    let result = reconcile(Arc::new(rp.clone()), harness.ctx.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    harness.finish().await
}

#[tokio::test]
async fn a_plan_waiting_for_a_human_reads_neither_its_policy_nor_its_deployment() {
    let rp = plan(vec![scale_up("a1", 4)], "Medium");
    let server = reconcile_cached(&rp, policy("Manual")).await;
    let sent = lines(&server, false);
    for read in [format!("GET {VP}"), format!("GET {DEPLOY}")] {
        assert!(!sent.contains(&read), "{sent:?}");
    }
    // It still says what it waits for.
    let status = status_after(&server, 0);
    assert!(
        status.to_string().contains("waiting for approval"),
        "{status}"
    );
    // A policy that approves the plan itself: both are read fresh to start it.
    let low = plan(vec![scale_up("a1", 4)], "Low");
    let server = reconcile_cached(&low, policy("AutoLowRisk")).await;
    let sent = lines(&server, false);
    for read in [format!("GET {VP}"), format!("GET {DEPLOY}")] {
        assert!(sent.contains(&read), "{sent:?}");
    }
}
