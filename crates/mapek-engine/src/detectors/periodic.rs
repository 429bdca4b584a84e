//! Periodicity: violations of a policy that recur at a regular period, suggesting
//! load that comes back on a schedule (cron jobs, daily peaks).

use super::{Detection, Detector, bin_of, bins, dots_from, secs};
use crate::config::AnalyzerConfig;
use crate::decimal::Fixed;
use crate::input::AnalysisContext;
use crate::model::{PatternType, RootCauseKind};

/// Counts each policy's violations in bins of `periodic_bin_ms` from its first to
/// its last violation and computes the autocorrelation
/// `r(k) = Σ (x_t - m)(x_{t+k} - m) / Σ (x_t - m)²` for lags `k >= 2` bins such that
/// the series spans at least `periodic_min_cycles` repetitions. The best lag is
/// reported when `r(k) >= periodic_min_autocorrelation` and at least that many bins
/// are non-empty. Confidence is `r(k)`. O(n + bins²) per policy, with bins capped
/// by `periodic_max_bins`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PeriodicityDetector;

/// The best period of a binned series: `(lag in bins, autocorrelation)`.
pub fn best_period(x: &[f64], min_cycles: usize) -> Option<(usize, f64)> {
    let n = x.len();
    let cycles = min_cycles.max(2);
    if n < 3 {
        return None;
    }
    let max_lag = ((n - 1) / (cycles - 1)).min(n - 1);
    let m = x.iter().sum::<f64>() / n as f64;
    let d: Vec<f64> = x.iter().map(|v| v - m).collect();
    let denom: f64 = d.iter().map(|v| v * v).sum();
    if !(denom > 0.0 && denom.is_finite()) {
        return None;
    }
    // Each lag's sum of products, in index order from -0.0 as `sum` adds
    // them, four lags side by side.
    let lags: Vec<(&[f64], &[f64])> = (2..=max_lag).map(|k| (&d[..n - k], &d[k..])).collect();
    let mut best: Option<(usize, f64)> = None;
    for (k, num) in (2..=max_lag).zip(dots_from(-0.0, &lags)) {
        let r = num / denom;
        if best.is_none_or(|(_, b)| r > b + 1e-12) {
            best = Some((k, r));
        }
    }
    best
}

impl Detector for PeriodicityDetector {
    fn pattern_type(&self) -> PatternType {
        PatternType::Periodic
    }

    fn root_cause_kind(&self) -> RootCauseKind {
        RootCauseKind::RecurringLoad
    }

    fn detect(&self, ctx: &AnalysisContext<'_>, config: &AnalyzerConfig) -> Vec<Detection> {
        let cycles = config.periodic_min_cycles.max(2);
        let mut out = Vec::new();
        for (_, policy, members) in ctx.policies.by_name() {
            if members.len() < cycles {
                continue;
            }
            let (first, last) = (ctx.at(members[0]), ctx.at(members[members.len() - 1]));
            let (width, count) = bins(
                first,
                last,
                config.periodic_bin_ms,
                config.periodic_max_bins,
            );
            let mut x = vec![0.0; count];
            for &i in members {
                x[bin_of(ctx.at(i), first, width, count)] += 1.0;
            }
            if x.iter().filter(|&&c| c > 0.0).count() < cycles {
                continue;
            }
            let Some((lag, r)) = best_period(&x, cycles) else {
                continue;
            };
            // Below the threshold, or a NaN threshold: not reported.
            if r.partial_cmp(&config.periodic_min_autocorrelation)
                .is_none_or(std::cmp::Ordering::is_lt)
            {
                continue;
            }
            let repetitions = (count - 1) / lag + 1;
            out.push(Detection {
                pattern_type: PatternType::Periodic,
                confidence: r,
                hypothesis: format!(
                    "Violations of policy {policy} recur about every {} s ({repetitions} cycles, autocorrelation {r}): a recurring load.",
                    Fixed(secs(width * lag as i128), 0), r = Fixed(r, 2)),
                subject: policy.to_string(),
                evidence: members.to_vec(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixtures::v;
    use crate::model::Violation;

    fn detect(minutes: &[i64]) -> Vec<Detection> {
        let vs: Vec<Violation> = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| v(&format!("v{i}"), "p", "d", m * 60_000))
            .collect();
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(&vs, &[], 3_000_000, &cfg);
        PeriodicityDetector.detect(&ctx, &cfg)
    }

    #[test]
    fn every_ten_minutes_is_periodic() {
        // Bins 0..=30 with ones at 0, 10, 20, 30: m = 4/31.
        // Σ(x-m)² = 4 - 16/31 = 3348/961; at lag 10: 3(1-m)² + 18m² = 2475/961.
        // r = 2475/3348 = 0.73925.
        let ds = detect(&[0, 10, 20, 30]);
        assert_eq!(ds.len(), 1);
        assert!((ds[0].confidence - 2475.0 / 3348.0).abs() < 1e-12);
        assert!(ds[0].hypothesis.contains("every 600 s (4 cycles"));
        assert_eq!(ds[0].evidence, vec![0, 1, 2, 3]);
    }

    #[test]
    fn the_best_period_is_the_one_lag_at_a_time() {
        // `best_period` before its lags were summed four at a time.
        fn reference(x: &[f64], min_cycles: usize) -> Option<(usize, f64)> {
            let n = x.len();
            let cycles = min_cycles.max(2);
            if n < 3 {
                return None;
            }
            let max_lag = ((n - 1) / (cycles - 1)).min(n - 1);
            let m = x.iter().sum::<f64>() / n as f64;
            let d: Vec<f64> = x.iter().map(|v| v - m).collect();
            let denom: f64 = d.iter().map(|v| v * v).sum();
            if !(denom > 0.0 && denom.is_finite()) {
                return None;
            }
            let mut best: Option<(usize, f64)> = None;
            for k in 2..=max_lag {
                let num: f64 = d[..n - k].iter().zip(&d[k..]).map(|(a, b)| a * b).sum();
                let r = num / denom;
                if best.is_none_or(|(_, b)| r > b + 1e-12) {
                    best = Some((k, r));
                }
            }
            best
        }
        let mut next = crate::stats::lcg(0x9e71);
        for case in 0..400 {
            let n = (next() % 120) as usize;
            let x: Vec<f64> = (0..n)
                .map(|i| match case % 3 {
                    0 => (next() % 4) as f64,
                    1 => f64::from(u8::from(i % 7 == 0)) * 3.0 + (next() % 2) as f64,
                    _ => 0.0,
                })
                .collect();
            let cycles = 2 + (next() % 4) as usize;
            let bits = |b: Option<(usize, f64)>| b.map(|(k, r)| (k, r.to_bits()));
            assert_eq!(
                bits(best_period(&x, cycles)),
                bits(reference(&x, cycles)),
                "case {case}, n {n}"
            );
        }
    }

    #[test]
    fn irregular_times_are_not_periodic() {
        assert!(detect(&[0, 1, 3, 7, 12, 20, 33, 41, 42]).is_empty());
    }

    #[test]
    fn two_occurrences_are_not_enough() {
        assert!(detect(&[0, 10]).is_empty());
    }

    #[test]
    fn constant_series_is_not_periodic() {
        // A violation in every bin: zero variance.
        assert!(detect(&(0..30).collect::<Vec<_>>()).is_empty());
    }

    #[test]
    fn best_period_prefers_smallest_lag_on_ties() {
        let x = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let (lag, r) = best_period(&x, 3).unwrap();
        assert_eq!(lag, 2);
        assert!(r > 0.5);
    }
}
