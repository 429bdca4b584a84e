//! The Monitor controller: every second it finds the ViolationPolicies whose
//! evaluation is due, runs each distinct PromQL query once, keeps the value in
//! memory ([`history`]), applies it to every policy that asked for it
//! ([`decide::observe`]) and writes a status only when a reader needs it
//! ([`decide::worth_writing`]), within a write budget. Evaluations fall on
//! interval boundaries, so policies sharing a query share its evaluation; a failed
//! one is retried with exponential backoff. After a start, each query's history is
//! read back from Prometheus with a range query. After a violation it wakes the
//! analyzer for that namespace.

mod backfill;
mod budget;
pub mod decide;
pub mod history;
mod refresh;
mod series;
mod unwritten;
mod write;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc;

use super::Context;
use crate::prometheus::{Prometheus, QueryError};
use decide::{Evaluated, Write};
use history::Key;
use mapek_api::{ViolationPolicy, ViolationPolicyStatus};
use mapek_engine::model::Millis;

use backfill::Backfills;
pub use budget::WriteBudget;
pub use series::{context_keys, history_key};
use series::{interval_of, series_of};
pub use unwritten::Unwritten;
use write::{caught_up, flush_pending, write_status};

/// Most queries in flight at once.
const QUERY_CONCURRENCY: usize = 8;
/// Most status writes in flight at once.
pub(super) const WRITE_CONCURRENCY: usize = 16;
/// Longest wait between evaluations of a failing policy.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Scheduling state of one policy, kept in memory.
#[derive(Debug, Clone, Default)]
pub(super) struct Schedule {
    next_due: Millis,
    failures: u32,
    /// The last status this process wrote, kept only until the watch cache shows
    /// it (then the cache is the base of the next evaluation, and this copy is
    /// dropped, so that a thousand policies' statuses are not held twice).
    /// Boxed, as `pending` is: both are empty for most policies most of the
    /// time, and a schedule is one slot of a map with a slot per policy (with
    /// two inline statuses a slot was 784 bytes, 144 now: 12.8 MB and 2.4 MB
    /// for the 16,384 slots of 10,000 policies).
    status: Option<Box<ViolationPolicyStatus>>,
    /// A status a reader needs that the write budget had no room for yet: the
    /// base of the next evaluation (so no violation is lost), written at the
    /// first evaluation with room. Evaluations never wait for the budget.
    pending: Option<Box<ViolationPolicyStatus>>,
    /// `pending` is only a refresh (nothing a reader needs changed): written
    /// after the changes, from the refresh share of the budget.
    refresh_queued: bool,
    generation: Option<i64>,
    /// Its recorded violations are in [`Context::unwritten`] until the watch
    /// cache shows them.
    unwritten: bool,
}

impl Schedule {
    /// The status the API server holds, or will once the watch cache shows this
    /// process's last write.
    fn written(&self, policy: &ViolationPolicy) -> ViolationPolicyStatus {
        self.status
            .as_deref()
            .or(policy.status.as_ref())
            .cloned()
            .unwrap_or_default()
    }
}

/// The refresh period for the policies of `store` (see [`refresh`]).
pub(super) fn refresh_period(ctx: &Context, policies: usize) -> Millis {
    refresh::period_ms(
        ctx.settings.status_refresh.as_millis() as Millis,
        policies,
        ctx.write_budget.refresh_per_second(),
    )
}

/// The age at which `policy`'s unchanged status is refreshed at `now`.
pub(super) fn refresh_age(policy: &ViolationPolicy, now: Millis, period: Millis) -> Millis {
    let namespace = policy.namespace().unwrap_or_default();
    let phase = refresh::phase_ms(&namespace, &policy.name_any(), period);
    refresh::due_age_ms(now, phase, period)
}

/// Runs the monitor until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    store: Store<ViolationPolicy>,
    prometheus: Prometheus,
    analyze: mpsc::Sender<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut schedules: HashMap<ObjectRef<ViolationPolicy>, Schedule> = HashMap::new();
    let mut backfills = Backfills::default();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        let started = std::time::Instant::now();
        // The series the policies use, once a tick: the rest is forgotten, and
        // any not yet read back from Prometheus is.
        let used: HashSet<Key> = store
            .state()
            .iter()
            .flat_map(|p| series_of(p, ctx.settings.default_interval))
            .collect();
        ctx.history.retain(|k| used.contains(k));
        tick(&ctx, &store, &prometheus, &analyze, &mut schedules).await;
        backfills.start(&ctx, used, &prometheus);
        ctx.metrics
            .phase("monitor", started.elapsed().as_secs_f64());
    }
}

/// One tick: evaluate every due policy, each distinct query once.
async fn tick(
    ctx: &Context,
    store: &Store<ViolationPolicy>,
    prometheus: &Prometheus,
    analyze: &mpsc::Sender<String>,
    schedules: &mut HashMap<ObjectRef<ViolationPolicy>, Schedule>,
) {
    let now = ctx.clock.now_ms();
    let policies = store.state();
    let period = refresh_period(ctx, policies.len());
    schedules.retain(|key, s| {
        let kept = store.get(key).is_some();
        if !kept && s.unwritten {
            ctx.unwritten.clear(key);
        }
        kept
    });

    let mut due: BTreeMap<String, Vec<(Arc<ViolationPolicy>, Millis)>> = BTreeMap::new();
    // The context queries of the due policies: run in the same round, their
    // values only kept in memory, for each interval that asked.
    let mut context: BTreeMap<String, HashSet<Millis>> = BTreeMap::new();
    for p in policies {
        let key = ObjectRef::from_obj(p.as_ref());
        let s = schedules.entry(key.clone()).or_default();
        // A spec change evaluates at once and forgets the backoff.
        if s.generation != p.metadata.generation {
            s.generation = p.metadata.generation;
            s.next_due = now;
            s.failures = 0;
        }
        if s.status
            .as_ref()
            .is_some_and(|w| caught_up(p.status.as_ref(), w))
        {
            s.status = None;
        }
        if s.unwritten && s.pending.is_none() && s.status.is_none() {
            ctx.unwritten.clear(&key);
            s.unwritten = false;
        }
        if s.next_due <= now {
            let due_at = s.next_due;
            for (_, key) in context_keys(&p, ctx.settings.default_interval) {
                context
                    .entry(key.query)
                    .or_default()
                    .insert(key.interval_ms);
            }
            due.entry(p.spec.query.clone())
                .or_default()
                .push((p, due_at));
        }
    }
    if due.is_empty() {
        for ns in flush_pending(ctx, store, schedules, &HashSet::new(), now).await {
            let _ = analyze.try_send(ns);
        }
        return;
    }

    let queries: std::collections::BTreeSet<String> =
        due.keys().chain(context.keys()).cloned().collect();
    let results: Vec<(String, Result<f64, QueryError>)> = stream::iter(queries)
        .map(|q| async move {
            let r = prometheus.query_value(&q).await;
            (q, r)
        })
        .buffer_unordered(QUERY_CONCURRENCY)
        .collect()
        .await;
    ctx.metrics.prometheus_queries.inc_by(results.len() as u64);

    // Each policy's status is its own PATCH: write them concurrently (bounded), or a
    // thousand policies would take a thousand round trips per tick.
    let mut jobs = Vec::new();
    for (query, result) in results {
        if let Some(intervals) = context.get(&query) {
            match &result {
                Ok(value) => {
                    for interval_ms in intervals {
                        let key = Key {
                            query: query.clone(),
                            interval_ms: *interval_ms,
                        };
                        ctx.history.push(&key, now, *value);
                    }
                }
                Err(e) => {
                    tracing::debug!(query = %query, error = %e, "a context query gave no value");
                }
            }
        }
        let Some(policies) = due.get(&query) else {
            if result.is_err() {
                ctx.metrics.prometheus_query_errors.inc();
            }
            continue;
        };
        match &result {
            Ok(value) => {
                // One value per series, however many policies share it.
                let series: HashSet<Key> = policies
                    .iter()
                    .map(|(p, _)| history_key(p, ctx.settings.default_interval))
                    .collect();
                for key in series {
                    ctx.history.push(&key, now, *value);
                }
            }
            Err(_) => {
                ctx.metrics.prometheus_query_errors.inc();
            }
        }
        let result = Arc::new(result);
        for (p, due_at) in policies {
            ctx.metrics
                .evaluation_lag
                .observe(now.saturating_sub(*due_at).max(0) as f64 / 1000.0);
            let key = ObjectRef::from_obj(p.as_ref());
            let schedule = schedules.remove(&key).unwrap_or_default();
            jobs.push((key, p.clone(), schedule, result.clone()));
        }
    }
    let evaluated: Vec<_> = stream::iter(jobs)
        .map(|(key, p, mut schedule, result)| async move {
            let woke = evaluate(ctx, &p, &mut schedule, &result, now, period).await;
            (key, schedule, woke)
        })
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut wake = std::collections::BTreeSet::new();
    let mut evaluated_now = HashSet::new();
    for (key, schedule, woke) in evaluated {
        evaluated_now.insert(key.clone());
        schedules.insert(key, schedule);
        wake.extend(woke);
    }
    wake.extend(flush_pending(ctx, store, schedules, &evaluated_now, now).await);
    for ns in wake {
        // A full channel means the analyzer is already due to run.
        let _ = analyze.try_send(ns);
    }
}

/// Applies one result to one policy, writes its status if a reader needs it
/// (or its refresh is due, in the refresh `period`) and schedules the next
/// evaluation. Returns the namespace when a violation was recorded (written
/// or queued).
async fn evaluate(
    ctx: &Context,
    policy: &ViolationPolicy,
    schedule: &mut Schedule,
    result: &Result<f64, QueryError>,
    now: Millis,
    period: Millis,
) -> Option<String> {
    let name = policy.name_any();
    // `before`: what the API server holds (or will, once the cache shows this
    // process's last write); the evaluation builds on what is still pending.
    let before = schedule.written(policy);
    let mut status = schedule
        .pending
        .take()
        .map_or_else(|| before.clone(), |pending| *pending);
    schedule.refresh_queued = false;
    let evaluated = decide::observe(
        &name,
        &policy.spec,
        policy.metadata.generation,
        &mut status,
        result,
        now,
    );
    // The analyzer judges new violations now, not once the budget has
    // written them.
    if status.recent_violations != before.recent_violations {
        ctx.unwritten
            .set(ObjectRef::from_obj(policy), &status.recent_violations);
        schedule.unwritten = true;
    }

    let interval = interval_of(policy, ctx.settings.default_interval);
    let wait = if evaluated == Evaluated::Failed {
        schedule.failures = schedule.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(schedule.failures.min(16) - 1);
        interval
            .saturating_mul(factor)
            .min(MAX_BACKOFF.max(interval))
    } else {
        schedule.failures = 0;
        interval
    };
    schedule.next_due = decide::next_due(
        now,
        interval.as_millis() as Millis,
        wait.as_millis() as Millis,
    );

    let due_age = refresh_age(policy, now, period);
    let write = decide::worth_writing(&before, &status, now, due_age);
    match write {
        Write::Skip => {
            ctx.metrics.status_write("skipped");
            return None;
        }
        // Queued: written between evaluations, oldest first, as the refresh
        // share of the budget makes room.
        Write::Refresh if !ctx.write_budget.try_refresh() => {
            ctx.metrics.status_write("deferred");
            schedule.pending = Some(Box::new(status));
            schedule.refresh_queued = true;
            return None;
        }
        Write::Refresh => {}
        Write::Generation | Write::Transition | Write::Violation => {
            if !ctx.write_budget.try_write() {
                ctx.metrics.status_write("queued");
                schedule.pending = Some(Box::new(status));
                // The analyzer reads a queued violation from `unwritten`.
                return matches!(write, Write::Violation)
                    .then(|| policy.namespace().unwrap_or_else(|| "default".into()));
            }
        }
    }
    write_status(ctx, policy, schedule, &before, status, write).await
}

#[cfg(test)]
mod tests;
