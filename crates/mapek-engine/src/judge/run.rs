//! A policy's evaluations and its latest run: the evaluations from its samples
//! (or its violations), the evaluation interval, and how many consecutive
//! breaking evaluations end at the latest one.

use crate::input::AnalysisContext;
use crate::model::{ComparisonOperator, Millis, Point, PolicyInfo, Violation};
use crate::stats::{median_of, rising_is_bad};

use super::JudgeConfig;

/// One evaluation: time, value, whether it broke the threshold.
#[derive(Clone, Copy)]
pub(super) struct Eval {
    pub(super) at: Millis,
    pub(super) value: f64,
    pub(super) bad: bool,
}

/// The operator of a policy when none is given: the direction most of its
/// violations break.
pub(super) fn operator_of(ctx: &AnalysisContext<'_>, members: &[u32]) -> ComparisonOperator {
    if rising_is_bad(ctx, members) {
        ComparisonOperator::GreaterThan
    } else {
        ComparisonOperator::LessThan
    }
}

/// The policy's evaluations: its samples judged against the threshold or,
/// without samples, its violations (`members`), each a breaking evaluation.
/// `last_v` is its latest violation.
pub(super) fn evaluations(
    ctx: &AnalysisContext<'_>,
    members: &[u32],
    samples: &[Point],
    last_v: &Violation,
    operator: ComparisonOperator,
    threshold: f64,
) -> Vec<Eval> {
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
    evals
}

/// The evaluation interval: the policy's own, else the median spacing of its
/// evaluations, else [`JudgeConfig::default_interval_ms`]; at least 1 ms.
pub(super) fn interval_of(
    given: Option<&PolicyInfo>,
    evals: &[Eval],
    config: &JudgeConfig,
) -> Millis {
    given
        .and_then(|p| p.interval_ms)
        .filter(|i| *i > 0)
        .or_else(|| median_gap(evals))
        .unwrap_or(config.default_interval_ms)
        .max(1)
}

/// The run: consecutive breaking evaluations up to the latest, with no gap
/// longer than two and a half intervals (0 when the latest does not break).
pub(super) fn run_length(evals: &[Eval], interval: Millis) -> usize {
    let last = evals[evals.len() - 1];
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
    run
}

/// Median spacing of consecutive evaluations, if there are at least two
/// (computed only when the policy does not give its interval).
fn median_gap(evals: &[Eval]) -> Option<Millis> {
    let gaps = || {
        evals
            .windows(2)
            .map(|w| (w[1].at - w[0].at) as f64)
            .filter(|g| *g > 0.0)
    };
    gaps().next().is_some().then(|| median_of(gaps()) as Millis)
}
