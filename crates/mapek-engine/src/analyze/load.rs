//! Load signals: whether a policy's breach rises with the load offered to the
//! service (an overload, which capacity relieves) or came at flat load (a fault,
//! a leak or a bad change, which more replicas would not relieve).
//!
//! A ViolationPolicy may name context queries evaluated with it: `load` (such as
//! a request rate) and `saturation`. Their samples reach the engine as
//! [`ContextSample`]s. For a current breach, with the policy's metric samples:
//! - the **healthy baseline** is the evaluations of the `baseline_ms` (1 h) before
//!   the breach's run in which the metric was within its threshold, each paired
//!   with the load sample nearest in time (within half an interval); at least
//!   `min_healthy` (5) of them;
//! - the **recent** load is the median over the run's last `recent_evaluations`
//!   (5) evaluations;
//! - `ratio = recent / median(healthy baseline)`: **rising** at `rising_ratio`
//!   (1.2) or more, **flat** at `flat_ratio` (1.1) or less (a falling load too),
//!   unclear in between.
//!
//! What it changes ([`apply`]): with rising load, the load explains a climb that
//! reads as a leak: `weight` (0.9) of the gradual-degradation evidence moves to
//! the load spike. With flat load, `weight` of the load kinds (load spike,
//! chronic overload, recurring load) moves to the mechanisms present (leak,
//! component fault, upstream dependency), or, when none is, to a component fault
//! (a breach that nothing but the load could explain, at flat load, is a fault or
//! a bad change of the component); and the planner proposes no SCALE_UP. With
//! rising load, a SCALE_UP is sized by load (see [`crate::plan`]). The
//! saturation query's ratio is reported, not used to decide.

use std::collections::BTreeMap;
use std::fmt::Write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::detectors::median;
use crate::judge::Breach;
use crate::model::{
    ComparisonOperator, ContextKind, ContextSample, LoadSignal, LoadTrend, MetricSample, Millis,
    RootCause, RootCauseKind,
};

/// The load signal's settings (part of the analyzer's configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadConfig {
    /// The load is rising when its recent median is at least this many times the
    /// healthy baseline's. Default 1.2.
    pub rising_ratio: f64,
    /// The load is flat when its recent median is at most this many times the
    /// healthy baseline's (a falling load included). Default 1.1.
    pub flat_ratio: f64,
    /// The healthy baseline is taken from this span before the breach's run, ms.
    /// Default 1 hour.
    pub baseline_ms: Millis,
    /// The recent load is the median of the run's last this many evaluations.
    /// Default 5.
    pub recent_evaluations: usize,
    /// At least this many healthy evaluations make a baseline; with fewer the
    /// load says nothing. Default 5.
    pub min_healthy: usize,
    /// The share of the evidence the load moves between hypotheses. Default 0.9.
    pub weight: f64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            rising_ratio: 1.2,
            flat_ratio: 1.1,
            baseline_ms: 3_600_000,
            recent_evaluations: 5,
            min_healthy: 5,
            weight: 0.9,
        }
    }
}

impl LoadConfig {
    /// Whether these are the defaults (left out of the serialized configuration,
    /// so analysis ids without context are what they were).
    pub fn is_default(&self) -> bool {
        *self == LoadConfig::default()
    }
}

/// The context samples of `kind` per policy, sorted by time, up to `now`.
pub(crate) fn by_policy(
    context: &[ContextSample],
    kind: ContextKind,
    now: Millis,
) -> BTreeMap<&str, Vec<(Millis, f64)>> {
    let mut out: BTreeMap<&str, Vec<(Millis, f64)>> = BTreeMap::new();
    for c in context {
        if c.kind == kind && c.at_ms <= now && c.value.is_finite() {
            out.entry(c.policy.as_str())
                .or_default()
                .push((c.at_ms, c.value));
        }
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
    out
}

/// The value of the sample nearest to `at` within `tolerance`, if any.
fn nearest(series: &[(Millis, f64)], at: Millis, tolerance: Millis) -> Option<f64> {
    let i = series.partition_point(|s| s.0 < at);
    [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter_map(|j| series.get(j))
        .filter(|s| (s.0 - at).abs() <= tolerance)
        .min_by_key(|s| (s.0 - at).abs())
        .map(|s| s.1)
}

/// What the load says of a current breach, from the policy's metric samples
/// (`history`, in time order) and its load (and saturation) samples. `None`
/// when the breach is not current, or there are too few healthy evaluations or
/// recent load samples to compare.
pub(crate) fn signal(
    breach: &Breach,
    history: &[&MetricSample],
    load: &[(Millis, f64)],
    saturation: Option<&[(Millis, f64)]>,
    config: &LoadConfig,
) -> Option<LoadSignal> {
    if !breach.current {
        return None;
    }
    let run_start = breach.run_start_ms?;
    let tolerance = (breach.interval_ms / 2).max(1);
    let from = run_start.saturating_sub(config.baseline_ms.max(0));
    let healthy: Vec<&MetricSample> = history
        .iter()
        .copied()
        .filter(|s| {
            s.at_ms >= from
                && s.at_ms < run_start
                && !breach.operator.violates(s.value, breach.threshold)
        })
        .collect();
    let run: Vec<&MetricSample> = history
        .iter()
        .copied()
        .filter(|s| s.at_ms >= run_start)
        .collect();
    let recent = &run[run.len().saturating_sub(config.recent_evaluations.max(1))..];
    // (metric, load, saturation) of each evaluation with a load sample.
    let paired = |evals: &[&MetricSample]| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut m, mut l, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for e in evals {
            if let Some(x) = nearest(load, e.at_ms, tolerance) {
                m.push(e.value);
                l.push(x);
                if let Some(sat) = saturation.and_then(|ss| nearest(ss, e.at_ms, tolerance)) {
                    s.push(sat);
                }
            }
        }
        (m, l, s)
    };
    let (mut hm, mut hl, mut hs) = paired(&healthy);
    let (mut rm, mut rl, mut rs) = paired(recent);
    if hl.len() < config.min_healthy.max(1) || rl.is_empty() {
        return None;
    }
    let baseline = median(&mut hl);
    let recent_load = median(&mut rl);
    let ratio = recent_load / baseline;
    if !(baseline > 0.0 && ratio.is_finite()) {
        return None;
    }
    let saturation_ratio = (!hs.is_empty() && !rs.is_empty())
        .then(|| median(&mut rs) / median(&mut hs))
        .filter(|r| r.is_finite());
    let trend = if ratio >= config.rising_ratio {
        LoadTrend::Rising
    } else if ratio <= config.flat_ratio {
        LoadTrend::Flat
    } else {
        LoadTrend::Unclear
    };
    let healthy_n = hl.len();
    let mut reason = format!(
        "load {ratio:.2}x its healthy baseline ({recent_load:.4} over the last {} evaluation(s) against {baseline:.4} over {healthy_n} healthy evaluation(s) before the breach): {}",
        rl.len(),
        match trend {
            LoadTrend::Rising => "rising with the breach, an overload",
            LoadTrend::Flat => "flat, so the breach is not load",
            LoadTrend::Unclear => "neither clearly rising nor flat",
        }
    );
    if let Some(s) = saturation_ratio {
        let _ = write!(reason, " (saturation {s:.2}x)");
    }
    Some(LoadSignal {
        trend,
        ratio,
        recent: recent_load,
        baseline,
        baseline_metric: median(&mut hm),
        recent_metric: median(&mut rm),
        healthy: healthy_n,
        saturation_ratio,
        reason,
    })
}

/// The kinds that only the load explains.
const LOAD_KINDS: [RootCauseKind; 3] = [
    RootCauseKind::LoadSpike,
    RootCauseKind::ChronicOverload,
    RootCauseKind::RecurringLoad,
];

/// The mechanisms that explain a breach at flat load.
const MECHANISMS: [RootCauseKind; 3] = [
    RootCauseKind::GradualDegradation,
    RootCauseKind::ComponentFault,
    RootCauseKind::UpstreamDependency,
];

/// Moves root-cause evidence by what each breach's load says (see the module
/// documentation), then sorts the causes as the ranking does. Breaches without
/// a rising or flat load change nothing.
pub(crate) fn apply(causes: &mut Vec<RootCause>, breaches: &[Breach], config: &LoadConfig) {
    let w = if config.weight.is_finite() {
        config.weight.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for b in breaches {
        let Some(signal) = &b.load else {
            continue;
        };
        let (sources, sinks, why): (&[RootCauseKind], &[RootCauseKind], &str) = match signal.trend {
            LoadTrend::Rising => (
                &[RootCauseKind::GradualDegradation],
                &[RootCauseKind::LoadSpike],
                "the load rose with the breach, so it explains the climb",
            ),
            LoadTrend::Flat => (
                &LOAD_KINDS,
                &MECHANISMS,
                "the load is flat, so the breach is not load",
            ),
            LoadTrend::Unclear => continue,
        };
        let mut moved = 0.0;
        let mut supports: Vec<usize> = Vec::new();
        for rc in causes.iter_mut() {
            if rc.target == b.target && sources.contains(&rc.kind) && rc.confidence > 0.0 {
                let m = rc.confidence * w;
                moved += m;
                rc.confidence -= m;
                supports.extend(&rc.supporting_patterns);
                let _ = write!(
                    rc.description,
                    " Weakened by the load of policy {} ({:.2}x its healthy baseline): {why}.",
                    b.policy, signal.ratio
                );
            }
        }
        if moved <= 0.0 {
            continue;
        }
        let present: f64 = causes
            .iter()
            .filter(|rc| rc.target == b.target && sinks.contains(&rc.kind))
            .map(|rc| rc.confidence)
            .sum();
        if present > 0.0 {
            for rc in causes.iter_mut() {
                if rc.target == b.target && sinks.contains(&rc.kind) {
                    rc.confidence = (rc.confidence + moved * rc.confidence / present).min(1.0);
                    let _ = write!(
                        rc.description,
                        " Strengthened by the load of policy {} ({:.2}x its healthy baseline): {why}.",
                        b.policy, signal.ratio
                    );
                }
            }
        } else {
            supports.sort_unstable();
            supports.dedup();
            let kind = sinks[0];
            let confidence = moved.min(1.0);
            let description = match signal.trend {
                LoadTrend::Rising => format!(
                    "{kind:?} on {} (confidence {confidence:.2}), from the load of policy {}: {}.",
                    b.target, b.policy, signal.reason
                ),
                _ => format!(
                    "{kind:?} on {} (confidence {confidence:.2}), from the load of policy {}: {}; nothing else explains the breach, so a fault or a bad change of the component.",
                    b.target, b.policy, signal.reason
                ),
            };
            causes.push(RootCause {
                kind,
                target: b.target.clone(),
                policy: b.policy.clone(),
                confidence,
                description,
                supporting_patterns: supports,
            });
        }
    }
    causes.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.target.cmp(&b.target))
            .then_with(|| a.kind.cmp(&b.kind))
    });
}

/// The metric's two points against the load, for sizing a scale-up by load: at
/// the healthy baseline and now. `None` when the load did not rise or the metric
/// did not move toward its threshold with it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadFit {
    pub baseline_load: f64,
    pub baseline_metric: f64,
    pub recent_load: f64,
    pub recent_metric: f64,
    pub threshold: f64,
    /// The load at which the line through the two points reaches the threshold:
    /// what the current replicas carry at the threshold.
    pub load_at_threshold: f64,
}

impl LoadFit {
    /// The fit of a breach's rising load, if its metric moved toward the
    /// threshold as the load rose.
    pub fn of(breach: &Breach) -> Option<LoadFit> {
        let s = breach.load.as_ref()?;
        if s.trend != LoadTrend::Rising || s.recent <= s.baseline {
            return None;
        }
        let sign = match breach.operator {
            ComparisonOperator::LessThan | ComparisonOperator::LessThanOrEqual => -1.0,
            _ => 1.0,
        };
        let rise = sign * (s.recent_metric - s.baseline_metric);
        let room = sign * (breach.threshold - s.baseline_metric);
        if !(rise > 0.0 && room > 0.0) {
            return None;
        }
        let at = s.baseline + room / rise * (s.recent - s.baseline);
        (at.is_finite() && at > 0.0).then_some(LoadFit {
            baseline_load: s.baseline,
            baseline_metric: s.baseline_metric,
            recent_load: s.recent,
            recent_metric: s.recent_metric,
            threshold: breach.threshold,
            load_at_threshold: at,
        })
    }

    /// The recent load over the load at the threshold: how many times the
    /// current capacity is needed.
    pub fn ratio(&self) -> f64 {
        self.recent_load / self.load_at_threshold
    }
}
