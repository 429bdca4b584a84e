//! Claiming an execution before a step that changes a Deployment: one execution
//! per Deployment, the global limit (a reservation that holds while an execution
//! waits for its rollout between reconciles) and the storm brake.

use super::*;

impl Reconciler<'_> {
    /// Executing steps need the Deployment to themselves and an execution slot;
    /// without them the step becomes a wait.
    pub(super) async fn claim_for(&mut self, step: Step) -> Result<Step, Error> {
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
        // An execution that waits for a rollout holds no slot between its
        // reconciles, but it still counts against the limit.
        let max = self.ctx.settings.max_concurrent_executions;
        if step == Step::Start {
            if let Some(wait) = self.storm_brake().await? {
                return Ok(wait);
            }
            if !self.ctx.executions.reserve(&target, &self.name, max) {
                return Ok(Step::Wait {
                    kind: WaitKind::Slot,
                    message: format!("waiting for an execution slot ({max} at most at once)"),
                    requeue: Some(BUSY_REQUEUE),
                });
            }
            self.reserved = true;
            self.ctx
                .executions
                .note_start(&key(&self.rp), self.ctx.clock.now_ms());
        }
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

    /// The wait the storm brake imposes on this plan's start, if it holds: too
    /// many executions started in its window across every plan the executor sees
    /// (its watch cache, or a list), and no override annotation carrying the
    /// plan's hash.
    async fn storm_brake(&mut self) -> Result<Option<Step>, Error> {
        let settings = &self.ctx.settings;
        let (max, window) = (
            settings.storm_brake_max_executions,
            settings.storm_brake_window,
        );
        let hash = &self.rp.spec.plan.plan_hash;
        let overridden = self
            .rp
            .annotations()
            .get(mapek_api::STORM_BRAKE_OVERRIDE_ANNOTATION)
            .is_some_and(|v| v == hash);
        if max == 0 || overridden {
            return Ok(None);
        }
        // The cache's objects are read in place, not copied.
        let starts = match self.ctx.executions.plans.get() {
            Some(store) => self
                .ctx
                .executions
                .starts(store.state().iter().map(|p| p.as_ref())),
            None => match &self.others {
                Some(others) => self.ctx.executions.starts(others),
                None => {
                    let listed = self.plans.list(&ListParams::default()).await?.items;
                    self.ctx.executions.starts(&listed)
                }
            },
        };
        let me = key(&self.rp);
        let now = self.ctx.clock.now_ms();
        let held = storm_brake(
            starts
                .iter()
                .filter(|(plan, _)| **plan != me)
                .map(|(_, at)| *at),
            now,
            max,
            window,
        );
        let metrics = &self.ctx.metrics;
        let Some((started, lifts)) = held else {
            metrics.storm_brake_engaged.set(0);
            return Ok(None);
        };
        metrics.storm_brake_engaged.set(1);
        metrics.storm_brake_held.inc();
        Ok(Some(Step::Wait {
            kind: WaitKind::Brake,
            message: format!(
                "storm brake: {started} executions started in the last {} (at most {max}); \
                 this plan starts when fewer have, or now with: kubectl annotate \
                 remediationpolicy {} {}={hash}",
                humantime(window),
                self.name,
                mapek_api::STORM_BRAKE_OVERRIDE_ANNOTATION
            ),
            requeue: Some(Duration::from_millis(
                lifts.saturating_sub(now).max(1000) as u64
            )),
        }))
    }

    /// Another plan `InProgress` on this plan's Deployment: one this process
    /// wrote so, or one the watch cache (or, without one, a list) shows so.
    async fn other_execution(&mut self) -> Result<Option<String>, Error> {
        let target = self.target_key();
        if let Some(other) = self.ctx.executions.in_progress_on(&target, &self.name) {
            return Ok(Some(other));
        }
        if let Some(others) = &self.others {
            return Ok(decide::busy_with(others, &self.name, self.target()));
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
                Ok(decide::busy_with(others, &self.name, self.target()))
            }
            None => {
                let others = self.plans.list(&ListParams::default()).await?.items;
                Ok(decide::busy_with(&others, &self.name, self.target()))
            }
        }
    }
}

/// A window as people write it: `10m`, `90s`, `1h`.
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
