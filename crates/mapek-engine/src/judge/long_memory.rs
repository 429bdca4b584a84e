//! The long-memory gate: whether a run's peak is a record for the novelty
//! window and far beyond the long baseline, and the steady-climb exemption
//! for a leak that climbs toward the threshold.

use super::JudgeConfig;
use super::run::Eval;
use crate::decimal::Fixed;
use crate::model::{Millis, Point};
use crate::stats::{median_of, median_select, steady_climb};

/// The long-memory test of a run: whether its peak is a record for the novelty
/// window, that window's previous peak, and the peak's robust z against the long
/// baseline, from the policy's samples before the run in the history window
/// (`history`, longer than the analysis window). `None` when they do not fill the
/// novelty window at `interval` (or there is no run).
pub(super) struct LongMemory {
    pub(super) novel: bool,
    pub(super) previous_peak: f64,
    pub(super) z: f64,
    /// Set when the record and `min_long_z` tests fail but the breach is the
    /// new high of a steady climb (see [`JudgeConfig::long_trend_min_ms`]).
    pub(super) climb: Option<Climb>,
}

/// A steady climb toward the violated direction up to the run: since the last
/// reset in the history (or its start), with the run's peak the highest since.
pub(super) struct Climb {
    /// The first evaluation of the climb.
    since: Millis,
    /// Whether it starts at a reset (a sharp drop) rather than at the history's start.
    reset: bool,
    /// The highest evaluation of the climb before the run (lowest, Less-than).
    previous_peak: f64,
    /// Theil-Sen slope, per hour, in the metric's units.
    slope_per_hour: f64,
    /// Mann-Kendall z and R² of the Theil-Sen line.
    z: f64,
    r2: f64,
}

/// The climb of `base` (the samples before the run) that ends in the run, if it
/// is a [`steady_climb`] with [`JudgeConfig::long_trend_min_ms`] and its trend
/// tests and the run's `peak` (`sign`-scaled) is beyond every evaluation of it.
fn climb(base: &[Point], peak: f64, sign: f64, config: &JudgeConfig) -> Option<Climb> {
    let c = steady_climb(
        base,
        sign,
        config.long_trend_min_ms,
        config.long_trend_min_z,
        config.long_trend_min_r2,
    )?;
    let previous = base[c.start..]
        .iter()
        .map(|s| sign * s.value)
        .fold(f64::NEG_INFINITY, f64::max);
    (peak > previous).then(|| Climb {
        since: base[c.start].at_ms,
        reset: c.start > 0,
        previous_peak: sign * previous,
        slope_per_hour: c.fit.slope * 3600.0,
        z: sign * c.fit.z,
        r2: c.fit.r2,
    })
}

pub(super) fn long_memory(
    history: &[Point],
    run: &[Eval],
    sign: f64,
    interval: Millis,
    floor: f64,
    config: &JudgeConfig,
) -> Option<LongMemory> {
    let evaluations = |ms: Millis| (ms.max(1) as u64).div_ceil(interval.max(1) as u64) as usize;
    let novelty = evaluations(config.novelty_window_ms);
    let first = run.first()?;
    let before = history.partition_point(|s| s.at_ms < first.at);
    let base: Vec<f64> = history[..before].iter().map(|s| s.value).collect();
    if base.len() < novelty {
        return None;
    }
    // In the violated direction: `sign * value`, larger is worse.
    let worst =
        |vs: &mut dyn Iterator<Item = f64>| vs.map(|v| sign * v).fold(f64::NEG_INFINITY, f64::max);
    let peak = worst(&mut run.iter().map(|e| e.value));
    let previous = worst(&mut base[base.len() - novelty..].iter().copied());
    let vals = &base[base
        .len()
        .saturating_sub(evaluations(config.long_baseline_ms))..];
    let m = median_select(vals);
    let mad = 1.4826 * median_of(vals.iter().map(|v| (v - m).abs()));
    let novel = peak > previous;
    let z = (peak - sign * m) / mad.max(floor);
    Some(LongMemory {
        novel,
        previous_peak: sign * previous,
        z,
        climb: if novel && z >= config.min_long_z {
            None
        } else {
            climb(&history[..before], peak, sign, config)
        },
    })
}

/// `ms` as `8 h` or `90 min`.
fn span(ms: Millis) -> String {
    if ms % 3_600_000 == 0 {
        format!("{} h", ms / 3_600_000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// `ms` as `3.5 h` or `40 min`, rounded.
fn ago(ms: Millis) -> String {
    if ms >= 3_600_000 {
        format!("{} h", Fixed(ms as f64 / 3_600_000.0, 1))
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// The long-memory part of a breach's reason: nothing without a full novelty
/// window, else the climb that lets it through (when the record and far-out
/// tests fail, `long_ok` false), no record, or a record and how far out it is.
pub(super) fn describe(
    long: Option<&LongMemory>,
    long_ok: bool,
    now: Millis,
    config: &JudgeConfig,
) -> String {
    match long {
        None => String::new(),
        Some(l) if !long_ok && l.climb.is_some() => {
            let c = l.climb.as_ref().expect("checked");
            format!(
                "; climbing {} ({} ago, Theil-Sen {:+.4} per hour, Mann-Kendall z = {}, R² = {}) and the highest since (previous peak {}): a leak's climb, so neither the {} record nor {} robust deviations beyond the {} median ({}) is needed",
                if c.reset {
                    "since the last reset"
                } else {
                    "through the whole history"
                },
                ago(now.saturating_sub(c.since)),
                c.slope_per_hour,
                Fixed(c.z, 1),
                Fixed(c.r2, 2),
                Fixed(c.previous_peak, 4),
                span(config.novelty_window_ms),
                config.min_long_z,
                span(config.long_baseline_ms),
                Fixed(l.z, 1)
            )
        }
        Some(l) if !l.novel => format!(
            "; no record: the last {} reached {}",
            span(config.novelty_window_ms),
            Fixed(l.previous_peak, 4)
        ),
        Some(l) => format!(
            "; a record for the last {} (previous peak {}), {} robust deviations beyond the {} median{}",
            span(config.novelty_window_ms),
            Fixed(l.previous_peak, 4),
            Fixed(l.z, 1),
            span(config.long_baseline_ms),
            if l.z >= config.min_long_z {
                String::new()
            } else {
                format!(" ({} needed)", config.min_long_z)
            }
        ),
    }
}
