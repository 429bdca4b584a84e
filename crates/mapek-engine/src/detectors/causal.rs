//! Causal correlation: one policy's metric moving ahead of another policy's
//! violations, suggesting an upstream dependency.

use super::{Detection, Detector, bin_of, bins, deviations, dots, pearson_from, secs};
use crate::config::AnalyzerConfig;
use crate::decimal::Fixed;
use crate::input::AnalysisContext;
use crate::model::{PatternType, Point, RootCauseKind};

/// Bins the analysis window in `causal_bin_ms` bins; the driver series is a
/// policy's mean sample value per bin (empty bins carry the previous value), the
/// driven series another policy's violation count per bin. For lags of 1 to
/// `causal_max_lag_bins` bins, the Pearson correlation of driver(t) with
/// driven(t + lag) is computed over the overlapping bins (at least
/// `causal_min_bins`); for each driven policy the strongest driver is reported when
/// `r >= causal_min_r`. Confidence is `r`; the evidence and targets are the driven
/// policy's.
///
/// Pairwise correlation is quadratic in the number of series, so its cost is
/// bounded by design: only the `causal_top_k` policies with the most violations are
/// candidates on the driven side and the `causal_top_k` with the most samples on
/// the driver side, for O(n + K² · lags · bins) in total, with bins capped by
/// `causal_max_bins`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CausalDetector;

impl Detector for CausalDetector {
    fn pattern_type(&self) -> PatternType {
        PatternType::Causal
    }

    fn root_cause_kind(&self) -> RootCauseKind {
        RootCauseKind::UpstreamDependency
    }

    fn detect(&self, ctx: &AnalysisContext<'_>, config: &AnalyzerConfig) -> Vec<Detection> {
        let k = config.causal_top_k;
        let (width, count) = bins(
            ctx.window_start,
            ctx.now,
            config.causal_bin_ms,
            config.causal_max_bins,
        );

        let mut driven: Vec<(&str, &[u32])> = ctx
            .policies
            .by_name()
            .map(|(_, name, members)| (name, members))
            .collect();
        driven.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        driven.truncate(k);

        let mut drivers: Vec<(&str, &[Point])> = ctx
            .sample_groups()
            .filter(|(_, samples)| samples.len() >= 2)
            .collect();
        drivers.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        drivers.truncate(k);

        // Each driver's series, with its running sums: `prefix[n]` is the sum of
        // its first n values, added in the order `iter().sum()` adds them (from
        // -0.0), so it is exactly that sum.
        // Each driver's series starts at the bin of its first sample: before it,
        // nothing is known of the driver, so no pair is counted there.
        let driver_series: Vec<(&str, Vec<f64>, Vec<f64>, usize)> = drivers
            .iter()
            .map(|&(name, samples)| {
                let mut sum = vec![0.0; count];
                let mut n = vec![0u32; count];
                for smp in samples {
                    let b = bin_of(smp.at_ms, ctx.window_start, width, count);
                    sum[b] += smp.value;
                    n[b] += 1;
                }
                let first_bin = (0..count).find(|&b| n[b] > 0).unwrap_or(0);
                let first = if n[first_bin] > 0 {
                    sum[first_bin] / f64::from(n[first_bin])
                } else {
                    0.0
                };
                let mut prev = first;
                let series: Vec<f64> = (0..count)
                    .map(|b| {
                        if n[b] > 0 {
                            prev = sum[b] / f64::from(n[b]);
                        }
                        prev
                    })
                    .collect();
                let mut prefix = Vec::with_capacity(count + 1);
                let mut acc = -0.0;
                prefix.push(acc);
                for &v in &series {
                    acc += v;
                    prefix.push(acc);
                }
                (name, series, prefix, first_bin)
            })
            .collect();

        let min_bins = config.causal_min_bins.max(2);
        let drivers_lagged: Vec<(&str, Vec<Lagged>)> = driver_series
            .iter()
            .map(|(name, x, prefix_x, from)| {
                let lags = lagged(x, prefix_x, *from, min_bins, config.causal_max_lag_bins);
                (*name, lags)
            })
            .collect();
        let mut out = Vec::new();
        for (target_policy, members) in driven {
            let mut y = vec![0.0; count];
            for &i in members {
                y[bin_of(ctx.at(i), ctx.window_start, width, count)] += 1.0;
            }
            // The counts are whole numbers below 2⁵³, so their sums are exact in any
            // order: the sum of y[lag..] is the total minus the first lag counts.
            let mut prefix_y = Vec::with_capacity(count + 1);
            let mut acc = 0.0;
            prefix_y.push(acc);
            for &c in &y {
                acc += c;
                prefix_y.push(acc);
            }
            let Some((r, lag, driver)) =
                strongest_driver(&y, &prefix_y, &drivers_lagged, target_policy)
            else {
                continue;
            };
            // Below the threshold, or a NaN threshold: not reported.
            if r.partial_cmp(&config.causal_min_r)
                .is_none_or(std::cmp::Ordering::is_lt)
            {
                continue;
            }
            out.push(Detection {
                pattern_type: PatternType::Causal,
                confidence: r,
                hypothesis: format!(
                    "The metric of policy {driver} leads violations of policy {target_policy} by {} s (r = {r}): an upstream dependency.",
                    Fixed(secs(width * lag as i128), 0), r = Fixed(r, 2)),
                subject: driver.to_string(),
                evidence: members.to_vec(),
            });
        }
        out
    }
}

/// The strongest of the `drivers` other than the `driven` policy itself, of
/// the driven series `y` (violation counts per bin, running sums `prefix_y`):
/// `(r, lag, driver)`; ties go to the smaller lag, then to the driver first
/// in `drivers`.
fn strongest_driver<'d>(
    y: &[f64],
    prefix_y: &[f64],
    drivers: &[(&'d str, Vec<Lagged>)],
    driven: &str,
) -> Option<(f64, usize, &'d str)> {
    let count = y.len();
    let candidates: Vec<(&str, &Lagged)> = drivers
        .iter()
        .filter(|(driver, _)| *driver != driven)
        .flat_map(|(driver, lags)| lags.iter().map(move |l| (*driver, l)))
        .collect();
    // The driven series' deviations by the bin they start at (its mean
    // depends only on that), computed once for every driver.
    let mut dys: Vec<Option<(Vec<f64>, f64)>> = vec![None; count + 1];
    for (_, l) in &candidates {
        dys[l.start]
            .get_or_insert_with(|| deviations(&y[l.start..], prefix_y[count] - prefix_y[l.start]));
    }
    let dy_of = |l: &Lagged| {
        dys[l.start]
            .as_ref()
            .map_or((&[][..], 0.0), |(d, s)| (&d[..], *s))
    };
    let pairs: Vec<(&[f64], &[f64])> = candidates
        .iter()
        .map(|(_, l)| (&l.dx[..], dy_of(l).0))
        .collect();
    let mut best: Option<(f64, usize, &str)> = None;
    for ((driver, l), (sxy, (dx, dy))) in
        candidates.iter().zip(dots(&pairs).into_iter().zip(&pairs))
    {
        let Some(r) = pearson_from(sxy, dx.len().min(dy.len()), l.sxx, dy_of(l).1) else {
            continue;
        };
        if best.is_none_or(|(b, _, _)| r > b + 1e-12) {
            best = Some((r, l.lag, *driver));
        }
    }
    best
}

/// A driver's series at one lag: its deviations from its mean over the bins
/// it overlaps the driven series in (`x[from..count - lag]`, against the
/// driven series from bin `start = from + lag`) and their sum of squares.
/// They do not depend on the driven policy, so they are computed once per
/// driver and lag, not once per pair.
struct Lagged {
    lag: usize,
    start: usize,
    dx: Vec<f64>,
    sxx: f64,
}

/// The lags of 1 to `max_lag` bins of the driver series `x` (first sample in
/// bin `from`, running sums `prefix_x`) that leave at least `min_bins`
/// overlapping bins.
fn lagged(
    x: &[f64],
    prefix_x: &[f64],
    from: usize,
    min_bins: usize,
    max_lag: usize,
) -> Vec<Lagged> {
    let count = x.len();
    (1..=max_lag)
        .take_while(|&lag| count >= from.saturating_add(lag).saturating_add(min_bins))
        .map(|lag| {
            let n = count - lag;
            let (dx, sxx) = deviations(&x[from..n], prefix_x[n] - prefix_x[from]);
            Lagged {
                lag,
                start: from + lag,
                dx,
                sxx,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixtures::{s, v};
    use crate::model::{MetricSample, Violation};

    const NOW: i64 = 3_600_000;
    const MIN: i64 = 60_000;

    /// Driver "up" spikes to 10 in minutes 2, 5, 8, ... (else 0); "down" violates
    /// `delay` minutes after each spike.
    fn scenario(delay: i64) -> (Vec<Violation>, Vec<MetricSample>) {
        let mut ss = Vec::new();
        let mut vs = Vec::new();
        for m in 0..60 {
            let spike = m % 3 == 2;
            ss.push(s("up", m * MIN + 1000, if spike { 10.0 } else { 0.0 }));
            if spike && m + delay < 60 {
                vs.push(v(
                    &format!("v{m}"),
                    "down",
                    "back",
                    (m + delay) * MIN + 2000,
                ));
            }
        }
        (vs, ss)
    }

    fn detect(vs: &[Violation], ss: &[MetricSample]) -> Vec<Detection> {
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(vs, ss, NOW, &cfg);
        CausalDetector.detect(&ctx, &cfg)
    }

    #[test]
    fn lagged_driver_is_found_with_r_one() {
        // Window [0, 3 600 000] in 60 s bins: 61 bins. The driver x is 10 in bins
        // 2, 5, ..., 59 and carries 10 into bin 60; the driven count y is 1 in bins
        // 3, 6, ..., 57 (19 violations; the spike at 59 would land past the window).
        let (vs, ss) = scenario(1);
        let ds = detect(&vs, &ss);
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].subject, "up");
        assert!(ds[0].hypothesis.contains("by 60 s"));
        assert_eq!(ds[0].evidence.len(), vs.len());
        // Lag 1, pairs t = 0..59: Σx = 200 (20 tens), Σy = 19, Σxy = 190, n = 60.
        // Sxy = 190 - 200·19/60 = 126.667; Sxx = 2000 - 200²/60 = 1333.33;
        // Syy = 19 - 19²/60 = 12.9833; r = 126.667 / sqrt(1333.33 · 12.9833) = 0.96272.
        // (Lag 4, one period later, gives 120 / sqrt(1266.67 · 12.316) = 0.96077: less.)
        assert!(
            (ds[0].confidence - 0.962_719_7).abs() < 1e-6,
            "{}",
            ds[0].confidence
        );
    }

    #[test]
    fn unrelated_policies_are_not_causal() {
        let (_, ss) = scenario(1);
        // Violations every 7 minutes: no lag aligns them with a period-3 driver.
        let vs: Vec<Violation> = (0..8)
            .map(|i| v(&format!("w{i}"), "down", "back", i * 7 * MIN + 2000))
            .collect();
        assert!(detect(&vs, &ss).is_empty());
    }

    #[test]
    fn flat_driver_is_not_causal() {
        let ss: Vec<MetricSample> = (0..60).map(|m| s("up", m * MIN, 1.0)).collect();
        let (vs, _) = scenario(1);
        assert!(detect(&vs, &ss).is_empty());
    }

    #[test]
    fn a_policy_does_not_drive_itself() {
        let (vs, ss) = scenario(1);
        let ss: Vec<MetricSample> = ss
            .into_iter()
            .map(|mut x| {
                x.policy = "down".into();
                x
            })
            .collect();
        assert!(detect(&vs, &ss).is_empty());
    }

    #[test]
    fn top_k_bounds_the_candidates() {
        let (vs, ss) = scenario(1);
        let cfg = AnalyzerConfig {
            causal_top_k: 0,
            ..AnalyzerConfig::default()
        };
        let ctx = AnalysisContext::new(&vs, &ss, NOW, &cfg);
        assert!(CausalDetector.detect(&ctx, &cfg).is_empty());
    }
}
