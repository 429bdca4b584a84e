//! The reliability suite (`make reliability`): faults injected into a real
//! Kubernetes API server and etcd (e2e/local-cluster), a real Prometheus and the
//! operator running as its own process, built with the `fault-injection` feature
//! so that it can be killed with SIGKILL or paused at a named step of an
//! execution (src/fault.rs).
//!
//! Run by e2e/run-local with `MAPEK_E2E_NO_OPERATOR=1` (see mk/reliability.mk):
//! every test starts, kills and restarts its own operators, each watching its own
//! namespace. What the operator did to a Deployment is read from the API server's
//! audit log (every successful PATCH sent with the operator's field manager), not
//! from the operator's own account. Each test appends its figures to
//! `$MAPEK_RELIABILITY_OUT` (JSON lines), which mk/reliability_report.py turns
//! into the table of RELIABILITY.md. Tests whose name starts with `serial_`
//! restart the API server or load the whole machine, so they run alone.

//!
//! One module per fault class over the harness here (the operator processes,
//! the cluster, the audit log and the objects the classes share).

#[path = "../common/mod.rs"]
mod common;

use common::{kubectl, try_kubectl};
use mapek_test_support::{Process, free_port};

mod approvals;
mod bad_input;
mod crash;
mod forbidden;
mod history;
mod load;
mod lossy;
mod notifications;
mod partition;
mod prometheus;
mod replicas;
mod restarts;
mod rollouts;
mod skew;
mod storm;
mod toxiproxy;
mod writers;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use mapek::controllers::executor::patch::SettingRef;
use mapek_api::{
    ApprovalState, ExecutionPhase, ExecutionStatus, RemediationPolicy, RemediationPolicySpec,
    ViolationPolicy,
};
use mapek_engine::model::{ConfigTarget, RemediationPlan};
use prometheus_http_query::reqwest;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The cluster, the operator processes and the audit log

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this suite through `make reliability` (e2e/run-local)")
    })
}

async fn client() -> Client {
    Client::try_default()
        .await
        .expect("KUBECONFIG points at a reachable cluster")
}

/// Polls `check` every 100 ms until it returns `Some`, or panics naming `what`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    common::poll(what, timeout, Duration::from_millis(100), check).await
}

/// One operator process watching one namespace.
struct Operator {
    process: Process,
    port: u16,
}

/// A kubeconfig for an operator watching `namespace`: a token of ServiceAccount
/// `mapek-operator` there, bound by a Role to the operator's rules
/// (`mapek::rbac::RULES`, which the chart renders too; the watched and the
/// leader-election ones, as both are this namespace) minus the `without`
/// (resource, verb) pairs. The operator's every call passes the real authorizer.
fn operator_kubeconfig(namespace: &str, without: &[(&str, &str)]) -> PathBuf {
    let rules: Vec<Value> = mapek::rbac::RULES
        .iter()
        .map(|r| {
            let verbs: Vec<&str> = r
                .verbs
                .iter()
                .copied()
                .filter(|v| !without.contains(&(r.resource, *v)))
                .collect();
            json!({"apiGroups": [r.api_group], "resources": [r.resource], "verbs": verbs})
        })
        .filter(|r| !r["verbs"].as_array().is_some_and(Vec::is_empty))
        .collect();
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "mapek-operator", "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "mapek-operator", "namespace": namespace}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "mapek-operator", "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mapek-operator"},
         "subjects": [{"kind": "ServiceAccount", "name": "mapek-operator", "namespace": namespace}]}
    ]});
    kubectl(&["apply", "-f", "-"], Some(&objects.to_string()));
    let token = kubectl(
        &[
            "create",
            "token",
            "mapek-operator",
            "-n",
            namespace,
            "--duration=24h",
        ],
        None,
    );
    let path = PathBuf::from(var("MAPEK_E2E_LOGS")).join(format!("kubeconfig-{namespace}"));
    let admin = kubectl(&["config", "view", "--raw", "--minify", "--flatten"], None);
    std::fs::write(&path, admin).expect("kubeconfig written");
    let file = path.to_str().expect("a UTF-8 path");
    let user = first_context(file, "user");
    kubectl(
        &[
            "--kubeconfig",
            file,
            "config",
            "unset",
            &format!("users.{user}"),
        ],
        None,
    );
    kubectl(
        &[
            "--kubeconfig",
            file,
            "config",
            "set-credentials",
            &user,
            &format!("--token={}", token.trim()),
        ],
        None,
    );
    path
}

/// The `field` (`cluster` or `user`) of the first context of the kubeconfig `file`.
fn first_context(file: &str, field: &str) -> String {
    let path = format!("jsonpath={{.contexts[0].context.{field}}}");
    let value = kubectl(&["--kubeconfig", file, "config", "view", "-o", &path], None);
    value.trim().to_string()
}

impl Operator {
    /// Starts the operator on `namespace` with `MAPEK_FAULTS=faults` and waits
    /// until it is ready, with a ServiceAccount token bound to exactly the
    /// operator's rules ([`operator_kubeconfig`]). Its output is appended to
    /// `<logs>/operator-<namespace>.log`.
    async fn start(namespace: &str, faults: &str, extra: &[(&str, &str)]) -> Operator {
        Operator::start_without(namespace, faults, extra, &[]).await
    }

    /// [`Operator::start`], with the (resource, verb) pairs of `without` taken out
    /// of its rules.
    async fn start_without(
        namespace: &str,
        faults: &str,
        extra: &[(&str, &str)],
        without: &[(&str, &str)],
    ) -> Operator {
        let kubeconfig = operator_kubeconfig(namespace, without);
        let identity = format!("operator-{namespace}");
        Operator::launch(namespace, &identity, faults, extra, &kubeconfig).await
    }

    /// One operator process on `namespace` with `kubeconfig`, named `identity`
    /// (its `POD_NAME`, so its name in leader election) and logging to
    /// `<logs>/<identity>.log`; waits until it is ready (a follower is ready too).
    async fn launch(
        namespace: &str,
        identity: &str,
        faults: &str,
        extra: &[(&str, &str)],
        kubeconfig: &Path,
    ) -> Operator {
        Operator::try_launch(namespace, identity, faults, extra, kubeconfig)
            .await
            .unwrap_or_else(|exited| panic!("{exited}"))
    }

    /// As [`Operator::launch`], but an operator that exits before it is ready
    /// (a leader that stood down over a slow link) is an `Err` saying how.
    async fn try_launch(
        namespace: &str,
        identity: &str,
        faults: &str,
        extra: &[(&str, &str)],
        kubeconfig: &Path,
    ) -> Result<Operator, String> {
        let port = free_port();
        let log = PathBuf::from(var("MAPEK_E2E_LOGS")).join(format!("{identity}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mapek-operator"));
        cmd.arg("run")
            .env("KUBECONFIG", kubeconfig)
            .env("PROMETHEUS_URL", var("MAPEK_E2E_PROMETHEUS"))
            .env("MAPE_K_INTERVAL", "1s")
            .env("MAPE_K_LISTEN", format!("127.0.0.1:{port}"))
            .env("MAPE_K_STABILIZATION_WINDOW", "2s")
            .env("WATCH_NAMESPACE", namespace)
            .env("LEADER_ELECTION_NAMESPACE", namespace)
            .env("POD_NAME", identity)
            .env(
                "LOG_LEVEL",
                std::env::var("MAPEK_RELIABILITY_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
            )
            .env("MAPEK_FAULTS", faults);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut process = Process::spawn(cmd, &log);
        process
            .ready_or_exited(port, "/readyz", Duration::from_secs(60))
            .await?;
        Ok(Operator { process, port })
    }

    /// Waits until the process exits by itself; `Some(signal)` if a signal ended it.
    async fn exited(&mut self, timeout: Duration) -> Option<i32> {
        self.process.exited(timeout).await
    }

    /// SIGKILL (std's `Child::kill`) and reap.
    fn kill(&mut self) {
        self.process.kill();
    }

    fn alive(&mut self) -> bool {
        self.process.alive()
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn log(&self) -> &Path {
        self.process.log()
    }
}

/// Panics in the operator logs of `namespace` (the zero counter "panics"): the
/// log of [`Operator::start`] and those of replicas named `operator-<namespace>-*`.
fn panics_in_log(namespace: &str) -> usize {
    let dir = PathBuf::from(var("MAPEK_E2E_LOGS"));
    let (own, replica) = (
        format!("operator-{namespace}.log"),
        format!("operator-{namespace}-"),
    );
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name == own || (name.starts_with(&replica) && name.ends_with(".log"))
        })
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .matches("panicked at")
                .count()
        })
        .sum()
}

/// The operator's PATCH requests to Deployment `namespace/name` in the audit log.
#[derive(Clone, Copy, Debug, Default)]
struct Patches {
    /// Answered 2xx: applied.
    ok: usize,
    /// Answered 504 because the client went away (a SIGKILL mid-request): the API
    /// server answers "request did not complete" while the write it started may
    /// still be committed, so such a patch may or may not have been applied.
    cut: usize,
    /// Answered otherwise: refused (a conflict, a failed precondition, ...).
    refused: usize,
}

impl Patches {
    /// Whether exactly `expected` patches were applied, counting each cut one as
    /// possibly applied: none was lost and none was sent twice.
    fn applied_exactly(&self, expected: usize) -> bool {
        self.ok <= expected && expected <= self.ok + self.cut
    }
}

fn operator_patches(namespace: &str, name: &str) -> Patches {
    let text = std::fs::read_to_string(var("MAPEK_LOCAL_AUDIT_LOG")).unwrap_or_default();
    let mut found = Patches::default();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let uri = e["requestURI"].as_str().unwrap_or_default();
        if e["verb"] == "patch"
            && e["objectRef"]["resource"] == "deployments"
            && e["objectRef"]["namespace"] == namespace
            && e["objectRef"]["name"] == name
            && uri.contains("fieldManager=mapek-operator")
        {
            match e["responseStatus"]["code"].as_u64() {
                Some(200..=299) => found.ok += 1,
                Some(504) => found.cut += 1,
                _ => found.refused += 1,
            }
        }
    }
    found
}

/// Appends one fault class's figures to `$MAPEK_RELIABILITY_OUT`.
fn report(class: &str, injected: usize, survived: usize, zero: &[(&str, usize)], figures: Value) {
    let line = json!({
        "class": class,
        "injected": injected,
        "survived": survived,
        "zero": zero.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "figures": figures,
    });
    if let Ok(path) = std::env::var("MAPEK_RELIABILITY_OUT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("report file opens");
        writeln!(f, "{line}").expect("report written");
    }
    println!("RELIABILITY {line}");
}

/// Runs `e2e/local-cluster ARGS` (restarts of the API server and etcd).
fn local_cluster(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/local-cluster");
    let out = Command::new(script)
        .args(args)
        .output()
        .expect("e2e/local-cluster runs");
    assert!(
        out.status.success(),
        "e2e/local-cluster {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// Objects

/// Creates Deployment `name` (2 replicas, container `app` with MODE=a).
async fn deployment(c: &Client, ns: &str, name: &str) {
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:1",
                                          "env": [{"name": "MODE", "value": "a"}]}]}
            }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .expect("Deployment created");
}

/// The remediation envelope every test plan fits in.
fn remediation(ttl: &str) -> Value {
    json!({
        "allowedActions": ["SCALE_UP", "RESTART_SERVICE", "UPDATE_CONFIGURATION"],
        "approvalMode": "Manual",
        "approvalTtl": ttl,
        "cooldown": "10m",
        "scale": {"minReplicas": 1, "maxReplicas": 6, "maxStep": 3},
        "config": [
            {"name": "MODE", "target": "Env", "container": "app", "value": "b",
             "actions": ["UPDATE_CONFIGURATION"]},
            {"name": "MODE", "target": "Env", "container": "sidecar", "value": "b",
             "actions": ["UPDATE_CONFIGURATION"]},
            {"name": "MAPEK_SIM_READY", "target": "Env", "container": "app", "value": "false",
             "actions": ["UPDATE_CONFIGURATION"]}
        ]
    })
}

/// Creates ViolationPolicy `name` over Deployment `target`; `query` and
/// `threshold` (GreaterThan) decide whether it fires.
async fn policy(c: &Client, ns: &str, name: &str, target: &str, query: &str, threshold: f64) {
    policy_with(c, ns, name, target, query, threshold, "1h", "1s").await;
}

#[allow(clippy::too_many_arguments)]
async fn policy_with(
    c: &Client,
    ns: &str,
    name: &str,
    target: &str,
    query: &str,
    threshold: f64,
    ttl: &str,
    interval: &str,
) {
    let p: ViolationPolicy = serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "targetRef": {"name": target},
            "query": query,
            "condition": {"operator": "GreaterThan", "threshold": threshold},
            "evaluationInterval": interval,
            "remediation": remediation(ttl)
        }
    }))
    .unwrap();
    Api::<ViolationPolicy>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &p)
        .await
        .expect("ViolationPolicy created");
}

fn scale_to(replicas: i32, target: &str) -> Value {
    json!({"id": "scale", "actionType": "SCALE_UP", "target": target, "replicas": replicas,
           "priority": "High", "estimatedLatencySeconds": 30})
}

fn restart(target: &str) -> Value {
    json!({"id": "restart", "actionType": "RESTART_SERVICE", "target": target,
           "priority": "Medium", "estimatedLatencySeconds": 60})
}

fn set_mode(container: &str, target: &str) -> Value {
    json!({"id": format!("mode-{container}"), "actionType": "UPDATE_CONFIGURATION",
           "target": target, "priority": "Medium", "estimatedLatencySeconds": 10,
           "config": {"name": "MODE", "target": "Env", "container": container, "value": "b"}})
}

/// Creates RemediationPolicy `name` (as the analyzer would write it) with a
/// correct plan hash; returns it.
async fn plan(
    c: &Client,
    ns: &str,
    name: &str,
    policy: &str,
    target: &str,
    actions: Vec<Value>,
) -> RemediationPolicy {
    let mut plan: RemediationPlan = serde_json::from_value(json!({
        "target": target, "policy": policy, "rootCause": "LoadSpike", "confidence": 0.9,
        "actions": actions, "expectedImpact": "reliability test", "risk": "Medium",
        "priority": "High", "cost": 0.5, "benefit": 0.9, "score": 0.4, "planHash": ""
    }))
    .unwrap();
    plan.plan_hash = mapek_engine::plan_hash(&plan);
    let rp: RemediationPolicy = serde_json::from_value(json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "RemediationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": serde_json::to_value(RemediationPolicySpec {
            plan,
            evidence: mapek_api::Evidence::default(),
            git_ops: None,
            hpa: None,
        }).unwrap()
    }))
    .unwrap();
    Api::<RemediationPolicy>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &rp)
        .await
        .expect("plan created")
}

async fn annotate(c: &Client, ns: &str, plan: &str, key: &str, value: &str) {
    Api::<RemediationPolicy>::namespaced(c.clone(), ns)
        .patch(
            plan,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotation written");
}

/// Approves as the local cluster's admin, one of the chart's approvers there.
async fn approve(c: &Client, ns: &str, rp: &RemediationPolicy) {
    approve_with(c, ns, &rp.name_any(), &rp.spec.plan.plan_hash).await;
}

async fn approve_with(c: &Client, ns: &str, name: &str, hash: &str) {
    Api::<RemediationPolicy>::namespaced(c.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                mapek_api::APPROVE_ANNOTATION: hash,
                mapek_api::APPROVED_BY_ANNOTATION: common::ADMIN_USER,
            }}})),
        )
        .await
        .expect("approval written");
}

async fn get_plan(c: &Client, ns: &str, name: &str) -> RemediationPolicy {
    Api::<RemediationPolicy>::namespaced(c.clone(), ns)
        .get(name)
        .await
        .expect("plan readable")
}

/// Waits until the plan's execution is over.
async fn finished(c: &Client, ns: &str, name: &str, timeout: Duration) -> RemediationPolicy {
    wait_for(&format!("plan {ns}/{name} to finish"), timeout, || async {
        let rp = Api::<RemediationPolicy>::namespaced(c.clone(), ns)
            .get(name)
            .await
            .ok()?;
        let phase = rp.status.as_ref()?.phase;
        matches!(
            phase,
            ExecutionPhase::Completed | ExecutionPhase::RolledBack | ExecutionPhase::Failed
        )
        .then_some(rp)
    })
    .await
}

/// Waits until action `index` of the plan is Running (written ahead).
async fn running(c: &Client, ns: &str, name: &str, index: usize) {
    wait_for(
        &format!("action {index} of {ns}/{name} to run"),
        Duration::from_secs(30),
        || async {
            let rp = get_plan(c, ns, name).await;
            let exec = rp.status?.execution?;
            (exec.actions.get(index)?.status == ExecutionStatus::Running).then_some(())
        },
    )
    .await
}

async fn live(c: &Client, ns: &str, name: &str) -> Deployment {
    Api::<Deployment>::namespaced(c.clone(), ns)
        .get(name)
        .await
        .expect("Deployment readable")
}

fn mode(d: &Deployment) -> Option<String> {
    mapek::controllers::executor::patch::config_value(
        d,
        &SettingRef {
            name: "MODE".into(),
            target: ConfigTarget::Env,
            container: Some("app".into()),
        },
    )
    .ok()
    .flatten()
}

/// The Deployment's state in the terms the test plans change.
fn state(d: &Deployment) -> (Option<i32>, bool, Option<String>) {
    (
        d.spec.replicas,
        mapek::controllers::executor::patch::restarted_at(d).is_some(),
        mode(d),
    )
}

/// Asserts that a plan of the `crash::COMPLETES` shape ended Completed with the
/// Deployment in its end state and each of its 3 operator patches applied once;
/// `what` names the run in the failure message.
fn assert_completed_once(
    what: &str,
    phase: Option<ExecutionPhase>,
    end: &(Option<i32>, bool, Option<String>),
    patches: &Patches,
) {
    assert_eq!(
        (phase, end, patches.applied_exactly(3)),
        (
            Some(ExecutionPhase::Completed),
            &crash::COMPLETES.end_state(),
            true
        ),
        "{what}: phase, end state and 3 operator patches applied ({patches:?})"
    );
}

/// The Events about the object `name`: (reason, note).
async fn events(c: &Client, ns: &str, name: &str) -> Vec<(String, String)> {
    Api::<Event>::namespaced(c.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Warning or normal Events about the object `name`, by reason.
async fn event_reasons(c: &Client, ns: &str, name: &str) -> Vec<String> {
    events(c, ns, name)
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// A small deterministic PRNG (SplitMix64), so that the random kill times repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
