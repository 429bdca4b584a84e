//! Trends: a sustained, statistically significant movement of a policy's metric
//! toward violation, suggesting gradual degradation such as a leak. The trend is
//! read on the segment since the last reset (a restart shows as a sharp drop), with
//! a robust slope, so a sawtooth leak is a leak.

use std::collections::HashMap;

use super::{Detection, Detector};
use crate::config::AnalyzerConfig;
use crate::decimal::Fixed;
use crate::input::{AnalysisContext, hash_points};
use crate::model::{PatternType, Point, RootCauseKind};
use crate::stats::{RobustFit, last_reset, rising_is_bad, robust_fit_if, steady_climb};

/// For each policy's samples: the segment since the last reset (a step in the
/// good direction larger than 40% of the window's range and six times the median
/// step), the Theil-Sen slope of that segment (the median of pairwise slopes,
/// robust to outliers, of at most 64 of its samples evenly strided from the
/// latest), its Mann-Kendall statistic as a z-score, and the R² of
/// the Theil-Sen line. Reported when the segment has at least `trend_min_samples`
/// samples, the Mann-Kendall z in the bad direction is at least `trend_min_t` and
/// R² is at least `trend_min_r2`, so a step (a load jump) is not read as a trend.
/// The bad direction is rising when most of the policy's violations are above
/// their threshold (or there are none), falling when most are below. Confidence
/// is R². O(s log s) in the segment's samples, capped at the last 240, and
/// O(64²) for the slope.
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
        let mut memo = Memo::default();
        for (policy, samples) in ctx.sample_groups() {
            let evidence: &[u32] = ctx
                .policies
                .id(policy)
                .map_or(&[], |id| &ctx.policies.members[id as usize]);
            let rising_is_bad = rising_is_bad(ctx, evidence);
            let sign = if rising_is_bad { 1.0 } else { -1.0 };
            let history = ctx.history_of(policy);
            let found = memo.get_or_fit(samples, history, rising_is_bad, || {
                trend_of(samples, history, sign, config)
            });
            let Some((fit, resets)) = found else {
                continue;
            };
            let z_bad = sign * fit.z;
            out.push(Detection {
                pattern_type: PatternType::Trend,
                confidence: fit.r2,
                hypothesis: format!(
                    "The metric of policy {policy} is {} by {} per minute over {} samples{resets} (Theil-Sen slope, Mann-Kendall z = {}, R² = {}): a gradual degradation toward its threshold.",
                    if rising_is_bad { "rising" } else { "falling" },
                    Fixed((fit.slope * 60.0).abs(), 3),
                    fit.n,
                    Fixed(z_bad, 1),
                    Fixed(fit.r2, 2)),
                subject: policy.to_string(),
                evidence: evidence.to_vec(),
            });
        }
        out
    }
}

/// The trend of one policy's window `samples` (or, failing that, of its
/// `history`) in the bad direction `sign`: the fit and how the hypothesis names
/// its span. `None`: no trend.
fn trend_of(
    samples: &[Point],
    history: &[Point],
    sign: f64,
    config: &AnalyzerConfig,
) -> Option<(RobustFit, String)> {
    let seg_start = last_reset(samples, sign);
    let segment = &samples[seg_start.max(samples.len().saturating_sub(240))..];
    if segment.len() < config.trend_min_samples.max(3) {
        return None;
    }
    let window_fit = robust_fit_if(segment, sign, config.trend_min_t)
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
            if history.len() <= samples.len() {
                return None;
            }
            let j = &config.judge;
            let c = steady_climb(
                history,
                sign,
                j.long_trend_min_ms,
                j.long_trend_min_z,
                j.long_trend_min_r2,
            )?;
            let hours =
                (history[history.len() - 1].at_ms - history[c.start].at_ms) as f64 / 3_600_000.0;
            (
                c.fit,
                format!(
                    " (every {}th) of the {hours} h {}",
                    c.stride,
                    if c.start > 0 {
                        "since the last reset"
                    } else {
                        "kept"
                    },
                    hours = Fixed(hours, 1)
                ),
            )
        }
    };
    Some((fit, resets))
}

/// The trends of one analysis by the samples they were read from. Policies that
/// share a query share one series (the operator keeps one per query and
/// interval), and a thousand of them breaching together had the same O(s²) fits
/// made a thousand times. A trend is reused only for exactly the same window,
/// history and bad direction (compared sample by sample), so the result is
/// the one `trend_of` gives.
#[derive(Default)]
struct Memo<'s> {
    by_hash: HashMap<u64, Vec<Entry<'s>>>,
}

type Entry<'s> = (bool, &'s [Point], &'s [Point], Option<(RobustFit, String)>);

impl<'s> Memo<'s> {
    fn get_or_fit(
        &mut self,
        samples: &'s [Point],
        history: &'s [Point],
        rising: bool,
        fit: impl FnOnce() -> Option<(RobustFit, String)>,
    ) -> Option<(RobustFit, String)> {
        // Only a bucket: entries are compared sample by sample. A word at a
        // time, in lanes (FNV-1a took 16 multiplies a sample, a tenth of the
        // detector).
        let h = hash_points(hash_points(u64::from(rising), samples), history);
        let bucket = self.by_hash.entry(h).or_default();
        if let Some(e) = bucket
            .iter()
            .find(|e| e.0 == rising && same(e.1, samples) && same(e.2, history))
        {
            return e.3.clone();
        }
        let found = fit();
        bucket.push((rising, samples, history, found.clone()));
        found
    }
}

/// Whether two series hold the same samples (times and values, bit for bit).
fn same(a: &[Point], b: &[Point]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.at_ms == y.at_ms && x.value.to_bits() == y.value.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixtures::{s, v};
    use crate::model::{MetricSample, Violation};
    use crate::stats::robust_fit;

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
        let refs: Vec<Point> = ss.iter().map(Point::from).collect();
        let fit = robust_fit(&refs).unwrap();
        assert!((fit.slope - 1.0).abs() < 1e-12, "{fit:?}");
        assert!((fit.z - 24.0 / (8.0f64 * 7.0 * 21.0 / 18.0).sqrt()).abs() < 1e-9);
        // Below the default z of 3: no trend from 8 such samples.
        assert!(detect(&[], &ss).is_empty());
    }

    #[test]
    fn policies_sharing_a_series_get_the_fit_of_their_own_samples() {
        // "a" and "b" hold the same rising series, "c" the same but its last
        // value: each gets the trend its own samples give, as if alone.
        let ys: Vec<f64> = (0..20)
            .map(|i| i as f64 + if i % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        let of = |p: &str, last: f64| -> Vec<MetricSample> {
            let mut out: Vec<MetricSample> = ys
                .iter()
                .enumerate()
                .map(|(i, &y)| s(p, i as i64 * 1000, y))
                .collect();
            out.last_mut().unwrap().value = last;
            out
        };
        let alone = |p: &str, last: f64| detect(&[], &of(p, last));
        let all: Vec<MetricSample> = [of("a", 19.0), of("b", 19.0), of("c", 25.0)].concat();
        let together = detect(&[], &all);
        let mut expected = [alone("a", 19.0), alone("b", 19.0), alone("c", 25.0)].concat();
        expected.sort_by(|x, y| x.subject.cmp(&y.subject));
        let show = |ds: &[Detection]| -> Vec<(String, String, u64)> {
            ds.iter()
                .map(|d| {
                    (
                        d.subject.clone(),
                        d.hypothesis.clone(),
                        d.confidence.to_bits(),
                    )
                })
                .collect()
        };
        assert_eq!(show(&together), show(&expected));
        assert_eq!(together.len(), 3);
        assert_ne!(
            together[0].hypothesis,
            together[2].hypothesis.replace("of policy c", "of policy a")
        );
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
