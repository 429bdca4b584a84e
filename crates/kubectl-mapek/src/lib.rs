//! `kubectl mapek`: the kubectl plugin (the `kubectl-mapek` binary) for the people
//! who review plans. `plans` lists the pending RemediationPolicies with their
//! evidence, `explain` tells one plan in words, `approve` writes the
//! `mapek.io/approve` annotation with the plan's current hash (so nobody types
//! hashes), `reject` writes `mapek.io/reject` with a reason, and `insights` shows what
//! the knowledge controller learned from the PolicyOutcome objects.
//!
//! The text is made by pure functions of the objects ([`format_plans`], [`explain`],
//! [`format_insights`]); the API calls are in [`Plugin`], tested against a scripted
//! API server.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, ResourceExt};

use mapek_api::{
    APPROVE_ANNOTATION, APPROVED_BY_ANNOTATION, ApprovalState, PolicyOutcome, REJECT_ANNOTATION,
    RemediationPolicy,
};
use mapek_engine::knowledge::{KnowledgeBase, LearningInsight};
use mapek_engine::model::{ConfigTarget, RemediationAction};

/// The plugin's command line, with kubectl's connection flags.
#[derive(Parser, Debug)]
#[command(
    name = "kubectl-mapek",
    bin_name = "kubectl mapek",
    version,
    about = "Review, approve and reject mapek-operator remediation plans"
)]
pub struct Cli {
    /// Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (default: the context's namespace, or `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// List the plans waiting for approval, with their evidence.
    Plans {
        /// List plans in every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Explain a plan: patterns, root causes, actions and risk, in words.
    Explain { plan: String },
    /// Approve a pending plan: annotate it with its current plan hash.
    Approve { plan: String },
    /// Reject a pending plan with a reason.
    Reject {
        plan: String,
        /// Why the plan is rejected (recorded in the annotation and the plan's status).
        #[arg(long)]
        reason: String,
    },
    /// What the operator learned from executed plans (PolicyOutcomes).
    Insights {
        /// Learn from outcomes in every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
}

/// What can go wrong in the plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("RemediationPolicy {name} not found in namespace {namespace}")]
    NotFound { name: String, namespace: String },
    #[error("RemediationPolicy {name} is {state}, not Pending: only a pending plan can be {verb}")]
    NotPending {
        name: String,
        state: String,
        verb: &'static str,
    },
    #[error("RemediationPolicy {name} has no plan hash to approve")]
    NoHash { name: String },
    #[error("a rejection needs a reason: --reason \"...\"")]
    EmptyReason,
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// The plugin's API calls, in one namespace (or all, for listing).
pub struct Plugin {
    pub client: Client,
    pub namespace: String,
}

impl Plugin {
    /// Connects with the kubeconfig (`--kubeconfig`, else `$KUBECONFIG` or
    /// `~/.kube/config`) and context; the namespace is `-n`, else the context's.
    pub async fn connect(cli: &Cli) -> Result<Plugin, PluginError> {
        let options = KubeConfigOptions {
            context: cli.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &cli.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| PluginError::Config(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None => kube::Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| PluginError::Config(e.to_string()))?;
        let namespace = cli
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config)?;
        Ok(Plugin { client, namespace })
    }

    fn plans(&self) -> Api<RemediationPolicy> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Runs one command and returns what to print.
    pub async fn run(&self, command: &Command) -> Result<String, PluginError> {
        match command {
            Command::Plans { all_namespaces } => {
                let api: Api<RemediationPolicy> = if *all_namespaces {
                    Api::all(self.client.clone())
                } else {
                    self.plans()
                };
                let list = api.list(&ListParams::default()).await?;
                let scope = if *all_namespaces {
                    None
                } else {
                    Some(self.namespace.as_str())
                };
                Ok(format_plans(&list.items, scope))
            }
            Command::Explain { plan } => Ok(explain(&self.get(plan).await?)),
            Command::Approve { plan } => self.approve(plan).await,
            Command::Reject { plan, reason } => self.reject(plan, reason).await,
            Command::Insights { all_namespaces } => {
                let api: Api<PolicyOutcome> = if *all_namespaces {
                    Api::all(self.client.clone())
                } else {
                    Api::namespaced(self.client.clone(), &self.namespace)
                };
                let outcomes = api.list(&ListParams::default()).await?;
                let kb =
                    KnowledgeBase::from_outcomes(outcomes.items.iter().map(|o| &o.spec.outcome));
                Ok(format_insights(
                    &kb.generate_insights(),
                    outcomes.items.len(),
                ))
            }
        }
    }

    async fn get(&self, name: &str) -> Result<RemediationPolicy, PluginError> {
        self.plans()
            .get_opt(name)
            .await?
            .ok_or_else(|| PluginError::NotFound {
                name: name.to_string(),
                namespace: self.namespace.clone(),
            })
    }

    /// Reads the plan and writes `mapek.io/approve=<its current plan hash>` and
    /// `mapek.io/approved-by=<your user name>` (from a SelfSubjectReview: the
    /// name the API server knows you by, which its approvers policy checks).
    pub async fn approve(&self, name: &str) -> Result<String, PluginError> {
        let rp = self.get(name).await?;
        check_pending(&rp, "approved")?;
        let hash = rp.spec.plan.plan_hash.clone();
        if hash.is_empty() {
            return Err(PluginError::NoHash { name: name.into() });
        }
        let me = self.user_name().await?;
        let mut annotations = serde_json::Map::new();
        annotations.insert(APPROVE_ANNOTATION.into(), hash.clone().into());
        if let Some(me) = &me {
            annotations.insert(APPROVED_BY_ANNOTATION.into(), me.clone().into());
        }
        let patch = serde_json::json!({ "metadata": { "annotations": annotations } });
        self.plans()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let by = me.map(|m| format!(" by {m}")).unwrap_or_default();
        Ok(format!(
            "RemediationPolicy {name} approved{by} (plan hash {hash}); the operator executes it on Deployment {}.\n",
            rp.spec.plan.target
        ))
    }

    /// The user name the API server knows this client by (a SelfSubjectReview,
    /// served since Kubernetes 1.28); `None` where the API is not served.
    async fn user_name(&self) -> Result<Option<String>, PluginError> {
        let reviews: Api<SelfSubjectReview> = Api::all(self.client.clone());
        match reviews
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
        {
            Ok(review) => Ok(review
                .status
                .and_then(|s| s.user_info)
                .and_then(|u| u.username)),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `mapek.io/reject=<reason>` on a pending plan.
    pub async fn reject(&self, name: &str, reason: &str) -> Result<String, PluginError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(PluginError::EmptyReason);
        }
        let rp = self.get(name).await?;
        check_pending(&rp, "rejected")?;
        self.annotate(name, REJECT_ANNOTATION, reason).await?;
        Ok(format!("RemediationPolicy {name} rejected: {reason}\n"))
    }

    /// A JSON merge patch of exactly one annotation.
    async fn annotate(&self, name: &str, key: &str, value: &str) -> Result<(), PluginError> {
        let patch = serde_json::json!({ "metadata": { "annotations": { key: value } } });
        self.plans()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}

/// The approval state of a plan (a plan without status yet is pending).
pub fn approval(rp: &RemediationPolicy) -> ApprovalState {
    rp.status.as_ref().map(|s| s.approval).unwrap_or_default()
}

fn check_pending(rp: &RemediationPolicy, verb: &'static str) -> Result<(), PluginError> {
    match approval(rp) {
        ApprovalState::Pending => Ok(()),
        state => Err(PluginError::NotPending {
            name: rp.name_any(),
            state: format!("{state:?}"),
            verb,
        }),
    }
}

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// One line of evidence: violations analyzed and the patterns with confidence.
pub fn evidence_summary(rp: &RemediationPolicy) -> String {
    let e = &rp.spec.evidence;
    let mut out = format!("{} violations", e.violations_analyzed);
    if !e.patterns.is_empty() {
        let patterns: Vec<String> = e
            .patterns
            .iter()
            .map(|p| format!("{:?} {}", p.pattern_type, percent(p.confidence)))
            .collect();
        let _ = write!(out, "; {}", patterns.join(", "));
    }
    out
}

/// The pending plans as a table; `namespace` is `None` when listing all namespaces
/// (a NAMESPACE column is added).
pub fn format_plans(plans: &[RemediationPolicy], namespace: Option<&str>) -> String {
    let pending: Vec<&RemediationPolicy> = plans
        .iter()
        .filter(|rp| approval(rp) == ApprovalState::Pending)
        .collect();
    if pending.is_empty() {
        return match namespace {
            Some(ns) => format!("No pending plans in namespace {ns}.\n"),
            None => "No pending plans in any namespace.\n".into(),
        };
    }
    let mut rows = vec![{
        let mut h = Vec::new();
        if namespace.is_none() {
            h.push("NAMESPACE".to_string());
        }
        h.extend(
            [
                "NAME",
                "TARGET",
                "ROOT CAUSE",
                "CONFIDENCE",
                "RISK",
                "ACTIONS",
                "EVIDENCE",
            ]
            .map(String::from),
        );
        h
    }];
    for rp in pending {
        let plan = &rp.spec.plan;
        let mut row = Vec::new();
        if namespace.is_none() {
            row.push(rp.namespace().unwrap_or_default());
        }
        let actions: Vec<&str> = plan
            .actions
            .iter()
            .map(|a| a.action_type.as_str())
            .collect();
        row.extend([
            rp.name_any(),
            plan.target.to_string(),
            format!("{:?}", plan.root_cause),
            percent(plan.confidence),
            format!("{:?}", plan.risk),
            actions.join(","),
            evidence_summary(rp),
        ]);
        rows.push(row);
    }
    table(&rows)
}

/// Columns three spaces apart, as `kubectl get` prints them.
fn table(rows: &[Vec<String>]) -> String {
    mapek_engine::report::columns(rows, 3)
}

/// What one action does, in words.
pub fn describe_action(action: &RemediationAction) -> String {
    use mapek_engine::model::PatchKind;
    match action.action_type.patch_kind() {
        PatchKind::Scale => match action.replicas {
            Some(r) => format!("scale Deployment {} to {r} replicas", action.target),
            None => format!("scale Deployment {}", action.target),
        },
        PatchKind::Restart => format!("rolling restart of Deployment {}", action.target),
        PatchKind::Config => match &action.config {
            Some(c) => {
                let place = match (c.target, &c.container) {
                    (ConfigTarget::Env, Some(container)) => {
                        format!("env var {} of container {container}", c.name)
                    }
                    (ConfigTarget::Env, None) => format!("env var {}", c.name),
                    (ConfigTarget::Annotation, _) => format!("pod-template annotation {}", c.name),
                };
                format!(
                    "set {place} to {:?} on Deployment {}",
                    c.value, action.target
                )
            }
            None => format!("change the configuration of Deployment {}", action.target),
        },
    }
}

/// One plan in words: where it stands, why it was made, what it does, at what risk.
pub fn explain(rp: &RemediationPolicy) -> String {
    let name = rp.name_any();
    let ns = rp.namespace().unwrap_or_else(|| "default".into());
    let plan = &rp.spec.plan;
    let evidence = &rp.spec.evidence;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan {name} (namespace {ns}) for Deployment {}, proposed under ViolationPolicy {}.",
        plan.target, plan.policy
    );
    let state = approval(rp);
    let phase = rp.status.as_ref().map(|s| s.phase).unwrap_or_default();
    let _ = writeln!(out, "State: {state:?}, execution {phase:?}.");
    if let Some(by) = rp.status.as_ref().and_then(|s| s.approved_by.as_ref()) {
        let _ = writeln!(out, "Approved by: {by}");
    }
    if let Some(message) = rp.status.as_ref().and_then(|s| s.approval_message.as_ref()) {
        let _ = writeln!(out, "Note: {message}");
    }
    let _ = writeln!(out, "Plan hash: {}", plan.plan_hash);
    let _ = writeln!(
        out,
        "\nWhy: the most likely root cause is {:?}, with {} confidence.",
        plan.root_cause,
        percent(plan.confidence)
    );
    for b in &evidence.breaches {
        let _ = writeln!(out, "Why now ({}): {}.", b.policy, b.reason);
    }
    if !evidence.root_causes.is_empty() {
        let _ = writeln!(out, "Root causes considered, most likely first:");
        for (i, cause) in evidence.root_causes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {:?} ({}): {}",
                i + 1,
                cause.kind,
                percent(cause.confidence),
                cause.description
            );
        }
    }
    let _ = writeln!(
        out,
        "Evidence: {} violations analyzed{}",
        evidence.violations_analyzed,
        if evidence.patterns.is_empty() {
            ", no pattern recorded.".to_string()
        } else {
            format!(
                "; {} pattern{} found:",
                evidence.patterns.len(),
                if evidence.patterns.len() == 1 {
                    ""
                } else {
                    "s"
                }
            )
        }
    );
    for p in &evidence.patterns {
        let _ = writeln!(
            out,
            "  - {:?} ({} confidence, about {}): {}",
            p.pattern_type,
            percent(p.confidence),
            p.subject,
            p.hypothesis
        );
    }
    let _ = writeln!(out, "\nWhat it does, in order:");
    for (i, action) in plan.actions.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} [{}]: {} (priority {:?}, about {} s)",
            i + 1,
            action.action_type,
            action.id,
            describe_action(action),
            action.priority,
            action.estimated_latency_seconds
        );
    }
    let _ = writeln!(out, "Expected impact: {}", plan.expected_impact);
    let _ = writeln!(
        out,
        "Risk: {:?}. Cost {:.2}, benefit {:.2}, score {:.2}, priority {:?}.",
        plan.risk, plan.cost, plan.benefit, plan.score, plan.priority
    );
    if state == ApprovalState::Pending {
        let _ = writeln!(
            out,
            "\nApprove: kubectl mapek approve {name} -n {ns}\nReject:  kubectl mapek reject {name} -n {ns} --reason \"...\""
        );
    } else if let Some(execution) = rp.status.as_ref().and_then(|s| s.execution.as_ref()) {
        let _ = writeln!(out, "\nExecution:");
        for a in &execution.actions {
            let _ = writeln!(
                out,
                "  {} [{}]: {:?}{}",
                a.action_type,
                a.action_id,
                a.status,
                a.result
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
        if let Some(error) = &execution.error {
            let _ = writeln!(out, "  Error: {error}");
        }
    }
    out
}

/// What the knowledge learned, from `outcomes` PolicyOutcome objects.
pub fn format_insights(insights: &[LearningInsight], outcomes: usize) -> String {
    if insights.is_empty() {
        return format!(
            "Nothing learned yet ({outcomes} PolicyOutcome{} with a judged result).\n",
            if outcomes == 1 { "" } else { "s" }
        );
    }
    let mut rows = vec![
        [
            "ROOT CAUSE",
            "ACTION",
            "SUCCESS RATE",
            "CONFIDENCE",
            "OBSERVATIONS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for i in insights {
        rows.push(vec![
            format!("{:?}", i.root_cause),
            i.action_type.to_string(),
            percent(i.success_rate),
            percent(i.confidence),
            i.observations.to_string(),
        ]);
    }
    let mut out = format!(
        "Learned from {outcomes} PolicyOutcome{}:\n\n",
        if outcomes == 1 { "" } else { "s" }
    );
    out.push_str(&table(&rows));
    out.push('\n');
    for i in insights {
        let _ = writeln!(out, "- {}", i.message);
    }
    out
}

/// The plugin's entry point: parses the arguments, runs the command, prints.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let plugin = Plugin::connect(&cli).await?;
        plugin.run(&cli.command).await
    });
    match result {
        Ok(text) => {
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(match e {
                PluginError::NotPending { .. }
                | PluginError::EmptyReason
                | PluginError::NotFound { .. } => 2,
                _ => 1,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    //! The formatting on fixed objects, and every command against a scripted API
    //! server (`tower-test`) that records the requests it received.

    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};

    use super::*;

    const RPS: &str = "/apis/mapek.io/v1alpha1/namespaces/shop/remediationpolicies";

    fn plan(name: &str, ns: &str, approval: Option<&str>) -> Value {
        let mut rp = json!({
            "apiVersion": "mapek.io/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": { "name": name, "namespace": ns, "resourceVersion": "7" },
            "spec": {
                "target": "web", "policy": "web-latency", "rootCause": "LoadSpike",
                "confidence": 0.82,
                "actions": [
                    { "id": "a1", "actionType": "SCALE_UP", "target": "web", "replicas": 5,
                      "priority": "High", "estimatedLatencySeconds": 30 },
                    { "id": "a2", "actionType": "UPDATE_CONFIGURATION", "target": "web",
                      "config": { "name": "MODE", "target": "Env", "container": "app", "value": "safe" },
                      "priority": "Medium", "estimatedLatencySeconds": 10 }
                ],
                "expectedImpact": "latency back under 0.5 s",
                "risk": "Medium", "priority": "High",
                "cost": 0.5, "benefit": 0.9, "score": 0.4,
                "planHash": "9f3c2a7b",
                "evidence": {
                    "violationsAnalyzed": 12,
                    "violations": ["v1", "v2"],
                    "patterns": [{ "patternType": "TemporalBurst", "confidence": 0.9,
                                   "hypothesis": "5 violations within 2 minutes",
                                   "subject": "web-latency", "targets": ["web"], "evidence": ["v1"] }],
                    "rootCauses": [
                        { "kind": "LoadSpike", "target": "web", "policy": "web-latency",
                          "confidence": 0.82, "description": "a sudden rise in load",
                          "supportingPatterns": [0] },
                        { "kind": "ComponentFault", "target": "web", "policy": "web-latency",
                          "confidence": 0.3, "description": "web fails on its own",
                          "supportingPatterns": [] }
                    ]
                }
            }
        });
        if let Some(a) = approval {
            rp["status"] = json!({ "approval": a, "phase": "Pending" });
        }
        rp
    }

    fn rp(value: Value) -> RemediationPolicy {
        serde_json::from_value(value).unwrap()
    }

    fn outcome(name: &str, outcome: &str) -> Value {
        json!({
            "apiVersion": "mapek.io/v1alpha1", "kind": "PolicyOutcome",
            "metadata": { "name": name, "namespace": "shop" },
            "spec": {
                "planName": name, "planHash": "h", "target": "web", "policy": "web-latency",
                "rootCause": "LoadSpike", "actionTypes": ["SCALE_UP"],
                "violationsBefore": 10, "violationsAfter": 0, "resolvedCount": 10,
                "outcome": outcome, "successConfidence": 0.9, "recordedAtMs": 1,
                "windowSeconds": 120
            }
        })
    }

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        content_type: String,
        body: Value,
    }

    /// Runs `command` against a server that answers `answer(method, path)` and
    /// returns the result and the requests it received.
    async fn run_against(
        command: Command,
        answer: impl Fn(&str, &str) -> (u16, Value) + Send + 'static,
    ) -> (Result<String, PluginError>, Vec<Seen>) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let (method, path, content_type, body) = mapek_test_support::decode(request).await;
                let (code, reply) = answer(&method, &path);
                seen.push(Seen {
                    method,
                    path,
                    content_type,
                    body,
                });
                send.send_response(mapek_test_support::respond(code, &reply));
            }
            seen
        });
        let plugin = Plugin {
            client: Client::new(service, "shop"),
            namespace: "shop".into(),
        };
        let result = plugin.run(&command).await;
        drop(plugin);
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
        (result, seen)
    }

    fn not_found(path: &str) -> (u16, Value) {
        (
            404,
            json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": format!("{path} not found") }),
        )
    }

    fn list(kind: &str, items: Vec<Value>) -> Value {
        json!({ "apiVersion": "mapek.io/v1alpha1", "kind": kind,
                "metadata": { "resourceVersion": "1" }, "items": items })
    }

    const SSR: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

    #[tokio::test]
    async fn approve_patches_exactly_the_annotation_with_the_current_hash() {
        let (result, seen) = run_against(
            Command::Approve {
                plan: "fix-web".into(),
            },
            |method, path| match (method, path) {
                ("GET", p) if p == format!("{RPS}/fix-web") => {
                    (200, plan("fix-web", "shop", Some("Pending")))
                }
                ("PATCH", p) if p == format!("{RPS}/fix-web") => {
                    (200, plan("fix-web", "shop", Some("Pending")))
                }
                ("POST", SSR) => (
                    201,
                    json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                            "metadata": {}, "status": { "userInfo": { "username": "alice",
                            "groups": ["mapek-approvers", "system:authenticated"] } } }),
                ),
                (_, p) => not_found(p),
            },
        )
        .await;
        let text = result.unwrap();
        assert!(
            text.contains("approved by alice (plan hash 9f3c2a7b)"),
            "{text}"
        );
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0].method, "GET");
        assert_eq!(
            (seen[1].method.as_str(), seen[1].path.as_str()),
            ("POST", SSR)
        );
        assert_eq!(seen[2].method, "PATCH");
        assert_eq!(seen[2].path, format!("{RPS}/fix-web"));
        assert_eq!(seen[2].content_type, "application/merge-patch+json");
        assert_eq!(
            seen[2].body,
            json!({ "metadata": { "annotations": {
                "mapek.io/approve": "9f3c2a7b", "mapek.io/approved-by": "alice" } } })
        );
    }

    #[tokio::test]
    async fn without_self_subject_reviews_the_approval_names_nobody() {
        let (result, seen) = run_against(
            Command::Approve {
                plan: "fix-web".into(),
            },
            |method, path| match (method, path) {
                ("GET" | "PATCH", p) if p == format!("{RPS}/fix-web") => {
                    (200, plan("fix-web", "shop", Some("Pending")))
                }
                (_, p) => not_found(p),
            },
        )
        .await;
        let text = result.unwrap();
        assert!(text.contains("approved (plan hash 9f3c2a7b)"), "{text}");
        assert_eq!(
            seen.last().unwrap().body,
            json!({ "metadata": { "annotations": { "mapek.io/approve": "9f3c2a7b" } } })
        );
    }

    #[tokio::test]
    async fn a_plan_without_status_yet_counts_as_pending() {
        let (result, seen) = run_against(
            Command::Approve {
                plan: "fresh".into(),
            },
            |method, path| match method {
                "GET" | "PATCH" => (200, plan("fresh", "shop", None)),
                _ => not_found(path),
            },
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(seen.last().unwrap().method, "PATCH");
    }

    #[tokio::test]
    async fn approving_or_rejecting_a_closed_plan_is_refused_without_a_write() {
        for (state, command) in [
            (
                "Approved",
                Command::Approve {
                    plan: "fix-web".into(),
                },
            ),
            (
                "Rejected",
                Command::Approve {
                    plan: "fix-web".into(),
                },
            ),
            (
                "Expired",
                Command::Reject {
                    plan: "fix-web".into(),
                    reason: "no".into(),
                },
            ),
        ] {
            let (result, seen) = run_against(command, move |method, path| match method {
                "GET" => (200, plan("fix-web", "shop", Some(state))),
                _ => not_found(path),
            })
            .await;
            let err = result.unwrap_err();
            assert!(matches!(err, PluginError::NotPending { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains(&format!("is {state}, not Pending")),
                "{message}"
            );
            assert!(
                seen.iter().all(|s| s.method == "GET"),
                "no write for a {state} plan: {seen:?}"
            );
        }
    }

    #[tokio::test]
    async fn reject_writes_the_reason() {
        let (result, seen) = run_against(
            Command::Reject {
                plan: "fix-web".into(),
                reason: "  capacity freeze until Monday ".into(),
            },
            |method, path| match method {
                "GET" | "PATCH" => (200, plan("fix-web", "shop", Some("Pending"))),
                _ => not_found(path),
            },
        )
        .await;
        assert_eq!(
            result.unwrap(),
            "RemediationPolicy fix-web rejected: capacity freeze until Monday\n"
        );
        let patch = seen.iter().find(|s| s.method == "PATCH").unwrap();
        assert_eq!(patch.content_type, "application/merge-patch+json");
        assert_eq!(
            patch.body,
            json!({ "metadata": { "annotations": { "mapek.io/reject": "capacity freeze until Monday" } } })
        );
    }

    #[tokio::test]
    async fn an_empty_reason_is_refused_before_any_request() {
        let (result, seen) = run_against(
            Command::Reject {
                plan: "fix-web".into(),
                reason: "   ".into(),
            },
            |_, path| not_found(path),
        )
        .await;
        assert!(
            matches!(result, Err(PluginError::EmptyReason)),
            "{result:?}"
        );
        assert!(seen.is_empty(), "{seen:?}");
    }

    #[tokio::test]
    async fn a_missing_plan_is_named_in_the_error() {
        let (result, _) = run_against(
            Command::Approve {
                plan: "nope".into(),
            },
            |_, path| not_found(path),
        )
        .await;
        assert_eq!(
            result.unwrap_err().to_string(),
            "RemediationPolicy nope not found in namespace shop"
        );
    }

    #[tokio::test]
    async fn plans_lists_one_namespace_or_all() {
        let items = vec![
            plan("fix-web", "shop", Some("Pending")),
            plan("old", "shop", Some("Approved")),
            plan("fix-api", "billing", None),
        ];
        let answer = move |method: &str, path: &str| match (method, path) {
            ("GET", RPS) => (200, list("RemediationPolicyList", items[..2].to_vec())),
            ("GET", "/apis/mapek.io/v1alpha1/remediationpolicies") => {
                (200, list("RemediationPolicyList", items.clone()))
            }
            (_, p) => not_found(p),
        };
        let (result, seen) = run_against(
            Command::Plans {
                all_namespaces: false,
            },
            answer.clone(),
        )
        .await;
        let text = result.unwrap();
        assert_eq!(seen.len(), 1);
        assert!(text.contains("fix-web") && !text.contains("old"), "{text}");
        assert!(!text.contains("NAMESPACE"), "{text}");
        let (result, seen) = run_against(
            Command::Plans {
                all_namespaces: true,
            },
            answer,
        )
        .await;
        let text = result.unwrap();
        assert_eq!(seen[0].path, "/apis/mapek.io/v1alpha1/remediationpolicies");
        assert!(text.starts_with("NAMESPACE"), "{text}");
        assert!(
            text.contains("billing") && text.contains("fix-api"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[tokio::test]
    async fn insights_learn_from_the_outcomes() {
        let (result, seen) = run_against(
            Command::Insights {
                all_namespaces: false,
            },
            |method, path| match (method, path) {
                ("GET", "/apis/mapek.io/v1alpha1/namespaces/shop/policyoutcomes") => (
                    200,
                    list(
                        "PolicyOutcomeList",
                        vec![
                            outcome("a", "Success"),
                            outcome("b", "Success"),
                            outcome("c", "Degradation"),
                        ],
                    ),
                ),
                (_, p) => not_found(p),
            },
        )
        .await;
        let text = result.unwrap();
        assert_eq!(seen.len(), 1);
        assert!(text.starts_with("Learned from 3 PolicyOutcomes"), "{text}");
        let row = text
            .lines()
            .find(|l| l.starts_with("LoadSpike"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(row.contains("SCALE_UP"), "{row}");
        assert!(row.trim_end().ends_with('3'), "three observations: {row}");
        assert!(
            text.contains("SCALE_UP resolved 2 of 3 LoadSpike incidents"),
            "{text}"
        );
    }

    #[test]
    fn the_plans_table_summarizes_the_evidence() {
        let text = format_plans(
            &[
                rp(plan("fix-web", "shop", Some("Pending"))),
                rp(plan("done", "shop", Some("Rejected"))),
            ],
            Some("shop"),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("NAME "), "{text}");
        for cell in [
            "fix-web",
            "web",
            "LoadSpike",
            "82%",
            "Medium",
            "SCALE_UP,UPDATE_CONFIGURATION",
            "12 violations; TemporalBurst 90%",
        ] {
            assert!(lines[1].contains(cell), "{cell:?} missing in {text}");
        }
        assert_eq!(
            format_plans(&[rp(plan("done", "shop", Some("Approved")))], Some("shop")),
            "No pending plans in namespace shop.\n"
        );
    }

    #[test]
    fn explain_tells_causes_patterns_actions_and_risk() {
        let text = explain(&rp(plan("fix-web", "shop", Some("Pending"))));
        for part in [
            "Plan fix-web (namespace shop) for Deployment web, proposed under ViolationPolicy web-latency.",
            "State: Pending, execution Pending.",
            "Plan hash: 9f3c2a7b",
            "the most likely root cause is LoadSpike, with 82% confidence",
            "  1. LoadSpike (82%): a sudden rise in load",
            "  2. ComponentFault (30%): web fails on its own",
            "Evidence: 12 violations analyzed; 1 pattern found:",
            "TemporalBurst (90% confidence, about web-latency): 5 violations within 2 minutes",
            "1. SCALE_UP [a1]: scale Deployment web to 5 replicas (priority High, about 30 s)",
            "2. UPDATE_CONFIGURATION [a2]: set env var MODE of container app to \"safe\" on Deployment web",
            "Expected impact: latency back under 0.5 s",
            "Risk: Medium. Cost 0.50, benefit 0.90, score 0.40, priority High.",
            "Approve: kubectl mapek approve fix-web -n shop",
        ] {
            assert!(text.contains(part), "{part:?} missing in\n{text}");
        }
        let closed = explain(&rp(plan("fix-web", "shop", Some("Rejected"))));
        assert!(!closed.contains("Approve:"), "{closed}");
        assert!(closed.contains("State: Rejected"), "{closed}");
    }

    #[test]
    fn no_insights_says_so() {
        assert_eq!(
            format_insights(&[], 1),
            "Nothing learned yet (1 PolicyOutcome with a judged result).\n"
        );
    }

    #[test]
    fn the_command_line_takes_kubectl_flags() {
        let cli = Cli::try_parse_from([
            "kubectl-mapek",
            "--kubeconfig",
            "/tmp/kc",
            "--context",
            "prod",
            "reject",
            "fix-web",
            "-n",
            "shop",
            "--reason",
            "later",
        ])
        .unwrap();
        assert_eq!(cli.namespace.as_deref(), Some("shop"));
        assert_eq!(cli.context.as_deref(), Some("prod"));
        assert_eq!(
            cli.command,
            Command::Reject {
                plan: "fix-web".into(),
                reason: "later".into()
            }
        );
        let cli = Cli::try_parse_from(["kubectl-mapek", "plans", "-A"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Plans {
                all_namespaces: true
            }
        );
        assert!(Cli::try_parse_from(["kubectl-mapek", "reject", "fix-web"]).is_err());
    }
}
