//! The executor controller: reconciles RemediationPolicy objects by asking
//! [`crate::controllers::executor::decide::next_step`] what to do, sending the one Deployment patch
//! that step needs, writing the step's status (a JSON merge patch of the `status`
//! subresource holding only what changed) and recording an Event, then deciding
//! again, until the plan waits or is over.
//!
//! Executions are limited to one at a time per Deployment (another plan
//! `InProgress` on the same target makes a plan wait) and to
//! `settings.max_concurrent_executions` overall ([`ExecutionLimits`]). Whether
//! another plan is `InProgress` is read from the controller's watch cache, joined
//! with the plans this process has written `InProgress` since (the cache may not
//! show its own latest writes yet); only the executor writes that phase.

mod apply;
mod claim;
pub mod decide;
mod limits;
pub mod patch;
#[cfg(test)]
mod tests;

use apply::PatchFailure;
pub use limits::{Claim, ExecutionLimits, storm_brake};

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Context, FIELD_MANAGER};
use crate::error::Error;
use crate::fault;
use decide::{Observed, Step, WaitKind};
use mapek_api::{PreviousState, RemediationPolicy, RemediationPolicyStatus, ViolationPolicy};
use mapek_engine::model::{Millis, PatchKind, RemediationAction};
use patch::SettingRef;

/// How often a conflicting config patch is recomputed from a fresh read.
const MAX_PATCH_ATTEMPTS: usize = 5;
/// When a plan waiting for its Deployment or a slot looks again.
const BUSY_REQUEUE: Duration = Duration::from_secs(10);

/// Runs the executor until `shutdown` completes: watches the RemediationPolicy
/// objects `api` reaches (one namespace or all) and owns nothing else.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<RemediationPolicy>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let controller = Controller::new(api, crate::controllers::watch_config().any_semantic());
    ctx.executions.use_plan_cache(controller.store());
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(plan = %obj, "reconciled"),
                Err(e) => tracing::warn!(error = %e, "reconcile failed"),
            }
        })
        .await;
}

/// Backs off exponentially (5 s doubling up to 5 min) per object.
pub fn error_policy(rp: Arc<RemediationPolicy>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.executions.backoff(&key(&rp));
    tracing::warn!(plan = %rp.name_any(), %error, ?delay, "executor reconcile failed");
    Action::requeue(delay)
}

fn key(rp: &RemediationPolicy) -> String {
    format!("{}/{}", rp.namespace().unwrap_or_default(), rp.name_any())
}

/// When a plan whose status write met a newer version of it is decided again
/// (the watch event of that version usually triggers it sooner).
const CONFLICT_REQUEUE: Duration = Duration::from_secs(1);

/// Takes one RemediationPolicy as far as it can go now.
pub async fn reconcile(rp: Arc<RemediationPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = match Reconciler::new(&rp, &ctx).run().await {
        // The plan changed after this reconcile read it: nothing was acted on.
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
            tracing::debug!(plan = %rp.name_any(), "plan changed while deciding; deciding again");
            Ok(Action::requeue(CONFLICT_REQUEUE))
        }
        other => other,
    };
    let seconds = started.elapsed().as_secs_f64();
    ctx.metrics.reconciled("executor", seconds, result.is_err());
    let action = result?;
    ctx.executions.reset(&key(&rp));
    Ok(action)
}

struct Reconciler<'a> {
    ctx: &'a Context,
    rp: RemediationPolicy,
    namespace: String,
    name: String,
    plans: Api<RemediationPolicy>,
    deployments: Api<Deployment>,
    hpas: Api<HorizontalPodAutoscaler>,
    params: PatchParams,
    claim: Option<Claim>,
    /// The status as last stored on the server; `rp.status` runs ahead of it
    /// until [`Reconciler::flush`].
    written: Option<RemediationPolicyStatus>,
    /// The fault-injection points of the steps recorded since the last flush.
    points: Vec<String>,
    /// The Events of the steps written, published after the next Deployment patch.
    events: Vec<Event>,
    /// The namespace's plans, when read up front to start this one.
    others: Option<Vec<RemediationPolicy>>,
    /// Whether this reconcile reserved an execution for the plan (to start it).
    reserved: bool,
}

impl<'a> Reconciler<'a> {
    fn new(rp: &RemediationPolicy, ctx: &'a Context) -> Reconciler<'a> {
        let namespace = rp.namespace().unwrap_or_else(|| "default".into());
        Reconciler {
            ctx,
            rp: rp.clone(),
            name: rp.name_any(),
            plans: Api::namespaced(ctx.client.clone(), &namespace),
            deployments: Api::namespaced(ctx.client.clone(), &namespace),
            hpas: Api::namespaced(ctx.client.clone(), &namespace),
            namespace,
            params: PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            claim: None,
            written: rp.status.clone(),
            points: Vec::new(),
            events: Vec::new(),
            others: None,
            reserved: false,
        }
    }

    fn target(&self) -> &str {
        &self.rp.spec.plan.target
    }

    /// The Deployment as the execution limits name it: `namespace/name`.
    fn target_key(&self) -> String {
        format!("{}/{}", self.namespace, self.target())
    }

    /// Decides and takes steps until the plan waits or is over. Status changes
    /// are written only when they must be durable: before a Deployment patch
    /// (the write-ahead), and when the reconcile ends. A crash before a write
    /// loses only decisions that changed nothing outside the plan's status, which
    /// the next reconcile makes again. The Deployment is read once; after that,
    /// the answer to each patch is its state.
    async fn run(mut self) -> Result<Action, Error> {
        let result = self.steps().await;
        // A start that never became durable gives its reservation back.
        let started =
            self.written.as_ref().map(|s| s.phase) == Some(mapek_api::ExecutionPhase::InProgress);
        if self.reserved && !started {
            let target = self.target_key();
            self.ctx.executions.release(&target, &self.name);
        }
        result
    }

    /// The body of [`Reconciler::run`].
    /// Whether a `ROLLBACK_REVISION` action of the plan has yet to record its
    /// write-ahead (only then are the Deployment's ReplicaSets read).
    fn rollback_pending(&self) -> bool {
        let records = self
            .rp
            .status
            .as_ref()
            .and_then(|s| s.execution.as_ref())
            .map(|e| e.actions.as_slice())
            .unwrap_or_default();
        self.rp.spec.plan.actions.iter().enumerate().any(|(i, a)| {
            a.action_type.patch_kind() == PatchKind::Rollback
                && records.get(i).is_none_or(|r| r.previous.is_none())
        })
    }

    /// Whether a scale action of the plan may still be written ahead, applied
    /// or undone (only then are the namespace's HorizontalPodAutoscalers read:
    /// a scale action on a Deployment an HPA targets goes through the HPA).
    fn scale_open(&self) -> bool {
        let status = self.rp.status.clone().unwrap_or_default();
        !status.phase.is_finished()
            && !matches!(
                status.approval,
                mapek_api::ApprovalState::Rejected | mapek_api::ApprovalState::Expired
            )
            && self
                .rp
                .spec
                .plan
                .actions
                .iter()
                .any(|a| a.action_type.patch_kind() == PatchKind::Scale)
    }

    /// The plan's policy from the watch cache, when the plan waits for a human
    /// and the policy does not approve it itself: waiting, expiring and
    /// rejecting need nothing else (no Deployment). `None`: the policy and the
    /// Deployment are read fresh (the plan may start, or the cache has not
    /// listed yet).
    fn waits_on_cached_policy(&self) -> Option<Option<ViolationPolicy>> {
        if decide::needs_deployment(&self.rp, None) {
            return None;
        }
        let cached = (self.ctx.caches).policy(&self.namespace, &self.rp.spec.plan.policy)?;
        (!decide::needs_deployment(&self.rp, cached.as_ref())).then_some(cached)
    }

    async fn steps(&mut self) -> Result<Action, Error> {
        let policies: Api<ViolationPolicy> =
            Api::namespaced(self.ctx.client.clone(), &self.namespace);
        // The reads are independent: send them together. The other plans are
        // needed only to start, so without a watch cache they are listed up front
        // only when an approval is there to start on.
        let status = self.rp.status.clone().unwrap_or_default();
        let may_start = self.ctx.executions.plans.get().is_none()
            && status.phase == mapek_api::ExecutionPhase::Pending
            && (status.approval == mapek_api::ApprovalState::Approved
                || self
                    .rp
                    .annotations()
                    .contains_key(mapek_api::APPROVE_ANNOTATION));
        let others = async {
            match may_start {
                true => self.plans.list(&ListParams::default()).await.map(Some),
                false => Ok(None),
            }
        };
        // A scale action goes through the HPA that targets the Deployment, if one
        // does: the namespace's HPAs are read while one may be written ahead,
        // applied or undone, from the watch cache the analyzer reads too (the
        // list it replaces was served from the API server's watch cache, no
        // fresher; the HPA patch tests the `minReplicas` it replaces).
        let hpas = async {
            match self.scale_open() {
                true => self.ctx.caches.hpas_in(&self.hpas, &self.namespace).await,
                false => Ok(Vec::new()),
            }
        };
        // The Deployment stays a GET, a consistent read: the write-ahead
        // record (replicas, template, setting before the action) and the undo
        // checks compare against it, and a watch cache may not yet show this
        // executor's own last patch.
        // A plan waiting for a human is decided on its cached policy alone;
        // one that may start reads both fresh.
        let waiting = self.waits_on_cached_policy();
        let fresh = waiting.is_none();
        let policy = async {
            match waiting {
                Some(cached) => Ok(cached),
                None => policies.get_opt(&self.rp.spec.plan.policy).await,
            }
        };
        let live = async {
            match fresh {
                true => self.deployments.get_opt(self.target()).await,
                false => Ok(None),
            }
        };
        let (policy, live, others, hpas) = tokio::join!(policy, live, others, hpas);
        let (policy, mut live, mut hpas) = (policy?, live?, hpas?);
        self.others = others?.map(|l| l.items);
        // A rollback's write-ahead record needs the earlier revision's template
        // (from the ReplicaSet cache; the template patch tests the whole
        // current template, read with the Deployment above).
        let replica_sets = match (&live, self.rollback_pending()) {
            (Some(d), true) => {
                let api = Api::namespaced(self.ctx.client.clone(), &self.namespace);
                self.ctx.caches.replica_sets_of(&api, d).await?
            }
            _ => Vec::new(),
        };
        let max_steps = 4 * self.rp.spec.plan.actions.len() + 8;
        for _ in 0..max_steps {
            let now = self.ctx.clock.now_ms();
            let step = decide::next_step(&Observed {
                plan: &self.rp,
                policy: policy.as_ref(),
                deployment: live.as_ref(),
                replica_sets: &replica_sets,
                hpas: &hpas,
                now,
            });
            let step = self.claim_for(step).await?;
            let step = match step {
                Step::Apply { index } => {
                    self.flush().await?;
                    let applied = self.apply(index, now, live.as_ref(), &hpas).await;
                    self.publish().await;
                    match applied {
                        // It counts once its rollout completes: decide again on
                        // the Deployment (or HPA) as patched.
                        Ok(patched) => {
                            let generation = patched.keep(&mut live, &mut hpas);
                            fault::point(&format!("applied:{index}")).await;
                            Step::Sent { index, generation }
                        }
                        Err(PatchFailure::Refused(error)) => Step::FailAction { index, error },
                        Err(PatchFailure::Io(e)) => return Err(e.into()),
                    }
                }
                Step::RollBack { index } => {
                    self.flush().await?;
                    let undone = self.roll_back(index, live.as_ref(), &hpas).await;
                    self.publish().await;
                    match undone {
                        Ok(patched) => {
                            let generation = patched.keep(&mut live, &mut hpas);
                            fault::point(&format!("rollback-sent:{index}")).await;
                            Step::Sent { index, generation }
                        }
                        Err(PatchFailure::Refused(e)) => {
                            let id = &self.rp.spec.plan.actions[index].id;
                            decide::rollback_failed(
                                &self.rp,
                                &format!("rolling back action {id} failed: {e}"),
                            )
                        }
                        Err(PatchFailure::Io(e)) => return Err(e.into()),
                    }
                }
                other => other,
            };
            self.record(&step, now);
            let action = match step {
                Step::Wait {
                    requeue,
                    ref message,
                    ..
                } => {
                    tracing::debug!(plan = %self.name, %message, "waiting");
                    requeue.map_or_else(Action::await_change, Action::requeue)
                }
                Step::Done
                | Step::Expire { .. }
                | Step::Reject { .. }
                | Step::RefuseApproval { .. }
                | Step::Fail { .. }
                | Step::Finish { .. } => Action::await_change(),
                _ => continue,
            };
            self.flush().await?;
            self.publish().await;
            return Ok(action);
        }
        self.flush().await?;
        self.publish().await;
        Ok(Action::requeue(Duration::from_secs(1)))
    }

    /// Applies what the step changes to the plan's status (in memory, until the
    /// next [`Reconciler::flush`]) and queues its Event and fault point.
    fn record(&mut self, step: &Step, now: i64) {
        let before = self.rp.status.clone().unwrap_or_default();
        let mut status = before.clone();
        decide::transition(
            step,
            &mut status,
            &self.rp.spec.plan,
            self.rp.metadata.generation,
            now,
        );
        if let Some(notice) = decide::notice(step, &self.rp.spec.plan, &before, &status) {
            self.events.push(Event {
                type_: if notice.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: notice.reason.into(),
                note: Some(truncate(&notice.note, 1000)),
                action: notice.action,
                secondary: None,
            });
        }
        if self.rp.status.is_some() || status != RemediationPolicyStatus::default() {
            self.rp.status = Some(status);
        }
        self.points.extend(fault::after(step));
    }

    /// Writes the status changes recorded since the last write, as one JSON merge
    /// patch of the `status` subresource holding only what changed, then passes
    /// the fault points of the steps it made durable.
    async fn flush(&mut self) -> Result<(), Error> {
        if self.rp.status != self.written {
            // With no status yet, write all of it (approval and phase included).
            let before = match &self.written {
                Some(old) => serde_json::to_value(old).unwrap_or_default(),
                None => Value::Object(Default::default()),
            };
            let new = serde_json::to_value(self.rp.status.clone().unwrap_or_default())
                .unwrap_or_default();
            // The resourceVersion the decisions were made on is a precondition:
            // if the plan changed since (an edit, an approval or a rejection the
            // reconcile has not seen), the write fails with 409 and nothing is
            // acted on; the next reconcile decides on the new version.
            let mut patch = serde_json::json!({ "status": merge_diff(&before, &new) });
            if let Some(version) = &self.rp.metadata.resource_version {
                patch["metadata"] = serde_json::json!({ "resourceVersion": version });
            }
            self.leading()?;
            self.rp = self
                .plans
                .patch_status(&self.name, &self.params, &Patch::Merge(&patch))
                .await?;
            self.written = self.rp.status.clone();
            let phase = self.written.as_ref().map(|s| s.phase).unwrap_or_default();
            let target = self.target_key();
            self.ctx.executions.written(&target, &self.name, phase);
        }
        for point in std::mem::take(&mut self.points) {
            fault::point(&point).await;
        }
        Ok(())
    }

    /// Publishes the queued Events (a failure is logged, not fatal).
    async fn publish(&mut self) {
        let reference = self.rp.object_ref(&());
        for event in std::mem::take(&mut self.events) {
            if let Err(e) = self.ctx.recorder.publish(&event, &reference).await {
                tracing::warn!(plan = %self.name, error = %e, "cannot record event");
            }
        }
    }

    fn record_of(&self, index: usize) -> (RemediationAction, PreviousState) {
        let action = self.rp.spec.plan.actions[index].clone();
        let previous = self
            .rp
            .status
            .as_ref()
            .and_then(|s| s.execution.as_ref())
            .and_then(|e| e.actions.get(index))
            .and_then(|r| r.previous.clone())
            .unwrap_or_default();
        (action, previous)
    }
}

/// The JSON merge patch (RFC 7396) that turns `old` into `new`.
fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = serde_json::Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(ov) if ov == v => {}
                    Some(ov) => {
                        patch.insert(k.clone(), merge_diff(ov, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
