//! Applying one action: the guarded Deployment patches (scale, restart, config),
//! their retries on conflict and 5xx, and the rollback of finished actions.

use super::*;
use crate::controllers::revisions;

/// Why an action's patch did not go through.
pub(super) enum PatchFailure {
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

/// What a patch left: the Deployment, or the HorizontalPodAutoscaler a scale
/// action went through.
pub(super) enum Patched {
    Deployment(Box<Deployment>),
    Hpa(Box<HorizontalPodAutoscaler>),
}

impl Patched {
    /// Keeps the patched object as the one decided on next; returns the
    /// Deployment's generation after an own patch of it (`None` after an HPA
    /// patch: the HPA controller's scale is waited on at the latest generation).
    pub(super) fn keep(
        self,
        live: &mut Option<Deployment>,
        hpas: &mut Vec<HorizontalPodAutoscaler>,
    ) -> Option<i64> {
        match self {
            Patched::Deployment(d) => {
                let generation = d.metadata.generation;
                *live = Some(*d);
                generation
            }
            Patched::Hpa(h) => {
                match hpas.iter_mut().find(|o| o.name_any() == h.name_any()) {
                    Some(o) => *o = *h,
                    None => hpas.push(*h),
                }
                None
            }
        }
    }
}

pub(super) fn is_conflict(e: &kube::Error) -> bool {
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

impl Reconciler<'_> {
    /// Sends action `index`'s patch, computed from `live` (the Deployment as last
    /// read or patched, read again when missing or when a guarded patch
    /// conflicts); returns the Deployment after it.
    pub(super) async fn apply(
        &self,
        index: usize,
        now: i64,
        live: Option<&Deployment>,
        hpas: &[HorizontalPodAutoscaler],
    ) -> Result<Patched, PatchFailure> {
        let (action, previous) = self.record_of(index);
        let target = self.target();
        if let (PatchKind::Scale, Some(h)) = (action.action_type.patch_kind(), &previous.hpa) {
            let from = h.min_replicas.unwrap_or(1);
            let patched = self.set_min_replicas(&h.name, from, h.set, hpas).await?;
            return Ok(Patched::Hpa(Box::new(patched)));
        }
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
            PatchKind::Rollback => {
                let t = previous
                    .template
                    .as_ref()
                    .ok_or_else(|| PatchFailure::Refused("no template recorded".into()))?;
                self.set_template(&t.before, &t.after, live).await?
            }
            PatchKind::Restart => {
                // The value recorded before the patch, so that its undo knows it.
                let value = previous
                    .restarted_to
                    .clone()
                    .unwrap_or_else(|| patch::restarted_at_value(now));
                self.leading()?;
                self.deployments
                    .patch(
                        target,
                        &self.params,
                        &Patch::Merge(patch::restart_patch(Some(&value))),
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
        Ok(Patched::Deployment(Box::new(d)))
    }

    /// Restores action `index`'s previous state; returns the object patched.
    pub(super) async fn roll_back(
        &self,
        index: usize,
        live: Option<&Deployment>,
        hpas: &[HorizontalPodAutoscaler],
    ) -> Result<Patched, PatchFailure> {
        let (action, previous) = self.record_of(index);
        if let (PatchKind::Scale, Some(h)) = (action.action_type.patch_kind(), &previous.hpa) {
            let to = h.min_replicas.unwrap_or(1);
            let patched = self.set_min_replicas(&h.name, h.set, to, hpas).await?;
            return Ok(Patched::Hpa(Box::new(patched)));
        }
        self.roll_back_deployment(&action, &previous, live)
            .await
            .map(|d| Patched::Deployment(Box::new(d)))
    }

    async fn roll_back_deployment(
        &self,
        action: &RemediationAction,
        previous: &PreviousState,
        live: Option<&Deployment>,
    ) -> Result<Deployment, PatchFailure> {
        let missing = || PatchFailure::Refused("no previous state recorded".into());
        match action.action_type.patch_kind() {
            PatchKind::Scale => {
                let replicas = previous.replicas.ok_or_else(missing)?;
                let set = action
                    .replicas
                    .ok_or_else(|| PatchFailure::Refused("no replica count".into()))?;
                self.scale(set, replicas, live).await
            }
            PatchKind::Rollback => {
                let t = previous.template.as_ref().ok_or_else(missing)?;
                self.set_template(&t.after, &t.before, live).await
            }
            // Only while the Deployment still carries the operator's own value:
            // another writer's restart since is left alone, like a count or a
            // setting another writer changed.
            PatchKind::Restart => match &previous.restarted_to {
                Some(ours) => {
                    let setting = SettingRef::restarted_at();
                    let before = previous.restarted_at.as_deref();
                    self.set_config(&setting, Some(ours), before, live).await
                }
                // A record of an earlier version, which did not keep the value.
                None => {
                    self.leading()?;
                    let undo = patch::restart_patch(previous.restarted_at.as_deref());
                    Ok(self
                        .deployments
                        .patch(self.target(), &self.params, &Patch::Merge(undo))
                        .await?)
                }
            },
            PatchKind::Config => {
                let prev = previous.config.as_ref().ok_or_else(missing)?;
                let set = action.config.as_ref().map(|c| c.value.as_str());
                self.set_config(&SettingRef::from(prev), set, prev.value.as_deref(), live)
                    .await
            }
        }
    }

    /// The Deployment to compute a patch from: `known` on the first attempt (its
    /// patch is guarded by `test` operations), a fresh read after that.
    pub(super) async fn read(
        &self,
        known: &mut Option<Deployment>,
    ) -> Result<Deployment, kube::Error> {
        match known.take() {
            Some(d) => Ok(d),
            None => self.deployments.get(self.target()).await,
        }
    }

    /// Scales from `from` to `to` replicas with a JSON Patch that tests `from`,
    /// so that a replica count another writer set since it was read is never
    /// overwritten: the action is refused instead.
    pub(super) async fn scale(
        &self,
        from: i32,
        to: i32,
        live: Option<&Deployment>,
    ) -> Result<Deployment, PatchFailure> {
        let mut known = live.cloned();
        let mut last = String::new();
        for _ in 0..MAX_PATCH_ATTEMPTS {
            let d = self.read(&mut known).await?;
            let current = patch::replicas(&d);
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
                .send_guarded(patch::scale_patch(&d, to), &mut last)
                .await?
            {
                return Ok(d);
            }
        }
        Err(still_conflicting(&last))
    }

    /// Sets `minReplicas` of the HorizontalPodAutoscaler `name` from `from` (what
    /// the step started from) to `to`, with a JSON Patch that tests the value it
    /// replaces, computed from the HPA as read (`hpas`), then from fresh reads
    /// after a conflict: a value another writer set since is never overwritten;
    /// the step is refused instead.
    pub(super) async fn set_min_replicas(
        &self,
        name: &str,
        from: i32,
        to: i32,
        hpas: &[HorizontalPodAutoscaler],
    ) -> Result<HorizontalPodAutoscaler, PatchFailure> {
        let mut known = crate::controllers::hpa::named(hpas, name).cloned();
        let mut last = String::new();
        for _ in 0..MAX_PATCH_ATTEMPTS {
            let h = match known.take() {
                Some(h) => h,
                None => self.hpas.get(name).await?,
            };
            let current = crate::controllers::hpa::min_replicas(&h);
            if current == to {
                return Ok(h);
            }
            if current != from {
                return Err(PatchFailure::Refused(format!(
                    "HorizontalPodAutoscaler {name} has minReplicas {current}, not the {from} this \
                     step started from: another writer changed it, so it is left as it is"
                )));
            }
            let patch = crate::controllers::hpa::min_replicas_patch(&h, to);
            self.leading()?;
            match self
                .hpas
                .patch(name, &self.params, &Patch::Json::<()>(patch))
                .await
            {
                Ok(h) => return Ok(h),
                Err(e) if is_conflict(&e) => {
                    tracing::debug!(plan = %self.name, error = %e, "guarded HPA patch conflicted; reading again");
                    last = e.to_string();
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(still_conflicting(&last))
    }

    /// Sets (or removes) a config setting that must still hold `expected` (what
    /// the step started from) with a test-guarded JSON Patch computed from the
    /// Deployment as known, then from fresh reads after a conflict, a bounded
    /// number of times. A value another writer set since is never overwritten:
    /// the step is refused instead.
    pub(super) async fn set_config(
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
            let current = patch::config_value(&d, setting)
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
            let patch = patch::config_patch(&d, setting, value)
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

    /// Sets the pod template from `from` (what the step started from) to `to`
    /// with a JSON Patch that tests the whole template: one another writer
    /// changed since (a new rollout) is never overwritten; the step is refused.
    pub(super) async fn set_template(
        &self,
        from: &Value,
        to: &Value,
        live: Option<&Deployment>,
    ) -> Result<Deployment, PatchFailure> {
        let mut known = live.cloned();
        let mut last = String::new();
        for _ in 0..MAX_PATCH_ATTEMPTS {
            let d = self.read(&mut known).await?;
            let current = revisions::template_of(&d);
            if current == *to {
                return Ok(d);
            }
            if current != *from {
                return Err(PatchFailure::Refused(format!(
                    "the pod template of Deployment {} changed since this step recorded it \
                     (a rollout by another writer), so it is left as it is",
                    self.target()
                )));
            }
            if let Some(d) = self
                .send_guarded(patch::template_patch(from, to), &mut last)
                .await?
            {
                return Ok(d);
            }
        }
        Err(still_conflicting(&last))
    }

    /// Sends a JSON Patch guarded by `test` operations: the patched Deployment,
    /// or `None` (with the answer kept in `last`) when what it tests no longer
    /// holds and the patch must be computed again from a fresh read.
    pub(super) async fn send_guarded(
        &self,
        patch: json_patch::Patch,
        last: &mut String,
    ) -> Result<Option<Deployment>, PatchFailure> {
        self.leading()?;
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

impl Reconciler<'_> {
    /// Refuses a write once this replica may no longer act (its leadership's
    /// renew deadline passed): an I/O-like failure, so the action stays as it
    /// was recorded and the replica that leads next reads what happened.
    pub(super) fn leading(&self) -> Result<(), kube::Error> {
        self.ctx
            .leadership
            .check()
            .map_err(|e| kube::Error::Service(Box::new(e)))
    }
}

pub(super) fn still_conflicting(last: &str) -> PatchFailure {
    PatchFailure::Refused(format!(
        "still conflicting after {MAX_PATCH_ATTEMPTS} attempts: {last}"
    ))
}

pub(super) fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "absent".into(), |v| format!("{v:?}"))
}
