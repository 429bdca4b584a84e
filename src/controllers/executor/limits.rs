//! The executor's limits: at most one execution per Deployment, a global number
//! of slots, with the plans this process wrote `InProgress` joined to the watch
//! cache, and the storm brake (at most so many executions started in a sliding
//! window across all policies).

use super::*;

/// The executor's limits on concurrent executions, shared by its reconciles.
#[derive(Debug)]
pub struct ExecutionLimits {
    pub(super) slots: Arc<Semaphore>,
    pub(super) targets: Mutex<HashSet<String>>,
    pub(super) failures: Mutex<HashMap<String, u32>>,
    /// The plans as the executor's watch cache holds them, once it runs; without
    /// it (in unit tests) the plans are listed from the API server.
    pub(super) plans: OnceLock<Store<RemediationPolicy>>,
    /// `namespace/deployment` -> the plan this process last wrote `InProgress` on
    /// it and has not written finished since.
    pub(super) in_progress: Mutex<HashMap<String, String>>,
    /// `namespace/plan` -> when this process started it (the watch cache may
    /// not show the start yet; the storm brake counts both).
    pub(super) started: Mutex<HashMap<String, Millis>>,
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
            started: Mutex::new(HashMap::new()),
        }
    }

    /// Notes that `plan` (`namespace/name`) starts at `now`.
    pub(super) fn note_start(&self, plan: &str, now: Millis) {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plan.to_string(), now);
    }

    /// When each plan started, by `namespace/name`: the ones `cached` shows
    /// (their `status.execution.startedAt`) and the ones this process started.
    pub(super) fn starts<'a>(
        &self,
        cached: impl IntoIterator<Item = &'a RemediationPolicy>,
    ) -> HashMap<String, Millis> {
        let mut all: HashMap<String, Millis> = cached
            .into_iter()
            .filter_map(|rp| {
                let at = rp
                    .status
                    .as_ref()?
                    .execution
                    .as_ref()?
                    .started_at
                    .as_ref()?;
                Some((key(rp), at.0.as_millisecond()))
            })
            .collect();
        for (plan, at) in self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            all.entry(plan.clone()).or_insert(*at);
        }
        all
    }

    /// Reads the other plans from `store` (the executor's watch cache) from now on.
    pub fn use_plan_cache(&self, store: Store<RemediationPolicy>) {
        let _ = self.plans.set(store);
    }

    /// Notes the phase of `plan` on `target` (`namespace/name`) as just written.
    pub(super) fn written(&self, target: &str, plan: &str, phase: mapek_api::ExecutionPhase) {
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        if phase == mapek_api::ExecutionPhase::InProgress {
            in_progress.insert(target.to_string(), plan.to_string());
        } else if in_progress.get(target).is_some_and(|p| p == plan) {
            in_progress.remove(target);
        }
    }

    /// Another plan than `me` this process wrote `InProgress` on `target`.
    pub(super) fn in_progress_on(&self, target: &str, me: &str) -> Option<String> {
        let in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        in_progress.get(target).filter(|p| *p != me).cloned()
    }

    /// Reserves one of `max` executions for `plan` on `target` before it starts:
    /// false when `max` plans are in progress (those waiting for a rollout
    /// between reconciles included). Counting and reserving under one lock, so
    /// that reconciles starting at the same time cannot all pass the count; the
    /// reservation holds until the plan's phase is written (see
    /// [`ExecutionLimits::written`]) or [`ExecutionLimits::release`].
    pub(super) fn reserve(&self, target: &str, plan: &str, max: usize) -> bool {
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        if in_progress.get(target).is_some_and(|p| p == plan) {
            return true;
        }
        if in_progress.len() >= max.max(1) {
            return false;
        }
        in_progress.insert(target.to_string(), plan.to_string());
        true
    }

    /// Drops `plan`'s reservation on `target`, if it holds one.
    pub(super) fn release(&self, target: &str, plan: &str) {
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        if in_progress.get(target).is_some_and(|p| p == plan) {
            in_progress.remove(target);
        }
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
    pub(super) fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        Duration::from_secs(5u64.saturating_mul(1 << (*n - 1).min(6)).min(300))
    }

    pub(super) fn reset(&self, key: &str) {
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

/// The storm brake: `Some((started, until))` when `max` (> 0) or more of `starts`
/// fall in the `window` before `now`, with the time the oldest of them leaves
/// the window; `None` when an execution may start.
pub fn storm_brake(
    starts: impl IntoIterator<Item = Millis>,
    now: Millis,
    max: usize,
    window: Duration,
) -> Option<(usize, Millis)> {
    if max == 0 {
        return None;
    }
    let from = now.saturating_sub(window.as_millis() as Millis);
    let mut recent: Vec<Millis> = starts.into_iter().filter(|t| *t > from).collect();
    if recent.len() < max {
        return None;
    }
    recent.sort_unstable();
    // The brake lifts once fewer than `max` remain in the window.
    let lifts = recent[recent.len() - max] + window.as_millis() as Millis;
    Some((recent.len(), lifts))
}
