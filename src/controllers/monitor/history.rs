//! The monitor's memory of query values: for each query and evaluation interval,
//! the latest values (12 hours at 30 s by default), shared with the analyzer,
//! which judges a breach against them. They are never written to the API server;
//! after a restart they are read back from Prometheus with a range query
//! (`backfill`). Policies that share a query and interval share one series.
//! The analyzer reads a series in place: it holds the series' `Arc` while it
//! judges, and a value recorded meanwhile goes to a copy (copy on write).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use mapek_api::SampleSummary;
use mapek_engine::model::{Millis, Point};

/// Values kept per series by default: the engine's [`mapek_engine::HISTORY_SAMPLES`]
/// (12 hours at the default 30 s interval), the history its long-memory
/// judgement asks for and `make decisions` replays with.
pub const DEFAULT_CAPACITY: usize = mapek_engine::HISTORY_SAMPLES;

/// One series: a query evaluated every `interval_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub query: String,
    pub interval_ms: Millis,
}

/// Values by series, each bounded to `capacity` values, oldest first.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    series: RwLock<HashMap<Key, Series>>,
}

#[derive(Debug, Default)]
struct Series {
    /// Oldest first, at most `capacity` (the memory never grows past it).
    points: Arc<Vec<Point>>,
    /// A range query already filled in the values from before this process.
    backfilled: bool,
}

impl History {
    /// A history keeping at most `capacity` values per series.
    pub fn new(capacity: usize) -> History {
        History {
            capacity: capacity.max(1),
            series: RwLock::new(HashMap::new()),
        }
    }

    /// Values kept per series.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records one evaluation's value. A value not after the newest one is
    /// ignored: series stay in time order.
    pub fn push(&self, key: &Key, at: Millis, value: f64) {
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        let s = series.entry(key.clone()).or_default();
        if s.points.last().is_some_and(|p| p.at_ms >= at) {
            return;
        }
        let points = Arc::make_mut(&mut s.points);
        if points.len() >= self.capacity {
            let over = points.len() + 1 - self.capacity;
            points.drain(..over);
        } else if points.len() == points.capacity() {
            // Doubling, but never past the capacity.
            points.reserve_exact(points.len().max(4).min(self.capacity - points.len()));
        }
        points.push(Point { at_ms: at, value });
    }

    /// Adds values read back from Prometheus: those older than every value held,
    /// in time order, up to the capacity (the newest win). Marks the series as
    /// backfilled.
    pub fn backfill(&self, key: &Key, mut points: Vec<(Millis, f64)>) {
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        let s = series.entry(key.clone()).or_default();
        s.backfilled = true;
        let oldest = s.points.first().map_or(Millis::MAX, |p| p.at_ms);
        points.retain(|(t, v)| *t < oldest && v.is_finite());
        points.sort_by_key(|(t, _)| *t);
        points.dedup_by_key(|(t, _)| *t);
        let room = self.capacity.saturating_sub(s.points.len());
        let skip = points.len().saturating_sub(room);
        let mut all = Vec::with_capacity(points.len() - skip + s.points.len());
        all.extend(
            points
                .into_iter()
                .skip(skip)
                .map(|(at_ms, value)| Point { at_ms, value }),
        );
        all.extend_from_slice(&s.points);
        s.points = Arc::new(all);
    }

    /// Whether a range query has filled in this series.
    pub fn is_backfilled(&self, key: &Key) -> bool {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        series.get(key).is_some_and(|s| s.backfilled)
    }

    /// `f` of the values of a series, oldest first, read in place.
    pub fn with_points<R>(&self, key: &Key, f: impl FnOnce(&[Point]) -> R) -> R {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        f(series.get(key).map_or(&[], |s| s.points.as_slice()))
    }

    /// The values of a series, oldest first, shared: they stay as they are
    /// while the caller holds them (a value recorded meanwhile goes to a copy).
    pub fn shared(&self, key: &Key) -> Arc<Vec<Point>> {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        series
            .get(key)
            .map(|s| s.points.clone())
            .unwrap_or_default()
    }

    /// The values of a series, oldest first.
    pub fn points(&self, key: &Key) -> Vec<(Millis, f64)> {
        self.with_points(key, |points| {
            points.iter().map(|p| (p.at_ms, p.value)).collect()
        })
    }

    /// Count, time of the oldest value, min, max and mean of a series.
    pub fn summary(&self, key: &Key) -> Option<SampleSummary> {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        let points = &series.get(key)?.points;
        let first = points.first()?.at_ms;
        let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for p in points.iter() {
            min = min.min(p.value);
            max = max.max(p.value);
            sum += p.value;
        }
        let n = points.len() as f64;
        // Finite values near f64::MAX add up to infinity, which a status cannot
        // hold (serde_json writes it as null): then each is divided first.
        let mean = match sum.is_finite() {
            true => sum / n,
            false => points.iter().map(|p| p.value / n).sum::<f64>(),
        };
        Some(SampleSummary {
            count: points.len() as u32,
            since: Some(super::decide::time(first)),
            min,
            max,
            mean: mean.max(min).min(max),
        })
    }

    /// Forgets every series no policy uses any more.
    pub fn retain(&self, mut used: impl FnMut(&Key) -> bool) {
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        series.retain(|k, _| used(k));
    }

    /// Series held.
    pub fn len(&self) -> usize {
        self.series.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no series is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: &str) -> Key {
        Key {
            query: q.into(),
            interval_ms: 30_000,
        }
    }

    #[test]
    fn a_series_keeps_its_newest_values_in_time_order() {
        let h = History::new(3);
        for (t, v) in [(1, 1.0), (2, 2.0), (2, 9.0), (1, 9.0), (3, 3.0), (4, 4.0)] {
            h.push(&key("q"), t, v);
        }
        assert_eq!(h.points(&key("q")), vec![(2, 2.0), (3, 3.0), (4, 4.0)]);
        assert!(h.points(&key("other")).is_empty());
        let s = h.summary(&key("q")).unwrap();
        assert_eq!((s.count, s.min, s.max, s.mean), (3, 2.0, 4.0, 3.0));
        assert!(h.summary(&key("other")).is_none());
    }

    /// Found by the `prometheus_response` fuzz target: two values of
    /// 1.7976931348623157e308 (finite, so accepted) gave a mean of infinity,
    /// which the status write sends as `null`.
    #[test]
    fn the_mean_of_values_near_the_largest_float_is_finite() {
        let h = History::new(4);
        h.push(&key("q"), 1, f64::MAX);
        h.push(&key("q"), 2, f64::MAX);
        let s = h.summary(&key("q")).unwrap();
        assert_eq!((s.min, s.max, s.mean), (f64::MAX, f64::MAX, f64::MAX));
        h.push(&key("q"), 3, -f64::MAX);
        let s = h.summary(&key("q")).unwrap();
        assert!(
            s.mean.is_finite() && s.min <= s.mean && s.mean <= s.max,
            "{s:?}"
        );
    }

    #[test]
    fn backfill_adds_only_older_values_up_to_the_capacity() {
        let h = History::new(4);
        h.push(&key("q"), 100, 10.0);
        h.push(&key("q"), 110, 11.0);
        assert!(!h.is_backfilled(&key("q")));
        // Unordered, with a duplicate, a NaN and values overlapping the live ones.
        h.backfill(
            &key("q"),
            vec![
                (90, 9.0),
                (70, 7.0),
                (80, f64::NAN),
                (60, 6.0),
                (90, 9.0),
                (100, 99.0),
                (120, 99.0),
            ],
        );
        assert!(h.is_backfilled(&key("q")));
        assert_eq!(
            h.points(&key("q")),
            vec![(70, 7.0), (90, 9.0), (100, 10.0), (110, 11.0)]
        );
        // Live values still come after.
        h.push(&key("q"), 120, 12.0);
        assert_eq!(h.points(&key("q")).first(), Some(&(90, 9.0)));
    }

    /// The analyzer reads a series in place while the monitor records: what
    /// it holds does not change, and the series never holds more than its
    /// capacity (nor allocates more, however it was copied).
    #[test]
    fn a_shared_series_stays_as_it_was_while_values_are_recorded() {
        let h = History::new(5);
        for t in 1..=4 {
            h.push(&key("q"), t, t as f64);
        }
        let held = h.shared(&key("q"));
        h.push(&key("q"), 5, 5.0);
        h.push(&key("q"), 6, 6.0);
        let times = |p: &[Point]| p.iter().map(|p| p.at_ms).collect::<Vec<_>>();
        assert_eq!(times(&held), [1, 2, 3, 4]);
        let now = h.shared(&key("q"));
        assert_eq!(times(&now), [2, 3, 4, 5, 6]);
        assert!(now.capacity() <= 5, "{}", now.capacity());
        assert!(h.shared(&key("other")).is_empty());
    }

    #[test]
    fn unused_series_are_forgotten() {
        let h = History::new(4);
        h.push(&key("a"), 1, 1.0);
        h.push(&key("b"), 1, 1.0);
        h.retain(|k| k.query == "a");
        assert_eq!(h.len(), 1);
        assert_eq!(h.points(&key("a")).len(), 1);
    }
}
