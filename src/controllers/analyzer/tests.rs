//! The analyzer's decisions and one analysis against the scripted API server.

use super::*;
use crate::controllers::monitor::decide::time;
use mapek_api::{
    Evidence, PolicyExecution, RecordedSample, RecordedViolation, RemediationPolicySpec,
    ViolationPolicySpec, ViolationPolicyStatus,
};
use mapek_engine::model::{
    AnalysisResult, ContextKind, Millis, Point, Priority, RemediationPlan, RiskLevel,
    RootCauseKind, SharedStr,
};

fn policy() -> ViolationPolicy {
    let spec: ViolationPolicySpec = serde_json::from_value(json!({
        "targetRef": {"name": "web"}, "query": "q", "condition": {"threshold": 1.0},
        "component": "web-api", "severity": "critical"
    }))
    .unwrap();
    let mut p = ViolationPolicy::new("lat", spec);
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some("uid-1".into());
    p.status = Some(ViolationPolicyStatus {
        recent_violations: [10, 20, 30]
            .iter()
            .map(|s| RecordedViolation {
                id: format!("lat-{s}"),
                time: time(s * 1000),
                value: 2.0,
                threshold: 1.0,
            })
            .collect(),
        ..ViolationPolicyStatus::default()
    });
    p
}

fn points(values: &[(Millis, f64)]) -> Vec<Point> {
    values
        .iter()
        .map(|&(at_ms, value)| Point { at_ms, value })
        .collect()
}

/// The times of the engine's samples of `p` when the monitor holds `held`.
fn samples_of(p: &ViolationPolicy, held: &[(Millis, f64)]) -> Vec<Millis> {
    engine_points(p, Arc::new(points(held)))
        .iter()
        .map(|p| p.at_ms)
        .collect()
}

#[test]
fn violations_after_the_last_execution_and_every_sample_become_engine_input() {
    let v = engine_violations(&policy(), 15_000);
    let held = Arc::new(points(&[(5_000, 0.5), (15_000, 0.7), (25_000, 2.0)]));
    let s = engine_points(&policy(), held.clone());
    assert_eq!(
        v.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        ["lat-20", "lat-30"]
    );
    assert_eq!(
        (
            v[0].component.as_str(),
            v[0].metric.as_str(),
            v[0].target.as_str()
        ),
        ("web-api", "lat", "web")
    );
    assert_eq!(v[0].severity, mapek_engine::model::Severity::Critical);
    // Samples are the policy's behaviour: all of them are kept, read in
    // place (the monitor's series itself, not a copy).
    assert!(Arc::ptr_eq(&s, &held));
    let mut context = Vec::new();
    let name = SharedStr::from("lat");
    context_samples(
        &mut context,
        &name,
        ContextKind::Load,
        &points(&[(1, 2.0), (3, 4.0)]),
    );
    assert_eq!(
        context
            .iter()
            .map(|c| (c.at_ms, c.value))
            .collect::<Vec<_>>(),
        [(1, 2.0), (3, 4.0)]
    );
    assert!(context.iter().all(|c| c.policy.as_ptr() == name.as_ptr()));
}

#[test]
fn samples_an_earlier_version_kept_in_status_count_until_memory_holds_as_many() {
    let mut p = policy();
    p.status.as_mut().unwrap().recent_samples = vec![
        RecordedSample {
            time: time(5_000),
            value: 0.5,
        },
        RecordedSample {
            time: time(25_000),
            value: 2.0,
        },
    ];
    assert_eq!(samples_of(&p, &[(30_000, 1.0)]), [5_000, 25_000]);
    assert_eq!(
        samples_of(&p, &[(30_000, 1.0), (40_000, 1.0)]),
        [30_000, 40_000]
    );
}

#[test]
fn policy_info_carries_the_condition_and_interval() {
    let info = policy_info(&policy());
    assert_eq!(info.name, "lat");
    assert_eq!(info.threshold, policy().spec.condition.threshold);
    assert_eq!(
        info.interval_ms,
        Some(std::time::Duration::from(policy().spec.evaluation_interval).as_millis() as i64)
    );
}

fn plan(target: &str) -> RemediationPlan {
    RemediationPlan {
        target: target.into(),
        policy: "lat".into(),
        root_cause: RootCauseKind::LoadSpike,
        confidence: 0.8,
        actions: vec![],
        expected_impact: String::new(),
        risk: RiskLevel::Low,
        priority: Priority::High,
        cost: 0.15,
        benefit: 0.5,
        score: 0.35,
        plan_hash: "0123456789abcdef".into(),
    }
}

#[test]
fn open_plans_and_last_finished_execution() {
    let mut rp = RemediationPolicy::new(
        "web-1",
        RemediationPolicySpec {
            plan: plan("web"),
            evidence: Evidence::default(),
            git_ops: None,
            hpa: None,
        },
    );
    rp.metadata.namespace = Some("default".into());
    assert!(is_open(&rp), "no status yet means Pending");
    rp.status = Some(RemediationPolicyStatus {
        approval: ApprovalState::Approved,
        phase: ExecutionPhase::Completed,
        execution: Some(PolicyExecution {
            finished_at: Some(time(42_000)),
            ..PolicyExecution::default()
        }),
        ..RemediationPolicyStatus::default()
    });
    assert!(!is_open(&rp));
    let all = vec![Arc::new(rp)];
    let closed =
        |ns: &str, target: &str| by_target(&all, ns).get(target).and_then(|t| t.last_closed);
    assert_eq!(closed("default", "web"), Some(42_000));
    assert_eq!(closed("default", "other"), None);
    assert_eq!(closed("prod", "web"), None);
}

#[test]
fn only_policies_whose_deployment_is_free_and_cooled_down_are_candidates() {
    let mk = |name: &str, target: &str| {
        let mut p = policy();
        p.metadata.name = Some(name.into());
        p.spec.target_ref.name = target.into();
        p.spec.remediation.cooldown = std::time::Duration::from_secs(60).into();
        Arc::new(p)
    };
    let in_ns = vec![mk("a", "web"), mk("b", "db"), mk("c", "cache")];
    let plan_for = |target: &str, status: Option<RemediationPolicyStatus>| {
        let mut rp = RemediationPolicy::new(
            &format!("{target}-plan"),
            RemediationPolicySpec {
                plan: plan(target),
                evidence: Evidence::default(),
                git_ops: None,
                hpa: None,
            },
        );
        rp.metadata.namespace = Some("default".into());
        rp.status = status;
        Arc::new(rp)
    };
    let finished_at = |ms| {
        Some(RemediationPolicyStatus {
            approval: ApprovalState::Approved,
            phase: ExecutionPhase::Completed,
            execution: Some(PolicyExecution {
                finished_at: Some(time(ms)),
                ..PolicyExecution::default()
            }),
            ..RemediationPolicyStatus::default()
        })
    };
    // web: a Pending plan; db: finished at 100 s, cooldown 60 s.
    let plans = vec![plan_for("web", None), plan_for("db", finished_at(100_000))];
    let names = |now| -> Vec<String> {
        plan_candidates(&in_ns, &plans, "default", now)
            .iter()
            .map(|(p, _)| p.name_any())
            .collect()
    };
    assert_eq!(names(150_000), ["c"]);
    assert_eq!(names(160_000), ["b", "c"]);
    // Violations count from the last close of the Deployment's plans.
    let since: Vec<Millis> = plan_candidates(&in_ns, &plans, "default", 160_000)
        .iter()
        .map(|(_, since)| *since)
        .collect();
    assert_eq!(since, [100_000, i64::MIN]);
    // Plans of another namespace do not count.
    assert_eq!(plan_candidates(&in_ns, &plans, "prod", 150_000).len(), 3);
}

#[test]
fn a_rejection_closes_a_plan_at_the_time_it_was_rejected() {
    let mut rp = RemediationPolicy::new(
        "web-2",
        RemediationPolicySpec {
            plan: plan("web"),
            evidence: Evidence::default(),
            git_ops: None,
            hpa: None,
        },
    );
    rp.metadata.namespace = Some("default".into());
    let mut status = RemediationPolicyStatus {
        approval: ApprovalState::Rejected,
        ..RemediationPolicyStatus::default()
    };
    crate::conditions::set(
        &mut status.conditions,
        crate::controllers::executor::decide::APPROVED,
        false,
        "Rejected",
        "no",
        None,
        &time(77_000),
    );
    rp.status = Some(status);
    assert!(!is_open(&rp));
    let all = [Arc::new(rp)];
    assert_eq!(
        by_target(&all, "default")["web"],
        TargetPlans {
            open: false,
            last_closed: Some(77_000)
        }
    );
}

#[test]
fn the_plan_object_is_owned_by_its_policy_and_named_by_target_and_hash() {
    let analysis = AnalysisResult {
        analysis_id: "a".into(),
        violations_analyzed: 3,
        patterns: vec![],
        root_causes: vec![],
        recommendations: vec![],
        confidence_level: 0.8,
        breaches: Vec::new(),
        shared_causes: Vec::new(),
        episodes: Vec::new(),
    };
    let rp = plan_object(&policy(), plan("web"), &analysis, None, None);
    assert_eq!(rp.name_any(), "web-0123456789");
    assert_eq!(rp.metadata.namespace.as_deref(), Some("default"));
    let owner = &rp.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("ViolationPolicy", "lat", "uid-1")
    );
    assert_eq!(rp.spec.evidence.violations_analyzed, 3);
}

// Request-sequence tests against the scripted API server.

use kube::runtime::reflector;
use kube::runtime::watcher;

use crate::controllers::executor::decide::fixtures;
use crate::controllers::testing::*;
use mapek_engine::model::ActionType;

const NOW: Millis = 1_714_557_600_000;
const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/web";
const PLANS: &str = "/apis/mapek.io/v1alpha1/namespaces/default/remediationpolicies";
const VP: &str = "/apis/mapek.io/v1alpha1/namespaces/default/violationpolicies/web-latency";

/// Deployments as the watch cache keeps them.
fn compact(deployments: &[Deployment]) -> Vec<Compact<Deployment>> {
    deployments.iter().map(Compact::new).collect()
}

fn store<K>(objects: Vec<K>) -> Store<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    store
}

/// `web-latency` on `web` (scale in [1, 6] by at most 2, default cooldown of
/// 10 min) with a burst: four violations 50 to 20 s ago.
fn bursting() -> ViolationPolicy {
    let mut p = fixtures::policy("Manual");
    p.metadata.uid = Some("uid-web-latency".into());
    p.status = Some(ViolationPolicyStatus {
        recent_violations: [50, 40, 30, 20]
            .iter()
            .map(|s| RecordedViolation {
                id: format!("web-latency-{s}"),
                time: time(NOW - s * 1000),
                value: 0.9,
                threshold: 0.5,
            })
            .collect(),
        violation_count: 4,
        ..ViolationPolicyStatus::default()
    });
    p
}

/// An earlier plan `fix-web` for `web` with this status.
fn earlier_plan(status: Option<RemediationPolicyStatus>) -> RemediationPolicy {
    let mut rp = fixtures::plan(vec![fixtures::scale_up("a1", 3)], "Medium");
    rp.status = status;
    rp
}

fn finished_at(ms: Millis) -> RemediationPolicyStatus {
    RemediationPolicyStatus {
        approval: ApprovalState::Approved,
        phase: ExecutionPhase::Completed,
        execution: Some(PolicyExecution {
            started_at: Some(time(ms - 10_000)),
            finished_at: Some(time(ms)),
            ..PolicyExecution::default()
        }),
        ..RemediationPolicyStatus::default()
    }
}

/// Analyzes `default` with the bursting policy, `web` at 2 replicas and these
/// plans in the plans store.
async fn analyze(plans: Vec<RemediationPolicy>) -> Server {
    analyze_with(plans, bursting(), |_| {}).await
}

/// [`analyze`] with this policy, and `setup` adding objects to the server.
async fn analyze_with(
    plans: Vec<RemediationPolicy>,
    policy: ViolationPolicy,
    setup: impl FnOnce(&mut Server),
) -> Server {
    analyze_cached(plans, policy, setup, vec![]).await
}

/// [`analyze_with`] with these Deployments in the analyzer's watch cache.
async fn analyze_cached(
    plans: Vec<RemediationPolicy>,
    policy: ViolationPolicy,
    setup: impl FnOnce(&mut Server),
    cached: Vec<Deployment>,
) -> Server {
    let mut server = Server::empty();
    server.insert(DEPLOY, &fixtures::deployment(2));
    server.insert(VP, &policy);
    setup(&mut server);
    analyze_on(server, vec![policy], plans, cached).await
}

/// One analysis of `default` against `server`, with these policies, plans and
/// cached Deployments in the watch caches.
async fn analyze_on(
    server: Server,
    policies: Vec<ViolationPolicy>,
    plans: Vec<RemediationPolicy>,
    cached: Vec<Deployment>,
) -> Server {
    let harness = Harness::start(server, NOW);
    let knowledge = RwLock::new(KnowledgeBase::new());
    let (policies, plans, deployments) = (store(policies), store(plans), store(compact(&cached)));
    let stores = Stores {
        policies: &policies,
        plans: &plans,
        deployments: &deployments,
    };
    analyze_namespace(&harness.ctx, &stores, &knowledge, "default")
        .await
        .unwrap();
    harness.finish().await
}

#[tokio::test]
async fn a_burst_becomes_one_pending_plan_within_the_envelope() {
    let server = analyze(vec![]).await;
    let posts = requests(&server, "POST", PLANS);
    assert_eq!(posts.len(), 1, "{:?}", lines(&server, false));
    let rp = &posts[0].body;
    let name = rp["metadata"]["name"].as_str().unwrap().to_string();
    let status_path = format!("{PLANS}/{name}/status");
    assert_eq!(
        lines(&server, false),
        [
            // Its rollout history is not read: it has had one revision only.
            format!("GET {DEPLOY}"),
            // The HPAs (none here): a scale action would go through one.
            "GET /apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers".to_string(),
            format!("POST {PLANS}"),
            // What approval would change, sent as a dry run: nothing is stored.
            format!("PATCH {DEPLOY} (dry run)"),
            format!("PATCH {status_path}"),
            "EVENT Normal PlanProposed".to_string(),
            "EVENT Normal PlanProposed".to_string(),
            // The plan is recorded in the policy's breach episode.
            format!("PATCH {VP}/status"),
        ]
    );
    let episode = stored::<ViolationPolicy>(&server, VP)
        .status
        .unwrap()
        .episode
        .unwrap();
    assert_eq!(episode.state, mapek_engine::model::EpisodeState::Planned);
    assert_eq!(episode.plans.len(), 1);
    assert_eq!(episode.plans[0].name, name);
    assert_eq!(episode.max_plans, 2);
    assert!(
        rp["metadata"]["annotations"][EPISODE_SINCE].is_string(),
        "{}",
        rp["metadata"]
    );
    assert_eq!(rp["spec"]["evidence"]["breaches"][0]["episode"]["plans"], 0);
    assert_eq!(posts[0].code, 201);

    assert_eq!(rp["metadata"]["namespace"], "default");
    let owner = &rp["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "ViolationPolicy");
    assert_eq!(owner["name"], "web-latency");
    assert_eq!(owner["uid"], "uid-web-latency");
    // Why now: the policy's judgement travels with the plan.
    let why = &rp["spec"]["evidence"]["breaches"][0];
    assert_eq!(why["policy"], "web-latency");
    assert_eq!(why["actionable"], true);
    assert!(
        why["reason"].as_str().unwrap().starts_with("breaching now"),
        "{why}"
    );
    assert_eq!(owner["controller"], true);
    let spec = &rp["spec"];
    assert_eq!(spec["target"], "web");
    assert_eq!(spec["policy"], "web-latency");
    assert_eq!(spec["rootCause"], "LoadSpike");
    let hash = spec["planHash"].as_str().unwrap();
    assert!(!hash.is_empty());
    assert_eq!(name, format!("web-{}", &hash[..10]));
    let evidence: Vec<&str> = spec["evidence"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        evidence,
        [
            "web-latency-20",
            "web-latency-30",
            "web-latency-40",
            "web-latency-50"
        ]
    );

    let policy = bursting();
    let envelope = &policy.spec.remediation.envelope;
    let bounds = envelope.scale.clone().unwrap();
    let actions: Vec<mapek_engine::model::RemediationAction> =
        serde_json::from_value(spec["actions"].clone()).unwrap();
    assert!(!actions.is_empty());
    for a in &actions {
        assert!(envelope.allows(a.action_type), "{a:?}");
        assert_eq!(a.target, "web");
        if matches!(a.action_type, ActionType::ScaleUp | ActionType::ScaleDown) {
            let r = a.replicas.unwrap();
            assert!(
                (bounds.min_replicas..=bounds.max_replicas).contains(&r)
                    && (r - 2).abs() <= bounds.max_step,
                "{a:?} from 2 replicas outside {bounds:?}"
            );
        }
    }

    let patch = server
        .seen
        .iter()
        .find(|s| s.method == "PATCH" && s.path == status_path)
        .unwrap();
    assert_eq!(patch.content_type, "application/merge-patch+json");
    assert_eq!(patch.body["status"]["approval"], "Pending");
    assert_eq!(patch.body["status"]["phase"], "Pending");
    let plan: RemediationPolicy = stored(&server, &format!("{PLANS}/{name}"));
    let status = plan.status.unwrap();
    assert_eq!(status.approval, ApprovalState::Pending);
    // Each action's dry run: accepted, with what it would change; the
    // Deployment itself is unchanged.
    assert_eq!(status.dry_run.len(), actions.len(), "{:?}", status.dry_run);
    assert!(actions.iter().any(|a| a.replicas.is_some()), "{actions:?}");
    for (r, a) in status.dry_run.iter().zip(&actions) {
        assert_eq!(r.action_id, a.id.as_str());
        assert!(r.accepted && r.error.is_none(), "{r:?}");
        if let Some(n) = a.replicas {
            assert!(
                r.changes.iter().any(|c| c.field == "spec.replicas"
                    && c.before.as_deref() == Some("2")
                    && c.after == Some(n.to_string())),
                "{r:?}"
            );
        }
    }
    let d: Deployment = stored(&server, DEPLOY);
    assert_eq!(d.spec.replicas, Some(2));

    let events: Vec<&serde_json::Value> = server
        .seen
        .iter()
        .filter(|s| s.line().starts_with("EVENT"))
        .map(|s| &s.body)
        .collect();
    assert_eq!(events[0]["regarding"]["kind"], "RemediationPolicy");
    assert_eq!(events[0]["regarding"]["name"], json!(name));
    // The uid of the created object, so that `kubectl describe` finds the Event.
    assert_eq!(events[0]["regarding"]["uid"], json!(format!("uid-{name}")));
    assert_eq!(events[1]["regarding"]["uid"], "uid-web-latency");
    assert_eq!(events[1]["regarding"]["kind"], "ViolationPolicy");
    assert_eq!(events[1]["regarding"]["name"], "web-latency");
    assert!(
        events[0]["note"]
            .as_str()
            .unwrap()
            .contains(&format!("mapek.io/approve={hash}")),
        "{}",
        events[0]["note"]
    );
}

#[tokio::test]
async fn an_open_plan_for_the_target_means_no_new_plan() {
    let server = analyze(vec![earlier_plan(None)]).await;
    assert!(server.seen.is_empty(), "{:?}", lines(&server, false));
    let server = analyze(vec![earlier_plan(Some(RemediationPolicyStatus::default()))]).await;
    assert!(server.seen.is_empty(), "{:?}", lines(&server, false));
}

#[tokio::test]
async fn no_new_plan_during_the_cooldown_after_an_execution() {
    // Finished 2 min ago, before the burst: the burst is new evidence, but the
    // 10 min cooldown holds.
    let server = analyze(vec![earlier_plan(Some(finished_at(NOW - 120_000)))]).await;
    assert!(server.seen.is_empty(), "{:?}", lines(&server, false));
    // Finished 11 min ago: the same burst is planned for.
    let server = analyze(vec![earlier_plan(Some(finished_at(NOW - 660_000)))]).await;
    assert_eq!(requests(&server, "POST", PLANS).len(), 1);
}

const HPA: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web";

fn with_hpa(max: i32) -> impl FnOnce(&mut Server) {
    move |server: &mut Server| {
        server.insert(
            HPA,
            &crate::controllers::hpa::tests::hpa("web", "Deployment/web", Some(2), max),
        )
    }
}

#[tokio::test]
async fn a_plan_for_an_hpa_target_scales_through_its_min_replicas_within_its_max() {
    let server = analyze_with(vec![], bursting(), with_hpa(3)).await;
    let posts = requests(&server, "POST", PLANS);
    assert_eq!(posts.len(), 1, "{:?}", lines(&server, false));
    let spec = &posts[0].body["spec"];
    assert_eq!(spec["hpa"]["name"], "web");
    assert_eq!(spec["hpa"]["mode"], "RaiseMinReplicas");
    assert_eq!(
        (
            spec["hpa"]["minReplicas"].as_i64(),
            spec["hpa"]["maxReplicas"].as_i64()
        ),
        (Some(2), Some(3))
    );
    let actions: Vec<mapek_engine::model::RemediationAction> =
        serde_json::from_value(spec["actions"].clone()).unwrap();
    // 4 without the HPA (below), at most its maxReplicas 3 with it.
    assert_eq!(
        actions
            .iter()
            .map(|a| (a.action_type, a.replicas))
            .collect::<Vec<_>>(),
        [(ActionType::ScaleUp, Some(3))]
    );
    // Without the HPA the same burst scales to 4.
    let server = analyze(vec![]).await;
    let spec = &requests(&server, "POST", PLANS)[0].body["spec"];
    assert!(spec.get("hpa").is_none(), "{spec}");
    assert_eq!(spec["actions"][0]["replicas"], 4);
}

#[tokio::test]
async fn under_refuse_an_hpa_target_gets_no_scale_action_and_is_told_why() {
    let mut policy = bursting();
    policy.spec.remediation.hpa = mapek_api::HpaMode::Refuse;
    let server = analyze_with(vec![], policy, with_hpa(6)).await;
    let posts = requests(&server, "POST", PLANS);
    let scaled = posts.iter().any(|p| {
        p.body["spec"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["actionType"] == "SCALE_UP" || a["actionType"] == "SCALE_DOWN")
    });
    assert!(!scaled, "{:?}", lines(&server, false));
    // This burst gets no other action: no plan, and an Event on the policy
    // says why and what the plan would have been.
    assert!(posts.is_empty(), "{:?}", lines(&server, false));
    // The Event, then the episode the breach began (without a plan).
    let seen = &server.seen[..server.seen.len() - 1];
    assert_eq!(
        seen.last().map(Seen::line).as_deref(),
        Some("EVENT Warning HpaManaged")
    );
    assert_eq!(
        server.seen.last().map(Seen::line),
        Some(format!("PATCH {VP}/status"))
    );
    let note = seen.last().unwrap().body["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("HorizontalPodAutoscaler web") && note.contains("hpa is Refuse"),
        "{note}"
    );
    assert!(note.contains("Without it the plan would be"), "{note}");
    assert_eq!(
        seen.last().unwrap().body["regarding"]["kind"],
        "ViolationPolicy"
    );
}

#[tokio::test]
async fn a_deployment_with_a_second_revision_has_its_rollout_history_read() {
    let server = analyze_with(vec![], bursting(), |server| {
        let mut d = fixtures::deployment(2);
        d.metadata.uid = Some("uid-web".into());
        d.metadata.annotations =
            Some([(revisions::REVISION_ANNOTATION.to_string(), "2".to_string())].into());
        server.insert(DEPLOY, &d);
    })
    .await;
    let lines = lines(&server, false);
    assert_eq!(
        lines[..2],
        [
            format!("GET {DEPLOY}"),
            "GET /apis/apps/v1/namespaces/default/replicasets".to_string(),
        ],
        "{lines:?}"
    );
    // No ReplicaSet carries a change: the burst is planned for as before.
    assert_eq!(requests(&server, "POST", PLANS).len(), 1, "{lines:?}");
}

// Breach episodes over several analyses on one server.

/// A policy that breaches on and on, analyzed again and again on one server:
/// each step is a fresh analyzer (as after a restart) that knows only what the
/// server holds.
struct Incident {
    server: Server,
}

impl Incident {
    fn new() -> Incident {
        let mut server = Server::empty();
        server.insert(DEPLOY, &fixtures::deployment(2));
        server.insert(VP, &bursting());
        Incident { server }
    }

    fn policy(&self) -> ViolationPolicy {
        stored(&self.server, VP)
    }

    /// Four new violations 50 to 20 s before `now`.
    fn breach(&mut self, now: Millis) {
        let mut p = self.policy();
        let status = p.status.get_or_insert_with(Default::default);
        for s in [50, 40, 30, 20] {
            status.recent_violations.push(RecordedViolation {
                id: format!("web-latency-{}", now / 1000 - s),
                time: time(now - s * 1000),
                value: 0.9,
                threshold: 0.5,
            });
        }
        status.violation_count += 4;
        status.last_value = Some(0.9);
        self.server.insert(VP, &p);
    }

    /// The plans the server holds, by name.
    fn plans(&self) -> Vec<RemediationPolicy> {
        self.server
            .objects
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{PLANS}/")) && !k.ends_with("/status"))
            .map(|(_, v)| serde_json::from_value(v.clone()).unwrap())
            .collect()
    }

    /// Sets a plan's status, and the Deployment's replicas as its execution left them.
    fn close(&mut self, name: &str, status: RemediationPolicyStatus, replicas: i32) {
        let path = format!("{PLANS}/{name}");
        let mut rp: RemediationPolicy = stored(&self.server, &path);
        rp.status = Some(status);
        self.server.insert(&path, &rp);
        self.server.insert(DEPLOY, &fixtures::deployment(replicas));
    }

    /// One analysis at `now` by a fresh analyzer; returns the lines it sent.
    async fn analyze(&mut self, now: Millis) -> Vec<String> {
        let policy = self.policy();
        self.analyze_as(now, policy).await
    }

    /// [`Incident::analyze`] with `policy` in the analyzer's store (a watch
    /// cache behind the server, say).
    async fn analyze_as(&mut self, now: Millis, policy: ViolationPolicy) -> Vec<String> {
        let plans = self.plans();
        let server = std::mem::replace(&mut self.server, Server::empty());
        let before = server.seen.len();
        let harness = Harness::start(server, now);
        let knowledge = RwLock::new(KnowledgeBase::new());
        let (policies, plans, deployments) = (store(vec![policy]), store(plans), store(vec![]));
        let stores = Stores {
            policies: &policies,
            plans: &plans,
            deployments: &deployments,
        };
        analyze_namespace(&harness.ctx, &stores, &knowledge, "default")
            .await
            .unwrap();
        self.server = harness.finish().await;
        self.server.seen[before..].iter().map(Seen::line).collect()
    }

    fn episode(&self) -> mapek_api::PolicyEpisode {
        self.policy().status.unwrap().episode.unwrap()
    }

    fn exhausted(&self) -> Option<(String, String)> {
        self.policy()
            .status
            .unwrap()
            .conditions
            .iter()
            .find(|c| c.type_ == "Exhausted")
            .map(|c| (c.status.clone(), c.reason.clone()))
    }

    /// The one plan proposed by the lines, if any.
    fn proposed(&self, lines: &[String]) -> Option<String> {
        let posts: Vec<_> = lines
            .iter()
            .filter(|l| *l == &format!("POST {PLANS}"))
            .collect();
        assert!(posts.len() <= 1, "{lines:?}");
        posts.first()?;
        self.episode().plans.last().map(|p| p.name.clone())
    }
}

const MIN: Millis = 60_000;

fn rejected() -> RemediationPolicyStatus {
    RemediationPolicyStatus {
        approval: ApprovalState::Rejected,
        ..RemediationPolicyStatus::default()
    }
}

fn events(lines: &[String], reason: &str) -> usize {
    lines.iter().filter(|l| l.ends_with(reason)).count()
}

#[tokio::test]
async fn an_executed_plan_gets_one_escalation_then_the_episode_is_exhausted() {
    use mapek_engine::model::{EpisodePlanState, EpisodeState};
    let mut incident = Incident::new();
    let lines = incident.analyze(NOW).await;
    let first = incident.proposed(&lines).expect("a first plan");
    assert_eq!(incident.episode().state, EpisodeState::Planned);
    // It ran, scaled web to 4, and the breach goes on past the cooldown and
    // the stabilization window: one more plan.
    incident.close(&first, finished_at(NOW + MIN), 4);
    let t = NOW + 12 * MIN;
    incident.breach(t);
    let lines = incident.analyze(t).await;
    let second = incident.proposed(&lines).expect("an escalation");
    assert_ne!(first, second);
    let e = incident.episode();
    assert_eq!(
        e.plans.iter().map(|p| p.state).collect::<Vec<_>>(),
        [EpisodePlanState::Executed, EpisodePlanState::Open]
    );
    let plan: RemediationPolicy = stored(&incident.server, &format!("{PLANS}/{second}"));
    let mark = plan.spec.evidence.breaches[0].episode.clone().unwrap();
    assert_eq!((mark.plans, mark.max_plans), (1, 2));
    assert!(mark.reason.starts_with("escalation"), "{mark:?}");
    assert_eq!(e.since, incident.episode().since);
    // The second ran too and the breach still goes on: Exhausted, one Warning
    // Event, the condition and the metric; no plan.
    incident.close(&second, finished_at(t + MIN), 6);
    let t = t + 12 * MIN;
    incident.breach(t);
    let stale = incident.policy();
    let lines = incident.analyze(t).await;
    assert_eq!(incident.proposed(&lines), None, "{lines:?}");
    assert_eq!(events(&lines, "RemediationExhausted"), 1, "{lines:?}");
    assert_eq!(incident.episode().state, EpisodeState::Exhausted);
    assert_eq!(
        incident.exhausted(),
        Some(("True".into(), "MaxPlansReached".into()))
    );
    // An analysis from a watch cache that has not seen that write yet: the
    // write is refused (resourceVersion), the policy read again, and the
    // Event not published twice.
    let lines = incident.analyze_as(t + 1_000, stale).await;
    assert!(lines.contains(&format!("GET {VP}")), "{lines:?}");
    assert_eq!(events(&lines, "RemediationExhausted"), 0, "{lines:?}");
    // Later analyses: still no plan, and no second Event.
    for k in 1..=3 {
        let t = t + k * 11 * MIN;
        incident.breach(t);
        let lines = incident.analyze(t).await;
        assert_eq!(incident.proposed(&lines), None, "{lines:?}");
        assert_eq!(events(&lines, "RemediationExhausted"), 0, "{lines:?}");
    }
}

#[tokio::test]
async fn a_rejected_plan_gets_no_other_plan_in_its_episode() {
    use mapek_engine::model::EpisodeState;
    let mut incident = Incident::new();
    let lines = incident.analyze(NOW).await;
    let first = incident.proposed(&lines).unwrap();
    incident.close(&first, rejected(), 2);
    let t = NOW + 12 * MIN;
    incident.breach(t);
    let lines = incident.analyze(t).await;
    assert_eq!(incident.proposed(&lines), None, "{lines:?}");
    assert_eq!(incident.episode().state, EpisodeState::Exhausted);
    assert_eq!(
        incident.exhausted(),
        Some(("True".into(), "PlanDeclined".into()))
    );
    assert_eq!(events(&lines, "RemediationExhausted"), 1, "{lines:?}");
}

#[tokio::test]
async fn a_fresh_analyzer_rebuilds_the_episode_from_the_status() {
    let mut incident = Incident::new();
    let lines = incident.analyze(NOW).await;
    let first = incident.proposed(&lines).unwrap();
    let since = incident.episode().since;
    // The plan is gone (deleted by hand, say) and the operator restarted:
    // the status still says the episode had its plan, which counts as executed.
    incident.server.objects.remove(&format!("{PLANS}/{first}"));
    // Within the stabilization window after it: no new first plan.
    let t = NOW + MIN;
    incident.breach(t);
    let lines = incident.analyze(t).await;
    assert!(!lines.contains(&format!("POST {PLANS}")), "{lines:?}");
    let e = incident.episode();
    assert_eq!(e.plans.len(), 1);
    assert_eq!(
        e.plans[0].state,
        mapek_engine::model::EpisodePlanState::Executed
    );
    assert_eq!(e.since, since, "the same episode, not a new one");
}

#[tokio::test]
async fn after_the_episode_resolves_a_new_breach_gets_a_new_plan() {
    use mapek_engine::model::EpisodeState;
    let mut incident = Incident::new();
    let lines = incident.analyze(NOW).await;
    let first = incident.proposed(&lines).unwrap();
    incident.close(&first, rejected(), 2);
    let t = NOW + 12 * MIN;
    incident.breach(t);
    incident.analyze(t).await;
    assert_eq!(incident.episode().state, EpisodeState::Exhausted);
    // Within the threshold since: after keepFiringFor (5 min) the timer ends it.
    let mut p = incident.policy();
    p.status.as_mut().unwrap().last_value = Some(0.1);
    incident.server.insert(VP, &p);
    let lines = incident.analyze(t + 2 * MIN).await;
    assert_eq!(
        incident.episode().state,
        EpisodeState::Exhausted,
        "{lines:?}"
    );
    let lines = incident.analyze(t + 6 * MIN).await;
    assert_eq!(
        incident.episode().state,
        EpisodeState::Resolved,
        "{lines:?}"
    );
    assert_eq!(events(&lines, "EpisodeResolved"), 1, "{lines:?}");
    assert_eq!(
        incident.exhausted(),
        Some(("False".into(), "EpisodeResolved".into()))
    );
    // A new breach: a new episode and its plan.
    let t = t + 20 * MIN;
    incident.breach(t);
    let lines = incident.analyze(t).await;
    let next = incident
        .proposed(&lines)
        .expect("a plan for the new episode");
    assert_ne!(next, first);
    let e = incident.episode();
    assert_eq!(e.plans.len(), 1, "{e:?}");
    assert!(e.since.0.as_millisecond() > NOW + 20 * MIN, "{e:?}");
}

#[test]
fn a_plans_state_in_its_episode_follows_its_remediation_policy() {
    use mapek_engine::model::EpisodePlanState as S;
    let with = |approval, phase| {
        let mut rp = earlier_plan(Some(RemediationPolicyStatus {
            approval,
            phase,
            ..RemediationPolicyStatus::default()
        }));
        if phase == ExecutionPhase::Completed {
            rp.status = Some(finished_at(NOW));
        }
        episodes::plan_state(Some(&rp))
    };
    assert_eq!(episodes::plan_state(None), (S::Executed, None));
    assert_eq!(
        with(ApprovalState::Pending, ExecutionPhase::Pending).0,
        S::Open
    );
    assert_eq!(
        with(ApprovalState::Approved, ExecutionPhase::InProgress).0,
        S::Open
    );
    assert_eq!(
        with(ApprovalState::Approved, ExecutionPhase::Completed),
        (S::Executed, Some(NOW))
    );
    assert_eq!(
        with(ApprovalState::Approved, ExecutionPhase::Failed).0,
        S::Failed
    );
    assert_eq!(
        with(ApprovalState::Approved, ExecutionPhase::RolledBack).0,
        S::Failed
    );
    assert_eq!(
        with(ApprovalState::Rejected, ExecutionPhase::Pending).0,
        S::Rejected
    );
    assert_eq!(
        with(ApprovalState::Expired, ExecutionPhase::Pending).0,
        S::Expired
    );
}

#[test]
fn the_exhausted_condition_follows_the_episode_and_is_absent_until_needed() {
    use mapek_engine::model::{Episode, EpisodeState};
    let mut e = Episode {
        policy: "web-latency".into(),
        since_ms: NOW,
        last_breach_ms: NOW,
        state: EpisodeState::Planned,
        plans: Vec::new(),
        max_plans: 2,
        ended_ms: None,
        message: "m".into(),
    };
    assert_eq!(episodes::condition(&[], &e), None);
    e.state = EpisodeState::Exhausted;
    let (on, reason, _) = episodes::condition(&[], &e).unwrap();
    assert!(on && reason == "MaxPlansReached");
    let mut conditions = Vec::new();
    crate::conditions::set(
        &mut conditions,
        episodes::EXHAUSTED,
        true,
        reason,
        "m",
        None,
        &time(NOW),
    );
    assert_eq!(episodes::condition(&conditions, &e), None);
    e.state = EpisodeState::Resolved;
    assert_eq!(
        episodes::condition(&conditions, &e).map(|c| (c.0, c.1)),
        Some((false, "EpisodeResolved"))
    );
    // An Event only on the change of state.
    let before = Episode {
        state: EpisodeState::Exhausted,
        ..e.clone()
    };
    assert!(matches!(
        episodes::event(Some(&before), &e),
        Some(EpisodeEvent::Resolved(_))
    ));
    assert_eq!(episodes::event(Some(&e), &e), None);
    assert!(matches!(
        episodes::event(Some(&e), &before),
        Some(EpisodeEvent::Exhausted(_))
    ));
}

#[test]
fn a_changed_message_alone_waits_for_the_refresh() {
    use mapek_engine::model::EpisodeState;
    let e = Episode {
        policy: "p".into(),
        since_ms: NOW,
        last_breach_ms: NOW,
        state: EpisodeState::Breaching,
        plans: Vec::new(),
        max_plans: 2,
        ended_ms: None,
        message: "accepted as a breach; no plan yet".into(),
    };
    let written = episodes::to_status(&e);
    let later = |ms: Millis, message: &str| {
        episodes::to_status(&Episode {
            last_breach_ms: NOW + ms,
            message: message.into(),
            ..e.clone()
        })
    };
    let msg = "the episode has had no plan yet";
    assert!(!episodes::worth_writing(
        Some(&written),
        &later(10_000, msg)
    ));
    assert!(episodes::worth_writing(
        Some(&written),
        &later(episodes::LAST_BREACH_REFRESH_MS, msg)
    ));
    let exhausted = episodes::to_status(&Episode {
        state: EpisodeState::Exhausted,
        ..e.clone()
    });
    assert!(episodes::worth_writing(Some(&written), &exhausted));
}

#[tokio::test]
async fn a_deployment_in_the_watch_cache_is_not_read_again() {
    let mut d = fixtures::deployment(2);
    d.metadata.namespace = Some("default".into());
    let server = analyze_cached(vec![], bursting(), |_| {}, vec![d]).await;
    let sent = lines(&server, false);
    assert_eq!(requests(&server, "POST", PLANS).len(), 1, "{sent:?}");
    assert!(!sent.contains(&format!("GET {DEPLOY}")), "{sent:?}");
}

#[tokio::test]
async fn every_policy_breaching_in_the_same_pass_gets_its_own_plan() {
    // More breaching policies than the engine's 20 patterns of a kind, each
    // on its own Deployment and metric: one pass plans for all of them.
    let n = 25;
    let mut server = Server::empty();
    let (mut policies, mut cached) = (vec![], vec![]);
    for i in 0..n {
        let mut p = bursting();
        p.metadata.name = Some(format!("p{i}"));
        p.metadata.uid = Some(format!("uid-p{i}"));
        p.spec.target_ref.name = format!("web{i}");
        for v in &mut p.status.as_mut().unwrap().recent_violations {
            v.id = format!("p{i}-{}", v.id);
        }
        let mut d = fixtures::deployment(2);
        d.metadata.name = Some(format!("web{i}"));
        d.metadata.namespace = Some("default".into());
        server.insert(
            &format!("/apis/apps/v1/namespaces/default/deployments/web{i}"),
            &d,
        );
        server.insert(
            &format!("/apis/mapek.io/v1alpha1/namespaces/default/violationpolicies/p{i}"),
            &p,
        );
        policies.push(p);
        cached.push(d);
    }
    let server = analyze_on(server, policies, vec![], cached).await;
    let posts = requests(&server, "POST", PLANS);
    let mut targets: Vec<String> = posts
        .iter()
        .map(|p| p.body["spec"]["target"].as_str().unwrap().to_string())
        .collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), n, "{targets:?}");
}
