//! Explained breaches: a persistent breach close to its baseline, or usual for
//! its policy, that the detectors explain (a trend, a period, an upstream
//! dependency) stands out after all.

use super::{Breach, JudgeConfig};
use crate::decimal::Fixed;

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
        if b.stands_out || b.run < config.min_run || b.held_back_by_long_memory(config.min_long_z) {
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
                "breaching now, {why}: held {} evaluation(s) at {}",
                b.run,
                Fixed(b.level, 4)
            );
        }
    }
}
