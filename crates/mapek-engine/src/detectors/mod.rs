//! The pattern detectors. Each one is a [`Detector`] in its own file; adding a
//! detector is one trait implementation plus one line in [`registry`].
//!
//! Detectors read the shared [`AnalysisContext`] (violations sorted by time and
//! grouped with index lists, from [`crate::input`]) with the [`AnalyzerConfig`]
//! (from [`crate::config`]) and return [`Detection`]s whose evidence is a list of
//! indices into it; the analyzer turns them into
//! [`ViolationPattern`](crate::model::ViolationPattern)s. The statistics they
//! share with the judgement (medians, the robust fit) are in `crate::stats`; a
//! detector reads neither the judgement nor the analysis.

mod burst;
mod causal;
mod frequency;
mod periodic;
mod spatial;
mod trend;

pub use burst::BurstDetector;
pub use causal::CausalDetector;
pub use frequency::FrequencyDetector;
pub use periodic::PeriodicityDetector;
pub use spatial::SpatialDetector;
pub use trend::TrendDetector;

use super::config::AnalyzerConfig;
use super::input::AnalysisContext;
use super::model::{Millis, PatternType, RootCauseKind};

/// One pattern found by a detector.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub pattern_type: PatternType,
    /// In [0, 1] (the analyzer clamps it and drops non-finite values).
    pub confidence: f64,
    /// One sentence a human can check against the evidence.
    pub hypothesis: String,
    /// What the pattern is about: a policy, component or metric name.
    pub subject: String,
    /// Indices into [`AnalysisContext::violations`], in time order.
    pub evidence: Vec<u32>,
}

/// A pattern detector.
pub trait Detector: Send + Sync {
    /// The pattern type its detections have.
    fn pattern_type(&self) -> PatternType;
    /// The root-cause kind its patterns support.
    fn root_cause_kind(&self) -> RootCauseKind;
    /// Finds the patterns in the prepared input.
    fn detect(&self, ctx: &AnalysisContext<'_>, config: &AnalyzerConfig) -> Vec<Detection>;
}

/// Every detector the analyzer runs, in order.
pub fn registry() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(BurstDetector),
        Box::new(TrendDetector),
        Box::new(PeriodicityDetector),
        Box::new(SpatialDetector),
        Box::new(CausalDetector),
        Box::new(FrequencyDetector),
    ]
}

/// `b - a` in ms without overflow (as i128).
pub(crate) fn span(a: Millis, b: Millis) -> i128 {
    i128::from(b) - i128::from(a)
}

/// Bins of `width` ms covering `[start, end]`, widened so there are at most
/// `max_bins` of them. Returns `(width, count)`; `count >= 1`.
pub(crate) fn bins(start: Millis, end: Millis, width: Millis, max_bins: usize) -> (i128, usize) {
    let total = span(start, end).max(0);
    let max_bins = max_bins.max(1) as i128;
    let mut w = i128::from(width.max(1));
    if total / w + 1 > max_bins {
        // ceil(total / (max_bins - 1)) for max_bins > 1, else the whole span.
        w = if max_bins > 1 {
            (total + max_bins - 2) / (max_bins - 1)
        } else {
            total + 1
        };
        w = w.max(1);
    }
    let count = (total / w + 1).min(max_bins) as usize;
    (w, count)
}

/// The bin of time `t` for bins of `width` starting at `start`, clamped to `count`.
pub(crate) fn bin_of(t: Millis, start: Millis, width: i128, count: usize) -> usize {
    // i64 division is much cheaper than i128; use it whenever nothing overflows.
    let b = match (t.checked_sub(start), i64::try_from(width)) {
        (Some(d), Ok(w)) => (d.max(0) / w) as u64 as i128,
        _ => span(start, t).max(0) / width,
    };
    usize::try_from(b).unwrap_or(usize::MAX).min(count - 1)
}

/// Pearson correlation of two equally long series; `None` when either is constant
/// or the result is not finite.
#[cfg(test)]
pub(crate) fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let (x, y) = (&x[..n], &y[..n]);
    pearson_with_sums(x, y, x.iter().sum(), y.iter().sum())
}

/// [`pearson`] of two series of equal length `n >= 2`, given their sums as
/// `iter().sum()` computes them (a caller that correlates many prefixes of one
/// series takes them from running sums instead of summing every prefix again).
#[cfg(test)]
pub(crate) fn pearson_with_sums(x: &[f64], y: &[f64], sum_x: f64, sum_y: f64) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let (dx, sxx) = deviations(&x[..n], sum_x);
    let (dy, syy) = deviations(&y[..n], sum_y);
    pearson_of(&dx, &dy, sxx, syy)
}

/// The deviations of `v` from its mean, `sum / v.len()`, and their sum of
/// squares (summed in order from +0.0).
pub(crate) fn deviations(v: &[f64], sum: f64) -> (Vec<f64>, f64) {
    let mean = sum / v.len() as f64;
    let d: Vec<f64> = v.iter().map(|x| x - mean).collect();
    let squares = d.iter().fold(0.0, |s, d| s + d * d);
    (d, squares)
}

/// The Pearson correlation of two series of equal length (at least 2), given
/// as [`deviations`] from their means with their sums of squares: the sums
/// of [`pearson`] taken apart, so that a series correlated with many others
/// has its deviations computed once, with the same result. `None` when either
/// is constant or the result is not finite. (The causal detector takes many
/// sums of products at once, by [`dots`], and calls [`pearson_from`].)
#[cfg(test)]
pub(crate) fn pearson_of(dx: &[f64], dy: &[f64], sxx: f64, syy: f64) -> Option<f64> {
    pearson_from(dot(dx, dy), dx.len().min(dy.len()), sxx, syy)
}

/// [`pearson_of`] of `n` pairs whose deviations' sum of products ([`dot`]) is
/// `sxy`.
pub(crate) fn pearson_from(sxy: f64, n: usize, sxx: f64, syy: f64) -> Option<f64> {
    if n < 2 || sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    r.is_finite().then_some(r.clamp(-1.0, 1.0))
}

/// `Σ a[i]·b[i]` over the pairs of `a` and `b`, added in index order (the
/// reference of [`dots`]).
#[cfg(test)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |s, (a, b)| s + a * b)
}

/// The [`dot`] of each pair of series, with the same bits: each sum is still
/// added in index order, but four sums are added side by side, so that four
/// additions are under way where one waited on the one before.
pub(crate) fn dots(pairs: &[(&[f64], &[f64])]) -> Vec<f64> {
    dots_from(0.0, pairs)
}

/// [`dots`] with every sum started at `start` (-0.0 gives what
/// `Iterator::sum` gives: it starts there).
pub(crate) fn dots_from(start: f64, pairs: &[(&[f64], &[f64])]) -> Vec<f64> {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).fold(start, |s, (a, b)| s + a * b);
    let mut out = Vec::with_capacity(pairs.len());
    let mut quads = pairs.chunks_exact(4);
    for quad in &mut quads {
        let len = |k: usize| quad[k].0.len().min(quad[k].1.len());
        let common = (0..4).map(len).min().unwrap_or(0);
        let [(a0, b0), (a1, b1), (a2, b2), (a3, b3)] =
            std::array::from_fn(|k| (&quad[k].0[..common], &quad[k].1[..common]));
        let mut s = [start; 4];
        let terms = a0.iter().zip(b0).zip(a1.iter().zip(b1));
        let terms = terms.zip(a2.iter().zip(b2).zip(a3.iter().zip(b3)));
        for (((a0, b0), (a1, b1)), ((a2, b2), (a3, b3))) in terms {
            s[0] += a0 * b0;
            s[1] += a1 * b1;
            s[2] += a2 * b2;
            s[3] += a3 * b3;
        }
        // The longer ones' tails, still in index order.
        for (k, sum) in s.iter_mut().enumerate() {
            let (a, b) = quad[k];
            for i in common..len(k) {
                *sum += a[i] * b[i];
            }
        }
        out.extend(s);
    }
    out.extend(quads.remainder().iter().map(|&(a, b)| dot(a, b)));
    out
}

/// `n / (n + k)`: a confidence that grows with the amount of evidence and is 1/2
/// at the detection threshold `k`.
pub(crate) fn count_confidence(n: usize, k: usize) -> f64 {
    let (n, k) = (n as f64, k.max(1) as f64);
    n / (n + k)
}

/// Seconds, for sentences.
pub(crate) fn secs(ms: i128) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_span_and_respect_max() {
        assert_eq!(bins(0, 599, 60, 100), (60, 10));
        assert_eq!(bins(0, 600, 60, 100), (60, 11));
        // 10_000 ms in 10 ms bins would be 1001 bins; max 11 => width ceil(10000/10) = 1000
        assert_eq!(bins(0, 10_000, 10, 11), (1000, 11));
        let (w, c) = bins(i64::MIN, i64::MAX, 0, 1024);
        assert!(c <= 1024 && w > 0);
        assert_eq!(bins(5, 5, 0, 0), (1, 1));
        assert_eq!(bin_of(i64::MAX, i64::MIN, w, c), c - 1);
    }

    #[test]
    fn pearson_hand_values() {
        let close = |r: Option<f64>, want: f64| (r.unwrap() - want).abs() < 1e-12;
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), 1.0));
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        // x = 1,2,3,4; y = 1,3,2,4: sxy = 4, sxx = syy = 5 => r = 0.8
        let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 0.8).abs() < 1e-12);
    }

    /// Pearson's r as it was before the deviations were taken apart: the
    /// three sums in one loop.
    fn reference_pearson(x: &[f64], y: &[f64], sum_x: f64, sum_y: f64) -> Option<f64> {
        let n = x.len().min(y.len());
        if n < 2 {
            return None;
        }
        let (mx, my) = (sum_x / n as f64, sum_y / n as f64);
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let (dx, dy) = (x[i] - mx, y[i] - my);
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        if sxx <= 0.0 || syy <= 0.0 {
            return None;
        }
        let r = sxy / (sxx.sqrt() * syy.sqrt());
        r.is_finite().then_some(r.clamp(-1.0, 1.0))
    }

    #[test]
    fn dots_are_the_dots_one_by_one_bit_for_bit() {
        let mut next = crate::stats::lcg(0xd075);
        for case in 0..300 {
            let series: Vec<(Vec<f64>, Vec<f64>)> = (0..next() % 11)
                .map(|_| {
                    // Unequal lengths within a pair and across the four.
                    let (la, lb) = ((next() % 90) as usize, (next() % 90) as usize);
                    let mut v = |n: usize| -> Vec<f64> {
                        (0..n)
                            .map(|_| (next() % 1_000_000) as f64 / 977.0 - 500.0)
                            .collect()
                    };
                    (v(la), v(lb))
                })
                .collect();
            let pairs: Vec<(&[f64], &[f64])> =
                series.iter().map(|(a, b)| (&a[..], &b[..])).collect();
            let want: Vec<u64> = pairs.iter().map(|&(a, b)| dot(a, b).to_bits()).collect();
            let got: Vec<u64> = dots(&pairs).into_iter().map(f64::to_bits).collect();
            assert_eq!(got, want, "case {case}");
        }
    }

    #[test]
    fn pearson_of_deviations_is_the_one_loop_pearson() {
        let mut next = crate::stats::lcg(0xc0de);
        for case in 0..500 {
            let n = (next() % 70) as usize;
            let series = |next: &mut dyn FnMut() -> u64| -> Vec<f64> {
                (0..n)
                    .map(|i| match case % 4 {
                        0 => (next() % 3) as f64,
                        1 => i as f64 * 0.7 + (next() % 1000) as f64 / 13.0,
                        2 => 5.0,
                        _ => (next() % 1_000_000) as f64 * 1e-3 - 400.0,
                    })
                    .collect()
            };
            let (x, y) = (series(&mut next), series(&mut next));
            let (sx, sy) = (x.iter().sum::<f64>(), y.iter().sum::<f64>());
            let bits = |r: Option<f64>| r.map(f64::to_bits);
            assert_eq!(
                bits(pearson_with_sums(&x, &y, sx, sy)),
                bits(reference_pearson(&x, &y, sx, sy)),
                "case {case}"
            );
        }
    }

    #[test]
    fn registry_has_one_detector_per_pattern_type() {
        let mut types: Vec<PatternType> = registry().iter().map(|d| d.pattern_type()).collect();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), 6);
    }
}
