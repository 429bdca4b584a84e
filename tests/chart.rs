//! The Helm chart, checked on what the real helm renders.
//!
//! `mk/chart-render` lints the chart (`helm lint --strict`) and renders it
//! (`helm template`, and its NOTES.txt), once per `ci/*-values.yaml` variant, with
//! the helm that `e2e/local-cluster fetch` builds into the cache. These tests run
//! that script and check the objects: RBAC equal to `mapek::rbac::RULES`, the
//! hardened Deployment, the optional objects, the dashboard's metric names, the
//! image against Cargo.toml. When rendering is impossible (no Go to build helm
//! with) they fail with the script's message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use clap::{Args, FromArgMatches};
use serde_json::{Value, json};

use mapek::rbac::{RULES, Scope};

const CHART: &str = "charts/mapek-operator";
const RELEASE_NS: &str = "mapek-system";
const FULLNAME: &str = "mapek-operator";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Variant name -> (objects helm renders, rendered NOTES.txt).
type Rendered = BTreeMap<String, (Vec<Value>, String)>;

fn rendered() -> &'static Rendered {
    static RENDERED: OnceLock<Rendered> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let out = tempfile::tempdir().expect("a temporary folder");
        let result = Command::new(root().join("mk/chart-render"))
            .arg(out.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mk/chart-render: {e}"));
        assert!(
            result.status.success(),
            "rendering the chart with helm failed ({}):\n{}\n{}",
            result.status,
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        let documents = |path: &Path| -> Vec<Value> {
            let text = std::fs::read_to_string(path).unwrap();
            serde_saphyr::from_multiple::<Value>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .into_iter()
                .filter(|o| !o.is_null())
                .collect()
        };
        let mut variants = Rendered::new();
        for entry in std::fs::read_dir(out.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let Some(variant) = name.strip_suffix(".yaml") else {
                continue;
            };
            if variant.ends_with(".notes") {
                continue;
            }
            let objects = documents(&path);
            let notes = documents(&out.path().join(format!("{variant}.notes.yaml")));
            let notes = notes[0]["data"]["NOTES.txt"]
                .as_str()
                .expect("the rendered NOTES.txt")
                .to_string();
            variants.insert(variant.to_string(), (objects, notes));
        }
        variants
    })
}

fn objects(variant: &str) -> &'static [Value] {
    let all = rendered();
    &all.get(variant)
        .unwrap_or_else(|| {
            panic!(
                "no rendering of variant {variant}; rendered: {:?}",
                all.keys()
            )
        })
        .0
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The rules of `scope` in the shape a rendered Role carries them.
fn expected_rules(scope: Scope) -> Value {
    Value::Array(
        RULES
            .iter()
            .filter(|r| r.scope == scope)
            .map(|r| json!({ "apiGroups": [r.api_group], "resources": [r.resource], "verbs": r.verbs }))
            .collect(),
    )
}

fn cargo_version() -> String {
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a version line in Cargo.toml")
        .to_string()
}

fn read_yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_chart_crds_are_byte_identical_to_crds() {
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    let top = root().join("crds");
    let chart = root().join(CHART).join("crds");
    assert_eq!(
        names(&top),
        names(&chart),
        "the chart's crds/ must hold the same files as crds/ (make chart-crds)"
    );
    for name in names(&top) {
        assert!(
            std::fs::read(top.join(&name)).unwrap() == std::fs::read(chart.join(&name)).unwrap(),
            "{CHART}/crds/{name} differs from crds/{name}; run make chart-crds"
        );
    }
}

#[test]
fn every_ci_variant_was_rendered() {
    let names: Vec<&String> = rendered().keys().collect();
    assert_eq!(names, ["all-features", "default", "leader-election"]);
}

#[test]
fn default_install_grants_the_rules_as_a_cluster_role() {
    let objects = objects("default");
    let role = one(objects, "ClusterRole");
    assert_eq!(role["metadata"]["name"], FULLNAME);
    assert_eq!(role["rules"], expected_rules(Scope::Watched));
    let binding = one(objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], FULLNAME);
    assert_eq!(
        binding["subjects"],
        json!([{ "kind": "ServiceAccount", "name": FULLNAME, "namespace": RELEASE_NS }])
    );
    assert!(
        of_kind(objects, "Role").is_empty(),
        "no leader-election Role with one replica"
    );
    assert_eq!(one(objects, "ServiceAccount")["metadata"]["name"], FULLNAME);
}

#[test]
fn watching_one_namespace_grants_roles_only() {
    let objects = objects("all-features");
    assert!(of_kind(objects, "ClusterRole").is_empty());
    assert!(of_kind(objects, "ClusterRoleBinding").is_empty());
    // The operator's own Roles (the approvers' Role is checked below).
    let operators = |o: &&Value| {
        !o["metadata"]["name"]
            .as_str()
            .unwrap()
            .ends_with("-approver")
    };
    let roles: BTreeMap<String, &Value> = of_kind(objects, "Role")
        .into_iter()
        .filter(operators)
        .map(|r| (r["metadata"]["namespace"].as_str().unwrap().to_string(), r))
        .collect();
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert_eq!(roles["shop"]["rules"], expected_rules(Scope::Watched));
    assert_eq!(
        roles[RELEASE_NS]["rules"],
        expected_rules(Scope::LeaderElection)
    );
    let bindings: Vec<&Value> = of_kind(objects, "RoleBinding")
        .into_iter()
        .filter(operators)
        .collect();
    assert_eq!(bindings.len(), 2);
    for b in bindings {
        assert_eq!(b["subjects"][0]["name"], FULLNAME);
        assert_eq!(b["subjects"][0]["namespace"], RELEASE_NS);
        let role = roles[b["metadata"]["namespace"].as_str().unwrap()];
        assert_eq!(b["roleRef"]["name"], role["metadata"]["name"]);
    }
}

#[test]
fn named_approvers_get_an_admission_policy_and_the_right_to_annotate_plans() {
    for variant in ["default", "leader-election"] {
        let objects = objects(variant);
        assert!(of_kind(objects, "ValidatingAdmissionPolicy").is_empty());
        assert!(of_kind(objects, "ValidatingAdmissionPolicyBinding").is_empty());
    }
    let objects = objects("all-features");
    let policy = one(objects, "ValidatingAdmissionPolicy");
    let name = format!("{FULLNAME}-approvers");
    assert_eq!(policy["metadata"]["name"], name.as_str());
    assert_eq!(policy["spec"]["failurePolicy"], "Fail");
    let rules = &policy["spec"]["matchConstraints"]["resourceRules"][0];
    assert_eq!(rules["resources"], json!(["remediationpolicies"]));
    assert_eq!(rules["operations"], json!(["CREATE", "UPDATE"]));
    let approver = policy["spec"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "isApprover")
        .unwrap()["expression"]
        .as_str()
        .unwrap();
    assert!(
        approver.contains(r#"["mapek-admin"]"#) && approver.contains(r#"["mapek-approvers"]"#),
        "{approver}"
    );
    let binding = one(objects, "ValidatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], name.as_str());
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    assert_eq!(
        binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "shop"
    );
    // The approvers may read and annotate plans in the watched namespace.
    let role = of_kind(objects, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == format!("{FULLNAME}-approver").as_str())
        .expect("the approvers' Role");
    assert_eq!(role["metadata"]["namespace"], "shop");
    assert!(
        role["rules"][0]["verbs"]
            .as_array()
            .unwrap()
            .contains(&json!("patch")),
        "{role}"
    );
    let bound = of_kind(objects, "RoleBinding")
        .into_iter()
        .find(|b| b["metadata"]["name"] == format!("{FULLNAME}-approver").as_str())
        .expect("the approvers' RoleBinding");
    assert_eq!(
        bound["subjects"],
        json!([
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mapek-admin"},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "mapek-approvers"}
        ])
    );
}

#[test]
fn several_replicas_add_the_leader_election_role() {
    let objects = objects("leader-election");
    assert_eq!(
        one(objects, "ClusterRole")["rules"],
        expected_rules(Scope::Watched)
    );
    let role = one(objects, "Role");
    assert_eq!(role["metadata"]["namespace"], RELEASE_NS);
    assert_eq!(role["rules"], expected_rules(Scope::LeaderElection));
}

fn container(variant: &str) -> (&'static Value, &'static Value) {
    let deployment = one(objects(variant), "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    (deployment, &containers[0])
}

fn env(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = e
                .get("value")
                .cloned()
                .unwrap_or_else(|| e["valueFrom"].clone());
            (e["name"].as_str().unwrap().to_string(), value)
        })
        .collect()
}

#[test]
fn the_deployment_is_restricted_and_probed() {
    for variant in ["default", "all-features", "leader-election"] {
        let (deployment, c) = container(variant);
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{variant}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{variant}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{variant}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{variant}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{variant}");
        assert!(sc["capabilities"].get("add").is_none());
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][kind][resource].is_string(),
                    "{variant}: resources.{kind}.{resource}"
                );
            }
        }
        assert_eq!(
            c["ports"],
            json!([{ "name": "http", "containerPort": 8080, "protocol": "TCP" }])
        );
        assert_eq!(
            c["livenessProbe"]["httpGet"],
            json!({ "path": "/healthz", "port": "http" })
        );
        assert_eq!(
            c["readinessProbe"]["httpGet"],
            json!({ "path": "/readyz", "port": "http" })
        );
        assert_eq!(pod["serviceAccountName"], FULLNAME);
        assert_eq!(c["args"], json!(["run"]));
        let env = env(c);
        assert_eq!(
            env["POD_NAME"],
            json!({ "fieldRef": { "fieldPath": "metadata.name" } })
        );
        assert_eq!(env["MAPE_K_LISTEN"], "0.0.0.0:8080");
    }
}

#[test]
fn the_image_is_the_one_make_image_builds() {
    let version = cargo_version();
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let image = makefile
        .lines()
        .find_map(|l| l.strip_prefix("IMAGE ?= "))
        .expect("IMAGE ?= in the Makefile")
        .trim();
    let values = read_yaml(&root().join(CHART).join("values.yaml"));
    assert_eq!(values["image"]["repository"], image);
    assert_eq!(
        values["image"]["tag"], version,
        "values.yaml image.tag must equal Cargo.toml's version"
    );
    let chart = read_yaml(&root().join(CHART).join("Chart.yaml"));
    assert_eq!(chart["appVersion"], version);
    assert_eq!(chart["version"], version);
    let (_, c) = container("default");
    assert_eq!(c["image"], format!("{image}:{version}"));
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("USER 65532:65532"),
        "the image runs as the non-root user the chart's runAsNonRoot expects"
    );
}

#[test]
fn leader_election_and_watch_namespace_follow_the_values() {
    let cases = [
        ("default", None, None, "Recreate"),
        ("leader-election", Some(RELEASE_NS), None, "RollingUpdate"),
        (
            "all-features",
            Some(RELEASE_NS),
            Some("shop"),
            "RollingUpdate",
        ),
    ];
    for (variant, leader, watch, strategy) in cases {
        let (deployment, c) = container(variant);
        let env = env(c);
        assert_eq!(
            env.get("LEADER_ELECTION_NAMESPACE").and_then(Value::as_str),
            leader,
            "{variant}"
        );
        assert_eq!(
            env.get("WATCH_NAMESPACE").and_then(Value::as_str),
            watch,
            "{variant}"
        );
        assert_eq!(
            deployment["spec"]["strategy"]["type"], strategy,
            "{variant}"
        );
    }
    assert_eq!(container("leader-election").0["spec"]["replicas"], 3);
}

/// The env vars the chart sets are ones `mapek-operator run` reads, with values its
/// own parser accepts.
#[test]
fn the_rendered_settings_parse_as_run_arguments() {
    let command = mapek::run::RunArgs::augment_args(clap::Command::new("run"));
    for variant in ["default", "all-features"] {
        let (_, c) = container(variant);
        let mut argv = vec!["run".to_string()];
        for (name, value) in env(c) {
            if matches!(name.as_str(), "POD_NAME" | "LOG_LEVEL" | "LOG_FORMAT") {
                continue; // read by identity() and the binary's global flags
            }
            let arg = command
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == name.as_str()))
                .unwrap_or_else(|| panic!("{variant}: `run` reads no env var {name}"));
            argv.push(format!("--{}", arg.get_long().unwrap()));
            argv.push(value.as_str().unwrap().to_string());
        }
        let matches = command
            .clone()
            .try_get_matches_from(&argv)
            .unwrap_or_else(|e| panic!("{variant}: {argv:?}: {e}"));
        let args = mapek::run::RunArgs::from_arg_matches(&matches).unwrap();
        assert_eq!(args.interval, std::time::Duration::from_secs(30));
        assert_eq!(
            args.stabilization_window,
            std::time::Duration::from_secs(120)
        );
        assert_eq!(args.listen.port(), 8080);
        // The chart's storm brake is the binary's default: 20 starts per 10 minutes.
        assert_eq!(
            (args.storm_brake_max_executions, args.storm_brake_window),
            (20, std::time::Duration::from_secs(600))
        );
        let notify = &args.notify;
        match variant {
            "default" => assert!(
                notify.alertmanager_url.is_none(),
                "notifications are off by default"
            ),
            _ => {
                assert_eq!(
                    notify.alertmanager_extra_labels,
                    [
                        ("cluster".to_string(), "prod-1".to_string()),
                        ("team".to_string(), "payments".to_string())
                    ]
                );
                assert_eq!(
                    notify.alertmanager_bearer_token_file.as_deref(),
                    Some(Path::new("/etc/mapek/alertmanager-token/token"))
                );
                assert_eq!(
                    notify.alertmanager_resend_interval,
                    std::time::Duration::from_secs(60)
                );
            }
        }
    }
    let (_, c) = container("default");
    let env = env(c);
    assert!(matches!(env["LOG_FORMAT"].as_str(), Some("text" | "json")));
}

#[test]
fn optional_objects_appear_only_when_enabled() {
    let default = objects("default");
    for kind in [
        "ServiceMonitor",
        "NetworkPolicy",
        "ConfigMap",
        "PrometheusRule",
    ] {
        assert!(
            of_kind(default, kind).is_empty(),
            "default renders a {kind}"
        );
    }
    let all = objects("all-features");
    let monitor = one(all, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http", "{monitor}");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    let service = one(all, "Service");
    assert_eq!(
        service["spec"]["selector"],
        monitor["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(service["spec"]["ports"][0]["name"], "http");

    let policy = one(all, "NetworkPolicy");
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{ "ports": [{ "port": "http", "protocol": "TCP" }],
                 "from": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } } }] }])
    );
    let egress_ports: Vec<&Value> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["ports"].as_array().unwrap())
        .map(|p| &p["port"])
        .collect();
    assert_eq!(
        egress_ports,
        [
            &json!(53),
            &json!(53),
            &json!(443),
            &json!(6443),
            &json!(9090),
            &json!(9093)
        ]
    );

    let dashboard = one(all, "ConfigMap");
    assert_eq!(dashboard["metadata"]["namespace"], "monitoring");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped =
        std::fs::read_to_string(root().join(CHART).join("dashboards/mapek-operator.json")).unwrap();
    let in_map = dashboard["data"]["mapek-operator.json"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(in_map).unwrap(),
        serde_json::from_str::<Value>(&shipped).unwrap()
    );
}

#[test]
fn notes_explain_the_first_policy_and_approval() {
    for (variant, (_, notes)) in rendered() {
        assert!(
            notes.contains("kind: ViolationPolicy"),
            "{variant}: {notes}"
        );
        assert!(notes.contains("kubectl mapek approve"), "{variant}");
        assert!(notes.contains("mapek.io/approve="), "{variant}");
    }
    let (_, notes) = &rendered()["all-features"];
    assert!(notes.contains("watches only the namespace shop"), "{notes}");
    assert!(
        notes.contains("Leader election is on: 2 replicas"),
        "{notes}"
    );
    let (_, notes) = &rendered()["default"];
    assert!(notes.contains("watches every namespace"), "{notes}");
}

/// Sample names the registry exports once every family has a child.
fn exported_metric_names() -> std::collections::BTreeSet<String> {
    use mapek::metrics::*;
    let m = Metrics::default();
    m.phase("analyze", 0.1);
    m.patterns_detected
        .get_or_create(&PatternLabels {
            pattern_type: "Trend".into(),
        })
        .inc();
    m.policies_generated.inc();
    m.execution_success_rate.set(1.0);
    m.reconciled("executor", 0.1, true);
    m.violations
        .get_or_create(&PolicyLabels {
            namespace: "n".into(),
            policy: "p".into(),
        })
        .inc();
    m.prometheus_queries.inc();
    m.prometheus_query_errors.inc();
    m.outcomes
        .get_or_create(&OutcomeLabels {
            outcome: "Success".into(),
        })
        .inc();
    m.time_to_stabilization.observe(3.0);
    m.notification_results("sent", 1);
    m.render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "expr" || k == "definition" {
                    out.push(v.as_str().unwrap_or_default().to_string());
                }
                collect_exprs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_uses_only_exported_metrics() {
    let text =
        std::fs::read_to_string(root().join(CHART).join("dashboards/mapek-operator.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 6, "{exprs:?}");
    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(i) = rest.find("mape") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            used.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    let exported = exported_metric_names();
    for name in &used {
        assert!(
            exported.contains(name),
            "the dashboard queries {name}, which the operator does not export; exported: {exported:?}"
        );
    }
    for required in [
        "mapek_violations_total",
        "mape_k_patterns_detected_total",
        "mape_k_policies_generated_total",
        "mape_k_policy_execution_success_rate",
        "mape_k_cycle_duration_seconds_bucket",
        "mapek_time_to_stabilization_seconds_bucket",
    ] {
        assert!(
            used.contains(required),
            "the dashboard has no panel on {required}"
        );
    }
}

/// The health PrometheusRule: promtool (Debian's, beside the Prometheus that
/// `e2e/prometheus-bin` unpacks) accepts its groups, and its alerts query only
/// metrics the operator exports.
#[test]
fn the_prometheus_rule_is_valid_and_uses_only_exported_metrics() {
    let rule = one(objects("all-features"), "PrometheusRule");
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let alerts: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(
        alerts,
        [
            "MapekOperatorDown",
            "MapekOperatorNoEvaluation",
            "MapekReconcileErrors",
            "MapekNotificationsFailing",
            "MapekStormBrakeEngaged"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.json");
    std::fs::write(
        &file,
        json!({ "groups": rule["spec"]["groups"] }).to_string(),
    )
    .unwrap();
    let prometheus = match std::env::var("MAPEK_PROMETHEUS_BIN") {
        Ok(bin) => PathBuf::from(bin),
        Err(_) => {
            let out = Command::new(root().join("e2e/prometheus-bin"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "e2e/prometheus-bin: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        }
    };
    let promtool = prometheus.with_file_name("promtool");
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut exprs = Vec::new();
    collect_exprs(rule, &mut exprs);
    let exported = exported_metric_names();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(i) = rest.find("mape") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            // `mapek-operator`, the job label, is no metric.
            assert!(
                !name.contains('_') || exported.contains(name),
                "the PrometheusRule queries {name}, which the operator does not export"
            );
            rest = &tail[end..];
        }
    }
}
