//! The Monitor controller: every second it finds the ViolationPolicies whose
//! evaluation is due, runs each distinct PromQL query once, keeps the value in
//! memory ([`history`]), applies it to every policy that asked for it
//! ([`decide::observe`]) and writes a status only when a reader needs it
//! ([`decide::worth_writing`]), within a write budget. Evaluations fall on
//! interval boundaries, so policies sharing a query share its evaluation; a failed
//! one is retried with exponential backoff. After a start, each query's history is
//! read back from Prometheus with a range query. After a violation it wakes the
//! analyzer for that namespace.

pub mod decide;
pub mod history;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

use super::Context;
use crate::prometheus::{Prometheus, QueryError};
use decide::{Evaluated, READY, VIOLATING, Write};
use history::Key;
use mapek_api::{ViolationPolicy, ViolationPolicyStatus};
use mapek_engine::model::Millis;

/// Most queries in flight at once.
const QUERY_CONCURRENCY: usize = 8;
/// Most status writes in flight at once.
const WRITE_CONCURRENCY: usize = 16;
/// Most history range queries in flight at once (they run beside evaluations).
const BACKFILL_CONCURRENCY: usize = 2;
/// Longest wait between evaluations of a failing policy.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The monitor's client-side budget of status writes: a token bucket of `qps`
/// writes a second with `burst` more, as client-go's QPS and burst. Writes a
/// reader needs wait for a token. Refreshes take one only if it is free now and
/// only from half the rate, so that a steady stream of refreshes always leaves
/// room for condition changes and violations.
pub struct WriteBudget {
    all: Option<DefaultDirectRateLimiter>,
    refresh: Option<DefaultDirectRateLimiter>,
}

impl WriteBudget {
    /// A budget of `qps` writes a second (0: unlimited) and a burst of `burst`.
    pub fn new(qps: u32, burst: u32) -> WriteBudget {
        let limiter = |qps: u32, burst: u32| {
            NonZeroU32::new(qps).map(|qps| {
                let burst = NonZeroU32::new(burst).unwrap_or(qps);
                RateLimiter::direct(Quota::per_second(qps).allow_burst(burst))
            })
        };
        WriteBudget {
            all: limiter(qps, burst),
            refresh: (qps > 0)
                .then(|| limiter((qps / 2).max(1), (burst / 2).max(1)))
                .flatten(),
        }
    }

    /// Takes a write a reader needs from the budget if one is free now.
    pub fn try_write(&self) -> bool {
        self.all.as_ref().is_none_or(|l| l.check().is_ok())
    }

    /// Takes a refresh from the budget if one is free now.
    pub fn try_refresh(&self) -> bool {
        self.refresh.as_ref().is_none_or(|l| l.check().is_ok())
            && self.all.as_ref().is_none_or(|l| l.check().is_ok())
    }
}

/// Scheduling state of one policy, kept in memory.
#[derive(Debug, Clone, Default)]
struct Schedule {
    next_due: Millis,
    failures: u32,
    /// The last status this process wrote, kept only until the watch cache shows
    /// it (then the cache is the base of the next evaluation, and this copy is
    /// dropped, so that a thousand policies' statuses are not held twice).
    status: Option<ViolationPolicyStatus>,
    /// A status a reader needs that the write budget had no room for yet: the
    /// base of the next evaluation (so no violation is lost), written at the
    /// first evaluation with room. Evaluations never wait for the budget.
    pending: Option<ViolationPolicyStatus>,
    generation: Option<i64>,
}

impl Schedule {
    /// The status the API server holds, or will once the watch cache shows this
    /// process's last write.
    fn written(&self, policy: &ViolationPolicy) -> ViolationPolicyStatus {
        self.status
            .clone()
            .or_else(|| policy.status.clone())
            .unwrap_or_default()
    }
}

/// The history series a policy's evaluations go to: its query at its interval.
pub fn history_key(policy: &ViolationPolicy, default_interval: Duration) -> Key {
    Key {
        query: policy.spec.query.clone(),
        interval_ms: interval_of(policy, default_interval).as_millis() as Millis,
    }
}

/// The history series of a policy's context queries (load, saturation), each
/// with what it measures.
pub fn context_keys(
    policy: &ViolationPolicy,
    default_interval: Duration,
) -> Vec<(mapek_engine::model::ContextKind, Key)> {
    let interval_ms = interval_of(policy, default_interval).as_millis() as Millis;
    policy
        .spec
        .context
        .iter()
        .flat_map(|c| c.queries())
        .map(|(kind, query)| {
            (
                kind,
                Key {
                    query: query.to_string(),
                    interval_ms,
                },
            )
        })
        .collect()
}

/// Every series a policy's evaluations feed: its query's and its context queries'.
fn series_of(policy: &ViolationPolicy, default_interval: Duration) -> Vec<Key> {
    let mut keys = vec![history_key(policy, default_interval)];
    keys.extend(
        context_keys(policy, default_interval)
            .into_iter()
            .map(|(_, k)| k),
    );
    keys
}

/// A policy's evaluation interval, or the operator's default when it sets none.
fn interval_of(policy: &ViolationPolicy, default_interval: Duration) -> Duration {
    let interval = Duration::from(policy.spec.evaluation_interval);
    if interval.is_zero() {
        default_interval
    } else {
        interval
    }
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

/// The range queries that read each series' history back from Prometheus, one
/// per series and process, a few at a time beside the evaluations.
struct Backfills {
    started: HashSet<Key>,
    permits: Arc<Semaphore>,
}

impl Default for Backfills {
    fn default() -> Self {
        Backfills {
            started: HashSet::new(),
            permits: Arc::new(Semaphore::new(BACKFILL_CONCURRENCY)),
        }
    }
}

impl Backfills {
    /// Starts a range query for every series not yet read back.
    fn start(&mut self, ctx: &Arc<Context>, used: HashSet<Key>, prometheus: &Prometheus) {
        for key in used {
            if !self.started.insert(key.clone()) {
                continue;
            }
            let (ctx, prometheus, permits) =
                (ctx.clone(), prometheus.clone(), self.permits.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                backfill(&ctx, &prometheus, &key).await;
            });
        }
    }
}

/// Reads one series' history back: the capacity's worth of intervals before now.
async fn backfill(ctx: &Context, prometheus: &Prometheus, key: &Key) {
    // On interval boundaries, where live evaluations fall, so that a policy's
    // values and its context queries' line up.
    let now = ctx.clock.now_ms();
    let now = now - now.rem_euclid(key.interval_ms.max(1));
    let span = key
        .interval_ms
        .saturating_mul(ctx.history.capacity() as Millis);
    ctx.metrics.prometheus_range_queries.inc();
    let step = Duration::from_millis(key.interval_ms.max(1000) as u64);
    match prometheus
        .query_range_values(&key.query, now.saturating_sub(span), now, step)
        .await
    {
        Ok(points) => {
            tracing::debug!(query = %key.query, values = points.len(), "history read back");
            ctx.history.backfill(key, points);
        }
        Err(e) => {
            // Live evaluations fill the history from here on.
            tracing::info!(query = %key.query, error = %e, "cannot read the query's history back");
            ctx.history.backfill(key, Vec::new());
        }
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
    schedules.retain(|key, _| store.get(key).is_some());

    let mut due: BTreeMap<String, Vec<(Arc<ViolationPolicy>, Millis)>> = BTreeMap::new();
    // The context queries of the due policies: run in the same round, their
    // values only kept in memory, for each interval that asked.
    let mut context: BTreeMap<String, HashSet<Millis>> = BTreeMap::new();
    for p in policies {
        let key = ObjectRef::from_obj(p.as_ref());
        let s = schedules.entry(key).or_default();
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
            let woke = evaluate(ctx, &p, &mut schedule, &result, now).await;
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

/// Writes the changes queued for the budget, as many as it has room for now,
/// between evaluations: the budget is used every second, not only at
/// evaluation times. Returns the namespaces with new violations.
async fn flush_pending(
    ctx: &Context,
    store: &Store<ViolationPolicy>,
    schedules: &mut HashMap<ObjectRef<ViolationPolicy>, Schedule>,
    skip: &HashSet<ObjectRef<ViolationPolicy>>,
    now: Millis,
) -> Vec<String> {
    let queued: Vec<ObjectRef<ViolationPolicy>> = schedules
        .iter()
        .filter(|(k, s)| s.pending.is_some() && !skip.contains(*k))
        .map(|(k, _)| k.clone())
        .collect();
    let mut jobs = Vec::new();
    for key in queued {
        let Some(policy) = store.get(&key) else {
            continue;
        };
        if !ctx.write_budget.try_write() {
            break;
        }
        let Some(mut schedule) = schedules.remove(&key) else {
            continue;
        };
        let before = schedule.written(&policy);
        let status = schedule.pending.take().unwrap_or_default();
        let refresh = ctx.settings.status_refresh.as_millis() as Millis;
        let write = decide::worth_writing(&before, &status, now, refresh);
        jobs.push((key, policy, schedule, before, status, write));
    }
    let written: Vec<_> = stream::iter(jobs)
        .map(
            |(key, policy, mut schedule, before, status, write)| async move {
                let woke = match write {
                    Write::Skip => None,
                    _ => write_status(ctx, &policy, &mut schedule, &before, status, write).await,
                };
                (key, schedule, woke)
            },
        )
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut wake = Vec::new();
    for (key, schedule, woke) in written {
        schedules.insert(key, schedule);
        wake.extend(woke);
    }
    wake
}

/// Whether the watch cache's status already is the status this process last
/// wrote: the monitor is its only writer, and every write sets a new
/// `lastEvaluationTime`.
fn caught_up(cached: Option<&ViolationPolicyStatus>, written: &ViolationPolicyStatus) -> bool {
    written.last_evaluation_time.is_some()
        && cached.and_then(|c| c.last_evaluation_time.as_ref())
            == written.last_evaluation_time.as_ref()
}

/// Applies one result to one policy, writes its status if a reader needs it
/// and schedules the next evaluation. Returns the namespace when a violation
/// was recorded.
async fn evaluate(
    ctx: &Context,
    policy: &ViolationPolicy,
    schedule: &mut Schedule,
    result: &Result<f64, QueryError>,
    now: Millis,
) -> Option<String> {
    let name = policy.name_any();
    // `before`: what the API server holds (or will, once the cache shows this
    // process's last write); the evaluation builds on what is still pending.
    let before = schedule.written(policy);
    let mut status = schedule.pending.take().unwrap_or_else(|| before.clone());
    let evaluated = decide::observe(
        &name,
        &policy.spec,
        policy.metadata.generation,
        &mut status,
        result,
        now,
    );

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

    let write = decide::worth_writing(
        &before,
        &status,
        now,
        ctx.settings.status_refresh.as_millis() as Millis,
    );
    match write {
        Write::Skip => {
            ctx.metrics.status_write("skipped");
            return None;
        }
        Write::Refresh if !ctx.write_budget.try_refresh() => {
            ctx.metrics.status_write("deferred");
            return None;
        }
        Write::Refresh => {}
        Write::Generation | Write::Transition | Write::Violation => {
            if !ctx.write_budget.try_write() {
                ctx.metrics.status_write("queued");
                schedule.pending = Some(status);
                return None;
            }
        }
    }
    write_status(ctx, policy, schedule, &before, status, write).await
}

/// Writes a status the budget has made room for, then its Events and metrics.
/// Returns the namespace when it records new violations.
async fn write_status(
    ctx: &Context,
    policy: &ViolationPolicy,
    schedule: &mut Schedule,
    before: &ViolationPolicyStatus,
    mut status: ViolationPolicyStatus,
    write: Write,
) -> Option<String> {
    let name = policy.name_any();
    let namespace = policy.namespace().unwrap_or_else(|| "default".into());
    status.samples = ctx
        .history
        .summary(&history_key(policy, ctx.settings.default_interval));
    status.recent_samples.clear();

    let api: Api<ViolationPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    // `recentSamples: null` removes the list an earlier version kept.
    let mut patch = json!({ "status": status });
    patch["status"]["recentSamples"] = serde_json::Value::Null;
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => schedule.status = Some(status.clone()),
        Err(e) => {
            tracing::warn!(policy = %name, namespace = %namespace, error = %e, "cannot write ViolationPolicy status");
            ctx.metrics.reconciled("monitor", 0.0, true);
            // Written at the next evaluation, with whatever it adds.
            schedule.pending = Some(status);
            return None;
        }
    }
    ctx.metrics.status_write(match write {
        Write::Generation => "generation",
        Write::Transition => "transition",
        Write::Violation => "violation",
        _ => "refresh",
    });
    ctx.metrics.reconciled("monitor", 0.0, false);
    publish_transitions(ctx, policy, before, &status).await;

    // Violations recorded since the last write (more than one when a write
    // waited for the budget).
    let recorded = status
        .violation_count
        .saturating_sub(before.violation_count);
    if recorded > 0 {
        ctx.metrics
            .violations
            .get_or_create(&crate::metrics::PolicyLabels {
                namespace: namespace.clone(),
                policy: name,
            })
            .inc_by(recorded);
        return Some(namespace);
    }
    None
}

/// Events for `Ready` and `Violating` transitions.
async fn publish_transitions(
    ctx: &Context,
    policy: &ViolationPolicy,
    before: &ViolationPolicyStatus,
    after: &ViolationPolicyStatus,
) {
    let status_of = |s: &ViolationPolicyStatus, t: &str| {
        s.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let mut events = Vec::new();
    // A first successful evaluation is not a recovery: only a change from False,
    // or a first failure, is worth an Event.
    let ready_before = status_of(before, READY).map(|b| b.0);
    if let Some((status, reason, message)) = status_of(after, READY)
        && ready_before != Some(status.clone())
        && (status != "True" || ready_before.is_some())
    {
        let ok = status == "True";
        events.push(Event {
            type_: if ok {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: if ok {
                "EvaluationRecovered".into()
            } else {
                reason
            },
            note: Some(message),
            action: "Evaluate".into(),
            secondary: None,
        });
    }
    if let Some((status, _, message)) = status_of(after, VIOLATING)
        && status == "True"
        && status_of(before, VIOLATING).map(|b| b.0) != Some(status)
    {
        events.push(Event {
            type_: EventType::Warning,
            reason: "ViolationDetected".into(),
            note: Some(message),
            action: "Evaluate".into(),
            secondary: None,
        });
    }
    let reference = policy.object_ref(&());
    for e in events {
        if let Err(err) = ctx.recorder.publish(&e, &reference).await {
            tracing::debug!(error = %err, "cannot publish an event");
        }
    }
}

#[cfg(test)]
mod tests {
    //! One tick against a canned Prometheus (a tiny HTTP server answering
    //! `/api/v1/query`, counting the queries it gets) and the scripted API server.

    use std::sync::Mutex;

    use kube::runtime::reflector;
    use kube::runtime::watcher;
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::controllers::testing::*;

    const NOW: Millis = 1_714_557_600_000;
    const POLICIES: &str = "/apis/mapek.io/v1alpha1/namespaces/default/violationpolicies";

    /// A Prometheus that answers each query from a table and records the queries.
    struct CannedPrometheus {
        url: String,
        queries: Arc<Mutex<Vec<String>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl CannedPrometheus {
        /// `answers`: query -> (HTTP code, JSON body).
        async fn start(answers: Vec<(&'static str, u16, Value)>) -> CannedPrometheus {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let queries = Arc::new(Mutex::new(Vec::new()));
            let seen = queries.clone();
            let answers = Arc::new(answers);
            let task = tokio::spawn(async move {
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else {
                        return;
                    };
                    let seen = seen.clone();
                    let answers = answers.clone();
                    tokio::spawn(async move {
                        let mut request = Vec::new();
                        let mut buf = [0u8; 4096];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        let request = String::from_utf8_lossy(&request);
                        let target = request.split(' ').nth(1).unwrap_or_default();
                        let (path, params) = target.split_once('?').unwrap_or((target, ""));
                        let query = params
                            .split('&')
                            .find_map(|kv| kv.strip_prefix("query="))
                            .map(percent_decode)
                            .unwrap_or_default();
                        // A range query is answered from the entry `range:QUERY`.
                        let query = match path {
                            "/api/v1/query_range" => format!("range:{query}"),
                            _ => query,
                        };
                        let (code, body) = match answers.iter().find(|(q, _, _)| *q == query) {
                            Some((_, code, body))
                                if path == "/api/v1/query" || path == "/api/v1/query_range" =>
                            {
                                (*code, body.clone())
                            }
                            _ => (
                                404,
                                serde_json::json!({"status": "error", "errorType": "not_found", "error": "unexpected request"}),
                            ),
                        };
                        seen.lock().unwrap().push(query);
                        let body = body.to_string();
                        let response = format!(
                            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes()).await;
                    });
                }
            });
            CannedPrometheus { url, queries, task }
        }

        fn client(&self) -> Prometheus {
            Prometheus::new(&self.url, Duration::from_secs(5)).unwrap()
        }

        /// The queries received so far, sorted (they run concurrently).
        fn queries(&self) -> Vec<String> {
            let mut q = self.queries.lock().unwrap().clone();
            q.sort();
            q
        }
    }

    impl Drop for CannedPrometheus {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn value(v: f64) -> (u16, Value) {
        (
            200,
            serde_json::json!({"status": "success", "data": {"resultType": "vector",
                "result": [{"metric": {}, "value": [1714557600, v.to_string()]}]}}),
        )
    }

    /// A policy `name` in `default`: `query` above `threshold`, every `interval`.
    fn policy(name: &str, query: &str, threshold: f64, interval: &str) -> ViolationPolicy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mapek.io/v1alpha1",
            "kind": "ViolationPolicy",
            "metadata": { "name": name, "namespace": "default", "uid": format!("uid-{name}"),
                          "generation": 1, "resourceVersion": "1" },
            "spec": {
                "targetRef": { "name": "web" },
                "query": query,
                "condition": { "threshold": threshold },
                "evaluationInterval": interval
            }
        }))
        .unwrap()
    }

    /// The policies in a reflector store, and stored in an API server.
    fn serve(policies: Vec<ViolationPolicy>, now: Millis) -> (Store<ViolationPolicy>, Harness) {
        let (store, mut writer) = reflector::store();
        let mut server = Server::empty();
        for p in policies {
            server.insert(&format!("{POLICIES}/{}", p.name_any()), &p);
            writer.apply_watcher_event(&watcher::Event::Apply(p));
        }
        (store, Harness::start(server, now))
    }

    /// What the server received about one policy: its status patches and the
    /// Events about it, in order.
    fn about(server: &Server, name: &str) -> Vec<String> {
        let status = format!("{POLICIES}/{name}/status");
        server
            .seen
            .iter()
            .filter(|s| s.path == status || s.body["regarding"]["name"] == name)
            .map(Seen::line)
            .collect()
    }

    /// The statuses written to `path`, in order.
    fn patched_status(server: &Server, path: &str) -> Vec<Value> {
        requests(server, "PATCH", path)
            .iter()
            .map(|s| {
                assert_eq!(s.content_type, "application/merge-patch+json");
                s.body["status"].clone()
            })
            .collect()
    }

    fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap()
    }

    #[tokio::test]
    async fn a_recovery_from_a_failed_evaluation_is_an_event_a_first_success_is_not() {
        let latency = value(0.1);
        let prometheus = CannedPrometheus::start(vec![("latency", latency.0, latency.1)]).await;
        let mut failed = policy("failed", "latency", 0.5, "30s");
        let mut status = ViolationPolicyStatus::default();
        crate::conditions::set(
            &mut status.conditions,
            READY,
            false,
            "PrometheusUnreachable",
            "connection refused",
            None,
            &decide::time(NOW - 30_000),
        );
        failed.status = Some(status);
        let (policies, harness) = serve(vec![failed, policy("fresh", "latency", 0.5, "30s")], NOW);
        let (wake, _woken) = mpsc::channel(8);
        let mut schedules = HashMap::new();
        tick(
            &harness.ctx,
            &policies,
            &prometheus.client(),
            &wake,
            &mut schedules,
        )
        .await;
        let server = harness.finish().await;
        assert_eq!(
            about(&server, "failed"),
            [
                format!("PATCH {POLICIES}/failed/status"),
                "EVENT Normal EvaluationRecovered".to_string(),
            ]
        );
        assert_eq!(
            about(&server, "fresh"),
            [format!("PATCH {POLICIES}/fresh/status")]
        );
    }

    #[test]
    fn the_copy_of_a_written_status_is_dropped_once_the_cache_shows_it() {
        let written = ViolationPolicyStatus {
            last_evaluation_time: Some(decide::time(NOW)),
            violation_count: 3,
            ..ViolationPolicyStatus::default()
        };
        let older = ViolationPolicyStatus {
            last_evaluation_time: Some(decide::time(NOW - 30_000)),
            ..ViolationPolicyStatus::default()
        };
        assert!(caught_up(Some(&written.clone()), &written));
        assert!(!caught_up(Some(&older), &written));
        assert!(!caught_up(None, &written));
        assert!(!caught_up(None, &ViolationPolicyStatus::default()));
    }

    #[tokio::test]
    async fn each_distinct_query_runs_once_and_every_policy_gets_its_result() {
        let latency = value(0.9);
        let errors = value(1.0);
        let prometheus = CannedPrometheus::start(vec![
            ("latency", latency.0, latency.1),
            ("errors", errors.0, errors.1),
        ])
        .await;
        let (policies, harness) = serve(
            vec![
                policy("a", "latency", 0.5, "30s"),
                policy("b", "latency", 0.5, "30s"),
                policy("c", "errors", 5.0, "10s"),
            ],
            NOW,
        );
        let (wake, mut woken) = mpsc::channel(8);
        let mut schedules = HashMap::new();
        let client = prometheus.client();

        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        assert_eq!(prometheus.queries(), ["errors", "latency"]);
        assert_eq!(woken.try_recv().unwrap(), "default");
        assert!(woken.try_recv().is_err(), "one wake-up per namespace");
        {
            let server = harness.server();
            // A first successful evaluation is not a recovery: no EvaluationRecovered.
            assert_eq!(server.seen.len(), 5, "{:?}", lines(&server, false));
            for name in ["a", "b"] {
                assert_eq!(
                    about(&server, name),
                    [
                        format!("PATCH {POLICIES}/{name}/status"),
                        "EVENT Warning ViolationDetected".to_string(),
                    ]
                );
                let status = &patched_status(&server, &format!("{POLICIES}/{name}/status"))[0];
                assert_eq!(status["violationCount"], 1);
                assert_eq!(status["lastValue"], 0.9);
                let recent = status["recentViolations"].as_array().unwrap();
                assert_eq!(recent.len(), 1);
                assert_eq!(recent[0]["id"], format!("{name}-1"));
                assert_eq!(recent[0]["value"], 0.9);
                assert_eq!(recent[0]["threshold"], 0.5);
                assert_eq!(condition(status, "Ready")["status"], "True");
                assert_eq!(condition(status, "Violating")["status"], "True");
            }
            assert_eq!(about(&server, "c"), [format!("PATCH {POLICIES}/c/status")]);
            let status = &patched_status(&server, &format!("{POLICIES}/c/status"))[0];
            assert_eq!(status["violationCount"], 0);
            assert_eq!(status["lastValue"], 1.0);
            assert!(status.get("recentViolations").is_none(), "{status}");
            assert_eq!(condition(status, "Violating")["status"], "False");
        }

        // 10 s later only `c` (every 10 s) is due: `latency` is not queried. Its
        // value is kept in memory, but nothing a reader needs changed: no write.
        harness.clock.set(NOW + 10_000);
        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        assert_eq!(prometheus.queries(), ["errors", "errors", "latency"]);
        assert!(woken.try_recv().is_err());
        assert_eq!(harness.server().seen.len(), 5);
        let c = Key {
            query: "errors".into(),
            interval_ms: 10_000,
        };
        assert_eq!(
            harness.ctx.history.points(&c),
            [(NOW, 1.0), (NOW + 10_000, 1.0)]
        );

        // Once the refresh period has passed since the last write, `c` is
        // written again, with the summary of its samples; `a` and `b`, still
        // violating, record their second violation.
        harness.clock.set(NOW + 300_000);
        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        {
            let server = harness.server();
            assert_eq!(
                about(&server, "c"),
                [
                    format!("PATCH {POLICIES}/c/status"),
                    format!("PATCH {POLICIES}/c/status")
                ]
            );
            let status = &patched_status(&server, &format!("{POLICIES}/c/status"))[1];
            assert_eq!(status["samples"]["count"], 3, "{status}");
            assert_eq!(status["samples"]["max"], 1.0);
            assert!(status["recentSamples"].is_null());
            let status = &patched_status(&server, &format!("{POLICIES}/a/status"))[1];
            assert_eq!(status["violationCount"], 2);
        }
        harness.finish().await;
    }

    #[tokio::test]
    async fn a_rejected_query_records_no_violation_and_backs_off() {
        let prometheus = CannedPrometheus::start(vec![(
            "rate(x[5m]",
            400,
            serde_json::json!({"status": "error", "errorType": "bad_data",
                "error": "1:11: parse error: unclosed left parenthesis"}),
        )])
        .await;
        let mut bad = policy("bad", "rate(x[5m]", 0.5, "30s");
        // Two violations recorded before the query broke.
        bad.status = Some(
            serde_json::from_value(serde_json::json!({
                "violationCount": 2,
                "recentViolations": [{"id": "bad-2", "time": "2024-05-01T09:59:00Z",
                                      "value": 0.7, "threshold": 0.5}]
            }))
            .unwrap(),
        );
        let (policies, harness) = serve(vec![bad], NOW);
        let (wake, mut woken) = mpsc::channel(8);
        let mut schedules = HashMap::new();
        let client = prometheus.client();
        let path = format!("{POLICIES}/bad/status");

        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        assert_eq!(prometheus.queries(), ["rate(x[5m]"]);
        assert!(
            woken.try_recv().is_err(),
            "a failed query wakes no analyzer"
        );
        {
            let server = harness.server();
            assert_eq!(
                lines(&server, false),
                [
                    format!("PATCH {path}"),
                    "EVENT Warning InvalidQuery".to_string()
                ]
            );
            let status = &patched_status(&server, &path)[0];
            let ready = condition(status, "Ready");
            assert_eq!(ready["status"], "False");
            assert_eq!(ready["reason"], "InvalidQuery");
            assert!(
                ready["message"].as_str().unwrap().contains("parse error"),
                "{ready}"
            );
            assert_eq!(condition(status, "Violating")["status"], "Unknown");
            assert_eq!(status["violationCount"], 2);
            assert_eq!(status["recentViolations"].as_array().unwrap().len(), 1);
            assert!(status.get("lastValue").is_none(), "{status}");
        }

        // Retried after one interval, then after two.
        for (at, queried) in [(30_000, true), (60_000, false), (90_000, true)] {
            let before = prometheus.queries().len();
            harness.clock.set(NOW + at);
            tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
            assert_eq!(
                prometheus.queries().len() - before,
                usize::from(queried),
                "at +{at} ms"
            );
        }
        assert!(woken.try_recv().is_err());
        let server = harness.finish().await;
        // Still failing the same way: nothing new to write, no second Event.
        assert_eq!(
            lines(&server, false),
            [
                format!("PATCH {path}"),
                "EVENT Warning InvalidQuery".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn after_a_start_a_series_history_is_read_back_with_a_range_query() {
        // Prometheus holds the three evaluations before this process started.
        let range = serde_json::json!({"status": "success", "data": {"resultType": "matrix",
            "result": [{"metric": {}, "values": [
                [(NOW - 90_000) / 1000, "0.1"], [(NOW - 60_000) / 1000, "0.2"],
                [(NOW - 30_000) / 1000, "NaN"], [NOW / 1000, "0.3"]]}]}});
        let latency = value(0.4);
        let prometheus = CannedPrometheus::start(vec![
            ("range:latency", 200, range),
            ("latency", latency.0, latency.1),
        ])
        .await;
        let (policies, harness) = serve(vec![policy("a", "latency", 0.5, "30s")], NOW);
        let key = history_key(&policies.state()[0], Duration::from_secs(30));
        let (wake, _woken) = mpsc::channel(8);
        let mut schedules = HashMap::new();
        // The live evaluation comes first; the values read back go before it.
        tick(
            &harness.ctx,
            &policies,
            &prometheus.client(),
            &wake,
            &mut schedules,
        )
        .await;
        harness.clock.set(NOW + 1_000);
        backfill(&harness.ctx, &prometheus.client(), &key).await;
        assert!(harness.ctx.history.is_backfilled(&key));
        assert_eq!(
            harness.ctx.history.points(&key),
            [(NOW - 90_000, 0.1), (NOW - 60_000, 0.2), (NOW, 0.4)]
        );
        assert_eq!(prometheus.queries(), ["latency", "range:latency"]);
        // A query Prometheus cannot answer as a range leaves the live values.
        let other = Key {
            query: "missing".into(),
            interval_ms: 30_000,
        };
        harness.ctx.history.push(&other, NOW, 1.0);
        backfill(&harness.ctx, &prometheus.client(), &other).await;
        assert_eq!(harness.ctx.history.points(&other), [(NOW, 1.0)]);
        harness.finish().await;
    }

    #[test]
    fn refreshes_get_half_the_budget_and_never_wait() {
        let budget = WriteBudget::new(10, 4);
        // Half the burst for refreshes, then none until the rate refills.
        assert!(budget.try_refresh() && budget.try_refresh());
        assert!(!budget.try_refresh());
        let unlimited = WriteBudget::new(0, 0);
        assert!((0..1000).all(|_| unlimited.try_refresh()));
    }

    #[tokio::test]
    async fn context_queries_run_in_the_same_round_once_and_stay_in_memory() {
        let latency = value(0.9);
        let rate = value(120.0);
        let prometheus = CannedPrometheus::start(vec![
            ("latency", latency.0, latency.1),
            ("rate", rate.0, rate.1),
        ])
        .await;
        let with_load = |name: &str| {
            let mut p = policy(name, "latency", 0.5, "30s");
            p.spec.context = Some(mapek_api::ContextQueries {
                load: Some("rate".into()),
                saturation: None,
            });
            p
        };
        let (policies, harness) = serve(vec![with_load("a"), with_load("b")], NOW);
        let (wake, _woken) = mpsc::channel(8);
        let mut schedules = HashMap::new();
        tick(
            &harness.ctx,
            &policies,
            &prometheus.client(),
            &wake,
            &mut schedules,
        )
        .await;
        // One query each, however many policies ask.
        assert_eq!(prometheus.queries(), ["latency", "rate"]);
        let key = Key {
            query: "rate".into(),
            interval_ms: 30_000,
        };
        assert_eq!(harness.ctx.history.points(&key), [(NOW, 120.0)]);
        let (kind, k) = &context_keys(&policies.state()[0], Duration::from_secs(30))[0];
        assert_eq!((*kind, k), (mapek_engine::model::ContextKind::Load, &key));
        let server = harness.finish().await;
        // The load is not the policy's value: its status has the latency.
        let status = &patched_status(&server, &format!("{POLICIES}/a/status"))[0];
        assert_eq!(status["lastValue"], 0.9);
    }

    #[tokio::test]
    async fn a_change_over_the_write_budget_is_written_when_it_has_room_and_loses_nothing() {
        let latency = value(0.9);
        let prometheus = CannedPrometheus::start(vec![("latency", latency.0, latency.1)]).await;
        let (policies, _) = serve(
            vec![
                policy("a", "latency", 0.5, "30s"),
                policy("b", "latency", 0.5, "30s"),
            ],
            NOW,
        );
        let mut server = Server::empty();
        for p in policies.state() {
            server.insert(&format!("{POLICIES}/{}", p.name_any()), p.as_ref());
        }
        // Room for one write, then none for a long while.
        let settings = crate::controllers::Settings {
            write_qps: 1,
            write_burst: 1,
            ..crate::controllers::Settings::default()
        };
        let harness = Harness::with(
            server,
            NOW,
            settings,
            Arc::new(crate::controllers::executor::ExecutionLimits::new(4)),
        );
        let (wake, _woken) = mpsc::channel(8);
        let mut schedules = HashMap::new();
        let client = prometheus.client();
        // Both violate; one status is written, the other is queued (no wait).
        let started = std::time::Instant::now();
        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        assert!(started.elapsed() < Duration::from_millis(500));
        let written = |server: &Server| {
            ["a", "b"]
                .iter()
                .filter(|n| !patched_status(server, &format!("{POLICIES}/{n}/status")).is_empty())
                .count()
        };
        assert_eq!(written(&harness.server()), 1);
        // A second later, between its evaluations, the budget has room for one
        // more: the queued change is written then, not 30 s later.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        harness.clock.set(NOW + 1_000);
        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        assert_eq!(written(&harness.server()), 2);
        // Its next evaluation builds on what was written: nothing is lost.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        harness.clock.set(NOW + 30_000);
        tick(&harness.ctx, &policies, &client, &wake, &mut schedules).await;
        let server = harness.finish().await;
        let counts: Vec<u64> = ["a", "b"]
            .iter()
            .filter_map(|n| {
                patched_status(&server, &format!("{POLICIES}/{n}/status"))
                    .last()
                    .and_then(|s| s["violationCount"].as_u64())
            })
            .collect();
        assert!(counts.contains(&2), "{counts:?}");
    }
}
