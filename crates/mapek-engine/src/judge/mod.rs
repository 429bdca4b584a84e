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

mod chronic;
mod explain;
mod long_memory;
mod run;
mod shared;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use crate::config::JudgeConfig;
pub use crate::model::{Breach, SharedCause};
pub use explain::{Explanations, with_explanations};

use crate::decimal::Fixed;
use crate::input::AnalysisContext;
use crate::model::{ComparisonOperator, Millis, PolicyInfo};
use crate::stats::{median_of, order_statistics};
use long_memory::long_memory;
use run::operator_of;

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
        let evals = run::evaluations(ctx, members, samples, last_v, operator, threshold);
        let interval = run::interval_of(given, &evals, config);
        let last = evals[evals.len() - 1];
        let fresh = ctx.now.saturating_sub(last.at) <= interval + interval / 2;
        let run = run::run_length(&evals, interval);
        let split = evals.len() - run;
        let level = if run == 0 {
            last.value
        } else {
            median_of(evals[split..].iter().map(|e| e.value))
        };
        let base = &evals[..split];
        let sign = match operator {
            ComparisonOperator::LessThan | ComparisonOperator::LessThanOrEqual => -1.0,
            _ => 1.0,
        };
        // At least one earlier evaluation, whatever `min_baseline` says: the
        // baseline's median and quantiles need one.
        let mut test = if samples.is_empty() || base.len() < config.min_baseline.max(1) {
            without_baseline(run, config)
        } else {
            against_baseline(
                ctx, name, &evals, split, level, threshold, sign, interval, config,
            )
        };
        let chronic = (!samples.is_empty())
            .then(|| chronic::chronic(&evals, ctx.now, config))
            .flatten();
        let current = fresh && (last.bad || chronic.is_some());
        let (stands_out, why, level) = match chronic.filter(|_| !test.stands_out) {
            Some(c) => (
                true,
                format!(
                    "a chronic breach, over the threshold on {}% of the last {} evaluations (the bar is over {}%) at a median of {}",
                    Fixed(c.duty * 100.0, 0),
                    c.evaluations,
                    Fixed(config.chronic_min_duty * 100.0, 0),
                    Fixed(c.level, 4)
                ),
                c.level,
            ),
            None => (test.stands_out, std::mem::take(&mut test.why), level),
        };
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
            baseline: test.baseline,
            excess_z: test.excess_z,
            margin_z: test.margin_z,
            baseline_duty: test.duty,
            novel: test.long.as_ref().map(|l| l.novel),
            previous_peak: test.long.as_ref().map(|l| l.previous_peak),
            long_z: test.long.as_ref().map(|l| l.z),
            interval_ms: interval,
            last_at_ms: last.at,
            run_start_ms: (run > 0).then(|| evals[split].at),
            reason: if !fresh {
                format!(
                    "no evaluation for {}s: the breach is not current",
                    ctx.now.saturating_sub(last.at) / 1000
                )
            } else if !current {
                "the latest evaluation is within the threshold: the breach is over".to_string()
            } else if stands_out {
                format!("breaching now: {why}")
            } else {
                format!("breaching now but not standing out: {why}")
            },
            load: None,
            change: None,
            episode: None,
        });
    }
    let shared = shared::shared_causes(&mut out, starts, config);
    (out, shared)
}

/// How the breach fared against its baseline: whether it stands out, why, and
/// the figures the breach reports.
struct BaselineTest {
    stands_out: bool,
    why: String,
    baseline: Option<f64>,
    excess_z: Option<f64>,
    margin_z: Option<f64>,
    duty: Option<f64>,
    long: Option<long_memory::LongMemory>,
}

/// With fewer than `min_baseline` earlier evaluations, persistence alone decides.
fn without_baseline(run: usize, config: &JudgeConfig) -> BaselineTest {
    let needed = config.min_run_without_baseline.max(config.min_run);
    let stands_out = run >= needed;
    BaselineTest {
        stands_out,
        why: if stands_out {
            format!("held {run} evaluations (too little history for a baseline)")
        } else {
            format!("held {run} evaluation(s); without a baseline {needed} are needed")
        },
        baseline: None,
        excess_z: None,
        margin_z: None,
        duty: None,
        long: None,
    }
}

/// The run (the evaluations from `split` on, at median `level`) against the
/// evaluations before it and the policy's long memory: new, sustained, or a
/// climb (see the module's documentation).
#[allow(clippy::too_many_arguments)]
fn against_baseline(
    ctx: &AnalysisContext<'_>,
    name: &str,
    evals: &[run::Eval],
    split: usize,
    level: f64,
    threshold: f64,
    sign: f64,
    interval: Millis,
    config: &JudgeConfig,
) -> BaselineTest {
    let run = evals.len() - split;
    let base = &evals[..split];
    let vals: Vec<f64> = base.iter().map(|e| e.value).collect();
    // The median and the baseline's quantiles in the bad direction (the
    // 95th and 99th, or the 5th and 1st), read off the sorted values.
    let n = vals.len();
    let tail_rank = |q: f64| {
        let i = ((n - 1) as f64 * q).round() as usize;
        if sign > 0.0 { i } else { n - 1 - i }
    };
    let [below_mid, mid, q95, q99] = order_statistics(
        &vals,
        [
            n.saturating_sub(1) / 2,
            n / 2,
            tail_rank(0.95),
            tail_rank(0.99),
        ],
    );
    let m = if n % 2 == 1 {
        mid
    } else {
        (below_mid + mid) / 2.0
    };
    let mad = 1.4826 * median_of(vals.iter().map(|v| (v - m).abs()));
    // The spread in the bad direction as the baseline's upper quantiles
    // show it: a metric whose normal has spikes is judged against its
    // spikes, not only its typical wobble.
    let tail = |v: f64, zq: f64| (sign * (v - m)).max(0.0) / zq;
    let spread = mad.max(tail(q95, 1.645)).max(tail(q99, 2.326));
    // A flat baseline has no spread: a floor of 5% of its distance to the
    // threshold (and a tiny absolute one) keeps both distances finite.
    let floor = (0.05 * (threshold - m).abs()).max(1e-9 * threshold.abs().max(1.0));
    let z = sign * (level - m) / spread.max(floor);
    // How clearly the run is beyond the threshold, in the baseline's
    // typical wobble (MAD): flapping at the threshold is within it.
    let margin = sign * (level - threshold) / mad.max(floor);
    let d = base.iter().filter(|e| e.bad).count() as f64 / base.len() as f64;
    let p_noise = d.max(1.0 / (base.len() as f64 + 1.0)).powi(run as i32);
    let persistent = run >= config.min_run && p_noise <= config.max_noise_p;
    let held_ms = interval.saturating_mul(run as Millis);
    let sustained = held_ms >= config.sustained_ms && p_noise <= config.max_noise_p.powi(2);
    let long = long_memory(
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
    let stands_out = persistent && (z >= config.min_excess_z || sustained) && long_ok || climb_held;
    let record = long_memory::describe(long.as_ref(), long_ok, ctx.now, config);
    let why = format!(
        "held {run} evaluation(s) at {level} against a baseline of {m} (z = {z}; {margin} typical deviations beyond the threshold; {}% of earlier evaluations over the threshold){record}",
        Fixed(d * 100.0, 0),
        level = Fixed(level, 4),
        m = Fixed(m, 4),
        z = Fixed(z, 1),
        margin = Fixed(margin, 1)
    );
    BaselineTest {
        stands_out,
        why,
        baseline: Some(m),
        excess_z: Some(z),
        margin_z: Some(margin),
        duty: Some(d),
        long,
    }
}
