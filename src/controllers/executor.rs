//! The executor controller: reconciles RemediationPolicy objects by asking
//! [`crate::execute::next_step`] what to do, sending the one Deployment patch
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

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Context, FIELD_MANAGER};
use crate::crd::{PreviousState, RemediationPolicy, RemediationPolicyStatus, ViolationPolicy};
use crate::deployment::{self, SettingRef};
use crate::error::Error;
use crate::execute::{self, Observed, Step, WaitKind};
use crate::fault;
use mapek_engine::model::{PatchKind, RemediationAction};

/// How often a conflicting config patch is recomputed from a fresh read.
const MAX_PATCH_ATTEMPTS: usize = 5;
/// When a plan waiting for its Deployment or a slot looks again.
const BUSY_REQUEUE: Duration = Duration::from_secs(10);

/// The executor's limits on concurrent executions, shared by its reconciles.
#[derive(Debug)]
pub struct ExecutionLimits {
    slots: Arc<Semaphore>,
    targets: Mutex<HashSet<String>>,
    failures: Mutex<HashMap<String, u32>>,
    /// The plans as the executor's watch cache holds them, once it runs; without
    /// it (in unit tests) the plans are listed from the API server.
    plans: OnceLock<Store<RemediationPolicy>>,
    /// `namespace/deployment` -> the plan this process last wrote `InProgress` on
    /// it and has not written finished since.
    in_progress: Mutex<HashMap<String, String>>,
}

impl ExecutionLimits {
    /// At most `max` executions at once (at least one).
    pub fn new(max: usize) -> ExecutionLimits {
        ExecutionLimits {
            slots: Arc::new(Semaphore::new(max.max(1))),
            targets: Mutex::new(HashSet::new()),
            failures: Mutex::new(HashMap::new()),
            plans: OnceLock::new(),
            in_progress: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the other plans from `store` (the executor's watch cache) from now on.
    pub fn use_plan_cache(&self, store: Store<RemediationPolicy>) {
        let _ = self.plans.set(store);
    }

    /// Notes the phase of `plan` on `target` (`namespace/name`) as just written.
    fn written(&self, target: &str, plan: &str, phase: crate::crd::ExecutionPhase) {
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        if phase == crate::crd::ExecutionPhase::InProgress {
            in_progress.insert(target.to_string(), plan.to_string());
        } else if in_progress.get(target).is_some_and(|p| p == plan) {
            in_progress.remove(target);
        }
    }

    /// Another plan than `me` this process wrote `InProgress` on `target`.
    fn in_progress_on(&self, target: &str, me: &str) -> Option<String> {
        let in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        in_progress.get(target).filter(|p| *p != me).cloned()
    }

    /// A claim on an execution slot and on `target` (`namespace/name`), or what
    /// is in the way.
    pub fn try_claim(self: &Arc<Self>, target: &str) -> Result<Claim, WaitKind> {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if targets.contains(target) {
            return Err(WaitKind::Target);
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| WaitKind::Slot)?;
        targets.insert(target.to_string());
        Ok(Claim {
            limits: self.clone(),
            target: target.to_string(),
            _permit: permit,
        })
    }

    /// Counts a failed reconcile of `key` and returns the backoff before the next.
    fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        Duration::from_secs(5u64.saturating_mul(1 << (*n - 1).min(6)).min(300))
    }

    fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// An execution slot and a Deployment, held while a plan executes.
#[derive(Debug)]
pub struct Claim {
    limits: Arc<ExecutionLimits>,
    target: String,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.limits
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.target);
    }
}

/// Runs the executor until `shutdown` completes: watches the RemediationPolicy
/// objects `api` reaches (one namespace or all) and owns nothing else.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<RemediationPolicy>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let controller = Controller::new(api, watcher::Config::default().any_semantic());
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

/// Why an action's patch did not go through.
enum PatchFailure {
    /// The API server refused it (or the Deployment cannot take it): the action failed.
    Refused(String),
    /// The server could not be reached or could not answer (a 5xx or 429, which
    /// may or may not have applied the patch): retry the reconcile, the action
    /// stays Running, and the next read of the Deployment says whether it applied.
    Io(kube::Error),
}

impl From<kube::Error> for PatchFailure {
    fn from(e: kube::Error) -> PatchFailure {
        match e {
            kube::Error::Api(status) if status.code >= 500 || status.code == 429 => {
                PatchFailure::Io(kube::Error::Api(status))
            }
            kube::Error::Api(status) => PatchFailure::Refused(format!(
                "the API server answered {} {}: {}",
                status.code, status.reason, status.message
            )),
            other => PatchFailure::Io(other),
        }
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            // 409, or 422 from a failed RFC 6902 `test` operation: the API server
            // answers it with reason Invalid and a message that does not say which
            // operation failed, so every 422 of a JSON Patch means "read again".
            s.code == 409 || s.code == 422
        }
        _ => false,
    }
}

struct Reconciler<'a> {
    ctx: &'a Context,
    rp: RemediationPolicy,
    namespace: String,
    name: String,
    plans: Api<RemediationPolicy>,
    deployments: Api<Deployment>,
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
        let policies: Api<ViolationPolicy> =
            Api::namespaced(self.ctx.client.clone(), &self.namespace);
        // The reads are independent: send them together. The other plans are
        // needed only to start, so without a watch cache they are listed up front
        // only when an approval is there to start on.
        let status = self.rp.status.clone().unwrap_or_default();
        let may_start = self.ctx.executions.plans.get().is_none()
            && status.phase == crate::crd::ExecutionPhase::Pending
            && (status.approval == crate::crd::ApprovalState::Approved
                || self
                    .rp
                    .annotations()
                    .contains_key(crate::crd::APPROVE_ANNOTATION));
        let others = async {
            match may_start {
                true => self.plans.list(&ListParams::default()).await.map(Some),
                false => Ok(None),
            }
        };
        let (policy, live, others) = tokio::join!(
            policies.get_opt(&self.rp.spec.plan.policy),
            self.deployments.get_opt(self.rp.spec.plan.target.as_str()),
            others
        );
        let (policy, mut live) = (policy?, live?);
        self.others = others?.map(|l| l.items);
        let max_steps = 4 * self.rp.spec.plan.actions.len() + 8;
        for _ in 0..max_steps {
            let now = self.ctx.clock.now_ms();
            let step = execute::next_step(&Observed {
                plan: &self.rp,
                policy: policy.as_ref(),
                deployment: live.as_ref(),
                now,
            });
            let step = self.claim_for(step).await?;
            let step = match step {
                Step::Apply { index } => {
                    self.flush().await?;
                    let applied = self.apply(index, now, live.as_ref()).await;
                    self.publish().await;
                    match applied {
                        Ok((result, d)) => {
                            live = Some(d);
                            fault::point(&format!("applied:{index}")).await;
                            Step::MarkSucceeded { index, result }
                        }
                        Err(PatchFailure::Refused(error)) => Step::FailAction { index, error },
                        Err(PatchFailure::Io(e)) => return Err(e.into()),
                    }
                }
                Step::RollBack { index } => {
                    self.flush().await?;
                    let undone = self.roll_back(index, live.as_ref()).await;
                    self.publish().await;
                    match undone {
                        Ok((result, d)) => {
                            live = Some(d);
                            fault::point(&format!("rollback-sent:{index}")).await;
                            Step::MarkRolledBack { index, result }
                        }
                        Err(PatchFailure::Refused(e)) => {
                            let id = &self.rp.spec.plan.actions[index].id;
                            let earlier = self
                                .rp
                                .status
                                .as_ref()
                                .and_then(|s| s.execution.as_ref())
                                .and_then(|e| e.error.clone())
                                .unwrap_or_default();
                            Step::Finish {
                                phase: crate::crd::ExecutionPhase::Failed,
                                error: Some(format!(
                                    "{earlier}; rolling back action {id} failed: {e}"
                                )),
                            }
                        }
                        Err(PatchFailure::Io(e)) => return Err(e.into()),
                    }
                }
                other => other,
            };
            self.record(&step, now);
            let action = match step {
                Step::Wait { requeue, .. } => {
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

    /// Executing steps need the Deployment to themselves and an execution slot;
    /// without them the step becomes a wait.
    async fn claim_for(&mut self, step: Step) -> Result<Step, Error> {
        let executing = !matches!(
            step,
            Step::Wait { .. }
                | Step::Done
                | Step::Expire { .. }
                | Step::Reject { .. }
                | Step::RefuseApproval { .. }
                | Step::Approve { .. }
                | Step::Fail { .. }
        );
        if !executing || self.claim.is_some() {
            return Ok(step);
        }
        if step == Step::Start
            && let Some(other) = self.other_execution().await?
        {
            return Ok(Step::Wait {
                kind: WaitKind::Target,
                message: format!(
                    "waiting for RemediationPolicy {other} to finish on Deployment {}",
                    self.target()
                ),
                requeue: Some(BUSY_REQUEUE),
            });
        }
        let target = self.target_key();
        match self.ctx.executions.try_claim(&target) {
            Ok(claim) => {
                self.claim = Some(claim);
                Ok(step)
            }
            Err(kind) => Ok(Step::Wait {
                kind,
                message: match kind {
                    WaitKind::Slot => format!(
                        "waiting for an execution slot ({} at most at once)",
                        self.ctx.settings.max_concurrent_executions
                    ),
                    _ => format!(
                        "waiting for another execution on Deployment {} to finish",
                        self.target()
                    ),
                },
                requeue: Some(BUSY_REQUEUE),
            }),
        }
    }

    /// Another plan `InProgress` on this plan's Deployment: one this process
    /// wrote so, or one the watch cache (or, without one, a list) shows so.
    async fn other_execution(&mut self) -> Result<Option<String>, Error> {
        let target = self.target_key();
        if let Some(other) = self.ctx.executions.in_progress_on(&target, &self.name) {
            return Ok(Some(other));
        }
        if let Some(others) = self.others.take() {
            return Ok(execute::busy_with(&others, &self.name, self.target()));
        }
        match self.ctx.executions.plans.get() {
            Some(store) => {
                // Until its first list is in, the cache knows nothing.
                store
                    .wait_until_ready()
                    .await
                    .map_err(|_| Error::Unreachable {
                        what: "the executor's RemediationPolicy watch".into(),
                        reason: "it stopped".into(),
                    })?;
                let cached = store.state();
                let others = cached
                    .iter()
                    .map(|p| p.as_ref())
                    .filter(|p| p.metadata.namespace.as_deref() == Some(self.namespace.as_str()));
                Ok(execute::busy_with(others, &self.name, self.target()))
            }
            None => {
                let others = self.plans.list(&ListParams::default()).await?.items;
                Ok(execute::busy_with(&others, &self.name, self.target()))
            }
        }
    }

    /// Applies what the step changes to the plan's status (in memory, until the
    /// next [`Reconciler::flush`]) and queues its Event and fault point.
    fn record(&mut self, step: &Step, now: i64) {
        let before = self.rp.status.clone().unwrap_or_default();
        let mut status = before.clone();
        execute::transition(
            step,
            &mut status,
            &self.rp.spec.plan,
            self.rp.metadata.generation,
            now,
        );
        if let Some(notice) = execute::notice(step, &self.rp.spec.plan, &before, &status) {
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

    /// Sends action `index`'s patch, computed from `live` (the Deployment as last
    /// read or patched, read again when missing or when a guarded patch
    /// conflicts); returns what was done and the Deployment after it.
    async fn apply(
        &self,
        index: usize,
        now: i64,
        live: Option<&Deployment>,
    ) -> Result<(String, Deployment), PatchFailure> {
        let (action, previous) = self.record_of(index);
        let target = self.target();
        let d = match action.action_type.patch_kind() {
            PatchKind::Scale => {
                let replicas = action
                    .replicas
                    .ok_or_else(|| PatchFailure::Refused("no replica count".into()))?;
                let from = previous
                    .replicas
                    .ok_or_else(|| PatchFailure::Refused("no previous replica count".into()))?;
                self.scale(from, replicas, live).await?
            }
            PatchKind::Restart => {
                let value = deployment::restarted_at_value(now);
                self.deployments
                    .patch(
                        target,
                        &self.params,
                        &Patch::Merge(deployment::restart_patch(Some(&value))),
                    )
                    .await?
            }
            PatchKind::Config => {
                let change = action
                    .config
                    .as_ref()
                    .ok_or_else(|| PatchFailure::Refused("no config setting".into()))?;
                let expected = previous.config.as_ref().and_then(|p| p.value.as_deref());
                self.set_config(
                    &SettingRef::from(change),
                    expected,
                    Some(&change.value),
                    live,
                )
                .await?
            }
        };
        Ok((execute::describe(&action, &previous, target), d))
    }

    /// Restores action `index`'s previous state; returns what was done and the
    /// Deployment after it.
    async fn roll_back(
        &self,
        index: usize,
        live: Option<&Deployment>,
    ) -> Result<(String, Deployment), PatchFailure> {
        let (action, previous) = self.record_of(index);
        let missing = || PatchFailure::Refused("no previous state recorded".into());
        match action.action_type.patch_kind() {
            PatchKind::Scale => {
                let replicas = previous.replicas.ok_or_else(missing)?;
                let set = action
                    .replicas
                    .ok_or_else(|| PatchFailure::Refused("no replica count".into()))?;
                let d = self.scale(set, replicas, live).await?;
                Ok((format!("scaled back to {replicas} replicas"), d))
            }
            PatchKind::Restart => {
                let value = previous.restarted_at.as_deref();
                let d = self
                    .deployments
                    .patch(
                        self.target(),
                        &self.params,
                        &Patch::Merge(deployment::restart_patch(value)),
                    )
                    .await?;
                let done = match value {
                    Some(v) => format!("restored restartedAt {v:?}"),
                    None => "removed restartedAt".into(),
                };
                Ok((done, d))
            }
            PatchKind::Config => {
                let prev = previous.config.as_ref().ok_or_else(missing)?;
                let set = action.config.as_ref().map(|c| c.value.as_str());
                let d = self
                    .set_config(&SettingRef::from(prev), set, prev.value.as_deref(), live)
                    .await?;
                let done = match &prev.value {
                    Some(v) => format!("restored {} to {v:?}", prev.name),
                    None => format!("removed {}", prev.name),
                };
                Ok((done, d))
            }
        }
    }

    /// The Deployment to compute a patch from: `known` on the first attempt (its
    /// patch is guarded by `test` operations), a fresh read after that.
    async fn read(&self, known: &mut Option<Deployment>) -> Result<Deployment, kube::Error> {
        match known.take() {
            Some(d) => Ok(d),
            None => self.deployments.get(self.target()).await,
        }
    }

    /// Scales from `from` to `to` replicas with a JSON Patch that tests `from`,
    /// so that a replica count another writer set since it was read is never
    /// overwritten: the action is refused instead.
    async fn scale(
        &self,
        from: i32,
        to: i32,
        live: Option<&Deployment>,
    ) -> Result<Deployment, PatchFailure> {
        let mut known = live.cloned();
        let mut last = String::new();
        for _ in 0..MAX_PATCH_ATTEMPTS {
            let d = self.read(&mut known).await?;
            let current = deployment::replicas(&d);
            if current == to {
                return Ok(d);
            }
            if current != from {
                return Err(PatchFailure::Refused(format!(
                    "Deployment {} has {current} replicas, not the {from} this step started from: \
                     another writer changed it, so it is left as it is",
                    self.target()
                )));
            }
            fault::point("scale-read").await;
            if let Some(d) = self
                .send_guarded(deployment::scale_patch(&d, to), &mut last)
                .await?
            {
                return Ok(d);
            }
        }
        Err(still_conflicting(&last))
    }

    /// Sets (or removes) a config setting that must still hold `expected` (what
    /// the step started from) with a test-guarded JSON Patch computed from the
    /// Deployment as known, then from fresh reads after a conflict, a bounded
    /// number of times. A value another writer set since is never overwritten:
    /// the step is refused instead.
    async fn set_config(
        &self,
        setting: &SettingRef,
        expected: Option<&str>,
        value: Option<&str>,
        live: Option<&Deployment>,
    ) -> Result<Deployment, PatchFailure> {
        let mut known = live.cloned();
        let mut last = String::new();
        for _ in 0..MAX_PATCH_ATTEMPTS {
            let d = self.read(&mut known).await?;
            let current = deployment::config_value(&d, setting)
                .map_err(|e| PatchFailure::Refused(e.to_string()))?;
            if current.as_deref() != value && current.as_deref() != expected {
                return Err(PatchFailure::Refused(format!(
                    "{} is {}, not the {} this step started from: another writer changed it, \
                     so it is left as it is",
                    setting.name,
                    shown(current.as_deref()),
                    shown(expected)
                )));
            }
            let patch = deployment::config_patch(&d, setting, value)
                .map_err(|e| PatchFailure::Refused(e.to_string()))?;
            let Some(patch) = patch else {
                return Ok(d);
            };
            fault::point("config-read").await;
            if let Some(d) = self.send_guarded(patch, &mut last).await? {
                return Ok(d);
            }
        }
        Err(still_conflicting(&last))
    }

    /// Sends a JSON Patch guarded by `test` operations: the patched Deployment,
    /// or `None` (with the answer kept in `last`) when what it tests no longer
    /// holds and the patch must be computed again from a fresh read.
    async fn send_guarded(
        &self,
        patch: json_patch::Patch,
        last: &mut String,
    ) -> Result<Option<Deployment>, PatchFailure> {
        match self
            .deployments
            .patch(self.target(), &self.params, &Patch::Json::<()>(patch))
            .await
        {
            Ok(d) => Ok(Some(d)),
            Err(e) if is_conflict(&e) => {
                tracing::debug!(plan = %self.name, error = %e, "guarded patch conflicted; reading again");
                *last = e.to_string();
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn still_conflicting(last: &str) -> PatchFailure {
    PatchFailure::Refused(format!(
        "still conflicting after {MAX_PATCH_ATTEMPTS} attempts: {last}"
    ))
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "absent".into(), |v| format!("{v:?}"))
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

#[cfg(test)]
mod tests {
    //! Request-sequence tests: the scripted API server of
    //! [`crate::controllers::testing`] answers the executor, and each test checks
    //! the exact requests it received.

    use serde_json::json;

    use super::*;
    use crate::controllers::Settings;
    use crate::controllers::testing::*;
    use crate::crd::{APPROVE_ANNOTATION, ExecutionPhase, ExecutionStatus};
    use crate::execute::fixtures::*;

    const NS: &str = "/apis/mapek.io/v1alpha1/namespaces/default";
    const RP: &str = "/apis/mapek.io/v1alpha1/namespaces/default/remediationpolicies/fix-web";
    const RP_STATUS: &str =
        "/apis/mapek.io/v1alpha1/namespaces/default/remediationpolicies/fix-web/status";
    const VP: &str = "/apis/mapek.io/v1alpha1/namespaces/default/violationpolicies/web-latency";
    const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/web";

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
    async fn reconcile_once(
        rp: &RemediationPolicy,
        server: Server,
    ) -> (Result<Action, Error>, Server) {
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
                format!("PATCH {RP_STATUS}"),
                "EVENT Warning ApprovalRefused".to_string(),
            ]
        );
        let status = &server.seen[3].body["status"];
        assert_eq!(status["approval"], "Pending");
        assert_eq!(status["phase"], "Pending");
        let message = status["approvalMessage"].as_str().unwrap();
        assert!(
            message.contains("0123456789abcdef") && message.contains("does not match"),
            "{message}"
        );
        let event = &server.seen[4].body;
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
            crate::deployment::config_value(
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
    async fn an_approved_scale_reaches_the_deployment_after_three_reads_and_one_write() {
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
    async fn a_plan_without_its_policy_waits_and_says_so_once() {
        let rp = approved(vec![scale_up("a1", 4)]);
        let mut server = Server::new(&rp, &deployment(2));
        server.objects.remove(VP);
        let (result, server) = reconcile_once(&rp, server).await;
        assert_eq!(result.unwrap(), Action::requeue(execute::POLICY_REQUEUE));
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
            .find(|c| c.type_ == execute::PROGRESSING)
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
        let (store, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for p in plans {
            writer.apply_watcher_event(&watcher::Event::InitApply(p));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let limits = Arc::new(ExecutionLimits::new(4));
        limits.use_plan_cache(store);
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
                format!("PATCH {RP_STATUS}"),
                format!("PATCH {DEPLOY}"),
            ]
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
    fn backoff_doubles_and_resets() {
        let limits = ExecutionLimits::new(1);
        assert_eq!(limits.backoff("x"), Duration::from_secs(5));
        assert_eq!(limits.backoff("x"), Duration::from_secs(10));
        assert_eq!(limits.backoff("x"), Duration::from_secs(20));
        limits.reset("x");
        assert_eq!(limits.backoff("x"), Duration::from_secs(5));
    }
}
