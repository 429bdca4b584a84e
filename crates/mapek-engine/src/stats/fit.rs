//! A robust line through a series of samples (Theil-Sen slope, Mann-Kendall
//! trend statistic, R²), the last reset of a series (a sharp drop, as a
//! restart shows) and the steady-climb test built on them: read by the trend
//! detector and the judgement's long memory.

use super::{median_select, median_sorted};
use crate::model::MetricSample;

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
