//! Reading each series' history back from Prometheus after a start: one range
//! query per series and process, aligned to interval boundaries, a few at a
//! time beside the evaluations.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::Context;
use super::history::Key;
use crate::prometheus::Prometheus;
use mapek_engine::model::Millis;

/// Most history range queries in flight at once (they run beside evaluations).
const BACKFILL_CONCURRENCY: usize = 2;

/// The range queries that read each series' history back from Prometheus, one
/// per series and process, a few at a time beside the evaluations.
pub(super) struct Backfills {
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
    pub(super) fn start(
        &mut self,
        ctx: &Arc<Context>,
        used: HashSet<Key>,
        prometheus: &Prometheus,
    ) {
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
pub(super) async fn backfill(ctx: &Context, prometheus: &Prometheus, key: &Key) {
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
