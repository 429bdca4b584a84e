//! The end-to-end suite: the operator running as its own process against a real
//! Kubernetes API server, a real Prometheus and the workload simulator. Built only
//! with `--features e2e` and run by `e2e/run-local` (local API server) or
//! `e2e/run-kind` (a kind cluster), which start everything and set:
//! `KUBECONFIG`, `MAPEK_E2E_PROMETHEUS`, `MAPEK_E2E_SIMULATOR`.
//!
//! Every scenario asserts on API objects and Prometheus, never on log text, and
//! uses its own Deployment so that the scenarios run in parallel.

mod common;
#[path = "e2e/review.rs"]
mod review;

use std::collections::BTreeMap;
use std::future::Future;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use mapek::prometheus::Prometheus;
use mapek_api::{
    ApprovalState, ExecutionPhase, ExecutionStatus, PolicyOutcome, RemediationPolicy,
    ViolationPolicy,
};
use mapek_engine::model::{ActionType, OutcomeType};
use prometheus_http_query::reqwest;
use serde_json::{Value, json};

const NS: &str = "default";
/// Long enough for detection (a few evaluations), execution and the operator's
/// stabilization window (20 s in e2e/run-local).
const LOOP_TIMEOUT: Duration = Duration::from_secs(150);

struct Env {
    client: Client,
    prometheus: Prometheus,
    simulator: String,
    http: reqwest::Client,
}

async fn env() -> Env {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: run this suite through e2e/run-local"))
    };
    Env {
        client: Client::try_default()
            .await
            .expect("KUBECONFIG points at a reachable cluster"),
        prometheus: Prometheus::new(&var("MAPEK_E2E_PROMETHEUS"), Duration::from_secs(5)).unwrap(),
        simulator: var("MAPEK_E2E_SIMULATOR"),
        http: reqwest::Client::new(),
    }
}

/// Polls `check` every 500 ms until it returns `Some`, or panics naming `what`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    common::poll(what, timeout, Duration::from_millis(500), check).await
}

/// Runs kubectl (the real client, as a user would) and returns its stdout.
fn kubectl(args: &[&str]) -> String {
    common::kubectl(args, None)
}

impl Env {
    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), NS)
    }
    fn plans(&self) -> Api<RemediationPolicy> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// A fresh simulated Deployment with `replicas` and the first container's env.
    async fn deployment(&self, name: &str, replicas: i32, env: &[(&str, &str)]) {
        let _ = self
            .deployments()
            .delete(name, &DeleteParams::default())
            .await;
        let env: Vec<Value> = env
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": {"mapek.io/simulate": "true"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": format!("{name}:1"), "env": env}]}
                }
            }
        }))
        .unwrap();
        self.deployments()
            .create(&PostParams::default(), &d)
            .await
            .expect("Deployment created");
    }

    /// Creates RemediationPolicy `name` holding `plan` (as the analyzer would
    /// write it) with its hash set; returns it.
    async fn hand_written_plan(&self, name: &str, plan: Value) -> RemediationPolicy {
        let plan = serde_json::from_value(plan).expect("a plan");
        let (object, _) = plan_object(name, plan, json!({}));
        let rp: RemediationPolicy = serde_json::from_value(object).unwrap();
        let _ = self.plans().delete(name, &DeleteParams::default()).await;
        self.plans()
            .create(&PostParams::default(), &rp)
            .await
            .expect("plan created")
    }

    async fn policy(&self, name: &str, spec: Value) {
        let api: Api<ViolationPolicy> = Api::namespaced(self.client.clone(), NS);
        let _ = api.delete(name, &DeleteParams::default()).await;
        let p: ViolationPolicy = serde_json::from_value(json!({
            "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec
        }))
        .unwrap();
        api.create(&PostParams::default(), &p)
            .await
            .expect("ViolationPolicy created");
    }

    async fn fault(&self, deployment: &str, fault: Value) {
        let r = self
            .http
            .post(format!("{}/faults/{deployment}", self.simulator))
            .json(&fault)
            .send()
            .await
            .expect("simulator reachable");
        assert!(
            r.status().is_success(),
            "fault injection failed: {}",
            r.status()
        );
    }

    async fn replicas(&self, name: &str) -> i32 {
        self.deployments()
            .get(name)
            .await
            .unwrap()
            .spec
            .replicas
            .unwrap_or(1)
    }

    /// The first plan for `target` once it exists and is Pending.
    async fn pending_plan(&self, target: &str) -> RemediationPolicy {
        wait_for(
            &format!("a Pending RemediationPolicy for {target}"),
            LOOP_TIMEOUT,
            || async {
                let list = self.plans().list(&ListParams::default()).await.ok()?;
                list.items.into_iter().find(|p| {
                    p.spec.plan.target == target
                        && p.status
                            .as_ref()
                            .is_some_and(|s| s.approval == ApprovalState::Pending)
                })
            },
        )
        .await
    }

    async fn phase(&self, plan: &str, phase: ExecutionPhase) -> RemediationPolicy {
        wait_for(
            &format!("{plan} to reach {phase:?}"),
            LOOP_TIMEOUT,
            || async {
                let p = self.plans().get(plan).await.ok()?;
                (p.status.as_ref()?.phase == phase).then_some(p)
            },
        )
        .await
    }

    async fn outcome(&self, plan: &str) -> PolicyOutcome {
        let api: Api<PolicyOutcome> = Api::namespaced(self.client.clone(), NS);
        wait_for(
            &format!("the PolicyOutcome of {plan}"),
            LOOP_TIMEOUT,
            || async { api.get_opt(plan).await.ok().flatten() },
        )
        .await
    }

    /// Waits for the plan's PolicyOutcome and checks that it says Success.
    async fn succeeded(&self, plan: &str) {
        let outcome = self.outcome(plan).await;
        assert_eq!(
            outcome.spec.outcome.outcome,
            OutcomeType::Success,
            "{:?}",
            outcome.spec
        );
    }

    /// Waits until Prometheus says `query` is below `limit`.
    async fn clears(&self, query: &str, limit: f64) {
        wait_for(
            &format!("{query} < {limit} in Prometheus"),
            LOOP_TIMEOUT,
            || async {
                let v = self.prometheus.query_value(query).await.ok()?;
                (v < limit).then_some(())
            },
        )
        .await
    }

    async fn not_violating(&self, policy: &str) {
        let api: Api<ViolationPolicy> = Api::namespaced(self.client.clone(), NS);
        wait_for(
            &format!("{policy} to stop violating"),
            LOOP_TIMEOUT,
            || async {
                let p = api.get(policy).await.ok()?;
                let c = p
                    .status?
                    .conditions
                    .into_iter()
                    .find(|c| c.type_ == "Violating")?;
                (c.status == "False").then_some(())
            },
        )
        .await
    }
}

fn approve(plan: &RemediationPolicy, hash: &str) {
    kubectl(&[
        "annotate",
        "remediationpolicy",
        &plan.name_any(),
        "-n",
        NS,
        &format!("mapek.io/approve={hash}"),
        &format!("mapek.io/approved-by={}", common::ADMIN_USER),
    ]);
}

/// Overload is detected, a plan waits for approval without touching the
/// Deployment, approval scales it inside the bounds, the violation clears and the
/// outcome is a Success.
#[tokio::test]
async fn overload_is_fixed_by_an_approved_scale_up() {
    let e = env().await;
    let plan = overloaded(&e, "web").await;
    let generation = e
        .deployments()
        .get("web")
        .await
        .unwrap()
        .metadata
        .generation;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = e.deployments().get("web").await.unwrap();
    assert_eq!(
        before.spec.replicas,
        Some(2),
        "nothing changes before approval"
    );
    assert_eq!(before.metadata.generation, generation);
    let action = &plan.spec.plan.actions[0];
    assert_eq!(action.action_type, ActionType::ScaleUp);
    // The load query shows the breach rising with load: an overload.
    assert_eq!(
        load_trend(&plan),
        Some(mapek_engine::model::LoadTrend::Rising),
        "{}",
        serde_json::to_string(&plan.spec.evidence.breaches).unwrap()
    );
    let target = action.replicas.unwrap();
    assert!(
        (3..=5).contains(&target),
        "scale target {target} is outside the bounds or the step"
    );

    approve(&plan, &plan.spec.plan.plan_hash);
    let done = e.phase(&plan.name_any(), ExecutionPhase::Completed).await;
    assert_eq!(e.replicas("web").await, target);
    assert_eq!(
        done.status.unwrap().execution.unwrap().actions[0].status,
        ExecutionStatus::Succeeded
    );
    e.clears("mapek_sim_latency_seconds{deployment=\"web\"}", 0.5)
        .await;
    e.not_violating("web-latency").await;
    e.succeeded(&plan.name_any()).await;
}

/// Latency that jumps while the load stays flat is not an overload: with both
/// scaling and restarts allowed, the plan is a restart, not a scale-up (without
/// the load query the same jump reads as a load spike).
#[tokio::test]
async fn a_latency_jump_at_flat_load_is_not_scaled() {
    let e = env().await;
    e.deployment("billing", 2, &[]).await;
    e.policy(
        "billing-latency",
        json!({
            "targetRef": {"name": "billing"},
            "query": "mapek_sim_latency_seconds{deployment=\"billing\"}",
            "condition": {"operator": "GreaterThan", "threshold": 0.5},
            "severity": "critical", "evaluationInterval": "2s",
            "context": {"load": "mapek_sim_requests_per_second{deployment=\"billing\"}"},
            "remediation": {"allowedActions": ["SCALE_UP", "RESTART_SERVICE"],
                            "scale": {"minReplicas": 2, "maxReplicas": 6, "maxStep": 3}}
        }),
    )
    .await;
    healthy_for_a_while().await;
    // Latency around 1 s (twice the threshold) from now on; the request rate
    // stays at its usual 50/s.
    e.fault(
        "billing",
        json!({"kind": "noise", "level": 1.0, "amplitude": 0.2, "duty": 0.5}),
    )
    .await;
    let plan = e.pending_plan("billing").await;
    let evidence = serde_json::to_string(&plan.spec.evidence).unwrap();
    assert_eq!(
        load_trend(&plan),
        Some(mapek_engine::model::LoadTrend::Flat),
        "{evidence}"
    );
    assert!(
        plan.spec
            .plan
            .actions
            .iter()
            .all(|a| a.action_type != ActionType::ScaleUp),
        "a scale-up at flat load: {}\n{evidence}",
        serde_json::to_string(&plan.spec.plan.actions).unwrap()
    );
    assert_eq!(
        plan.spec.plan.actions[0].action_type,
        ActionType::RestartService,
        "{evidence}"
    );
}

/// A leak is fixed by an approved rolling restart.
#[tokio::test]
async fn a_leak_is_fixed_by_an_approved_restart() {
    let e = env().await;
    e.deployment("worker", 2, &[]).await;
    e.policy(
        "worker-latency",
        json!({
            "targetRef": {"name": "worker"},
            "query": "mapek_sim_latency_seconds{deployment=\"worker\"}",
            "condition": {"operator": "GreaterThan", "threshold": 0.5},
            "severity": "critical", "evaluationInterval": "2s",
            "remediation": {"allowedActions": ["RESTART_SERVICE"]}
        }),
    )
    .await;
    e.fault("worker", json!({"kind": "leak", "secondsPerSecond": 0.1}))
        .await;

    let plan = e.pending_plan("worker").await;
    assert_eq!(
        plan.spec.plan.actions[0].action_type,
        ActionType::RestartService
    );
    approve(&plan, &plan.spec.plan.plan_hash);
    e.phase(&plan.name_any(), ExecutionPhase::Completed).await;
    let d = e.deployments().get("worker").await.unwrap();
    let annotations = d
        .spec
        .template
        .metadata
        .and_then(|m| m.annotations)
        .unwrap_or_default();
    assert!(
        annotations.contains_key("kubectl.kubernetes.io/restartedAt"),
        "{annotations:?}"
    );
    e.clears("mapek_sim_latency_seconds{deployment=\"worker\"}", 0.5)
        .await;
    e.succeeded(&plan.name_any()).await;
}

/// A bad setting is fixed by an approved config change of a listed env var.
#[tokio::test]
async fn a_bad_setting_is_fixed_by_an_approved_config_change() {
    let e = env().await;
    e.deployment(
        "payments",
        2,
        &[("VALIDATION_MODE", "strict"), ("LOG_LEVEL", "info")],
    )
    .await;
    e.policy("payments-errors", json!({
        "targetRef": {"name": "payments"},
        "query": "mapek_sim_error_ratio{deployment=\"payments\"}",
        "condition": {"operator": "GreaterThan", "threshold": 0.1},
        "severity": "critical", "evaluationInterval": "2s",
        "remediation": {
            "allowedActions": ["UPDATE_CONFIGURATION"],
            "config": [{"name": "VALIDATION_MODE", "target": "Env", "value": "lenient",
                        "allowedValues": ["strict", "lenient"], "actions": ["UPDATE_CONFIGURATION"]}]
        }
    }))
    .await;
    e.fault(
        "payments",
        json!({"kind": "badSetting", "name": "VALIDATION_MODE", "goodValue": "lenient"}),
    )
    .await;

    let plan = e.pending_plan("payments").await;
    assert_eq!(
        plan.spec.plan.actions[0].action_type,
        ActionType::UpdateConfiguration
    );
    approve(&plan, &plan.spec.plan.plan_hash);
    e.phase(&plan.name_any(), ExecutionPhase::Completed).await;
    let d = e.deployments().get("payments").await.unwrap();
    let env: BTreeMap<String, String> = d.spec.template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name, v.value.unwrap_or_default()))
        .collect();
    assert_eq!(
        env.get("VALIDATION_MODE").map(String::as_str),
        Some("lenient")
    );
    assert_eq!(
        env.get("LOG_LEVEL").map(String::as_str),
        Some("info"),
        "other env vars are kept"
    );
    e.clears("mapek_sim_error_ratio{deployment=\"payments\"}", 0.1)
        .await;
    e.succeeded(&plan.name_any()).await;
}

/// A bad rollout is fixed by an approved ROLLBACK_REVISION: a new revision of
/// the pod template (a feature flag switched on, with nothing else changed)
/// breaks the service right after it rolls out. The plan blames the change,
/// shows its diff, and rolling back to the revision before it fixes it.
#[tokio::test]
async fn a_bad_rollout_is_fixed_by_an_approved_rollback() {
    let e = env().await;
    e.deployment("inventory", 2, &[("FEATURE_FLAG", "off")])
        .await;
    e.policy(
        "inventory-errors",
        json!({
            "targetRef": {"name": "inventory"},
            "query": "mapek_sim_error_ratio{deployment=\"inventory\"}",
            "condition": {"operator": "GreaterThan", "threshold": 0.1},
            "severity": "critical", "evaluationInterval": "2s",
            "context": {"load": "mapek_sim_requests_per_second{deployment=\"inventory\"}"},
            "remediation": {"allowedActions": ["ROLLBACK_REVISION", "RESTART_SERVICE"]}
        }),
    )
    .await;
    // Errors whenever FEATURE_FLAG is not "off": none yet.
    e.fault(
        "inventory",
        json!({"kind": "badSetting", "name": "FEATURE_FLAG", "goodValue": "off"}),
    )
    .await;
    // The change is blamed only if the revision before it ran healthy for at
    // least 5 evaluations; on a fresh cluster the metric reaches Prometheus a
    // few seconds after the Deployment, so wait twice as long as the others.
    healthy_for_a_while().await;
    healthy_for_a_while().await;
    // The rollout: revision 2 switches the flag on, as `kubectl set env` would.
    kubectl(&[
        "set",
        "env",
        "deployment/inventory",
        "-n",
        NS,
        "FEATURE_FLAG=on",
    ]);

    let plan = e.pending_plan("inventory").await;
    let evidence = serde_json::to_string(&plan.spec.evidence).unwrap();
    assert_eq!(
        plan.spec.plan.root_cause,
        mapek_engine::model::RootCauseKind::BadChange,
        "{evidence}"
    );
    let rollback = &plan.spec.plan.actions[0];
    assert_eq!(
        rollback.action_type,
        ActionType::RollbackRevision,
        "{evidence}"
    );
    assert_eq!(rollback.revision, Some(1), "{evidence}");
    let change = plan
        .spec
        .evidence
        .breaches
        .iter()
        .find_map(|b| b.change.as_ref())
        .unwrap_or_else(|| panic!("no change in the evidence: {evidence}"));
    assert_eq!(
        (change.change.revision, change.change.previous_revision),
        (2, 1)
    );
    assert!(
        change.change.diff.iter().any(|f| f.field
            == "spec.containers[inventory].env[FEATURE_FLAG].value"
            && f.before.as_deref() == Some("off")
            && f.after.as_deref() == Some("on")),
        "{evidence}"
    );

    // What an approver reads before approving.
    let plugin =
        std::env::var("MAPEK_E2E_PLUGIN_BIN").expect("MAPEK_E2E_PLUGIN_BIN (set by e2e/run-local)");
    let out = Command::new(&plugin)
        .args(["explain", &plan.name_any(), "-n", NS])
        .output()
        .expect("kubectl-mapek runs");
    let explained = String::from_utf8_lossy(&out.stdout);
    for part in [
        "The change before it: revision 2 of Deployment inventory",
        "spec.containers[inventory].env[FEATURE_FLAG].value: \"off\" -> \"on\"",
        "ROLLBACK_REVISION [a1]: roll Deployment inventory back to the pod template of revision 1",
        // The API server's dry run of the rollback, when the plan was proposed.
        "Dry run: accepted; it changes:",
        "spec.template.spec.containers[inventory].env[FEATURE_FLAG].value: \"on\" -> \"off\"",
    ] {
        assert!(explained.contains(part), "{part:?} missing in\n{explained}");
    }

    approve(&plan, &plan.spec.plan.plan_hash);
    e.phase(&plan.name_any(), ExecutionPhase::Completed).await;
    let d = e.deployments().get("inventory").await.unwrap();
    assert_eq!(
        template_env(&d.spec.template, "FEATURE_FLAG").as_deref(),
        Some("off")
    );
    // The Deployment controller renumbers the restored template as revision 3.
    assert_eq!(
        d.annotations()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("3")
    );
    e.clears("mapek_sim_error_ratio{deployment=\"inventory\"}", 0.1)
        .await;
    e.succeeded(&plan.name_any()).await;
}

/// A Deployment Argo CD manages, under a policy whose `gitOps` is `Refuse`,
/// gets no plan however overloaded: a Warning Event on the policy says why.
#[tokio::test]
async fn an_argo_cd_managed_target_under_refuse_gets_no_plan() {
    let e = env().await;
    e.deployment("storefront", 2, &[]).await;
    // The label Argo CD puts on what it syncs (label tracking).
    e.deployments()
        .patch(
            "storefront",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"argocd.argoproj.io/instance": "shop-prod"}}}),
            ),
        )
        .await
        .expect("label set");
    e.policy(
        "storefront-latency",
        json!({
            "targetRef": {"name": "storefront"},
            "query": "mapek_sim_latency_seconds{deployment=\"storefront\"}",
            "condition": {"operator": "GreaterThan", "threshold": 0.5},
            "severity": "critical", "evaluationInterval": "2s",
            "context": {"load": "mapek_sim_requests_per_second{deployment=\"storefront\"}"},
            "remediation": {"allowedActions": ["SCALE_UP"], "gitOps": "Refuse",
                            "scale": {"minReplicas": 2, "maxReplicas": 6, "maxStep": 3}}
        }),
    )
    .await;
    healthy_for_a_while().await;
    e.fault("storefront", json!({"kind": "overload", "loadRps": 350}))
        .await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(e.client.clone(), NS);
    let note = wait_for(
        "a GitOpsManaged Event on storefront-latency",
        LOOP_TIMEOUT,
        || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().find_map(|ev| {
                (ev.reason.as_deref() == Some("GitOpsManaged")
                    && ev.regarding.as_ref()?.name.as_deref() == Some("storefront-latency"))
                .then(|| ev.note.clone().unwrap_or_default())
            })
        },
    )
    .await;
    assert!(
        note.contains("managed by Argo CD (Application shop-prod; label argocd.argoproj.io/instance=shop-prod)"),
        "{note}"
    );
    // The analysis that refused ran on a breach that would have got a plan:
    // still none, a few analyses later.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let plans = e.plans().list(&ListParams::default()).await.unwrap();
    assert!(
        plans
            .items
            .iter()
            .all(|p| p.spec.plan.target != "storefront"),
        "a plan for a GitOps-managed target under Refuse"
    );
}

/// A Deployment an `autoscaling/v2` HorizontalPodAutoscaler scales (min 2,
/// max 6, a CPU target it cannot read here: no metrics-server) is scaled
/// through the HPA: the plan is a SCALE_UP marked with the HPA, its approval
/// raises the HPA's `minReplicas`, the real HPA controller scales the
/// Deployment to it, and the operator never writes `spec.replicas` itself.
#[tokio::test]
async fn an_hpa_target_is_scaled_through_the_hpas_min_replicas() {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    let e = env().await;
    e.deployment("checkout", 2, &[]).await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(e.client.clone(), NS);
    let _ = hpas.delete("checkout", &DeleteParams::default()).await;
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "checkout", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
            "minReplicas": 2, "maxReplicas": 6,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60}}}]
        }
    }))
    .unwrap();
    hpas.create(&PostParams::default(), &hpa)
        .await
        .expect("HPA created");
    e.policy(
        "checkout-latency",
        json!({
            "targetRef": {"name": "checkout"},
            "query": "mapek_sim_latency_seconds{deployment=\"checkout\"}",
            "condition": {"operator": "GreaterThan", "threshold": 0.5},
            "severity": "critical", "evaluationInterval": "2s",
            "context": {"load": "mapek_sim_requests_per_second{deployment=\"checkout\"}"},
            "remediation": {"allowedActions": ["SCALE_UP"],
                            "scale": {"minReplicas": 2, "maxReplicas": 10, "maxStep": 3}}
        }),
    )
    .await;
    healthy_for_a_while().await;
    e.fault("checkout", json!({"kind": "overload", "loadRps": 350}))
        .await;
    let plan = e.pending_plan("checkout").await;
    let mark = plan.spec.hpa.clone().expect("the plan names the HPA");
    assert_eq!(
        (
            mark.name.as_str(),
            mark.min_replicas,
            mark.max_replicas,
            mark.mode
        ),
        ("checkout", 2, 6, mapek_api::HpaMode::RaiseMinReplicas),
        "{mark:?}"
    );
    let action = &plan.spec.plan.actions[0];
    assert_eq!(action.action_type, ActionType::ScaleUp);
    let target = action.replicas.unwrap();
    assert!((3..=5).contains(&target), "scale target {target}");

    approve(&plan, &plan.spec.plan.plan_hash);
    let done = e.phase(&plan.name_any(), ExecutionPhase::Completed).await;
    let record = &done.status.unwrap().execution.unwrap().actions[0];
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let previous = record
        .previous
        .clone()
        .unwrap()
        .hpa
        .expect("the HPA recorded");
    assert_eq!(
        (previous.name.as_str(), previous.min_replicas, previous.set),
        ("checkout", Some(2), target)
    );
    assert_eq!(
        hpas.get("checkout").await.unwrap().spec.min_replicas,
        Some(target)
    );
    // The HPA controller scaled the Deployment; the operator wrote nothing to it.
    let d = e.deployments().get("checkout").await.unwrap();
    assert_eq!(d.spec.replicas, Some(target));
    let managers: Vec<(String, Option<String>)> = d
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|f| (f.manager.clone().unwrap_or_default(), f.subresource.clone()))
        .collect();
    assert!(
        managers.iter().all(|(m, _)| m != "mapek-operator"),
        "the operator wrote to the Deployment: {managers:?}"
    );
    assert!(
        managers
            .iter()
            .any(|(m, sub)| m.starts_with("kube-controller-manager")
                && sub.as_deref() == Some("scale")),
        "no scale by the HPA controller: {managers:?}"
    );
    e.clears("mapek_sim_latency_seconds{deployment=\"checkout\"}", 0.5)
        .await;
    e.succeeded(&plan.name_any()).await;
    let _ = hpas.delete("checkout", &DeleteParams::default()).await;
}

async fn overloaded(e: &Env, name: &str) -> RemediationPolicy {
    e.deployment(name, 2, &[]).await;
    e.policy(&format!("{name}-latency"), json!({
        "targetRef": {"name": name},
        "query": format!("mapek_sim_latency_seconds{{deployment=\"{name}\"}}"),
        "condition": {"operator": "GreaterThan", "threshold": 0.5},
        "severity": "critical", "evaluationInterval": "2s",
        "context": {"load": format!("mapek_sim_requests_per_second{{deployment=\"{name}\"}}")},
        "remediation": {"allowedActions": ["SCALE_UP"], "scale": {"minReplicas": 2, "maxReplicas": 6, "maxStep": 3}}
    }))
    .await;
    healthy_for_a_while().await;
    e.fault(name, json!({"kind": "overload", "loadRps": 350}))
        .await;
    e.pending_plan(name).await
}

/// Lets a new policy be evaluated healthy several times (every 2 s), so that the
/// engine has a baseline of its metric and load to judge the breach against.
async fn healthy_for_a_while() {
    tokio::time::sleep(Duration::from_secs(14)).await;
}

/// What the plan's evidence says of its target's load.
fn load_trend(plan: &RemediationPolicy) -> Option<mapek_engine::model::LoadTrend> {
    plan.spec
        .evidence
        .breaches
        .iter()
        .find(|b| b.target == plan.spec.plan.target)
        .and_then(|b| b.load.as_ref())
        .map(|l| l.trend)
}

/// A rejected plan never runs.
#[tokio::test]
async fn a_rejected_plan_changes_nothing() {
    let e = env().await;
    let plan = overloaded(&e, "search").await;
    kubectl(&[
        "annotate",
        "remediationpolicy",
        &plan.name_any(),
        "-n",
        NS,
        "mapek.io/reject=not during the sale",
    ]);
    let rejected = wait_for("the plan to be Rejected", LOOP_TIMEOUT, || async {
        let p = e.plans().get(&plan.name_any()).await.ok()?;
        let s = p.status?;
        (s.approval == ApprovalState::Rejected).then_some(s)
    })
    .await;
    assert_eq!(
        rejected.approval_message.as_deref(),
        Some("not during the sale")
    );
    // Approving after the rejection does not run it either.
    approve(&plan, &plan.spec.plan.plan_hash);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let p = e.plans().get(&plan.name_any()).await.unwrap();
    assert_eq!(p.status.as_ref().unwrap().approval, ApprovalState::Rejected);
    assert_eq!(p.status.as_ref().unwrap().phase, ExecutionPhase::Pending);
    assert_eq!(e.replicas("search").await, 2);
}

/// An approval whose hash is not the plan's changes nothing and says why.
#[tokio::test]
async fn an_approval_with_a_wrong_hash_changes_nothing() {
    let e = env().await;
    let plan = overloaded(&e, "cart").await;
    approve(&plan, "0000000000000000");
    let refused = wait_for("the approval to be refused", LOOP_TIMEOUT, || async {
        let p = e.plans().get(&plan.name_any()).await.ok()?;
        let c = p
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Approved")?;
        c.message.contains("0000000000000000").then_some(c)
    })
    .await;
    assert_eq!(refused.status, "False", "{refused:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let p = e.plans().get(&plan.name_any()).await.unwrap();
    assert_eq!(p.status.as_ref().unwrap().approval, ApprovalState::Pending);
    assert_eq!(p.status.as_ref().unwrap().phase, ExecutionPhase::Pending);
    assert_eq!(e.replicas("cart").await, 2);
}

/// A plan whose second action fails is rolled back: the first action is undone.
#[tokio::test]
async fn a_failed_action_is_rolled_back() {
    let e = env().await;
    e.deployment("ledger", 2, &[("MODE", "a")]).await;
    e.policy(
        "ledger-latency",
        json!({
            "targetRef": {"name": "ledger"},
            "query": "mapek_sim_latency_seconds{deployment=\"ledger\"}",
            "condition": {"operator": "GreaterThan", "threshold": 50},
            "evaluationInterval": "2s",
            "remediation": {
                "allowedActions": ["SCALE_UP", "UPDATE_CONFIGURATION"],
                "scale": {"minReplicas": 2, "maxReplicas": 6, "maxStep": 3},
                "config": [{"name": "MODE", "target": "Env", "container": "sidecar", "value": "b",
                            "actions": ["UPDATE_CONFIGURATION"]}]
            }
        }),
    )
    .await;
    // A plan as the analyzer would write it; its second action targets a container
    // the Deployment does not have, so its patch fails on the API server.
    let rp = e
        .hand_written_plan(
            "ledger-rollback",
            json!({
        "target": "ledger", "policy": "ledger-latency", "rootCause": "LoadSpike", "confidence": 0.9,
        "actions": [
            {"id": "a1", "actionType": "SCALE_UP", "target": "ledger", "replicas": 4,
             "priority": "High", "estimatedLatencySeconds": 30},
            {"id": "a2", "actionType": "UPDATE_CONFIGURATION", "target": "ledger", "priority": "High",
             "estimatedLatencySeconds": 90,
             "config": {"name": "MODE", "target": "Env", "container": "sidecar", "value": "b"}}
        ],
        "expectedImpact": "test", "risk": "Medium", "priority": "High",
        "cost": 0.5, "benefit": 0.9, "score": 0.4, "planHash": ""
    }),
        )
        .await;
    approve(&rp, &rp.spec.plan.plan_hash);

    let done = e.phase("ledger-rollback", ExecutionPhase::RolledBack).await;
    let execution = done.status.unwrap().execution.unwrap();
    let statuses: Vec<_> = execution.actions.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [ExecutionStatus::RolledBack, ExecutionStatus::Failed]
    );
    assert!(execution.error.is_some());
    assert_eq!(e.replicas("ledger").await, 2, "the scale-up was undone");
}

/// The value of env var `name` in the first container of a pod template.
fn template_env(
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    name: &str,
) -> Option<String> {
    template.spec.as_ref()?.containers[0]
        .env
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .and_then(|v| v.value.clone())
}

/// A config change whose new pods never become Ready (the kwok stage
/// `pod-never-ready` keeps pods with `MAPEK_SIM_READY=false` NotReady): the
/// Deployment controller reports ProgressDeadlineExceeded, the action fails, the
/// change is undone and waited on, the Deployment serves from its previous
/// ReplicaSet again, and the PolicyOutcome says RolledBack.
#[tokio::test]
async fn a_config_change_whose_pods_never_become_ready_is_rolled_back() {
    let e = env().await;
    e.deployment("orders", 2, &[("MODE", "a")]).await;
    e.deployments()
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"progressDeadlineSeconds": 10}})),
        )
        .await
        .expect("progress deadline set");
    e.policy(
        "orders-errors",
        json!({
            "targetRef": {"name": "orders"},
            "query": "mapek_sim_error_ratio{deployment=\"orders\"}",
            "condition": {"operator": "GreaterThan", "threshold": 50},
            "evaluationInterval": "2s",
            "remediation": {
                "allowedActions": ["UPDATE_CONFIGURATION"],
                "config": [{"name": "MAPEK_SIM_READY", "target": "Env", "value": "false",
                            "actions": ["UPDATE_CONFIGURATION"]}]
            }
        }),
    )
    .await;
    let previous: ReplicaSet = wait_for(
        "the first ReplicaSet of orders available",
        LOOP_TIMEOUT,
        || async {
            let d = e.deployments().get("orders").await.ok()?;
            let s = d.status?;
            (s.available_replicas == Some(2) && s.updated_replicas == Some(2)).then_some(())?;
            let api: Api<ReplicaSet> = Api::namespaced(e.client.clone(), NS);
            let list = api
                .list(&ListParams::default().labels("app=orders"))
                .await
                .ok()?;
            list.items.into_iter().find(|rs| {
                rs.status
                    .as_ref()
                    .is_some_and(|s| s.available_replicas == Some(2))
            })
        },
    )
    .await;

    let rp = e
        .hand_written_plan(
            "orders-bad-config",
            json!({
        "target": "orders", "policy": "orders-errors", "rootCause": "ComponentFault", "confidence": 0.9,
        "actions": [
            {"id": "a1", "actionType": "UPDATE_CONFIGURATION", "target": "orders", "priority": "High",
             "estimatedLatencySeconds": 30,
             "config": {"name": "MAPEK_SIM_READY", "target": "Env", "value": "false"}}
        ],
        "expectedImpact": "test", "risk": "Medium", "priority": "High",
        "cost": 0.3, "benefit": 0.9, "score": 0.6, "planHash": ""
    }),
        )
        .await;
    approve(&rp, &rp.spec.plan.plan_hash);

    let done = e
        .phase("orders-bad-config", ExecutionPhase::RolledBack)
        .await;
    let execution = done.status.unwrap().execution.unwrap();
    assert_eq!(execution.actions[0].status, ExecutionStatus::Failed);
    let error = execution.error.unwrap_or_default();
    assert!(error.contains("ProgressDeadlineExceeded"), "{error}");

    // The change is gone and the Deployment serves from its previous
    // ReplicaSet: the executor finished only once that rollout was complete.
    let d = e.deployments().get("orders").await.unwrap();
    assert_eq!(template_env(&d.spec.template, "MAPEK_SIM_READY"), None);
    let status = d.status.unwrap();
    assert_eq!(
        (
            status.updated_replicas,
            status.available_replicas,
            status.replicas
        ),
        (Some(2), Some(2), Some(2)),
        "{status:?}"
    );
    let api: Api<ReplicaSet> = Api::namespaced(e.client.clone(), NS);
    for rs in api
        .list(&ListParams::default().labels("app=orders"))
        .await
        .unwrap()
    {
        let replicas = rs.spec.replicas;
        let template = rs.spec.template.as_ref().unwrap();
        if rs.name_any() == previous.name_any() {
            assert_eq!(replicas, Some(2), "the previous ReplicaSet serves again");
        } else {
            assert_eq!(
                template_env(template, "MAPEK_SIM_READY").as_deref(),
                Some("false")
            );
            assert_eq!(
                replicas,
                Some(0),
                "the bad ReplicaSet {} is scaled down",
                rs.name_any()
            );
        }
    }

    let outcome = e.outcome("orders-bad-config").await;
    assert_eq!(outcome.spec.outcome.outcome, OutcomeType::RolledBack);
    let detail = outcome.spec.outcome.detail.unwrap_or_default();
    assert!(detail.contains("ProgressDeadlineExceeded"), "{detail}");
}

/// A RemediationPolicy `name` written by hand, not by the analyzer, as JSON with
/// `annotations`: one SCALE_UP of `target` to 3 replicas for `policy`; and its
/// plan hash.
fn handmade_plan(name: &str, target: &str, policy: &str, annotations: Value) -> (Value, String) {
    let plan: mapek_engine::model::RemediationPlan = serde_json::from_value(json!({
        "target": target, "policy": policy, "rootCause": "LoadSpike", "confidence": 0.9,
        "actions": [{"id": "a1", "actionType": "SCALE_UP", "target": target, "replicas": 3,
                     "priority": "High", "estimatedLatencySeconds": 30}],
        "expectedImpact": "test", "risk": "Medium", "priority": "High",
        "cost": 0.2, "benefit": 0.9, "score": 0.7, "planHash": ""
    }))
    .unwrap();
    plan_object(name, plan, annotations)
}

/// RemediationPolicy `name` in the test namespace holding `plan` with its hash
/// set (as the analyzer would write it), as JSON with `annotations`; and the hash.
fn plan_object(
    name: &str,
    mut plan: mapek_engine::model::RemediationPlan,
    annotations: Value,
) -> (Value, String) {
    plan.plan_hash = mapek_engine::plan_hash(&plan);
    let hash = plan.plan_hash.clone();
    let object = json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "RemediationPolicy",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations},
        "spec": serde_json::to_value(mapek_api::RemediationPolicySpec {
            plan,
            evidence: mapek_api::Evidence::default(),
            git_ops: None,
            hpa: None,
        }).unwrap()
    });
    (object, hash)
}

/// Runs kubectl with `args`; returns whether it succeeded and its stderr.
fn kubectl_as(args: &[&str]) -> (bool, String) {
    let out = common::try_kubectl(args, None);
    (out.ok, out.stderr)
}

/// The chart's approvers policy, on the real API server: mallory (allowed by RBAC
/// to annotate plans, not an approver) and the operator's own ServiceAccount are
/// refused with the policy's message, alice (group mapek-approvers) is refused
/// when she names someone else, and `kubectl mapek approve` as alice succeeds;
/// the plan's status, `kubectl get rp` and the PolicyOutcome name her.
#[tokio::test]
async fn only_the_charts_approvers_may_approve_and_they_are_named() {
    let e = env().await;
    e.deployment("audit", 2, &[]).await;
    e.policy(
        "audit-latency",
        json!({
            "targetRef": {"name": "audit"},
            "query": "mapek_sim_latency_seconds{deployment=\"audit\"}",
            "condition": {"operator": "GreaterThan", "threshold": 50},
            "evaluationInterval": "2s",
            "remediation": {"allowedActions": ["SCALE_UP"],
                            "scale": {"minReplicas": 2, "maxReplicas": 4, "maxStep": 2}}
        }),
    )
    .await;
    let handmade =
        |name: &str, annotations: Value| handmade_plan(name, "audit", "audit-latency", annotations);
    let hash = handmade("", json!({})).1;
    let rp = |name: &str, annotations: Value| handmade(name, annotations).0;
    let _ = e
        .plans()
        .delete("audit-approvers", &DeleteParams::default())
        .await;
    let created: RemediationPolicy =
        serde_json::from_value(rp("audit-approvers", json!({}))).unwrap();
    e.plans()
        .create(&PostParams::default(), &created)
        .await
        .expect("plan created");

    // mallory may annotate plans (RBAC), so what refuses her is the policy.
    let _ = kubectl_as(&[
        "create",
        "role",
        "e2e-plan-editor",
        "-n",
        NS,
        "--verb=get,patch",
        "--resource=remediationpolicies.mapek.io",
    ]);
    let _ = kubectl_as(&[
        "create",
        "rolebinding",
        "e2e-plan-editor",
        "-n",
        NS,
        "--role=e2e-plan-editor",
        "--user=mallory",
    ]);
    let approve_as = |context: &str, by: &str| {
        kubectl_as(&[
            "--context",
            context,
            "annotate",
            "remediationpolicy",
            "audit-approvers",
            "-n",
            NS,
            &format!("mapek.io/approve={hash}"),
            &format!("mapek.io/approved-by={by}"),
        ])
    };
    let (ok, err) = wait_for("mallory's RBAC to apply", LOOP_TIMEOUT, || async {
        let (ok, err) = approve_as("mallory", "mallory");
        (!err.contains("cannot patch")).then_some((ok, err))
    })
    .await;
    assert!(
        !ok && err.contains("only the approvers named in the mapek-operator chart may"),
        "{err}"
    );
    let (ok, err) = approve_as("mallory", "alice");
    assert!(
        !ok && err.contains("only the approvers named"),
        "a spoofed approved-by: {err}"
    );
    let (ok, err) = approve_as("alice", common::ADMIN_USER);
    assert!(
        !ok && err.contains("must carry mapek.io/approved-by=alice"),
        "{err}"
    );

    // The operator's own ServiceAccount may create plans, not approved ones.
    let sa = std::env::var("MAPEK_E2E_OPERATOR_KUBECONFIG")
        .expect("MAPEK_E2E_OPERATOR_KUBECONFIG (set by e2e/run-local)");
    let spoofed = std::env::temp_dir().join(format!("audit-spoofed-{}.json", std::process::id()));
    std::fs::write(
        &spoofed,
        rp("audit-spoofed", json!({"mapek.io/approve": hash, "mapek.io/approved-by": "system:serviceaccount:mapek-system:mapek-operator"})).to_string(),
    )
    .unwrap();
    let (ok, err) = kubectl_as(&[
        "--kubeconfig",
        &sa,
        "create",
        "-f",
        spoofed.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&spoofed);
    assert!(!ok && err.contains("only the approvers named"), "{err}");

    // alice approves with the plugin, which names her.
    let plugin =
        std::env::var("MAPEK_E2E_PLUGIN_BIN").expect("MAPEK_E2E_PLUGIN_BIN (set by e2e/run-local)");
    let out = Command::new(&plugin)
        .args(["--context", "alice", "approve", "audit-approvers", "-n", NS])
        .output()
        .expect("kubectl-mapek runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("approved by alice"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = e.phase("audit-approvers", ExecutionPhase::Completed).await;
    assert_eq!(done.status.unwrap().approved_by.as_deref(), Some("alice"));
    let listed = kubectl(&["get", "rp", "audit-approvers", "-n", NS]);
    assert!(
        listed.contains("APPROVED BY") && listed.contains("alice"),
        "{listed}"
    );
    let outcome = e.outcome("audit-approvers").await;
    assert_eq!(outcome.spec.approved_by.as_deref(), Some("alice"));
}

/// Noise around a threshold is no fault: a latency that hovers at its policy's
/// threshold (over it on about 15% of evaluations, never for long) records
/// violations, and no plan is ever proposed for its Deployment.
#[tokio::test]
async fn noise_around_a_threshold_gets_no_plan() {
    // Enough evaluations that the judgement has a baseline (10 earlier ones) and
    // the noise has breached several times.
    const MIN_EVALUATIONS: usize = 30;
    const MIN_VIOLATIONS: u64 = 5;
    let e = env().await;
    e.deployment("catalog", 2, &[]).await;
    e.policy(
        "catalog-latency",
        json!({
            "targetRef": {"name": "catalog"},
            "query": "mapek_sim_latency_seconds{deployment=\"catalog\"}",
            "condition": {"operator": "GreaterThan", "threshold": 0.5, "for": "0s"},
            "severity": "critical", "evaluationInterval": "2s",
            "remediation": {
                "allowedActions": ["SCALE_UP", "RESTART_SERVICE"],
                "scale": {"minReplicas": 2, "maxReplicas": 6, "maxStep": 3}
            }
        }),
    )
    .await;
    // One breaching period per evaluation interval at most.
    e.fault(
        "catalog",
        json!({"kind": "noise", "level": 0.5, "amplitude": 0.2, "duty": 0.15, "periodMs": 2000}),
    )
    .await;

    let policies: Api<ViolationPolicy> = Api::namespaced(e.client.clone(), NS);
    let no_plan = || async {
        let plans = e.plans().list(&ListParams::default()).await.unwrap();
        if let Some(p) = plans.items.iter().find(|p| p.spec.plan.target == "catalog") {
            let status = policies.get("catalog-latency").await.unwrap().status;
            panic!(
                "a plan was proposed for noise: {}\nevidence: {}\npolicy status: {}",
                serde_json::to_string(&p.spec.plan).unwrap(),
                serde_json::to_string(&p.spec.evidence).unwrap(),
                serde_json::to_string(&status).unwrap()
            );
        }
    };
    let status = wait_for(
        &format!("{MIN_VIOLATIONS} violations in at least {MIN_EVALUATIONS} evaluations of catalog-latency"),
        Duration::from_secs(200),
        || async {
            no_plan().await;
            let s = policies.get("catalog-latency").await.ok()?.status?;
            let evaluations = s.samples.as_ref().map_or(0, |h| h.count as usize);
            (s.violation_count >= MIN_VIOLATIONS && evaluations >= MIN_EVALUATIONS).then_some(s)
        },
    )
    .await;
    // The samples stay in the operator's memory; the status only sums them up.
    assert!(status.recent_samples.is_empty());
    // The noise breached now and then, never for most of the time: asked of
    // Prometheus over the last two minutes, at one-second resolution.
    let query = policies.get("catalog-latency").await.unwrap().spec.query;
    let share = e
        .prometheus
        .query_value(&format!("avg_over_time((({query}) > bool 0.5)[2m:1s])"))
        .await
        .unwrap();
    assert!(
        share < 0.5,
        "{share} of the time over the threshold: not noise"
    );
    // An analysis woken by the last violation may still be writing.
    tokio::time::sleep(Duration::from_secs(4)).await;
    no_plan().await;
}

/// The operator's own metrics reach Prometheus.
#[tokio::test]
async fn the_operators_metrics_are_scraped() {
    let e = env().await;
    wait_for(
        "mapek_reconcile_total in Prometheus",
        LOOP_TIMEOUT,
        || async {
            let v = e
                .prometheus
                .query_value("sum(mapek_reconcile_total)")
                .await
                .ok()?;
            (v > 0.0).then_some(())
        },
    )
    .await;
}

/// The `Exhausted` condition of a policy, as (status, reason), once it has one.
async fn exhausted(e: &Env, policy: &str) -> Option<(String, String)> {
    let api: Api<ViolationPolicy> = Api::namespaced(e.client.clone(), NS);
    let p = api.get(policy).await.ok()?;
    let c = p
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Exhausted")?;
    Some((c.status, c.reason))
}

/// The plans for `target`, oldest first.
async fn plans_for(e: &Env, target: &str) -> Vec<RemediationPolicy> {
    let mut plans: Vec<_> = e
        .plans()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.spec.plan.target == target)
        .collect();
    plans.sort_by_key(|p| p.metadata.creation_timestamp.clone());
    plans
}

/// One incident, at most `maxPlansPerEpisode` plans: a metric the simulator
/// holds over its threshold whatever is done gets a plan and one escalation
/// (both approved and executed), then its policy is `Exhausted` (condition and
/// one Warning Event) and nothing more is proposed for several cooldowns. Once
/// the metric has been within its threshold for `keepFiringFor` the episode is
/// over, and a new breach gets a new plan.
#[tokio::test]
async fn a_breach_nothing_fixes_gets_max_plans_then_exhausted_then_a_new_episode_plans() {
    let e = env().await;
    e.deployment("vault", 2, &[]).await;
    e.policy(
        "vault-latency",
        json!({
            "targetRef": {"name": "vault"},
            "query": "mapek_sim_latency_seconds{deployment=\"vault\"}",
            "condition": {"operator": "GreaterThan", "threshold": 0.5, "keepFiringFor": "20s"},
            "severity": "critical", "evaluationInterval": "2s",
            "remediation": {"allowedActions": ["SCALE_UP"],
                            "scale": {"minReplicas": 2, "maxReplicas": 10, "maxStep": 2},
                            "cooldown": "10s", "maxPlansPerEpisode": 2}
        }),
    )
    .await;
    healthy_for_a_while().await;
    // Latency about 1 s (twice the threshold) whatever the replicas.
    let stuck = json!({"kind": "noise", "level": 1.0, "amplitude": 0.2, "duty": 0.5});
    e.fault("vault", stuck.clone()).await;
    let mut executed = Vec::new();
    for k in 1..=2 {
        let plan = e.pending_plan("vault").await;
        let mark = plan.spec.evidence.breaches[0].episode.clone();
        assert_eq!(
            mark.as_ref().map(|m| (m.plans, m.max_plans)),
            Some((k - 1, 2)),
            "plan {k}: {mark:?}"
        );
        assert!(
            plan.annotations().contains_key("mapek.io/episode-since"),
            "{:?}",
            plan.metadata.annotations
        );
        approve(&plan, &plan.spec.plan.plan_hash);
        e.phase(&plan.name_any(), ExecutionPhase::Completed).await;
        executed.push(plan.name_any());
    }
    wait_for("vault-latency to be Exhausted", LOOP_TIMEOUT, || async {
        (exhausted(&e, "vault-latency").await?
            == ("True".to_string(), "MaxPlansReached".to_string()))
            .then_some(())
    })
    .await;
    // Several cooldowns (10 s) later: no third plan, one Event.
    tokio::time::sleep(Duration::from_secs(40)).await;
    let names: Vec<String> = plans_for(&e, "vault")
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(names, executed, "no plan after the episode is exhausted");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(e.client.clone(), NS);
    let exhausted_events: Vec<_> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|ev| {
            ev.reason.as_deref() == Some("RemediationExhausted")
                && ev.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("vault-latency")
        })
        .collect();
    assert_eq!(exhausted_events.len(), 1, "{exhausted_events:?}");
    assert!(
        exhausted_events[0].series.is_none(),
        "published more than once: {:?}",
        exhausted_events[0].series
    );
    let api: Api<ViolationPolicy> = Api::namespaced(e.client.clone(), NS);
    let episode = api
        .get("vault-latency")
        .await
        .unwrap()
        .status
        .unwrap()
        .episode
        .unwrap();
    assert_eq!(episode.state, mapek_engine::model::EpisodeState::Exhausted);
    assert_eq!(
        episode
            .plans
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>(),
        executed
    );
    // The metric recovers: after keepFiringFor (20 s) the episode is over.
    let _ = e
        .http
        .delete(format!("{}/faults/vault", e.simulator))
        .send()
        .await;
    wait_for("the episode to end", LOOP_TIMEOUT, || async {
        (exhausted(&e, "vault-latency").await?
            == ("False".to_string(), "EpisodeResolved".to_string()))
            .then_some(())
    })
    .await;
    // It breaks again: a new episode, a new plan.
    e.fault("vault", stuck).await;
    let plan = e.pending_plan("vault").await;
    assert!(!executed.contains(&plan.name_any()), "{}", plan.name_any());
    let mark = plan.spec.evidence.breaches[0].episode.clone().unwrap();
    assert_eq!(mark.plans, 0, "{mark:?}");
    assert!(mark.since_ms > episode.since.0.as_millisecond(), "{mark:?}");
}

/// The notifications Alertmanager's webhook receiver posts (run-local points it
/// at `MAPEK_E2E_ALERTMANAGER_WEBHOOK`), as received here.
type Received = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

async fn webhook_receiver() -> Received {
    let received = Received::default();
    let keep = received.clone();
    let app = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |body: axum::Json<Value>| async move {
            keep.lock().unwrap().push(body.0);
        }),
    );
    let addr = std::env::var("MAPEK_E2E_ALERTMANAGER_WEBHOOK")
        .expect("MAPEK_E2E_ALERTMANAGER_WEBHOOK is not set: run this suite through e2e/run-local");
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr} for Alertmanager's webhook: {e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

/// The alerts Alertmanager's API lists as active for `plan`.
async fn active_alerts(e: &Env, plan: &str) -> Option<Vec<Value>> {
    let am = std::env::var("MAPEK_E2E_ALERTMANAGER").expect("MAPEK_E2E_ALERTMANAGER is set");
    mapek_test_support::alertmanager::active_alerts(&e.http, &am, &[("plan", plan)]).await
}

/// The webhook's alert of `plan` with `status` (`firing` or `resolved`), once posted.
fn webhook_alert(received: &Received, plan: &str, status: &str) -> Option<Value> {
    let received = received.lock().unwrap();
    received
        .iter()
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .find(|a| a["labels"]["plan"] == plan && a["status"] == status)
}

/// A plan waiting for approval reaches people through the real Alertmanager:
/// its alert is active there with the plan's labels and commands, and its
/// webhook receiver gets it; approving the plan resolves it in both.
#[tokio::test]
async fn a_pending_plan_is_notified_through_alertmanager_and_resolved_by_its_approval() {
    let e = env().await;
    let received = webhook_receiver().await;
    let plan = overloaded(&e, "notify-web").await;
    let name = plan.name_any();
    let spec = &plan.spec.plan;
    let active = wait_for("the plan's alert in Alertmanager", LOOP_TIMEOUT, || async {
        active_alerts(&e, &name).await?.into_iter().next()
    })
    .await;
    let labels = &active["labels"];
    for (key, want) in [
        ("alertname", "MapekPlanPending".to_string()),
        ("namespace", NS.to_string()),
        ("target", "notify-web".to_string()),
        ("policy", "notify-web-latency".to_string()),
        ("root_cause", format!("{:?}", spec.root_cause)),
        ("risk", format!("{:?}", spec.risk)),
        ("first_action", "SCALE_UP".to_string()),
        ("severity", "critical".to_string()),
        ("cluster", "local-e2e".to_string()),
    ] {
        assert_eq!(labels[key], want.as_str(), "label {key} of {active}");
    }
    let approve_command = active["annotations"]["approve"].as_str().unwrap();
    assert!(
        approve_command.contains(&format!("mapek.io/approve={}", spec.plan_hash)),
        "{approve_command}"
    );
    assert_eq!(
        active["annotations"]["review_url"],
        format!("http://127.0.0.1:8000/plans/{NS}/{name}").as_str()
    );
    let notified = wait_for("the webhook notification", LOOP_TIMEOUT, || async {
        webhook_alert(&received, &name, "firing")
    })
    .await;
    assert_eq!(notified["labels"], *labels);
    assert!(
        notified["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains(&name)
    );

    approve(&plan, &spec.plan_hash);
    wait_for(
        "the alert to leave Alertmanager's active alerts",
        LOOP_TIMEOUT,
        || async { active_alerts(&e, &name).await?.is_empty().then_some(()) },
    )
    .await;
    let resolved = wait_for(
        "the webhook's resolved notification",
        LOOP_TIMEOUT,
        || async { webhook_alert(&received, &name, "resolved") },
    )
    .await;
    assert_eq!(resolved["labels"], *labels);
}
