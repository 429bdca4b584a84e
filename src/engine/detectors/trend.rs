//! Trends: a sustained, statistically significant movement of a policy's metric
//! toward violation, suggesting gradual degradation such as a leak.

use super::{Detection, Detector};
use crate::engine::analyze::{AnalysisContext, AnalyzerConfig};
use crate::engine::model::{MetricSample, PatternType, RootCauseKind};

/// Fits a least-squares line to each policy's samples (time in seconds) and
/// reports it when there are at least `trend_min_samples` samples, the slope's
/// t-statistic in the bad direction is at least `trend_min_t` and R² is at least
/// `trend_min_r2`. The bad direction is rising when most of the policy's
/// violations are above their threshold (or there are none), falling when most are
/// below. Confidence is R². O(samples).
#[derive(Clone, Copy, Debug, Default)]
pub struct TrendDetector;

/// A least-squares fit of y on x.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineFit {
    pub n: usize,
    /// Units of y per second.
    pub slope: f64,
    pub r2: f64,
    /// slope / standard error of the slope; infinite for a perfect fit.
    pub t: f64,
}

/// Fits y = a + b·x with x the sample time in seconds since the first sample.
/// `None` when there are fewer than 3 samples, all times or all values are equal,
/// or the numbers overflow.
pub fn fit_line(samples: &[&MetricSample]) -> Option<LineFit> {
    let n = samples.len();
    if n < 3 {
        return None;
    }
    let t0 = samples[0].at_ms;
    // The difference as i64 when it fits (always, for real clocks): converting an
    // i128 to f64 is a library call, and the same integer gives the same f64.
    let x = |s: &MetricSample| match s.at_ms.checked_sub(t0) {
        Some(d) => d as f64 / 1000.0,
        None => (i128::from(s.at_ms) - i128::from(t0)) as f64 / 1000.0,
    };
    let nf = n as f64;
    let mx = samples.iter().map(|s| x(s)).sum::<f64>() / nf;
    let my = samples.iter().map(|s| s.value).sum::<f64>() / nf;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for s in samples {
        let (dx, dy) = (x(s) - mx, s.value - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if !(sxx > 0.0 && syy > 0.0 && sxx.is_finite() && syy.is_finite() && sxy.is_finite()) {
        return None;
    }
    let slope = sxy / sxx;
    let ssr = slope * sxy;
    let sse = (syy - ssr).max(0.0);
    let r2 = (ssr / syy).clamp(0.0, 1.0);
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    let t = if se > 0.0 {
        slope / se
    } else if slope > 0.0 {
        f64::INFINITY
    } else if slope < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    (slope.is_finite() && r2.is_finite() && !t.is_nan()).then_some(LineFit { n, slope, r2, t })
}

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
            if samples.len() < config.trend_min_samples {
                continue;
            }
            let Some(fit) = fit_line(samples) else {
                continue;
            };
            let evidence: &[u32] = ctx
                .policies
                .id(policy)
                .map_or(&[], |id| &ctx.policies.members[id as usize]);
            let (mut above, mut below) = (0usize, 0usize);
            for &i in evidence {
                match ctx.direction_of[i as usize] {
                    1 => above += 1,
                    -1 => below += 1,
                    _ => {}
                }
            }
            let rising_is_bad = above >= below;
            let t_bad = if rising_is_bad { fit.t } else { -fit.t };
            if !(t_bad >= config.trend_min_t && fit.r2 >= config.trend_min_r2) {
                continue;
            }
            out.push(Detection {
                pattern_type: PatternType::Trend,
                confidence: fit.r2,
                hypothesis: format!(
                    "The metric of policy {policy} is {} by {:.3} per minute over {} samples (t = {:.1}, R² = {:.2}): a gradual degradation toward its threshold.",
                    if rising_is_bad { "rising" } else { "falling" },
                    (fit.slope * 60.0).abs(),
                    fit.n,
                    t_bad,
                    fit.r2
                ),
                subject: policy.to_string(),
                evidence: evidence.to_vec(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::analyze::tests::{s, v};
    use crate::engine::model::Violation;

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
    fn hand_computed_noisy_rise() {
        // x = 0..5 s, y = 0,2,2,4,4,6: mean x 2.5, mean y 3, Sxx = 17.5, Sxy = 19,
        // Syy = 22. slope = 19/17.5 = 1.0857; R² = 19²/(17.5·22) = 361/385 = 0.93766;
        // SSE = 22 - 361/17.5 = 1.3714; se = sqrt(1.3714/4/17.5) = 0.13997; t = 7.757.
        let ss = series(&[0.0, 2.0, 2.0, 4.0, 4.0, 6.0]);
        let refs: Vec<&MetricSample> = ss.iter().collect();
        let fit = fit_line(&refs).unwrap();
        assert!((fit.slope - 19.0 / 17.5).abs() < 1e-12);
        assert!((fit.r2 - 361.0 / 385.0).abs() < 1e-12);
        assert!((fit.t - 7.757).abs() < 1e-3);
        let ds = detect(&[], &ss);
        assert_eq!(ds.len(), 1);
        assert!((ds[0].confidence - 361.0 / 385.0).abs() < 1e-12);
        assert_eq!(ds[0].subject, "p");
        assert!(ds[0].evidence.is_empty());
        assert!(ds[0].hypothesis.contains("rising by 65.143 per minute"));
    }

    #[test]
    fn flat_noisy_series_is_no_trend() {
        // y = 5,6,5,6,5,6: Sxy = 1.5, R² = 1.5²/(17.5·1.5) = 0.0857 < 0.5.
        assert!(detect(&[], &series(&[5.0, 6.0, 5.0, 6.0, 5.0, 6.0])).is_empty());
    }

    #[test]
    fn too_few_samples_is_no_trend() {
        assert!(detect(&[], &series(&[1.0, 2.0, 3.0, 4.0, 5.0])).is_empty());
    }

    #[test]
    fn falling_is_bad_only_when_violations_are_below_threshold() {
        let ss = series(&[6.0, 4.0, 4.0, 2.0, 2.0, 0.0]);
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
        assert!(detect(&[low2], &series(&[0.0, 2.0, 2.0, 4.0, 4.0, 6.0])).is_empty());
    }

    #[test]
    fn perfect_line_has_infinite_t_and_confidence_one() {
        let ds = detect(&[], &series(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].confidence, 1.0);
    }

    #[test]
    fn weak_t_is_no_trend() {
        // Rising but noisy: y = 0,3,0,3,1,4 → R² ≈ 0.25, t ≈ 1.2 (below 3).
        assert!(detect(&[], &series(&[0.0, 3.0, 0.0, 3.0, 1.0, 4.0])).is_empty());
    }
}
