//! The Analyzer controller: over the violations of the ViolationPolicies of a
//! namespace (with those the monitor recorded and has not written yet,
//! [`super::monitor::Unwritten`]) it runs the engine's analysis and planning,
//! and writes each plan as a
//! Pending RemediationPolicy unless an open plan already covers the Deployment or
//! the Deployment is in cooldown. It runs when the monitor records a violation, and
//! on a timer. Before judging, it reads the latest pod-template change of each
//! Deployment it may plan for (its ReplicaSets, [`super::revisions`]): a breach
//! that began shortly after one is blamed on it. Each policy's breach episode
//! (one incident, one plan, bounded escalation: `mapek_engine::episode`) lives
//! in its `status.episode`: read back before each analysis, passed to the
//! engine, and written when it changes, with the `Exhausted` condition and
//! Events (`episodes.rs` holds the pure part). (Plans nobody approves in time
//! are expired by the executor, which owns every RemediationPolicy's status once
//! it exists.)
//!
//! One analysis of a namespace, in steps: read the episodes, read the
//! candidates' targets, run the engine, choose targets, generate and write
//! plans, write the episodes.

mod decide;
mod dry_run;
mod episodes;
mod gitops;

pub use episodes::EXHAUSTED;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use super::compact::Compact;
use super::{Context, hpa, revisions};
use mapek_api::{
    ApprovalState, ExecutionPhase, RemediationPolicy, RemediationPolicyStatus, ViolationPolicy,
};
use mapek_engine::knowledge::KnowledgeBase;
use mapek_engine::model::{
    ActionType, AnalysisResult, Episode, Millis, RemediationPlan, Samples, Series, SharedStr,
};
use mapek_engine::{AnalyzerConfig, PatternAnalyzer, PlanTarget, Planner, PlannerConfig};

pub use decide::*;
use episodes::EpisodeEvent;

/// The annotation on a plan that names its breach episode: when it began.
pub const EPISODE_SINCE: &str = "mapek.io/episode-since";

/// Runs the analyzer until `shutdown` completes: on every namespace the monitor
/// sends, and over all namespaces every evaluation interval. Candidates'
/// Deployments are read from `deployments`, a watch cache (see
/// [`super::caches`]).
pub async fn run(
    ctx: Arc<Context>,
    policies: Store<ViolationPolicy>,
    plans: Store<RemediationPolicy>,
    deployments: Store<Compact<Deployment>>,
    knowledge: Arc<RwLock<KnowledgeBase>>,
    mut wake: mpsc::Receiver<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(ctx.settings.default_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        let namespaces: BTreeSet<String> = tokio::select! {
            _ = &mut shutdown => return,
            Some(ns) = wake.recv() => {
                let mut set = BTreeSet::from([ns]);
                while let Ok(more) = wake.try_recv() {
                    set.insert(more);
                }
                set
            }
            _ = ticker.tick() => {
                let all = policies.state();
                let exhausted = all
                    .iter()
                    .filter(|p| {
                        p.status.as_ref().and_then(|s| s.episode.as_ref()).is_some_and(|e| {
                            e.state == mapek_engine::model::EpisodeState::Exhausted
                        })
                    })
                    .count();
                ctx.metrics.policies_exhausted.set(exhausted as i64);
                all.iter().filter_map(|p| p.namespace()).collect()
            }
        };
        for ns in namespaces {
            let started = std::time::Instant::now();
            let stores = Stores {
                policies: &policies,
                plans: &plans,
                deployments: &deployments,
            };
            let result = analyze_namespace(&ctx, &stores, &knowledge, &ns).await;
            let seconds = started.elapsed().as_secs_f64();
            ctx.metrics.reconciled("analyzer", seconds, result.is_err());
            if let Err(e) = result {
                tracing::warn!(namespace = %ns, error = %e, "analysis failed");
            }
        }
    }
}

/// A shared cause (same-instant breaches across Deployments sharing a metric) is
/// not acted on: it is counted in a metric and reported as a Warning Event on each
/// policy involved.
async fn report_shared_causes(
    ctx: &Context,
    policies: &[Arc<ViolationPolicy>],
    analysis: &mapek_engine::model::AnalysisResult,
) {
    for cause in &analysis.shared_causes {
        ctx.metrics.shared_causes.inc();
        for name in &cause.policies {
            let Some(p) = policies.iter().find(|p| &p.name_any() == name) else {
                continue;
            };
            tracing::info!(policy = %name, metric = %cause.metric, "shared cause; no plan");
            let event = Event {
                type_: EventType::Warning,
                reason: "SharedCause".into(),
                note: Some(cause.description.clone()),
                action: "Analyze".into(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &p.object_ref(&())).await {
                tracing::debug!(error = %e, "cannot publish an event");
            }
        }
    }
}

/// No plan for a Deployment a GitOps tool manages, as the policy says: a
/// Warning Event on the policy and a metric say why.
async fn refuse_gitops(ctx: &Context, policy: &ViolationPolicy, reason: &str) {
    tracing::info!(policy = %policy.name_any(), reason, "no plan: GitOps-managed target");
    ctx.metrics.gitops_refused.inc();
    let event = Event {
        type_: EventType::Warning,
        reason: "GitOpsManaged".into(),
        note: Some(reason.chars().take(1024).collect()),
        action: "Analyze".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &policy.object_ref(&())).await {
        tracing::debug!(error = %e, "cannot publish an event");
    }
}

/// Scale actions left out for a Deployment an HPA scales, where the plan would
/// have scaled and no plan results: a Warning Event on the policy says why.
async fn report_hpa_withheld(ctx: &Context, policy: &ViolationPolicy, reason: &str) {
    tracing::info!(policy = %policy.name_any(), reason, "no scale action: HPA-managed target");
    let event = Event {
        type_: EventType::Warning,
        reason: "HpaManaged".into(),
        note: Some(reason.chars().take(1024).collect()),
        action: "Analyze".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &policy.object_ref(&())).await {
        tracing::debug!(error = %e, "cannot publish an event");
    }
}

/// Most Deployment and ReplicaSet reads in flight at once (only before the
/// watch caches hold their first lists: after that nothing is read).
const READ_CONCURRENCY: usize = 8;

/// A Deployment and its ReplicaSets once it has had a second revision (before
/// that there is no change to read), from the watch caches. A Deployment the
/// cache does not hold is read with GET only while the cache has not finished
/// its first list; after that it does not exist (or was created since, and is
/// planned for at the next analysis). A failed ReplicaSet read is logged: the
/// breach is then judged without a change.
async fn read_history(
    ctx: &Context,
    deployments: Api<Deployment>,
    replica_sets: Api<ReplicaSet>,
    cache: &Store<Compact<Deployment>>,
    target: String,
) -> Result<Option<(Deployment, Option<Vec<ReplicaSet>>)>, kube::Error> {
    let namespace = deployments.namespace().unwrap_or_default().to_string();
    let d = match cache
        .get(&ObjectRef::new(&target).within(&namespace))
        .and_then(|d| d.object())
    {
        Some(d) => d,
        None if super::caches::ready(cache) => return Ok(None),
        None => match deployments.get_opt(&target).await? {
            Some(d) => d,
            None => return Ok(None),
        },
    };
    if revisions::current_revision(&d).is_none_or(|r| r <= 1) {
        return Ok(Some((d, None)));
    }
    let sets = ctx
        .caches
        .replica_sets_of(&replica_sets, &d)
        .await
        .map_err(|e| {
            tracing::warn!(
                deployment = %target, error = %e,
                "cannot read the Deployment's ReplicaSets; judging without its rollout history"
            );
        });
    Ok(Some((d, sets.ok())))
}

/// The breach episodes of a namespace's policies during one analysis: as the
/// statuses hold them (`stored`), and as they stand now (`now`), by policy.
#[derive(Default)]
struct Episodes {
    stored: HashMap<String, Episode>,
    now: HashMap<String, Episode>,
}

/// The watch caches an analysis reads.
struct Stores<'a> {
    policies: &'a Store<ViolationPolicy>,
    plans: &'a Store<RemediationPolicy>,
    deployments: &'a Store<Compact<Deployment>>,
}

/// One analysis of a namespace: the policies' stored episodes are read (and
/// those no longer breaching are ended), the candidates are judged and planned
/// for, and the episodes that changed are written back, whatever became of the
/// planning.
async fn analyze_namespace(
    ctx: &Context,
    stores: &Stores<'_>,
    knowledge: &RwLock<KnowledgeBase>,
    namespace: &str,
) -> Result<(), kube::Error> {
    let now = ctx.clock.now_ms();
    let in_ns: Vec<Arc<ViolationPolicy>> = ctx.unwritten.views(
        stores
            .policies
            .state()
            .into_iter()
            .filter(|p| p.namespace().as_deref() == Some(namespace))
            .collect(),
    );
    let all_plans = stores.plans.state();
    let t0 = std::time::Instant::now();
    let mut episodes = read_episodes(ctx, &in_ns, &all_plans, namespace, now);
    let t_read = t0.elapsed();
    let planned = plan_namespace(
        ctx,
        &in_ns,
        &all_plans,
        stores.deployments,
        knowledge,
        namespace,
        &mut episodes,
        now,
    )
    .await;
    let t_plan = t0.elapsed() - t_read;
    let written = write_episodes(ctx, &in_ns, namespace, &episodes).await;
    tracing::info!(
        namespace,
        policies = in_ns.len(),
        read_ms = t_read.as_millis() as u64,
        plan_ms = t_plan.as_millis() as u64,
        episodes_ms = (t0.elapsed() - t_read - t_plan).as_millis() as u64,
        "analysis pass"
    );
    planned.and(written)
}

/// Step 1: the episodes the policies' statuses hold, their plans' states
/// refreshed from the RemediationPolicies; an unresolved one whose metric has
/// been within its threshold for `keepFiringFor` since its last breach ends now
/// (only policies with an unresolved episode are looked at).
fn read_episodes(
    ctx: &Context,
    in_ns: &[Arc<ViolationPolicy>],
    all_plans: &[Arc<RemediationPolicy>],
    namespace: &str,
    now: Millis,
) -> Episodes {
    let by_name: HashMap<&str, &Arc<RemediationPolicy>> = all_plans
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter_map(|p| Some((p.metadata.name.as_deref()?, p)))
        .collect();
    let config = analyzer_config(ctx).episode;
    let mut out = Episodes::default();
    for p in in_ns {
        let Some(status) = p.status.as_ref().and_then(|s| s.episode.as_ref()) else {
            continue;
        };
        let name = p.name_any();
        out.stored
            .insert(name.clone(), episodes::from_status(&name, status));
        let Some(mut e) = episodes::stored(p, &by_name) else {
            continue;
        };
        if !e.is_resolved() {
            let key = crate::controllers::monitor::history_key(p, ctx.settings.default_interval);
            ctx.history.with_points(&key, |points| {
                episodes::resolve_quiet(&mut e, p, points, &config, now)
            });
        }
        out.now.insert(name, e);
    }
    out
}

/// The engine's settings: its episodes' stabilization is the operator's.
fn analyzer_config(ctx: &Context) -> AnalyzerConfig {
    let mut config = AnalyzerConfig::default();
    config.episode.stabilization_ms = ctx.settings.stabilization_window.as_millis() as Millis;
    config
}

/// Steps 2 to 5: the candidates' Deployments are read, the engine judges them
/// with their episodes, the targets are chosen and the plans written.
#[allow(clippy::too_many_arguments)]
async fn plan_namespace(
    ctx: &Context,
    in_ns: &[Arc<ViolationPolicy>],
    all_plans: &[Arc<RemediationPolicy>],
    cache: &Store<Compact<Deployment>>,
    knowledge: &RwLock<KnowledgeBase>,
    namespace: &str,
    episodes: &mut Episodes,
    now: Millis,
) -> Result<(), kube::Error> {
    let candidates = plan_candidates(in_ns, all_plans, namespace, now);
    let mut violations = Vec::new();
    for (p, since) in &candidates {
        violations.extend(engine_violations(p, *since));
    }
    if violations.is_empty() {
        return Ok(());
    }
    let t0 = std::time::Instant::now();
    let live = read_targets(ctx, namespace, &candidates, cache).await?;
    let t_targets = t0.elapsed();
    let Some(analysis) = run_engine(
        ctx,
        namespace,
        &candidates,
        violations,
        &live,
        episodes,
        now,
    )
    .await
    else {
        return Ok(());
    };
    episodes.now.extend(
        analysis
            .episodes
            .iter()
            .map(|e| (e.policy.clone(), e.clone())),
    );
    report_shared_causes(ctx, in_ns, &analysis).await;
    let t_engine = t0.elapsed() - t_targets;
    let chosen = choose_targets(ctx, namespace, &candidates, &analysis, &live).await;
    tracing::info!(
        candidates = candidates.len(),
        breaches = analysis.breaches.len(),
        root_causes = analysis.root_causes.len(),
        chosen = chosen.targets.len(),
        targets_ms = t_targets.as_millis() as u64,
        engine_ms = t_engine.as_millis() as u64,
        "analysis judged"
    );
    if chosen.targets.is_empty() {
        return Ok(());
    }
    let mut chosen = chosen;
    let generated = generate_plans(ctx, in_ns, knowledge, &analysis, &mut chosen).await;
    write_plans(
        ctx, namespace, in_ns, generated, &analysis, &chosen, &live, episodes, now,
    )
    .await
}

/// What was read of the candidates' Deployments: each Deployment, its
/// ReplicaSets once it has a second revision, and the latest change of each
/// one's pod template (the change before a breach is evidence).
struct Targets {
    deployments: Api<Deployment>,
    live: HashMap<String, Deployment>,
    histories: HashMap<String, Vec<ReplicaSet>>,
    changes: Vec<mapek_engine::model::TemplateChange>,
}

/// Step 2: the Deployments that may get a plan (from the watch cache `cache`)
/// and their rollout histories.
async fn read_targets(
    ctx: &Context,
    namespace: &str,
    candidates: &[(Arc<ViolationPolicy>, Millis)],
    cache: &Store<Compact<Deployment>>,
) -> Result<Targets, kube::Error> {
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    let mut out = Targets {
        deployments: deployments.clone(),
        live: HashMap::new(),
        histories: HashMap::new(),
        changes: Vec::new(),
    };
    let names: BTreeSet<String> = candidates
        .iter()
        .map(|(p, _)| p.spec.target_ref.name.clone())
        .collect();
    // A few reads at a time: with many policies breaching at once, one by one
    // they would hold up the analysis.
    let reads = names.into_iter().map(|target| {
        let (deployments, replica_sets) = (deployments.clone(), replica_sets.clone());
        read_history(ctx, deployments, replica_sets, cache, target)
    });
    let read: Vec<_> = futures::stream::iter(reads)
        .buffer_unordered(READ_CONCURRENCY)
        .collect()
        .await;
    for r in read {
        let Some((d, sets)) = r? else {
            continue;
        };
        if let Some(sets) = sets {
            out.changes.extend(revisions::latest_change(&d, &sets));
            out.histories.insert(d.name_any(), sets);
        }
        out.live.insert(d.name_any(), d);
    }
    // The engine's input in a canonical order, whatever order the reads ended in.
    out.changes.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(out)
}

/// Step 3: the engine judges the candidates, with their episodes, on a blocking
/// thread: over a namespace of many policies with hours of samples each it
/// takes long enough to hold up the other controllers. Samples are copied only
/// when there is something to judge. `None`: it did not finish.
async fn run_engine(
    ctx: &Context,
    namespace: &str,
    candidates: &[(Arc<ViolationPolicy>, Millis)],
    violations: Vec<mapek_engine::model::Violation>,
    live: &Targets,
    episodes: &Episodes,
    now: Millis,
) -> Option<AnalysisResult> {
    let started = std::time::Instant::now();
    let history = ctx.history.clone();
    let interval = ctx.settings.default_interval;
    let judged: Vec<Arc<ViolationPolicy>> = candidates.iter().map(|(p, _)| p.clone()).collect();
    let before: Vec<Episode> = judged
        .iter()
        .filter_map(|p| episodes.now.get(&p.name_any()).cloned())
        .collect();
    let changes = live.changes.clone();
    // Every candidate may get its own plan: the engine's cap on patterns of a
    // kind (a limit of what one report shows) would plan for 20 Deployments a
    // pass when a thousand breach together.
    let mut config = analyzer_config(ctx);
    config.max_patterns_per_type = config.max_patterns_per_type.max(candidates.len());
    let analysis = tokio::task::spawn_blocking(move || {
        // The monitor's series read in place (held, not copied, while the
        // engine judges); the context samples are copied.
        let mut held = Vec::with_capacity(judged.len());
        let mut context = Vec::new();
        let mut infos = Vec::with_capacity(judged.len());
        for p in &judged {
            let name = SharedStr::from(p.name_any());
            let key = crate::controllers::monitor::history_key(p, interval);
            held.push((name.clone(), engine_points(p, history.shared(&key))));
            for (kind, key) in crate::controllers::monitor::context_keys(p, interval) {
                history.with_points(&key, |points| {
                    context_samples(&mut context, &name, kind, points)
                });
            }
            infos.push(policy_info(p));
        }
        let series: Vec<Series> = held
            .iter()
            .map(|(name, points)| Series {
                policy: name.as_str(),
                points,
            })
            .collect();
        PatternAnalyzer::new(config).analyze_with_episodes(
            &violations,
            Samples::Series(&series),
            &context,
            &changes,
            &infos,
            &before,
            now,
        )
    })
    .await;
    let analysis = match analysis {
        Ok(analysis) => analysis,
        Err(e) => {
            tracing::error!(namespace = %namespace, error = %e, "the analysis did not finish; no plan");
            return None;
        }
    };
    ctx.metrics
        .phase("analyze", started.elapsed().as_secs_f64());
    for p in &analysis.patterns {
        ctx.metrics
            .patterns_detected
            .get_or_create(&crate::metrics::PatternLabels {
                pattern_type: format!("{:?}", p.pattern_type),
            })
            .inc();
    }
    Some(analysis)
}

/// The targets chosen for planning, with what the plans will carry about them.
struct Chosen {
    targets: Vec<PlanTarget>,
    /// GitOps and HPA marks by policy.
    marks: HashMap<String, Option<mapek_api::GitOpsMark>>,
    hpa_marks: HashMap<String, Option<mapek_api::HpaMark>>,
    /// The targets whose scale actions an HPA took out, with their full
    /// envelope and why: planned again to tell whether the plan would have scaled.
    withheld: Vec<(PlanTarget, String)>,
    hpas: Vec<HorizontalPodAutoscaler>,
    hpa_api: Api<HorizontalPodAutoscaler>,
}

/// The HPAs that may scale a candidate (read only when one may scale): a scale
/// action goes through one, or is left out, never against it. Unread (a 403
/// from an older install's RBAC, say), they might scale any candidate: the
/// error says why its scale actions are left out.
async fn read_hpas(
    ctx: &Context,
    hpa_api: &Api<HorizontalPodAutoscaler>,
    namespace: &str,
    candidates: &[(Arc<ViolationPolicy>, Millis)],
) -> (Vec<HorizontalPodAutoscaler>, Option<String>) {
    let scaling = candidates.iter().any(|(p, _)| {
        let e = &p.spec.remediation.envelope;
        e.allows(ActionType::ScaleUp) || e.allows(ActionType::ScaleDown)
    });
    if !scaling {
        return (Vec::new(), None);
    }
    match ctx.caches.hpas_in(hpa_api, namespace).await {
        Ok(hpas) => (hpas, None),
        Err(e) => {
            tracing::warn!(namespace = %namespace, error = %e, "cannot list the HorizontalPodAutoscalers; no scale actions");
            (Vec::new(), Some(e.to_string()))
        }
    }
}

/// Step 4: the candidates the engine found a root cause for, whose Deployment
/// exists and whose GitOps rule allows a plan, each within its envelope (an
/// HPA's scale actions go through it or are left out).
async fn choose_targets(
    ctx: &Context,
    namespace: &str,
    candidates: &[(Arc<ViolationPolicy>, Millis)],
    analysis: &AnalysisResult,
    live: &Targets,
) -> Chosen {
    let hpa_api: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), namespace);
    let (hpas, hpa_error) = read_hpas(ctx, &hpa_api, namespace, candidates).await;
    let mut chosen = Chosen {
        targets: Vec::new(),
        marks: HashMap::new(),
        hpa_marks: HashMap::new(),
        withheld: Vec::new(),
        hpas,
        hpa_api,
    };
    for (p, _) in candidates {
        let target = &p.spec.target_ref.name;
        if !analysis
            .root_causes
            .iter()
            .any(|c| c.policy == p.name_any())
        {
            continue;
        }
        let Some(deployment) = live.live.get(target) else {
            tracing::debug!(policy = %p.name_any(), target = %target, "target Deployment not found; no plan");
            continue;
        };
        // A Deployment a GitOps tool manages: the policy says whether to plan.
        match gitops::mark(deployment, p.spec.remediation.git_ops) {
            Ok(mark) => {
                chosen.marks.insert(p.name_any(), mark);
            }
            Err(reason) => {
                refuse_gitops(ctx, p, &reason).await;
                continue;
            }
        }
        // An escalation tries what its episode has not.
        let envelope = match analysis.episodes.iter().find(|e| e.policy == p.name_any()) {
            Some(e) => e.escalation_envelope(&p.spec.remediation.envelope),
            None => p.spec.remediation.envelope.clone(),
        };
        let target = PlanTarget {
            policy: p.name_any().into(),
            deployment: target.as_str().into(),
            current_replicas: deployment.spec.replicas.unwrap_or(1),
            severity: p.spec.severity,
            envelope,
        };
        let view = match &hpa_error {
            Some(reason) => hpa::unknown(&target.deployment, &target.envelope, reason),
            None => hpa::plan_view(
                &chosen.hpas,
                &target.deployment,
                p.spec.remediation.hpa,
                &target.envelope,
            ),
        };
        if let Some(reason) = view.withheld {
            chosen.withheld.push((target.clone(), reason));
        }
        chosen.hpa_marks.insert(p.name_any(), view.mark);
        chosen.targets.push(PlanTarget {
            envelope: view.envelope,
            ..target
        });
    }
    chosen
}

/// The plans for the chosen targets; a policy whose plan would have scaled but
/// for an HPA is told so (in its plan's HPA mark, or by an Event when it gets
/// none).
async fn generate_plans(
    ctx: &Context,
    in_ns: &[Arc<ViolationPolicy>],
    knowledge: &RwLock<KnowledgeBase>,
    analysis: &AnalysisResult,
    chosen: &mut Chosen,
) -> Vec<RemediationPlan> {
    let started = std::time::Instant::now();
    let (generated, unrestricted) = {
        let kb = knowledge.read().unwrap_or_else(|e| e.into_inner());
        let planner = Planner::new(PlannerConfig::default());
        let full: Vec<PlanTarget> = chosen.withheld.iter().map(|(t, _)| t.clone()).collect();
        (
            planner.generate_plans(analysis, &chosen.targets, &kb),
            match full.is_empty() {
                true => Vec::new(),
                false => planner.generate_plans(analysis, &full, &kb),
            },
        )
    };
    ctx.metrics.phase("plan", started.elapsed().as_secs_f64());
    for (policy, reason) in hpa_withheld(&chosen.withheld, &unrestricted, &generated) {
        ctx.metrics.hpa_withheld.inc();
        match chosen
            .hpa_marks
            .get_mut(policy.as_str())
            .and_then(Option::as_mut)
        {
            Some(mark) if generated.iter().any(|g| g.policy == policy) => mark.message = reason,
            _ => {
                if let Some(p) = in_ns.iter().find(|p| p.name_any() == policy) {
                    report_hpa_withheld(ctx, p, &reason).await;
                }
            }
        }
    }
    generated
}

/// Most plans written at once: with a thousand policies breaching together,
/// one plan at a time (create, dry run, status, Events) held every other
/// policy's episode for minutes.
const PLAN_WRITE_CONCURRENCY: usize = 16;

/// Step 5: each plan written as a Pending RemediationPolicy (with what a dry
/// run says approval would change) and recorded in its policy's episode, a
/// few plans at a time.
#[allow(clippy::too_many_arguments)]
async fn write_plans(
    ctx: &Context,
    namespace: &str,
    in_ns: &[Arc<ViolationPolicy>],
    generated: Vec<RemediationPlan>,
    analysis: &AnalysisResult,
    chosen: &Chosen,
    live: &Targets,
    episodes: &mut Episodes,
    now: Millis,
) -> Result<(), kube::Error> {
    let api: Api<RemediationPolicy> = Api::namespaced(ctx.client.clone(), namespace);
    let writes = generated.into_iter().filter_map(|plan| {
        let policy = in_ns.iter().find(|p| p.name_any() == plan.policy)?;
        let write = PlanWrite {
            api: &api,
            namespace,
            policy,
            analysis,
            chosen,
            live,
            now,
        };
        Some(write.run(ctx, plan))
    });
    let results: Vec<(Option<RemediationPolicy>, Result<(), kube::Error>)> =
        futures::stream::iter(writes)
            .buffer_unordered(PLAN_WRITE_CONCURRENCY)
            .collect()
            .await;
    let mut failed = None;
    for (created, result) in results {
        // One incident, one plan: the episode counts each plan created.
        if let Some(rp) = created {
            let policy = rp.spec.plan.policy.to_string();
            let breach = analysis.breaches.iter().find(|b| b.policy == policy);
            if let (Some(b), Some(e)) = (breach, episodes.now.get_mut(&policy)) {
                e.record(&rp.spec.plan, b.episode.as_ref(), b.level, now);
            }
        }
        failed = result.err().or(failed);
    }
    failed.map_or(Ok(()), Err)
}

/// What writing one plan reads.
struct PlanWrite<'a> {
    api: &'a Api<RemediationPolicy>,
    namespace: &'a str,
    policy: &'a ViolationPolicy,
    analysis: &'a AnalysisResult,
    chosen: &'a Chosen,
    live: &'a Targets,
    now: Millis,
}

impl PlanWrite<'_> {
    /// Creates the plan, then its Pending status and Events; returns the plan
    /// when it was created (an identical closed one stops it: `None`).
    async fn run(
        self,
        ctx: &Context,
        plan: RemediationPlan,
    ) -> (Option<RemediationPolicy>, Result<(), kube::Error>) {
        let name = plan.policy.to_string();
        let mark = self.chosen.marks.get(name.as_str()).cloned().flatten();
        let hpa_mark = self.chosen.hpa_marks.get(name.as_str()).cloned().flatten();
        let breach = self
            .analysis
            .breaches
            .iter()
            .find(|b| b.policy == plan.policy);
        let mut rp = plan_object(self.policy, plan, self.analysis, mark, hpa_mark);
        if let Some(m) = breach.and_then(|b| b.episode.as_ref()) {
            rp.annotations_mut().insert(
                EPISODE_SINCE.to_string(),
                crate::controllers::monitor::decide::time(m.since_ms)
                    .0
                    .to_string(),
            );
        }
        let created = match self.api.create(&PostParams::default(), &rp).await {
            Ok(created) => created,
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // The same plan (same hash) was proposed before and is closed.
                tracing::debug!(plan = %rp.name_any(), "an identical plan exists; not proposing it again");
                return (None, Ok(()));
            }
            Err(e) => return (None, Err(e)),
        };
        let result = self.finish(ctx, &rp, &created).await;
        (Some(rp), result)
    }

    /// The new plan's Pending status (with its dry run), metric and Events.
    async fn finish(
        &self,
        ctx: &Context,
        rp: &RemediationPolicy,
        created: &RemediationPolicy,
    ) -> Result<(), kube::Error> {
        let name = rp.name_any();
        let dry_run = dry_run_of(rp, self.chosen, self.live, self.now).await;
        for r in dry_run.iter().filter(|r| !r.accepted) {
            tracing::info!(plan = %name, action = %r.action_id, error = ?r.error, "the dry run of an action was refused");
        }
        let status = RemediationPolicyStatus {
            approval: ApprovalState::Pending,
            phase: ExecutionPhase::Pending,
            dry_run,
            ..RemediationPolicyStatus::default()
        };
        self.api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": status })),
            )
            .await?;
        ctx.metrics.policies_generated.inc();
        tracing::info!(plan = %name, target = %rp.spec.plan.target, root_cause = ?rp.spec.plan.root_cause, "proposed a remediation plan");
        announce_plan(ctx, self.namespace, self.policy, rp, created).await;
        Ok(())
    }
}

/// What approving `rp` would change, as the API server answers a dry run of
/// each action (none when its Deployment is gone).
async fn dry_run_of(
    rp: &RemediationPolicy,
    chosen: &Chosen,
    live: &Targets,
    now: Millis,
) -> Vec<mapek_api::DryRunResult> {
    let target = rp.spec.plan.target.as_str();
    let Some(d) = live.live.get(target) else {
        return Vec::new();
    };
    let targets = dry_run::Targets {
        deployments: &live.deployments,
        hpas: &chosen.hpa_api,
        deployment: d,
        replica_sets: live.histories.get(target).map_or(&[][..], Vec::as_slice),
        // The plan's scale actions go through the HPA it names.
        hpa: rp
            .spec
            .hpa
            .as_ref()
            .and_then(|m| hpa::named(&chosen.hpas, &m.name)),
    };
    dry_run::dry_run(&targets, &rp.spec.plan.actions, now).await
}

/// The `PlanProposed` Event, on the plan and on its policy.
async fn announce_plan(
    ctx: &Context,
    namespace: &str,
    policy: &ViolationPolicy,
    rp: &RemediationPolicy,
    created: &RemediationPolicy,
) {
    let name = rp.name_any();
    let note = format!(
        "{:?} on {} (confidence {:.2}): {}. Approve with: kubectl annotate remediationpolicy {name} -n {namespace} mapek.io/approve={}",
        rp.spec.plan.root_cause,
        rp.spec.plan.target,
        rp.spec.plan.confidence,
        rp.spec
            .plan
            .actions
            .iter()
            .map(mapek_engine::report::describe_action)
            .collect::<Vec<_>>()
            .join(", "),
        rp.spec.plan.plan_hash
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "PlanProposed".into(),
        note: Some(note),
        action: "Plan".into(),
        secondary: None,
    };
    // The created object's reference carries its uid, which `kubectl describe`
    // matches Events by.
    let mut rp_ref = created.object_ref(&());
    rp_ref.namespace = Some(namespace.to_string());
    for reference in [rp_ref, policy.object_ref(&())] {
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            tracing::debug!(error = %e, "cannot publish an event");
        }
    }
}

/// Most episode writes in flight at once. One at a time, the 1,000 new episodes
/// of 1,000 policies breaching together held the next analysis, and so every
/// plan, for 234 s (the reliability load class).
const EPISODE_WRITE_CONCURRENCY: usize = 16;

/// Step 6: every episode that changed is written to its policy's
/// `status.episode` (a merge patch of that field only: the monitor writes the
/// rest), with the `Exhausted` condition when it changes, and the Event and
/// metric of a change of state; a few policies at a time. A failed write is
/// logged and tried again at the next analysis (the Event waits for it).
async fn write_episodes(
    ctx: &Context,
    in_ns: &[Arc<ViolationPolicy>],
    namespace: &str,
    episodes: &Episodes,
) -> Result<(), kube::Error> {
    let api: Api<ViolationPolicy> = Api::namespaced(ctx.client.clone(), namespace);
    let due: Vec<(Arc<ViolationPolicy>, Episode, bool)> = in_ns
        .iter()
        .filter_map(|p| {
            let name = p.name_any();
            let after = episodes.now.get(&name)?;
            let status = p.status.clone().unwrap_or_default();
            let condition = episodes::condition(&status.conditions, after);
            let event = episodes::event(episodes.stored.get(&name), after);
            let shown = episodes::to_status(after);
            let worth = episodes::worth_writing(status.episode.as_ref(), &shown);
            let guarded = condition.is_some() || event.is_some();
            (worth || guarded).then(|| (p.clone(), after.clone(), guarded))
        })
        .collect();
    let writes = due.len();
    let writing: Vec<_> = due
        .into_iter()
        .map(|(p, after, guarded)| {
            let api = api.clone();
            async move { write_and_announce(ctx, &api, &p, &after, guarded).await }
        })
        .collect();
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(writing)
        .buffer_unordered(EPISODE_WRITE_CONCURRENCY)
        .collect()
        .await;
    let failed = results.into_iter().filter_map(Result::err).last();
    tracing::info!(
        namespace,
        writes,
        failed = failed.is_some(),
        "episodes written"
    );
    failed.map_or(Ok(()), Err)
}

/// One policy's episode written, and the Event and metric its change of state
/// is worth, decided against the status the write replaced: a watch cache
/// behind this process' own last write is not news.
async fn write_and_announce(
    ctx: &Context,
    api: &Api<ViolationPolicy>,
    p: &ViolationPolicy,
    after: &Episode,
    guarded: bool,
) -> Result<(), kube::Error> {
    let name = p.name_any();
    let event = match write_episode(ctx, api, p, after, guarded).await {
        Ok(Some(replaced)) => {
            let before = replaced
                .status
                .as_ref()
                .and_then(|s| s.episode.as_ref())
                .map(|e| episodes::from_status(&name, e));
            episodes::event(before.as_ref(), after)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(policy = %name, namespace = ?p.namespace(), error = %e, "cannot write the breach episode");
            return Err(e);
        }
    };
    match event {
        Some(EpisodeEvent::Exhausted(note)) => {
            ctx.metrics.remediation_exhausted.inc();
            tracing::info!(policy = %name, note, "remediation exhausted for this episode");
            publish(ctx, p, EventType::Warning, "RemediationExhausted", note).await;
        }
        Some(EpisodeEvent::Resolved(note)) => {
            tracing::info!(policy = %name, note, "breach episode resolved");
            publish(ctx, p, EventType::Normal, "EpisodeResolved", note).await;
        }
        None => {}
    }
    Ok(())
}

/// One policy's episode. `guarded` (its `Exhausted` condition changes, or its
/// state does): the whole conditions list goes with the resourceVersion it was
/// read at, so that a status written meanwhile (by the monitor, or by this
/// analyzer ahead of the watch cache) is read again rather than overwritten;
/// returns the policy as it was just before the write.
async fn write_episode(
    ctx: &Context,
    api: &Api<ViolationPolicy>,
    policy: &ViolationPolicy,
    after: &Episode,
    guarded: bool,
) -> Result<Option<ViolationPolicy>, kube::Error> {
    let name = policy.name_any();
    let shown = episodes::to_status(after);
    if !guarded {
        let patch = json!({ "status": { "episode": shown } });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        return Ok(None);
    }
    let mut current = policy.clone();
    let mut attempt = 0;
    loop {
        let mut conditions = current
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        if let Some((exhausted, reason, message)) = episodes::condition(&conditions, after) {
            let now = crate::controllers::monitor::decide::time(ctx.clock.now_ms());
            let generation = current.metadata.generation;
            crate::conditions::set(
                &mut conditions,
                episodes::EXHAUSTED,
                exhausted,
                reason,
                message,
                generation,
                &now,
            );
        }
        let patch = json!({
            "metadata": { "resourceVersion": current.metadata.resource_version },
            "status": { "episode": shown, "conditions": conditions },
        });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(Some(current)),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 2 => {
                attempt += 1;
                current = api.get(&name).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// An Event on a policy.
async fn publish(
    ctx: &Context,
    policy: &ViolationPolicy,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: "Analyze".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &policy.object_ref(&())).await {
        tracing::debug!(error = %e, "cannot publish an event");
    }
}

#[cfg(test)]
mod tests;
