//! The Analyzer controller: over the violations of the ViolationPolicies of a
//! namespace it runs the engine's analysis and planning, and writes each plan as a
//! Pending RemediationPolicy unless an open plan already covers the Deployment or
//! the Deployment is in cooldown. It runs when the monitor records a violation, and
//! on a timer. Before judging, it reads the latest pod-template change of each
//! Deployment it may plan for (its ReplicaSets, [`super::revisions`]): a breach
//! that began shortly after one is blamed on it. (Plans nobody approves in time
//! are expired by the executor, which owns every RemediationPolicy's status once
//! it exists.)

mod decide;
mod dry_run;
mod gitops;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Context, hpa, revisions};
use mapek_api::{
    ApprovalState, ExecutionPhase, RemediationPolicy, RemediationPolicyStatus, ViolationPolicy,
};
use mapek_engine::knowledge::KnowledgeBase;
use mapek_engine::model::ActionType;
use mapek_engine::{AnalyzerConfig, PatternAnalyzer, PlanTarget, Planner, PlannerConfig};

pub use decide::*;

/// Runs the analyzer until `shutdown` completes: on every namespace the monitor
/// sends, and over all namespaces every evaluation interval.
pub async fn run(
    ctx: Arc<Context>,
    policies: Store<ViolationPolicy>,
    plans: Store<RemediationPolicy>,
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
            _ = ticker.tick() => policies.state().iter().filter_map(|p| p.namespace()).collect(),
        };
        for ns in namespaces {
            let started = std::time::Instant::now();
            let result = analyze_namespace(&ctx, &policies, &plans, &knowledge, &ns).await;
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

/// Most Deployment and ReplicaSet reads in flight at once.
const READ_CONCURRENCY: usize = 8;

/// A Deployment, and its ReplicaSets once it has had a second revision (before
/// that there is no change to read). A failed ReplicaSet read is logged: the
/// breach is then judged without a change.
async fn read_history(
    deployments: Api<Deployment>,
    replica_sets: Api<ReplicaSet>,
    target: String,
) -> Result<Option<(Deployment, Option<Vec<ReplicaSet>>)>, kube::Error> {
    let Some(d) = deployments.get_opt(&target).await? else {
        return Ok(None);
    };
    if revisions::current_revision(&d).is_none_or(|r| r <= 1) {
        return Ok(Some((d, None)));
    }
    let sets = revisions::list(&replica_sets, &d).await.map_err(|e| {
        tracing::warn!(
            deployment = %target, error = %e,
            "cannot read the Deployment's ReplicaSets; judging without its rollout history"
        );
    });
    Ok(Some((d, sets.ok())))
}

async fn analyze_namespace(
    ctx: &Context,
    policies: &Store<ViolationPolicy>,
    plans: &Store<RemediationPolicy>,
    knowledge: &RwLock<KnowledgeBase>,
    namespace: &str,
) -> Result<(), kube::Error> {
    let now = ctx.clock.now_ms();
    let in_ns: Vec<Arc<ViolationPolicy>> = policies
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace))
        .collect();
    let all_plans = plans.state();
    let candidates = plan_candidates(&in_ns, &all_plans, namespace, now);

    let started = std::time::Instant::now();
    let mut violations = Vec::new();
    for (p, since) in &candidates {
        violations.extend(engine_violations(p, *since));
    }
    if violations.is_empty() {
        return Ok(());
    }
    // The Deployments that may get a plan, and the latest change of each one's
    // pod template (its rollout history): the change before a breach is evidence.
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), namespace);
    let mut live: HashMap<String, Deployment> = HashMap::new();
    let mut histories: HashMap<String, Vec<ReplicaSet>> = HashMap::new();
    let mut changes = Vec::new();
    let names: BTreeSet<String> = candidates
        .iter()
        .map(|(p, _)| p.spec.target_ref.name.clone())
        .collect();
    // A few reads at a time: with many policies breaching at once, one by one
    // they would hold up the analysis.
    let reads = names.into_iter().map(|target| {
        let (deployments, replica_sets) = (deployments.clone(), replica_sets.clone());
        read_history(deployments, replica_sets, target)
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
            changes.extend(revisions::latest_change(&d, &sets));
            histories.insert(d.name_any(), sets);
        }
        live.insert(d.name_any(), d);
    }
    // The engine's input in a canonical order, whatever order the reads ended in.
    changes.sort_by(|a, b| a.target.cmp(&b.target));

    // The engine runs on a blocking thread: over a namespace of many policies
    // with hours of samples each it takes long enough to hold up the other
    // controllers. Samples are copied only when there is something to judge.
    let history = ctx.history.clone();
    let interval = ctx.settings.default_interval;
    let judged: Vec<Arc<ViolationPolicy>> = candidates.iter().map(|(p, _)| p.clone()).collect();
    let analysis = tokio::task::spawn_blocking(move || {
        let mut samples = Vec::new();
        let mut context = Vec::new();
        let mut infos = Vec::with_capacity(judged.len());
        for p in &judged {
            let key = crate::controllers::monitor::history_key(p, interval);
            samples.extend(engine_samples(p, &history.points(&key)));
            for (kind, key) in crate::controllers::monitor::context_keys(p, interval) {
                context.extend(context_samples(p, kind, &history.points(&key)));
            }
            infos.push(policy_info(p));
        }
        PatternAnalyzer::new(AnalyzerConfig::default()).analyze_with_changes(
            &violations,
            &samples,
            &context,
            &changes,
            &infos,
            now,
        )
    })
    .await;
    let analysis = match analysis {
        Ok(analysis) => analysis,
        Err(e) => {
            tracing::error!(namespace = %namespace, error = %e, "the analysis did not finish; no plan");
            return Ok(());
        }
    };
    report_shared_causes(ctx, &in_ns, &analysis).await;
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

    // The HPAs that may scale a candidate: a scale action goes through one
    // (or is left out), never against it.
    let scaling = candidates.iter().any(|(p, _)| {
        let e = &p.spec.remediation.envelope;
        e.allows(ActionType::ScaleUp) || e.allows(ActionType::ScaleDown)
    });
    let hpa_api: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), namespace);
    // Unread (a 403 from an older install's RBAC, say), they might scale any
    // candidate: its scale actions are left out, and the policy says why.
    let (hpas, hpa_error) = match scaling {
        false => (Vec::new(), None),
        true => match hpa::list(&hpa_api).await {
            Ok(hpas) => (hpas, None),
            Err(e) => {
                tracing::warn!(namespace = %namespace, error = %e, "cannot list the HorizontalPodAutoscalers; no scale actions");
                (Vec::new(), Some(e.to_string()))
            }
        },
    };

    // Every candidate is free of open plans and out of cooldown.
    let mut targets = Vec::new();
    let mut marks = HashMap::new();
    let mut hpa_marks = HashMap::new();
    // The targets whose scale actions an HPA took out, with their full envelope
    // and why: planned again to tell whether the plan would have scaled.
    let mut withheld = Vec::new();
    for (p, _) in &candidates {
        let target = &p.spec.target_ref.name;
        if !analysis
            .root_causes
            .iter()
            .any(|c| c.policy == p.name_any())
        {
            continue;
        }
        let Some(deployment) = live.get(target) else {
            tracing::debug!(policy = %p.name_any(), target = %target, "target Deployment not found; no plan");
            continue;
        };
        // A Deployment a GitOps tool manages: the policy says whether to plan.
        match gitops::mark(deployment, p.spec.remediation.git_ops) {
            Ok(mark) => {
                marks.insert(p.name_any(), mark);
            }
            Err(reason) => {
                refuse_gitops(ctx, p, &reason).await;
                continue;
            }
        }
        let target = PlanTarget {
            policy: p.name_any().into(),
            deployment: target.as_str().into(),
            current_replicas: deployment.spec.replicas.unwrap_or(1),
            severity: p.spec.severity,
            envelope: p.spec.remediation.envelope.clone(),
        };
        let view = match &hpa_error {
            Some(reason) => hpa::unknown(&target.deployment, &target.envelope, reason),
            None => hpa::plan_view(
                &hpas,
                &target.deployment,
                p.spec.remediation.hpa,
                &target.envelope,
            ),
        };
        if let Some(reason) = view.withheld {
            withheld.push((target.clone(), reason));
        }
        hpa_marks.insert(p.name_any(), view.mark);
        targets.push(PlanTarget {
            envelope: view.envelope,
            ..target
        });
    }
    if targets.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let (generated, unrestricted) = {
        let kb = knowledge.read().unwrap_or_else(|e| e.into_inner());
        let planner = Planner::new(PlannerConfig::default());
        let full: Vec<PlanTarget> = withheld.iter().map(|(t, _)| t.clone()).collect();
        (
            planner.generate_plans(&analysis, &targets, &kb),
            match full.is_empty() {
                true => Vec::new(),
                false => planner.generate_plans(&analysis, &full, &kb),
            },
        )
    };
    ctx.metrics.phase("plan", started.elapsed().as_secs_f64());
    for (policy, reason) in hpa_withheld(&withheld, &unrestricted, &generated) {
        ctx.metrics.hpa_withheld.inc();
        match hpa_marks.get_mut(policy.as_str()).and_then(Option::as_mut) {
            Some(mark) if generated.iter().any(|g| g.policy == policy) => mark.message = reason,
            _ => {
                if let Some(p) = in_ns.iter().find(|p| p.name_any() == policy) {
                    report_hpa_withheld(ctx, p, &reason).await;
                }
            }
        }
    }

    let api: Api<RemediationPolicy> = Api::namespaced(ctx.client.clone(), namespace);
    for plan in generated {
        let Some(policy) = in_ns.iter().find(|p| p.name_any() == plan.policy) else {
            continue;
        };
        let mark = marks.get(plan.policy.as_str()).cloned().flatten();
        let hpa_mark = hpa_marks.get(plan.policy.as_str()).cloned().flatten();
        let rp = plan_object(policy, plan, &analysis, mark, hpa_mark);
        let name = rp.name_any();
        let created = match api.create(&PostParams::default(), &rp).await {
            Ok(created) => created,
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // The same plan (same hash) was proposed before and is closed.
                tracing::debug!(plan = %name, "an identical plan exists; not proposing it again");
                continue;
            }
            Err(e) => return Err(e),
        };
        // What approval would change, as the API server answers a dry run.
        let dry_run = match live.get(rp.spec.plan.target.as_str()) {
            Some(d) => {
                let targets = dry_run::Targets {
                    deployments: &deployments,
                    hpas: &hpa_api,
                    deployment: d,
                    replica_sets: histories
                        .get(rp.spec.plan.target.as_str())
                        .map_or(&[][..], Vec::as_slice),
                    // The plan's scale actions go through the HPA it names.
                    hpa: rp
                        .spec
                        .hpa
                        .as_ref()
                        .and_then(|m| hpa::named(&hpas, &m.name)),
                };
                dry_run::dry_run(&targets, &rp.spec.plan.actions, now).await
            }
            None => Vec::new(),
        };
        for r in dry_run.iter().filter(|r| !r.accepted) {
            tracing::info!(plan = %name, action = %r.action_id, error = ?r.error, "the dry run of an action was refused");
        }
        let status = RemediationPolicyStatus {
            approval: ApprovalState::Pending,
            phase: ExecutionPhase::Pending,
            dry_run,
            ..RemediationPolicyStatus::default()
        };
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await?;
        ctx.metrics.policies_generated.inc();
        tracing::info!(plan = %name, target = %rp.spec.plan.target, root_cause = ?rp.spec.plan.root_cause, "proposed a remediation plan");
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
    Ok(())
}

#[cfg(test)]
mod tests;
