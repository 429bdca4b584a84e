//! Judgement: whether a policy's breach holds now and stands out from the
//! policy's own normal behaviour, and which same-instant breaches across many
//! Deployments are one shared cause. Only an actionable breach may lead to a plan;
//! older violations still explain (the detectors read them, weighted by recency).
//!
//! Per policy, from its recorded samples (one per evaluation) or, without samples,
//! from its violations:
//! - **current**: the latest evaluation breaks the threshold and is at most one
//!   interval (plus half an interval of jitter) old;
//! - **persistent**: the breach has held for at least `min_run` consecutive
//!   evaluations and a run this long is unlikely under the policy's own duty cycle
//!   above the threshold (`duty^run <= max_noise_p`). The user's `for` is the
//!   first gate: the monitor records no violation before it;
//! - **stands out**, one of:
//!   - *new*: the run's median is at least `min_excess_z` spreads beyond the
//!     median of the earlier evaluations, the spread being the largest of the
//!     robust standard deviation (1.4826 × MAD) and what the baseline's 95th and
//!     99th percentiles show (so a metric whose normal has spikes is judged
//!     against its spikes);
//!   - *explained recurrence*: the breach is usual for the policy (it broke
//!     before), but clear (the run's median at least `min_margin_z` typical
//!     deviations, MAD, beyond the threshold, held `min_run_clear` evaluations)
//!     and its recurrence has a cause the analysis found: its violations come
//!     back on a period (a recurring overload) or follow another policy's metric
//!     (an upstream dependency). See [`with_explanations`]. A metric that merely
//!     bursts at random, however high, is its normal: no plan;
//!   - *sustained*: held `sustained_ms` and far beyond what the duty cycle makes
//!     likely;
//!   - *trending*: at the end of a significant trend of the metric (see
//!     [`with_explanations`]): a leak climbs with its baseline.
//!
//! With fewer than `min_baseline` earlier evaluations, persistence alone decides
//! (`min_run_without_baseline`). Flapping at the threshold fails every test.
//!
//! **Long memory**: once a policy has `novelty_window_ms` (8 h) of samples
//! before its breach (the operator keeps [`crate::model::HISTORY_SAMPLES`], 12 h at
//! 30 s), a breach that passes the tests above must also be
//! - a *record*: its peak beyond every evaluation of the last 8 h (higher, or
//!   lower for a Less-than threshold), and
//! - *far out*: its peak at least `min_long_z` robust standard deviations beyond
//!   the median of the last `long_baseline_ms` (12 h), in the violated direction.
//!
//! This holds for every way of standing out, explained recurrences and trends
//! included: a breach the policy already reached in the last 8 h is its normal,
//! however it is explained. One exception, a *climb*: a leak sits close to the
//! median of the hours it climbed through (about 1.5 robust deviations), and a
//! sawtooth leak's earlier cycles may have peaked higher before their restarts.
//! So a breach whose metric has climbed steadily for at least
//! `long_trend_min_ms` (1 h) since its last reset (a sharp drop, as a restart
//! shows) or over the whole history (Mann-Kendall z >= `long_trend_min_z`, R² of
//! the Theil-Sen line >= `long_trend_min_r2`, 0.8), and whose peak is the highest
//! since, stands out once it has held `min_run` evaluations and is persistent or
//! held `sustained_ms` (a slow leak flaps at the threshold for many minutes). A
//! peak the metric reaches every few hours is no steady climb (its segment is
//! its whole noisy day, or a flat stretch and a late ramp), so it stays held
//! back. With less history the gate does not apply. These tests read the
//! policy's samples over 12 h, the others over the analysis window.
//!
//! Shared causes: when at least `shared_min_targets` Deployments whose policies
//! share a metric name start breaching at the same evaluation instant, the event is
//! reported as a [`SharedCause`] and none of those breaches is actionable.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analyze::AnalysisContext;
use super::detectors::{median, rising_is_bad, steady_climb};
use super::model::{ComparisonOperator, MetricSample, Millis, PolicyInfo};

/// The judgement's settings (part of the analyzer's configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct JudgeConfig {
    /// A breach must have held for at least this many consecutive evaluations.
    /// Default 2.
    pub min_run: usize,
    /// At least this many evaluations before the run make a baseline; with fewer,
    /// persistence alone decides (`min_run_without_baseline`). Default 10.
    pub min_baseline: usize,
    /// Without a baseline, a breach must have held this many evaluations. Default 3.
    pub min_run_without_baseline: usize,
    /// The recent level's distance from the baseline, in robust standard
    /// deviations, at least this. Default 5.
    pub min_excess_z: f64,
    /// A run this long must be at most this likely from the baseline's duty cycle
    /// above the threshold. Default 0.01.
    pub max_noise_p: f64,
    /// A breach that is usual for the policy (a recurring overload) stands out
    /// when its level is at least this many typical deviations (1.4826 × MAD of
    /// the baseline) beyond the threshold ... Default 3.
    pub min_margin_z: f64,
    /// ... and it has held at least this many evaluations. Default 3.
    pub min_run_clear: usize,
    /// Interval assumed when neither the policy nor its samples give one, ms.
    /// Default 60 s.
    pub default_interval_ms: Millis,
    /// Same-instant breaches on at least this many Deployments sharing a metric
    /// name are one shared cause. Default 3.
    pub shared_min_targets: usize,
    /// A breach held this long (ms), and far beyond what the baseline's duty
    /// cycle makes likely (`duty^run <= max_noise_p²`), stands out even at a
    /// level close to the baseline's: the baseline was itself bad. Default 5 min.
    pub sustained_ms: Millis,
    /// Long memory: once a policy has this much history before its breach
    /// (earlier evaluations × its interval), the breach must also be a record:
    /// beyond every evaluation of this span before it (the highest, or the lowest
    /// for a Less-than threshold). With less history the gate does not apply.
    /// Default 8 h (960 evaluations at 30 s).
    pub novelty_window_ms: Millis,
    /// Long memory: the span of the long baseline, the evaluations before the
    /// breach whose median and MAD `min_long_z` is measured against.
    /// Default 12 h (1,440 evaluations at 30 s, what the operator keeps).
    pub long_baseline_ms: Millis,
    /// Long memory: the breach's peak must be at least this many robust standard
    /// deviations (1.4826 × MAD) beyond the long baseline's median, in the
    /// violated direction: the bar of `min_excess_z` held against half a day
    /// instead of the analysis window. Default 5.
    pub min_long_z: f64,
    /// Long memory, a climb: a breach whose metric has climbed (fallen, for a
    /// Less-than threshold) for at least this long since its last reset (a
    /// sharp drop, as a restart shows) or over the whole history, with a robust
    /// trend (`long_trend_min_z`, `long_trend_min_r2`), and whose peak is the
    /// highest since, needs no record of the novelty window and no `min_long_z`:
    /// a leak stays close to the median of the hours it climbed through.
    /// Default 1 h.
    pub long_trend_min_ms: Millis,
    /// Long memory, a climb: the segment's Mann-Kendall z in the violated
    /// direction, at least this. Default 3.
    pub long_trend_min_z: f64,
    /// Long memory, a climb: the R² of the segment's Theil-Sen line, at least
    /// this: a steady climb, not a plateau and a late jump. Default 0.8.
    pub long_trend_min_r2: f64,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            min_run: 2,
            min_baseline: 10,
            min_run_without_baseline: 3,
            min_excess_z: 5.0,
            min_margin_z: 3.0,
            min_run_clear: 3,
            max_noise_p: 0.01,
            default_interval_ms: 60_000,
            shared_min_targets: 3,
            sustained_ms: 300_000,
            novelty_window_ms: 8 * 3_600_000,
            long_baseline_ms: 12 * 3_600_000,
            min_long_z: 5.0,
            long_trend_min_ms: 3_600_000,
            long_trend_min_z: 3.0,
            long_trend_min_r2: 0.8,
        }
    }
}

/// What the engine judged of one policy's breach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Breach {
    pub policy: String,
    /// The Deployment.
    pub target: String,
    /// The latest evaluation breaks the threshold and is recent.
    pub current: bool,
    /// Consecutive breaking evaluations up to the latest one.
    pub run: usize,
    /// The breach stands out from the policy's own behaviour.
    pub stands_out: bool,
    /// Part of a shared cause across Deployments.
    pub shared: bool,
    /// Current, persistent, standing out and not shared: a plan may follow.
    pub actionable: bool,
    /// Median of the current run's values (the latest value when there is none).
    pub level: f64,
    pub threshold: f64,
    pub operator: ComparisonOperator,
    /// Median of the evaluations before the run, if there were enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// The level's distance from the baseline in robust standard deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excess_z: Option<f64>,
    /// The level's distance beyond the threshold in the baseline's typical
    /// deviations (1.4826 × MAD): how clearly the run breaks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_z: Option<f64>,
    /// Share of the baseline's evaluations that broke the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_duty: Option<f64>,
    /// Long memory (only with a full novelty window of history): whether the
    /// run's peak is a record, beyond every evaluation of the novelty window
    /// before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub novel: Option<bool>,
    /// Long memory: the most extreme evaluation of the novelty window before the
    /// run (highest, or lowest for a Less-than threshold), the record to beat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_peak: Option<f64>,
    /// Long memory: the run's peak's distance from the long baseline's median in
    /// robust standard deviations (1.4826 × MAD), positive in the violated
    /// direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_z: Option<f64>,
    /// The evaluation interval used, ms.
    pub interval_ms: Millis,
    /// When the latest evaluation ran.
    pub last_at_ms: Millis,
    /// When the current run began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_start_ms: Option<Millis>,
    /// The judgement in one sentence.
    pub reason: String,
    /// What the policy's load query says of the breach, when the policy has one
    /// and the breach is current (see [`crate::analyze::load`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<super::model::LoadSignal>,
}

impl Breach {
    /// Whether the long-memory gate stops this breach: it had a full novelty
    /// window of history, its peak is no record or not `min_long_z` beyond the
    /// long baseline, and it does not stand out otherwise (a climb since the last
    /// reset, see [`JudgeConfig::long_trend_min_ms`], lets it through). `false`
    /// with less history (the gate does not apply).
    pub fn held_back_by_long_memory(&self, config: &JudgeConfig) -> bool {
        !self.stands_out
            && (self.novel == Some(false) || self.long_z.is_some_and(|z| z < config.min_long_z))
    }

    /// The level as a multiple of the threshold in the bad direction (for sizing):
    /// `level / threshold` above, `threshold / level` below; `None` when it is not
    /// a positive, finite ratio.
    pub fn overload_ratio(&self) -> Option<f64> {
        let r = match self.operator {
            ComparisonOperator::LessThan | ComparisonOperator::LessThanOrEqual => {
                self.threshold / self.level
            }
            _ => self.level / self.threshold,
        };
        (r.is_finite() && r > 0.0).then_some(r)
    }
}

/// A same-instant breach across Deployments that share a metric name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedCause {
    pub metric: String,
    pub at_ms: Millis,
    pub targets: Vec<String>,
    pub policies: Vec<String>,
    pub description: String,
}

/// One evaluation: time, value, whether it broke the threshold.
#[derive(Clone, Copy)]
struct Eval {
    at: Millis,
    value: f64,
    bad: bool,
}

/// The operator of a policy when none is given: the direction most of its
/// violations break.
fn operator_of(ctx: &AnalysisContext<'_>, members: &[u32]) -> ComparisonOperator {
    if rising_is_bad(ctx, members) {
        ComparisonOperator::GreaterThan
    } else {
        ComparisonOperator::LessThan
    }
}

/// The long-memory test of a run: whether its peak is a record for the novelty
/// window, that window's previous peak, and the peak's robust z against the long
/// baseline, from the policy's samples before the run in the history window
/// (`history`, longer than the analysis window). `None` when they do not fill the
/// novelty window at `interval` (or there is no run).
struct LongMemory {
    novel: bool,
    previous_peak: f64,
    z: f64,
    /// Set when the record and `min_long_z` tests fail but the breach is the
    /// new high of a steady climb (see [`JudgeConfig::long_trend_min_ms`]).
    climb: Option<Climb>,
}

/// A steady climb toward the violated direction up to the run: since the last
/// reset in the history (or its start), with the run's peak the highest since.
struct Climb {
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
fn climb(base: &[&MetricSample], peak: f64, sign: f64, config: &JudgeConfig) -> Option<Climb> {
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

fn long_memory(
    history: &[&MetricSample],
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
    let mut vals = base[base
        .len()
        .saturating_sub(evaluations(config.long_baseline_ms))..]
        .to_vec();
    let m = median(&mut vals);
    let mut dev: Vec<f64> = vals.iter().map(|v| (v - m).abs()).collect();
    let mad = 1.4826 * median(&mut dev);
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
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// Median spacing of consecutive times, if there are at least two.
fn median_gap(times: &[Millis]) -> Option<Millis> {
    let mut gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64)
        .filter(|g| *g > 0.0)
        .collect();
    (!gaps.is_empty()).then(|| median(&mut gaps) as Millis)
}

/// Judges every policy with violations in the window.
pub fn judge(
    ctx: &AnalysisContext<'_>,
    policies: &[PolicyInfo],
    config: &JudgeConfig,
) -> (Vec<Breach>, Vec<SharedCause>) {
    let info: BTreeMap<&str, &PolicyInfo> = policies.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut out = Vec::new();
    // (metric, run start) -> breaches of distinct targets.
    let mut starts: BTreeMap<(&str, Millis), Vec<usize>> = BTreeMap::new();
    for (pid, name, members) in ctx.policies.by_name() {
        if members.is_empty() {
            continue;
        }
        let last_v = ctx.violation(members[members.len() - 1]);
        let given = info.get(name).copied();
        let operator = given.map_or_else(|| operator_of(ctx, members), |p| p.operator);
        let threshold = given.map_or(last_v.threshold, |p| p.threshold);
        let samples = ctx.samples_of(name);
        let mut evals: Vec<Eval> = if samples.is_empty() {
            members
                .iter()
                .map(|&i| {
                    let v = ctx.violation(i);
                    Eval {
                        at: v.at_ms,
                        value: v.value,
                        bad: true,
                    }
                })
                .collect()
        } else {
            samples
                .iter()
                .map(|s| Eval {
                    at: s.at_ms,
                    value: s.value,
                    bad: operator.violates(s.value, threshold),
                })
                .collect()
        };
        // A recorded violation is a breaking evaluation even if its sample is
        // missing (bounded lists keep different spans).
        if !samples.is_empty() && last_v.at_ms > evals[evals.len() - 1].at {
            evals.push(Eval {
                at: last_v.at_ms,
                value: last_v.value,
                bad: true,
            });
        }
        let times: Vec<Millis> = evals.iter().map(|e| e.at).collect();
        let interval = given
            .and_then(|p| p.interval_ms)
            .filter(|i| *i > 0)
            .or_else(|| median_gap(&times))
            .unwrap_or(config.default_interval_ms)
            .max(1);
        let last = evals[evals.len() - 1];
        let fresh = ctx.now.saturating_sub(last.at) <= interval + interval / 2;
        let current = last.bad && fresh;
        // The run: consecutive breaking evaluations up to the latest, with no gap
        // longer than two and a half intervals.
        let mut run = 0;
        if last.bad {
            run = 1;
            for w in evals.windows(2).rev() {
                if w[0].bad && w[1].at - w[0].at <= interval * 5 / 2 {
                    run += 1;
                } else {
                    break;
                }
            }
        }
        let split = evals.len() - run;
        let mut run_values: Vec<f64> = evals[split..].iter().map(|e| e.value).collect();
        let level = if run_values.is_empty() {
            last.value
        } else {
            median(&mut run_values)
        };
        let base = &evals[..split];
        let sign = match operator {
            ComparisonOperator::LessThan | ComparisonOperator::LessThanOrEqual => -1.0,
            _ => 1.0,
        };
        let (mut baseline, mut excess_z, mut margin_z, mut duty) = (None, None, None, None);
        let mut long = None;
        let stands_out;
        let why;
        if samples.is_empty() || base.len() < config.min_baseline {
            stands_out = run >= config.min_run_without_baseline.max(config.min_run);
            why = if stands_out {
                format!("held {run} evaluations (too little history for a baseline)")
            } else {
                format!(
                    "held {run} evaluation(s); without a baseline {} are needed",
                    config.min_run_without_baseline.max(config.min_run)
                )
            };
        } else {
            let mut vals: Vec<f64> = base.iter().map(|e| e.value).collect();
            let m = median(&mut vals);
            let mut dev: Vec<f64> = vals.iter().map(|v| (v - m).abs()).collect();
            let mad = 1.4826 * median(&mut dev);
            // The spread in the bad direction as the baseline's upper quantiles
            // show it (`vals` is sorted by `median`): a metric whose normal has
            // spikes is judged against its spikes, not only its typical wobble.
            let tail = |q: f64, zq: f64| {
                let i = ((vals.len() - 1) as f64 * q).round() as usize;
                let v = if sign > 0.0 {
                    vals[i]
                } else {
                    vals[vals.len() - 1 - i]
                };
                (sign * (v - m)).max(0.0) / zq
            };
            let spread = mad.max(tail(0.95, 1.645)).max(tail(0.99, 2.326));
            // A flat baseline has no spread: a floor of 5% of its distance to the
            // threshold (and a tiny absolute one) keeps both distances finite.
            let floor = (0.05 * (threshold - m).abs()).max(1e-9 * threshold.abs().max(1.0));
            let z = sign * (level - m) / spread.max(floor);
            // How clearly the run is beyond the threshold, in the baseline's
            // typical wobble (MAD): flapping at the threshold is within it.
            let margin = sign * (level - threshold) / mad.max(floor);
            let d = base.iter().filter(|e| e.bad).count() as f64 / base.len() as f64;
            let p_noise = d.max(1.0 / (base.len() as f64 + 1.0)).powi(run as i32);
            baseline = Some(m);
            excess_z = Some(z);
            margin_z = Some(margin);
            duty = Some(d);
            let persistent = run >= config.min_run && p_noise <= config.max_noise_p;
            let held_ms = interval.saturating_mul(run as Millis);
            let sustained = held_ms >= config.sustained_ms && p_noise <= config.max_noise_p.powi(2);
            long = long_memory(
                ctx.history_of(name),
                &evals[split..],
                sign,
                interval,
                floor,
                config,
            );
            let long_ok = long
                .as_ref()
                .is_none_or(|l| l.novel && l.z >= config.min_long_z);
            let climbing = long.as_ref().and_then(|l| l.climb.as_ref());
            // A climb explains a breach that flaps while the metric crosses the
            // threshold (a slow leak does for many minutes): held `sustained_ms`
            // is enough, whatever the duty cycle of the hour before.
            let climb_held = climbing.is_some()
                && run >= config.min_run
                && (persistent || held_ms >= config.sustained_ms);
            stands_out =
                persistent && (z >= config.min_excess_z || sustained) && long_ok || climb_held;
            let record = match &long {
                None => String::new(),
                Some(l) if !long_ok && climbing.is_some() => {
                    let c = climbing.expect("checked");
                    format!(
                        "; climbing {} ({} ago, Theil-Sen {:+.4} per hour, Mann-Kendall z = {:.1}, R² = {:.2}) and the highest since (previous peak {:.4}): a leak's climb, so neither the {} record nor {} robust deviations beyond the {} median ({:.1}) is needed",
                        if c.reset {
                            "since the last reset"
                        } else {
                            "through the whole history"
                        },
                        ago(ctx.now.saturating_sub(c.since)),
                        c.slope_per_hour,
                        c.z,
                        c.r2,
                        c.previous_peak,
                        span(config.novelty_window_ms),
                        config.min_long_z,
                        span(config.long_baseline_ms),
                        l.z
                    )
                }
                Some(l) if !l.novel => format!(
                    "; no record: the last {} reached {:.4}",
                    span(config.novelty_window_ms),
                    l.previous_peak
                ),
                Some(l) => format!(
                    "; a record for the last {} (previous peak {:.4}), {:.1} robust deviations beyond the {} median{}",
                    span(config.novelty_window_ms),
                    l.previous_peak,
                    l.z,
                    span(config.long_baseline_ms),
                    if l.z >= config.min_long_z {
                        String::new()
                    } else {
                        format!(" ({} needed)", config.min_long_z)
                    }
                ),
            };
            why = format!(
                "held {run} evaluation(s) at {level:.4} against a baseline of {m:.4} (z = {z:.1}; {margin:.1} typical deviations beyond the threshold; {:.0}% of earlier evaluations over the threshold){record}",
                d * 100.0
            );
        }
        let i = out.len();
        if current && run > 0 {
            starts
                .entry((
                    ctx.metrics.names[ctx.metric_of[members[0] as usize] as usize],
                    evals[split].at,
                ))
                .or_default()
                .push(i);
        }
        let target = last_v.target.clone();
        let _ = pid;
        out.push(Breach {
            policy: name.to_string(),
            target,
            current,
            run,
            stands_out,
            shared: false,
            actionable: current && stands_out,
            level,
            threshold,
            operator,
            baseline,
            excess_z,
            margin_z,
            baseline_duty: duty,
            novel: long.as_ref().map(|l| l.novel),
            previous_peak: long.as_ref().map(|l| l.previous_peak),
            long_z: long.as_ref().map(|l| l.z),
            interval_ms: interval,
            last_at_ms: last.at,
            run_start_ms: (run > 0).then(|| evals[split].at),
            reason: if !fresh {
                format!(
                    "no evaluation for {}s: the breach is not current",
                    ctx.now.saturating_sub(last.at) / 1000
                )
            } else if !last.bad {
                "the latest evaluation is within the threshold: the breach is over".to_string()
            } else if stands_out {
                format!("breaching now: {why}")
            } else {
                format!("breaching now but not standing out: {why}")
            },
            load: None,
        });
    }
    let mut shared = Vec::new();
    for ((metric, at), idx) in starts {
        let mut targets: Vec<String> = idx.iter().map(|&i| out[i].target.clone()).collect();
        targets.sort();
        targets.dedup();
        if targets.len() < config.shared_min_targets.max(2) {
            continue;
        }
        let mut policies: Vec<String> = Vec::new();
        for &i in &idx {
            let b = &mut out[i];
            b.shared = true;
            b.actionable = false;
            b.reason = format!(
                "part of a shared cause: {} Deployments breached on {metric} at the same instant",
                targets.len()
            );
            policies.push(b.policy.clone());
        }
        shared.push(SharedCause {
            metric: metric.to_string(),
            at_ms: at,
            description: format!(
                "{} Deployments ({}) whose policies share the metric {metric} breached at the same instant: a shared cause (a scrape, Prometheus or platform event), not a fault in each. No per-Deployment plan.",
                targets.len(),
                targets.join(", ")
            ),
            targets,
            policies,
        });
    }
    (out, shared)
}

/// What the detectors found that can explain a breach which is usual for its
/// policy: policy names.
#[derive(Clone, Debug, Default)]
pub struct Explanations<'a> {
    /// Policies whose metric has a significant trend toward the threshold.
    pub trending: Vec<&'a str>,
    /// Policies whose violations recur on a period.
    pub recurring: Vec<&'a str>,
    /// Policies whose violations follow another policy's metric.
    pub driven: Vec<&'a str>,
}

/// A persistent breach close to its baseline, or usual for its policy, stands out
/// when the detectors explain it:
/// - the policy's metric trends toward the threshold (a leak climbs with its
///   baseline, so its level is never far from it);
/// - the breach is clear (`min_margin_z`, `min_run_clear`) and its violations
///   recur on a period or follow an upstream policy's metric: a recurring
///   overload or dependency, which the next occurrence will repeat. A breach that
///   is only high, in a metric that bursts at random, is not explained.
pub fn with_explanations(
    breaches: &mut [Breach],
    explained: &Explanations<'_>,
    config: &JudgeConfig,
) {
    for b in breaches {
        if b.stands_out || b.run < config.min_run || b.held_back_by_long_memory(config) {
            continue;
        }
        let p_noise = b
            .baseline_duty
            .map_or(0.0, |d| d.powi(b.run.min(i32::MAX as usize) as i32));
        if p_noise > config.max_noise_p {
            continue;
        }
        let policy = b.policy.as_str();
        let why = if explained.trending.contains(&policy) {
            "at the end of a significant trend"
        } else if b.run >= config.min_run_clear
            && b.margin_z.is_some_and(|m| m >= config.min_margin_z)
        {
            if explained.recurring.contains(&policy) {
                "clearly beyond the threshold, and recurring on a period"
            } else if explained.driven.contains(&policy) {
                "clearly beyond the threshold, and following an upstream policy's metric"
            } else {
                continue;
            }
        } else {
            continue;
        };
        b.stands_out = true;
        b.actionable = b.current && !b.shared;
        if b.actionable {
            b.reason = format!(
                "breaching now, {why}: held {} evaluation(s) at {:.4}",
                b.run, b.level
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::AnalyzerConfig;
    use crate::model::{MetricSample, Severity, Violation};

    const STEP: Millis = 30_000;

    /// One policy `p` on Deployment `target` (metric `metric`): a sample per
    /// value every 30 s ending at `now`, and a violation for every value over 1.0.
    fn input(
        policy: &str,
        target: &str,
        metric: &str,
        values: &[f64],
        now: Millis,
    ) -> (Vec<Violation>, Vec<MetricSample>) {
        let start = now - STEP * (values.len() as Millis - 1);
        let mut vs = Vec::new();
        let mut ss = Vec::new();
        for (i, &value) in values.iter().enumerate() {
            let at_ms = start + STEP * i as Millis;
            ss.push(MetricSample {
                policy: policy.into(),
                at_ms,
                value,
            });
            if value > 1.0 {
                vs.push(Violation {
                    id: format!("{policy}-{i}").into(),
                    policy: policy.into(),
                    target: target.into(),
                    component: target.into(),
                    metric: metric.into(),
                    severity: Severity::Warning,
                    value,
                    threshold: 1.0,
                    at_ms,
                });
            }
        }
        (vs, ss)
    }

    fn info(policy: &str) -> PolicyInfo {
        PolicyInfo {
            name: policy.into(),
            operator: ComparisonOperator::GreaterThan,
            threshold: 1.0,
            interval_ms: Some(STEP),
            for_ms: 0,
        }
    }

    fn judged(
        vs: &[Violation],
        ss: &[MetricSample],
        infos: &[PolicyInfo],
        now: Millis,
    ) -> (Vec<Breach>, Vec<SharedCause>) {
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(vs, ss, now, &cfg);
        judge(&ctx, infos, &cfg.judge)
    }

    /// A quiet baseline around 0.5 with a small deterministic wobble.
    fn quiet(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 0.5 + 0.02 * ((i * 7 % 5) as f64 - 2.0))
            .collect()
    }

    const NOW: Millis = 10_000_000;

    #[test]
    fn a_persistent_jump_far_from_normal_is_actionable() {
        let mut v = quiet(60);
        v.extend([2.0, 2.1, 2.05]);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, shared) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(shared.is_empty());
        assert_eq!(b.len(), 1);
        assert!(
            b[0].current && b[0].stands_out && b[0].actionable,
            "{:?}",
            b[0]
        );
        assert_eq!(b[0].run, 3);
        assert_eq!(b[0].level, 2.05);
        assert!(b[0].excess_z.unwrap() > 5.0);
        assert!(b[0].reason.starts_with("breaching now"));
    }

    #[test]
    fn one_sample_is_not_persistent() {
        let mut v = quiet(60);
        v.push(3.0);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(b[0].current);
        assert!(!b[0].actionable, "{:?}", b[0]);
    }

    #[test]
    fn an_incident_that_ended_is_not_current() {
        let mut v = quiet(40);
        v.extend([2.0; 10]);
        v.extend(quiet(20));
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(!b[0].current && !b[0].actionable);
        assert_eq!(b[0].run, 0);
        assert!(
            b[0].reason.contains("within the threshold"),
            "{}",
            b[0].reason
        );
    }

    #[test]
    fn a_breach_with_no_recent_evaluation_is_not_current() {
        let mut v = quiet(40);
        v.extend([2.0; 5]);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        // Evaluated last 2 intervals ago: the breach is not known to hold.
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW + 2 * STEP);
        assert!(!b[0].current && !b[0].actionable);
        assert!(
            b[0].reason.contains("no evaluation for 60s"),
            "{}",
            b[0].reason
        );
    }

    #[test]
    fn flapping_at_the_threshold_never_stands_out() {
        // Around 0.98 with a wobble of 0.04: over 1.0 on about a third of the
        // evaluations, in runs of one or two, at every possible end.
        let wobble = [0.0, 0.03, -0.02, 0.04, -0.04, 0.01, 0.03, 0.035, -0.03, 0.0];
        for end in 20..120 {
            let v: Vec<f64> = (0..end).map(|i| 0.98 + wobble[i % 10]).collect();
            let (vs, ss) = input("p", "web", "lat", &v, NOW);
            if vs.is_empty() {
                continue;
            }
            let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
            assert!(!b[0].actionable, "end {end}: {:?}", b[0]);
        }
    }

    /// The breaches of a full analysis (judgement and detectors).
    fn analysed(vs: &[Violation], ss: &[MetricSample], infos: &[PolicyInfo]) -> Vec<Breach> {
        crate::analyze::PatternAnalyzer::default()
            .analyze_policies(vs, ss, infos, NOW)
            .breaches
    }

    #[test]
    fn a_recurring_clear_overload_stands_out() {
        // Peaks to 1.6 for 4 evaluations every 20: usual for the policy, but
        // far beyond the threshold and on a period: a recurring overload.
        let mut v = Vec::new();
        for cycle in 0..5 {
            v.extend(quiet(16).iter().map(|x| x + 0.01 * cycle as f64));
            v.extend([1.6, 1.65, 1.6, 1.62]);
        }
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        // The judgement alone does not see the period ...
        assert!(!judged(&vs, &ss, &[info("p")], NOW).0[0].actionable);
        // ... the periodicity detector does.
        let b = analysed(&vs, &ss, &[info("p")]);
        assert!(b[0].actionable, "{:?}", b[0]);
        assert!(
            b[0].reason.contains("recurring on a period"),
            "{}",
            b[0].reason
        );
    }

    #[test]
    fn random_bursts_however_high_do_not_stand_out() {
        // Bursts to 1.6 of 3 or 4 evaluations at irregular times: the metric's
        // normal, with no period and nothing upstream.
        let gaps = [7, 23, 11, 31, 5, 17, 9];
        let mut v = Vec::new();
        for (k, gap) in gaps.iter().enumerate() {
            v.extend(quiet(*gap));
            v.extend(std::iter::repeat_n(1.6, 3 + k % 2));
        }
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let b = analysed(&vs, &ss, &[info("p")]);
        assert!(b[0].current && b[0].run >= 3, "{:?}", b[0]);
        assert!(b[0].margin_z.is_some_and(|m| m > 3.0), "{:?}", b[0]);
        assert!(!b[0].actionable, "{:?}", b[0]);
    }

    #[test]
    fn without_a_baseline_three_evaluations_are_needed() {
        let (vs, ss) = input("p", "web", "lat", &[0.5, 2.0, 2.0], NOW);
        assert!(!judged(&vs, &ss, &[info("p")], NOW).0[0].actionable);
        let (vs, ss) = input("p", "web", "lat", &[0.5, 2.0, 2.0, 2.0], NOW);
        assert!(judged(&vs, &ss, &[info("p")], NOW).0[0].actionable);
    }

    #[test]
    fn a_same_instant_glitch_on_many_deployments_is_one_shared_cause() {
        let mut vs = Vec::new();
        let mut ss = Vec::new();
        let mut infos = Vec::new();
        for t in ["a", "b", "c", "d"] {
            let mut v = quiet(60);
            v.extend([5.0, 5.0]);
            let (x, y) = input(&format!("{t}-lat"), t, "http_latency", &v, NOW);
            vs.extend(x);
            ss.extend(y);
            infos.push(info(&format!("{t}-lat")));
        }
        let (b, shared) = judged(&vs, &ss, &infos, NOW);
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].targets, ["a", "b", "c", "d"]);
        assert_eq!(shared[0].metric, "http_latency");
        assert!(b.iter().all(|b| b.shared && !b.actionable));
        assert!(b[0].reason.contains("shared cause"));
    }

    #[test]
    fn two_deployments_breaching_together_are_no_shared_cause() {
        let mut vs = Vec::new();
        let mut ss = Vec::new();
        for t in ["a", "b"] {
            let mut v = quiet(60);
            v.extend([5.0, 5.0]);
            let (x, y) = input(&format!("{t}-lat"), t, "http_latency", &v, NOW);
            vs.extend(x);
            ss.extend(y);
        }
        let (b, shared) = judged(&vs, &ss, &[info("a-lat"), info("b-lat")], NOW);
        assert!(shared.is_empty());
        assert!(b.iter().all(|b| b.actionable));
    }

    #[test]
    fn a_breach_below_a_less_than_threshold_is_judged_downwards() {
        let mut v: Vec<f64> = quiet(60).iter().map(|x| x + 2.0).collect();
        v.extend([0.2, 0.1, 0.15]);
        let (_, ss) = input("p", "web", "rate", &v, NOW);
        let vs: Vec<Violation> = ss
            .iter()
            .filter(|s| s.value < 1.0)
            .enumerate()
            .map(|(i, s)| Violation {
                id: format!("p-{i}").into(),
                policy: "p".into(),
                target: "web".into(),
                component: "web".into(),
                metric: "rate".into(),
                severity: Severity::Warning,
                value: s.value,
                threshold: 1.0,
                at_ms: s.at_ms,
            })
            .collect();
        let mut i = info("p");
        i.operator = ComparisonOperator::LessThan;
        let (b, _) = judged(&vs, &ss, &[i], NOW);
        assert!(b[0].actionable, "{:?}", b[0]);
        // Sizing reads the shortfall as threshold over level.
        assert!((b[0].overload_ratio().unwrap() - 1.0 / 0.15).abs() < 1e-9);
    }

    /// Violations for the samples that break `operator` at 1.0.
    fn violations_of(ss: &[MetricSample], operator: ComparisonOperator) -> Vec<Violation> {
        ss.iter()
            .filter(|s| operator.violates(s.value, 1.0))
            .enumerate()
            .map(|(i, s)| Violation {
                id: format!("{}-{i}", s.policy).into(),
                policy: s.policy.clone(),
                target: "web".into(),
                component: "web".into(),
                metric: "lat".into(),
                severity: Severity::Warning,
                value: s.value,
                threshold: 1.0,
                at_ms: s.at_ms,
            })
            .collect()
    }

    /// `n` quiet evaluations with a 4-evaluation peak at `peak` starting at 300,
    /// then `end`: the peak is 2.5 h before the end when `n` is 600, over 6 h
    /// when `n` is 1,100 (inside the last 8 h, outside the 1 h analysis window).
    fn with_earlier_peak(n: usize, peak: f64, end: &[f64]) -> Vec<f64> {
        let mut v = quiet(n);
        v[300..304].fill(peak);
        v.extend(end);
        v
    }

    #[test]
    fn with_long_history_a_record_breach_plans_and_a_repeat_of_an_earlier_peak_does_not() {
        // 1,100 quiet evaluations (9 h at 30 s) with a peak at 2.0 six hours ago.
        let repeat = with_earlier_peak(1100, 2.0, &[2.0, 2.0, 2.0]);
        let (vs, ss) = input("p", "web", "lat", &repeat, NOW);
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(&vs, &ss, NOW, &cfg);
        // The judgement sees 12 h of samples for its long memory, the rest of
        // the analysis its 1 h window.
        assert_eq!(ctx.history_of("p").len(), 1103);
        assert_eq!(ctx.samples_of("p").len(), 121);
        let b = &judge(&ctx, &[info("p")], &cfg.judge).0[0];
        // Against the last hour it stands out as before ...
        assert!(b.excess_z.unwrap() > 5.0, "{b:?}");
        // ... but it is no record for the last 8 h: no plan.
        assert!(b.current && !b.stands_out && !b.actionable, "{b:?}");
        assert_eq!((b.novel, b.previous_peak), (Some(false), Some(2.0)));
        assert!(b.held_back_by_long_memory(&cfg.judge));
        assert!(
            b.reason.contains("no record: the last 8 h reached 2.0000"),
            "{}",
            b.reason
        );
        // Nor with the detectors' explanations.
        assert!(!analysed(&vs, &ss, &[info("p")])[0].actionable);

        // Higher than anything in the last 8 h and far from the 12 h median.
        let record = with_earlier_peak(1100, 2.0, &[3.0, 3.0, 3.0]);
        let (vs, ss) = input("p", "web", "lat", &record, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(b[0].actionable, "{:?}", b[0]);
        assert_eq!(b[0].novel, Some(true));
        assert!(b[0].long_z.unwrap() >= 5.0, "{:?}", b[0]);
        assert!(
            b[0].reason
                .contains("a record for the last 8 h (previous peak 2.0000)")
                && b[0].reason.contains("beyond the 12 h median"),
            "{}",
            b[0].reason
        );
        assert!(analysed(&vs, &ss, &[info("p")])[0].actionable);
    }

    #[test]
    fn a_record_close_to_a_noisy_long_baseline_does_not_plan() {
        // Nine hours wobbling between 0.2 and 0.8, then a last hour quiet at 0.5:
        // against that hour a breach to 1.2 stands out, against the 12 h it is
        // a record but within 5 robust deviations of their median.
        let mut v: Vec<f64> = (0..960)
            .map(|i| 0.5 + 0.3 * ((i * 37 % 11) as f64 / 5.0 - 1.0))
            .collect();
        v.extend(quiet(120));
        v.extend([1.2, 1.2, 1.2]);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(b[0].excess_z.unwrap() > 5.0, "{:?}", b[0]);
        assert_eq!(b[0].novel, Some(true));
        assert!(b[0].long_z.unwrap() < 5.0, "{:?}", b[0]);
        assert!(!b[0].actionable, "{:?}", b[0]);
        assert!(b[0].reason.contains("(5 needed)"), "{}", b[0].reason);
    }

    #[test]
    fn with_short_history_the_long_memory_gate_does_not_apply() {
        // 600 evaluations (5 h) with an earlier peak at the same level: judged as
        // before the gate existed, on the last hour only.
        let v = with_earlier_peak(600, 2.0, &[2.0, 2.0, 2.0]);
        let (vs, ss) = input("p", "web", "lat", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(b[0].actionable, "{:?}", b[0]);
        assert_eq!(
            (b[0].novel, b[0].previous_peak, b[0].long_z),
            (None, None, None)
        );
        assert!(!b[0].reason.contains("record"), "{}", b[0].reason);
        // The same breach after the last hour alone judges the same.
        let (vs1, ss1) = input("p", "web", "lat", &v[v.len() - 123..], NOW);
        let (b1, _) = judged(&vs1, &ss1, &[info("p")], NOW);
        assert_eq!(b[0], b1[0]);
        // JSON without the gate's fields, as before.
        let json = serde_json::to_value(&b[0]).unwrap();
        for field in ["novel", "previousPeak", "longZ"] {
            assert!(json.get(field).is_none(), "{json}");
        }
    }

    #[test]
    fn below_a_less_than_threshold_the_record_is_the_lowest() {
        let mut i = info("p");
        i.operator = ComparisonOperator::LessThan;
        let high = |v: Vec<f64>| -> Vec<f64> { v.iter().map(|x| 3.0 - x).collect() };
        // Around 2.5 with a dip to 0.2 six hours ago: another dip to 0.2 is no
        // record, one to 0.1 is.
        for (end, plans) in [(0.2, false), (0.1, true)] {
            let mut v = high(quiet(1100));
            v[300..304].fill(0.2);
            v.extend([end; 3]);
            let (_, ss) = input("p", "web", "rate", &v, NOW);
            let vs = violations_of(&ss, ComparisonOperator::LessThan);
            let (b, _) = judged(&vs, &ss, &[i.clone()], NOW);
            assert_eq!(b[0].actionable, plans, "{:?}", b[0]);
            assert_eq!(b[0].novel, Some(plans));
            assert_eq!(b[0].previous_peak, Some(0.2));
            // The distance counts in the violated direction: downwards.
            assert!(b[0].long_z.unwrap() > 5.0, "{:?}", b[0]);
        }
    }

    /// A deterministic wobble of `amp` around 0 (period 5).
    fn wobble(i: usize, amp: f64) -> f64 {
        amp * ((i * 7 % 5) as f64 - 2.0) / 2.0
    }

    #[test]
    fn a_leak_climbing_all_day_plans_though_it_is_close_to_the_12_h_median() {
        // 12 h at 30 s climbing from 0.4 to 1.1, with a wobble that hides the
        // climb within one hour (no trend there), over 1.0 for the last ~40 min.
        let v: Vec<f64> = (0..1440)
            .map(|i| 0.4 + 0.7 * i as f64 / 1439.0 + wobble(i, 0.05))
            .collect();
        let (vs, ss) = input("p", "web", "mem", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        let b = &b[0];
        assert!(b.run >= 10 && b.run < 110, "{b:?}");
        // The gate's tests alone would hold it back: a record, but about 1.5
        // robust deviations from the 12 h median.
        assert_eq!(b.novel, Some(true));
        assert!(b.long_z.is_some_and(|z| z < 2.0), "{b:?}");
        assert!(b.actionable && !b.held_back_by_long_memory(&JudgeConfig::default()));
        assert!(
            b.reason.contains("climbing through the whole history")
                && b.reason.contains("a leak's climb"),
            "{}",
            b.reason
        );
        // The trend detector finds the climb in the 12 h kept, not in the hour.
        let cfg = AnalyzerConfig::default();
        let r = crate::analyze::PatternAnalyzer::new(cfg.clone()).analyze_policies(
            &vs,
            &ss,
            &[info("p")],
            NOW,
        );
        assert!(r.breaches[0].actionable);
        let trend: Vec<_> = r
            .patterns
            .iter()
            .filter(|p| p.pattern_type == crate::model::PatternType::Trend)
            .collect();
        assert_eq!(trend.len(), 1, "{:?}", r.patterns);
        assert!(
            trend[0].hypothesis.contains("h kept"),
            "{}",
            trend[0].hypothesis
        );
        // Without the climb's history (the last hour only) there is no trend.
        let last_hour = crate::analyze::PatternAnalyzer::new(cfg).analyze_policies(
            &vs,
            &ss[ss.len() - 120..],
            &[info("p")],
            NOW,
        );
        assert!(
            !last_hour
                .patterns
                .iter()
                .any(|p| p.pattern_type == crate::model::PatternType::Trend),
            "{:?}",
            last_hour.patterns
        );
    }

    #[test]
    fn a_sawtooth_leak_plans_though_its_earlier_cycles_peaked_higher() {
        // Cycles of 3 h from 0.4 to 1.3, each ended by a restart (a sharp drop),
        // then the current cycle up to 1.2: no record for the last 8 h, but the
        // highest since the last reset of a steady climb.
        let cycle = |n: usize| (0..n).map(|k| 0.4 + 0.0025 * k as f64);
        let mut v: Vec<f64> = Vec::new();
        for _ in 0..3 {
            v.extend(cycle(360));
        }
        v.extend(cycle(321));
        let v: Vec<f64> = v
            .iter()
            .enumerate()
            .map(|(i, x)| x + wobble(i, 0.01))
            .collect();
        let (vs, ss) = input("p", "web", "mem", &v, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        let b = &b[0];
        assert_eq!(b.novel, Some(false), "{b:?}");
        assert!(b.previous_peak.is_some_and(|p| p > 1.29), "{b:?}");
        assert!(b.actionable, "{b:?}");
        assert!(
            b.reason
                .contains("climbing since the last reset (2.7 h ago"),
            "{}",
            b.reason
        );
        assert!(analysed(&vs, &ss, &[info("p")])[0].actionable);
    }

    #[test]
    fn peaks_the_metric_reaches_every_two_hours_are_no_climb() {
        // A batch job: every 2 h a 30-minute ramp from 0.5 to 1.3 that ends at
        // once (a drop like a restart's), then the current ramp, at 1.2 now.
        let mut v = Vec::new();
        for _ in 0..5 {
            v.extend(quiet(180));
            v.extend((0..60).map(|k| 0.5 + 0.8 * k as f64 / 59.0));
        }
        v.extend(quiet(180));
        v.extend((0..55).map(|k| 0.5 + 0.8 * k as f64 / 59.0));
        let (vs, ss) = input("p", "web", "cpu", &v, NOW);
        let b = &analysed(&vs, &ss, &[info("p")])[0];
        assert!(b.current && b.run >= 5, "{b:?}");
        assert_eq!(b.novel, Some(false));
        assert!(!b.actionable, "{b:?}");
        assert!(b.held_back_by_long_memory(&JudgeConfig::default()));
        assert!(b.reason.contains("no record"), "{}", b.reason);
        // The same shape without the reset and with a ramp since the start of
        // the history (a climb over hours) plans.
        let climb: Vec<f64> = (0..1400)
            .map(|i| 0.5 + 0.7 * i as f64 / 1399.0 + wobble(i, 0.01))
            .collect();
        let (vs, ss) = input("p", "web", "cpu", &climb, NOW);
        assert!(analysed(&vs, &ss, &[info("p")])[0].actionable);
    }

    #[test]
    fn a_climb_below_a_less_than_threshold_is_a_fall() {
        // A rate falling for 12 h from 2.6 to 0.9 under a Less-than 1.0.
        let mut i = info("p");
        i.operator = ComparisonOperator::LessThan;
        let v: Vec<f64> = (0..1440)
            .map(|k| 2.6 - 1.7 * k as f64 / 1439.0 + wobble(k, 0.01))
            .collect();
        let (_, ss) = input("p", "web", "rate", &v, NOW);
        let vs = violations_of(&ss, ComparisonOperator::LessThan);
        let (b, _) = judged(&vs, &ss, &[i.clone()], NOW);
        assert!(b[0].actionable, "{:?}", b[0]);
        assert!(b[0].long_z.unwrap() < 5.0, "{:?}", b[0]);
        assert!(b[0].reason.contains("Theil-Sen -0."), "{}", b[0].reason);
        // Mirrored, the same climb plans for a Greater-than policy.
        let rising: Vec<f64> = v.iter().map(|x| 3.5 - x).collect();
        let (vs, ss) = input("p", "web", "rate", &rising, NOW);
        let (b, _) = judged(&vs, &ss, &[info("p")], NOW);
        assert!(b[0].actionable, "{:?}", b[0]);
    }
}
