//! Chronic breaches: a policy over its threshold on most of its recent
//! evaluations is in a chronic incident, whatever its own history says. The
//! threshold is the user's statement of what is acceptable, so a metric mostly
//! over it is not its "normal": its breach is current even at a momentary dip,
//! and stands out. Flapping at a low duty cycle stays below the bar.

use super::JudgeConfig;
use super::run::Eval;
use crate::model::Millis;
use crate::stats::median_of;

/// A chronic breach: the share of the recent evaluations over the threshold and
/// the median of those values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Chronic {
    pub(super) duty: f64,
    pub(super) evaluations: usize,
    pub(super) level: f64,
}

/// Whether the evaluations of the last `chronic_window_ms` before `now` make a
/// chronic breach: at least `chronic_min_evaluations` of them, more than
/// `chronic_min_duty` of them over the threshold. Only evaluations from samples
/// count (a list of violations alone is all breaches).
pub(super) fn chronic(evals: &[Eval], now: Millis, config: &JudgeConfig) -> Option<Chronic> {
    let from = now.saturating_sub(config.chronic_window_ms);
    let recent = &evals[evals.partition_point(|e| e.at < from)..];
    if recent.len() < config.chronic_min_evaluations.max(1) {
        return None;
    }
    let bad = || recent.iter().filter(|e| e.bad).map(|e| e.value);
    let duty = bad().count() as f64 / recent.len() as f64;
    (duty > config.chronic_min_duty).then(|| Chronic {
        duty,
        evaluations: recent.len(),
        level: median_of(bad()),
    })
}
