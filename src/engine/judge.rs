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
//!   evaluations (the user's `for` is the first gate: the monitor records no
//!   violation before it);
//! - **stands out**: the recent level (median of the current run) lies at least
//!   `min_excess_z` robust standard deviations (1.4826 × MAD) beyond the median of
//!   the evaluations before the run, and a run this long is unlikely under the
//!   policy's own duty cycle above the threshold (`duty^run <= max_noise_p`).
//!   A policy that flaps around its threshold fails both.
//!
//! Shared causes: when at least `shared_min_targets` Deployments whose policies
//! share a metric name start breaching at the same evaluation instant, the event is
//! reported as a [`SharedCause`] and none of those breaches is actionable.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analyze::AnalysisContext;
use super::model::{ComparisonOperator, Millis, PolicyInfo};

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
    /// deviations, at least this. Default 3.
    pub min_excess_z: f64,
    /// A run this long must be at most this likely from the baseline's duty cycle
    /// above the threshold. Default 0.01.
    pub max_noise_p: f64,
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
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            min_run: 2,
            min_baseline: 10,
            min_run_without_baseline: 3,
            min_excess_z: 3.0,
            max_noise_p: 0.01,
            default_interval_ms: 60_000,
            shared_min_targets: 3,
            sustained_ms: 300_000,
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
    /// Share of the baseline's evaluations that broke the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_duty: Option<f64>,
    /// The evaluation interval used, ms.
    pub interval_ms: Millis,
    /// When the latest evaluation ran.
    pub last_at_ms: Millis,
    /// When the current run began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_start_ms: Option<Millis>,
    /// The judgement in one sentence.
    pub reason: String,
}

impl Breach {
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

/// The operator of a policy: given, or the direction most of its violations break.
fn operator_of(ctx: &AnalysisContext<'_>, members: &[u32]) -> ComparisonOperator {
    let (mut above, mut below) = (0usize, 0usize);
    for &i in members {
        match ctx.direction_of[i as usize] {
            1 => above += 1,
            -1 => below += 1,
            _ => {}
        }
    }
    if below > above {
        ComparisonOperator::LessThan
    } else {
        ComparisonOperator::GreaterThan
    }
}

fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
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
        let (mut baseline, mut excess_z, mut duty) = (None, None, None);
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
            // A flat baseline has no spread: a floor of 5% of its distance to the
            // threshold (and a tiny absolute one) keeps the distance finite.
            let scale = mad
                .max(0.05 * (threshold - m).abs())
                .max(1e-9 * threshold.abs().max(1.0));
            let z = sign * (level - m) / scale;
            let d = base.iter().filter(|e| e.bad).count() as f64 / base.len() as f64;
            let p_noise = d.max(1.0 / (base.len() as f64 + 1.0)).powi(run as i32);
            baseline = Some(m);
            excess_z = Some(z);
            duty = Some(d);
            let persistent = run >= config.min_run && p_noise <= config.max_noise_p;
            let held_ms = interval.saturating_mul(run as Millis);
            let sustained = held_ms >= config.sustained_ms && p_noise <= config.max_noise_p.powi(2);
            stands_out = persistent && (z >= config.min_excess_z || sustained);
            why = format!(
                "held {run} evaluation(s) at {level:.4} against a baseline of {m:.4} (z = {z:.1}, {:.0}% of earlier evaluations over the threshold)",
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
            baseline_duty: duty,
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

/// A breach that is persistent but close to its baseline stands out when the
/// policy's metric has a significant trend toward the threshold (a leak climbs
/// with its baseline, so its level is never far from it).
pub fn with_trends(breaches: &mut [Breach], trending: &[&str], config: &JudgeConfig) {
    for b in breaches {
        if b.stands_out || !trending.contains(&b.policy.as_str()) || b.run < config.min_run {
            continue;
        }
        let p_noise = b
            .baseline_duty
            .map_or(0.0, |d| d.powi(b.run.min(i32::MAX as usize) as i32));
        if p_noise > config.max_noise_p {
            continue;
        }
        b.stands_out = true;
        b.actionable = b.current && !b.shared;
        if b.actionable {
            b.reason = format!(
                "breaching now, at the end of a significant trend: held {} evaluation(s) at {:.4}",
                b.run, b.level
            );
        }
    }
}
