//! Trends: a sustained, statistically significant movement of a policy's metric
//! toward violation, suggesting gradual degradation such as a leak. The trend is
//! read on the segment since the last reset (a restart shows as a sharp drop), with
//! a robust slope, so a sawtooth leak is a leak.

use super::{Detection, Detector, median_select, median_sorted, rising_is_bad};
use crate::config::AnalyzerConfig;
use crate::input::AnalysisContext;
use crate::model::{MetricSample, PatternType, RootCauseKind};

/// For each policy's samples: the segment since the last reset (a step in the
/// good direction larger than 40% of the window's range and six times the median
/// step), the Theil-Sen slope of that segment (the median of pairwise slopes,
/// robust to outliers), its Mann-Kendall statistic as a z-score, and the R² of
/// the Theil-Sen line. Reported when the segment has at least `trend_min_samples`
/// samples, the Mann-Kendall z in the bad direction is at least `trend_min_t` and
/// R² is at least `trend_min_r2`, so a step (a load jump) is not read as a trend.
/// The bad direction is rising when most of the policy's violations are above
/// their threshold (or there are none), falling when most are below. Confidence
/// is R². O(s²) in the segment's samples, capped at the last 240.
///
/// When the window shows no trend and more history is kept (the judgement's
/// 12 h), the segment since the last reset in that history is tried with the
/// judgement's stricter climb tests ([`steady_climb`]: at least
/// `judge.long_trend_min_ms` long, R² >= `judge.long_trend_min_r2`), so a leak
/// too slow to show over one hour's noise is still a gradual degradation.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrendDetector;

impl Detector for TrendDetector {
    fn pattern_type(&self) -> PatternType {
        PatternType::Trend
    }

    fn root_cause_kind(&self) -> RootCauseKind {
        RootCauseKind::GradualDegradation
    }

    fn detect(&self, ctx: &AnalysisContext<'_>, config: &AnalyzerConfig) -> Vec<Detection> {
        let mut out = Vec::new();
        for &(policy, start, end) in &ctx.sample_groups {
            let samples = &ctx.samples[start..end];
            let evidence: &[u32] = ctx
                .policies
                .id(policy)
                .map_or(&[], |id| &ctx.policies.members[id as usize]);
            let rising_is_bad = rising_is_bad(ctx, evidence);
            let sign = if rising_is_bad { 1.0 } else { -1.0 };
            let seg_start = last_reset(samples, sign);
            let segment = &samples[seg_start.max(samples.len().saturating_sub(240))..];
            if segment.len() < config.trend_min_samples.max(3) {
                continue;
            }
            let window_fit = robust_fit(segment)
                .filter(|fit| sign * fit.z >= config.trend_min_t && fit.r2 >= config.trend_min_r2);
            let (fit, resets) = match window_fit {
                Some(fit) => (
                    fit,
                    if seg_start > 0 {
                        " since the last reset".to_string()
                    } else {
                        String::new()
                    },
                ),
                // A climb slower than the window's noise shows over the hours
                // kept before it (see `steady_climb`).
                None => {
                    let history = ctx.history_of(policy);
                    if history.len() <= samples.len() {
                        continue;
                    }
                    let j = &config.judge;
                    let Some(c) = steady_climb(
                        history,
                        sign,
                        j.long_trend_min_ms,
                        j.long_trend_min_z,
                        j.long_trend_min_r2,
                    ) else {
                        continue;
                    };
                    let hours = (history[history.len() - 1].at_ms - history[c.start].at_ms) as f64
                        / 3_600_000.0;
                    (
                        c.fit,
                        format!(
                            " (every {}th) of the {hours:.1} h {}",
                            c.stride,
                            if c.start > 0 {
                                "since the last reset"
                            } else {
                                "kept"
                            }
                        ),
                    )
                }
            };
            let z_bad = sign * fit.z;
            out.push(Detection {
                pattern_type: PatternType::Trend,
                confidence: fit.r2,
                hypothesis: format!(
                    "The metric of policy {policy} is {} by {:.3} per minute over {} samples{resets} (Theil-Sen slope, Mann-Kendall z = {:.1}, R² = {:.2}): a gradual degradation toward its threshold.",
                    if rising_is_bad { "rising" } else { "falling" },
                    (fit.slope * 60.0).abs(),
                    fit.n,
                    z_bad,
                    fit.r2
                ),
                subject: policy.to_string(),
                evidence: evidence.to_vec(),
            });
        }
        out
    }
}

/// A robust line: Theil-Sen slope and the Mann-Kendall trend statistic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RobustFit {
    pub n: usize,
    /// Units of y per second: the median of the pairwise slopes.
    pub slope: f64,
    /// Mann-Kendall S as a z-score (continuity-corrected, no tie correction):
    /// positive for a rising series.
    pub z: f64,
    /// R² of the Theil-Sen line (intercept: the median of `y - slope·x`).
    pub r2: f64,
}

/// Theil-Sen and Mann-Kendall over the samples (time in seconds). `None` with
/// fewer than 3 samples, all values equal, or non-finite numbers.
pub fn robust_fit(samples: &[&MetricSample]) -> Option<RobustFit> {
    let n = samples.len();
    if n < 3 {
        return None;
    }
    let t0 = samples[0].at_ms;
    let x: Vec<f64> = samples
        .iter()
        .map(|s| (i128::from(s.at_ms) - i128::from(t0)) as f64 / 1000.0)
        .collect();
    let y: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    let mut s_stat: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            let dy = y[j] - y[i];
            s_stat += if dy > 0.0 {
                1
            } else if dy < 0.0 {
                -1
            } else {
                0
            };
            let dx = x[j] - x[i];
            if dx > 0.0 {
                slopes.push(dy / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    // Medians by selection: the pairwise slopes are O(n²), sorting them was most
    // of an analysis' time.
    let slope = median_select(&mut slopes);
    let mut icpt: Vec<f64> = x.iter().zip(&y).map(|(x, y)| y - slope * x).collect();
    let b = median_select(&mut icpt);
    let my = y.iter().sum::<f64>() / n as f64;
    let sst: f64 = y.iter().map(|v| (v - my) * (v - my)).sum();
    let sse: f64 = x
        .iter()
        .zip(&y)
        .map(|(x, y)| {
            let r = y - (b + slope * x);
            r * r
        })
        .sum();
    if !(sst > 0.0 && sst.is_finite() && sse.is_finite() && slope.is_finite()) {
        return None;
    }
    let nf = n as f64;
    let var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    let z = match s_stat {
        0 => 0.0,
        s if s > 0 => (s as f64 - 1.0) / var.sqrt(),
        s => (s as f64 + 1.0) / var.sqrt(),
    };
    Some(RobustFit {
        n,
        slope,
        z,
        r2: (1.0 - sse / sst).clamp(0.0, 1.0),
    })
}

/// At most this many samples of a long climb are fitted (evenly strided from
/// the latest): the fit is O(n²).
const MAX_CLIMB_FIT: usize = 240;

/// A steady climb over the samples since the last reset (or all of them).
pub(crate) struct SteadyClimb {
    /// Index of the climb's first sample.
    pub start: usize,
    /// Every `stride`-th sample of the climb was fitted.
    pub stride: usize,
    pub fit: RobustFit,
}

/// The segment of `samples` since the last reset (see [`last_reset`]), when it
/// spans at least `min_ms` and climbs steadily in the bad direction (`sign`):
/// Mann-Kendall z of at least `min_z` and R² of at least `min_r2` over at most
/// [`MAX_CLIMB_FIT`] of its samples. A leak over hours: its climb is slow next
/// to the noise of one hour, but steady over the hours.
pub(crate) fn steady_climb(
    samples: &[&MetricSample],
    sign: f64,
    min_ms: i64,
    min_z: f64,
    min_r2: f64,
) -> Option<SteadyClimb> {
    let start = last_reset(samples, sign);
    let segment = &samples[start..];
    let (first, last) = (segment.first()?, segment.last()?);
    if last.at_ms.saturating_sub(first.at_ms) < min_ms {
        return None;
    }
    let stride = segment.len().div_ceil(MAX_CLIMB_FIT).max(1);
    let fitted: Vec<&MetricSample> = segment
        .iter()
        .rev()
        .step_by(stride)
        .rev()
        .copied()
        .collect();
    let fit = robust_fit(&fitted)?;
    (sign * fit.z >= min_z && fit.r2 >= min_r2).then_some(SteadyClimb { start, stride, fit })
}

/// Index of the first sample after the last reset: a step against the bad
/// direction (`sign` 1 for rising-is-bad) larger than 40% of the range and six
/// times the median absolute step. 0 when there is none.
pub(crate) fn last_reset(samples: &[&MetricSample], sign: f64) -> usize {
    if samples.len() < 3 {
        return 0;
    }
    let (lo, hi) = samples
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.value), hi.max(s.value))
        });
    let mut steps: Vec<f64> = samples
        .windows(2)
        .map(|w| (w[1].value - w[0].value).abs())
        .collect();
    steps.sort_by(f64::total_cmp);
    let typical = median_sorted(&steps);
    let min_drop = (0.4 * (hi - lo)).max(6.0 * typical);
    if !(min_drop > 0.0 && min_drop.is_finite()) {
        return 0;
    }
    (1..samples.len())
        .rev()
        .find(|&i| sign * (samples[i].value - samples[i - 1].value) <= -min_drop)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixtures::{s, v};
    use crate::model::Violation;

    fn detect(vs: &[Violation], ss: &[MetricSample]) -> Vec<Detection> {
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(vs, ss, 100_000, &cfg);
        TrendDetector.detect(&ctx, &cfg)
    }

    fn series(ys: &[f64]) -> Vec<MetricSample> {
        ys.iter()
            .enumerate()
            .map(|(i, &y)| s("p", i as i64 * 1000, y))
            .collect()
    }

    #[test]
    fn hand_computed_theil_sen_and_mann_kendall() {
        // y = 0,2,2,4,4,6,6,8 at 1 s: of the 28 pairs, 3 are equal and 25 rise:
        // S = 25; var = 8·7·21/18 = 65.33; z = (25 - 1)/8.083 = 2.969. The median
        // of the 28 pairwise slopes is 1.
        let ss = series(&[0.0, 2.0, 2.0, 4.0, 4.0, 6.0, 6.0, 8.0]);
        let refs: Vec<&MetricSample> = ss.iter().collect();
        let fit = robust_fit(&refs).unwrap();
        assert!((fit.slope - 1.0).abs() < 1e-12, "{fit:?}");
        assert!((fit.z - 24.0 / (8.0f64 * 7.0 * 21.0 / 18.0).sqrt()).abs() < 1e-9);
        // Below the default z of 3: no trend from 8 such samples.
        assert!(detect(&[], &ss).is_empty());
    }

    #[test]
    fn a_steady_rise_is_a_trend() {
        let ys: Vec<f64> = (0..20)
            .map(|i| i as f64 + if i % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        let ds = detect(&[], &series(&ys));
        assert_eq!(ds.len(), 1);
        assert!(ds[0].confidence > 0.95);
        assert_eq!(ds[0].subject, "p");
        assert!(
            ds[0].hypothesis.contains("rising by 60.000 per minute"),
            "{}",
            ds[0].hypothesis
        );
    }

    #[test]
    fn a_sawtooth_leak_is_a_trend_since_its_last_reset() {
        // Two restarts (sharp drops), then a climb: over the whole window a line
        // fits badly; the segment since the last reset is a clean rise.
        let mut ys = Vec::new();
        for cycle in 0..3 {
            for i in 0..15 {
                let noise = if (i + cycle) % 3 == 0 { 0.01 } else { -0.01 };
                ys.push(0.4 + 0.035 * i as f64 + noise);
            }
        }
        let ds = detect(&[], &series(&ys));
        assert_eq!(ds.len(), 1, "{ds:?}");
        assert!(ds[0].hypothesis.contains("since the last reset"));
    }

    #[test]
    fn a_step_is_not_a_trend() {
        let mut ys: Vec<f64> = (0..40)
            .map(|i| 0.3 + if i % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        ys.extend((0..8).map(|i| 0.8 + if i % 2 == 0 { 0.01 } else { -0.01 }));
        assert!(detect(&[], &series(&ys)).is_empty());
    }

    #[test]
    fn flat_noisy_series_is_no_trend() {
        let ys: Vec<f64> = (0..30)
            .map(|i| if i % 2 == 0 { 5.0 } else { 6.0 })
            .collect();
        assert!(detect(&[], &series(&ys)).is_empty());
    }

    #[test]
    fn too_few_samples_is_no_trend() {
        assert!(detect(&[], &series(&[1.0, 2.0, 3.0, 4.0, 5.0])).is_empty());
    }

    #[test]
    fn falling_is_bad_only_when_violations_are_below_threshold() {
        let fall: Vec<f64> = (0..12).map(|i| 12.0 - i as f64).collect();
        let rise: Vec<f64> = (0..12).map(|i| i as f64).collect();
        let ss = series(&fall);
        // No violations: rising is bad, so a fall is not reported.
        assert!(detect(&[], &ss).is_empty());
        let mut low = v("x", "p", "d", 5_000);
        low.value = 0.0;
        low.threshold = 1.0;
        let ds = detect(&[low], &ss);
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].evidence, vec![0]);
        assert!(ds[0].hypothesis.contains("falling"));
        // A rise while violations are below threshold is not bad.
        let mut low2 = v("x", "p", "d", 5_000);
        low2.value = 0.0;
        assert!(detect(&[low2], &series(&rise)).is_empty());
    }

    #[test]
    fn perfect_line_has_confidence_one() {
        let ys: Vec<f64> = (0..12).map(|i| i as f64).collect();
        let ds = detect(&[], &series(&ys));
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].confidence, 1.0);
    }
}
