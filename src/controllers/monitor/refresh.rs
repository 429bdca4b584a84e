//! When a policy's unchanged status is refreshed (its `lastValue` and
//! `lastEvaluationTime` written again): each policy on its own phase of one
//! refresh period, so that refreshes spread evenly over the period instead of
//! all falling due in the same round (evaluations are aligned on interval
//! boundaries) and the budget starving the same policies round after round.
//!
//! The period is the configured refresh (`MAPE_K_STATUS_REFRESH`), stretched
//! when the refresh share of the write budget cannot write every policy that
//! often: 10,000 policies at 15 refreshes a second need about 12 minutes.

use std::hash::{DefaultHasher, Hash, Hasher};

use mapek_engine::model::Millis;

/// The share of the refresh budget the period is planned for: the rest
/// absorbs the rounds' bursts and the queue.
const PLANNED_SHARE: f64 = 0.9;

/// The refresh period for `policies` policies: `configured`, or longer when
/// `per_second` refreshes (`None`: unlimited) cannot refresh all that often.
pub fn period_ms(configured: Millis, policies: usize, per_second: Option<f64>) -> Millis {
    let needed = per_second.map_or(0.0, |r| policies as f64 / (r * PLANNED_SHARE) * 1000.0);
    configured.max(needed.ceil() as Millis).max(1)
}

/// The policy's phase in the period, from its namespace and name (stable
/// across restarts and replicas).
pub fn phase_ms(namespace: &str, name: &str, period: Millis) -> Millis {
    let mut h = DefaultHasher::new();
    (namespace, name).hash(&mut h);
    (h.finish() % period.max(1) as u64) as Millis
}

/// The age at which the policy's status is refreshed at `now` (what
/// [`super::decide::worth_writing`] compares with): due once its phase in the
/// current period has passed since the last write, and never sooner than half
/// a period after it (a status written just before its phase waits for the
/// next one). So a status is at most about one period old, plus the
/// evaluation interval and the queue.
pub fn due_age_ms(now: Millis, phase: Millis, period: Millis) -> Millis {
    let period = period.max(1);
    let since_phase = (now - phase).rem_euclid(period);
    (since_phase + 1).max(period / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writes of one policy evaluated every `interval` from 0 to `until`,
    /// refreshed whenever due (no other change).
    fn refreshes(phase: Millis, period: Millis, interval: Millis, until: Millis) -> Vec<Millis> {
        let mut last = 0;
        let mut out = vec![];
        for now in (interval..until).step_by(interval as usize) {
            if now - last >= due_age_ms(now, phase, period) {
                last = now;
                out.push(now);
            }
        }
        out
    }

    #[test]
    fn each_policy_is_refreshed_once_a_period_on_its_own_phase() {
        let w = refreshes(100_000, 300_000, 10_000, 1_300_000);
        // The phase at 100 s comes too soon after the write at 0: the first
        // refresh is half a period after it, then one at each phase.
        assert_eq!(w, [150_000, 400_000, 700_000, 1_000_000]);
        let other = refreshes(250_000, 300_000, 10_000, 1_300_000);
        assert_eq!(other, [250_000, 550_000, 850_000, 1_150_000]);
        // Never older than one period plus an interval.
        for (a, b) in w.iter().zip(&w[1..]) {
            assert!(b - a <= 310_000);
        }
    }

    #[test]
    fn the_period_stretches_with_the_policies_the_budget_cannot_refresh() {
        assert_eq!(period_ms(300_000, 1_000, Some(15.0)), 300_000);
        let p = period_ms(300_000, 10_000, Some(15.0));
        assert!((740_000..=742_000).contains(&p), "{p}");
        assert_eq!(period_ms(300_000, 10_000, None), 300_000);
        assert_eq!(period_ms(0, 0, None), 1);
    }

    #[test]
    fn phases_spread_over_the_period() {
        let mut buckets = [0usize; 10];
        for i in 0..10_000 {
            let p = phase_ms("default", &format!("p-{i:05}"), 600_000);
            buckets[(p / 60_000) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (850..=1150).contains(&n)),
            "{buckets:?}"
        );
    }
}
