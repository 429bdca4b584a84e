//! A robust line through a series of samples (Theil-Sen slope, Mann-Kendall
//! trend statistic, R²), the last reset of a series (a sharp drop, as a
//! restart shows) and the steady-climb test built on them: read by the trend
//! detector and the judgement's long memory.

use super::median_of;
use crate::model::Point;

/// A robust line: Theil-Sen slope and the Mann-Kendall trend statistic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RobustFit {
    pub n: usize,
    /// Units of y per second: the median of the pairwise slopes of at most
    /// [`MAX_SLOPE_FIT`] of the samples (see [`robust_fit_if`]).
    pub slope: f64,
    /// Mann-Kendall S as a z-score (continuity-corrected, no tie correction):
    /// positive for a rising series.
    pub z: f64,
    /// R² of the Theil-Sen line (intercept: the median of `y - slope·x`).
    pub r2: f64,
}

/// Theil-Sen and Mann-Kendall over the samples (time in seconds). `None` with
/// fewer than 3 samples, all values equal, or non-finite numbers. (The
/// detectors and the judgement call [`robust_fit_if`].)
///
/// The Mann-Kendall z and the R² read every sample. The slope is the median of
/// the pairwise slopes of at most [`MAX_SLOPE_FIT`] samples, evenly strided from
/// the latest: of every sample up to that many, of every second one up to
/// twice that, and so on. Every pair costs a division and its median a pass,
/// so a fit of 120 samples (an hour at 30 s) took 7,140 of each, a fifth of a
/// whole analysis. Strided, it takes 1,770, and the slope still spans the whole
/// segment; the labelled scenarios and the replays of both data sets decide
/// the same (`make decisions`, 2026-12-07).
#[cfg(test)]
pub fn robust_fit(samples: &[Point]) -> Option<RobustFit> {
    robust_fit_if(samples, 1.0, f64::NEG_INFINITY)
}

/// [`robust_fit`] when its Mann-Kendall z has `sign * z >= min_z` (`sign` is
/// 1 for a rising trend, -1 for a falling one), else `None`. The z needs no
/// slope, so a caller that keeps only a significant trend (most series have
/// none) skips the median of the O(n²) pairwise slopes; and the count of
/// Mann-Kendall's pairs stops once the pairs left cannot reach `min_z`.
pub fn robust_fit_if(samples: &[Point], sign: f64, min_z: f64) -> Option<RobustFit> {
    let n = samples.len();
    if n < 3 {
        return None;
    }
    let y: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let z = mann_kendall_z_if(&y, sign, min_z).filter(|z| sign * z >= min_z)?;
    let t0 = samples[0].at_ms;
    let x: Vec<f64> = samples.iter().map(|s| secs_since(t0, s.at_ms)).collect();
    // Medians by selection, on the slopes' total-order keys: the pairwise
    // slopes are O(n²), sorting them was most of an analysis' time, and
    // integer comparisons select them in about half the instructions of
    // `f64::total_cmp`, with the same order and so the same median.
    let stride = n.div_ceil(MAX_SLOPE_FIT);
    let mut keys = if stride > 1 {
        let thin =
            |v: &[f64]| -> Vec<f64> { v.iter().rev().step_by(stride).rev().copied().collect() };
        pairwise_slope_keys(&thin(&x), &thin(&y))
    } else {
        pairwise_slope_keys(&x, &y)
    };
    if keys.is_empty() {
        return None;
    }
    let slope = median_of_keys(&mut keys);
    let r2 = r_squared(&x, &y, slope)?;
    slope.is_finite().then_some(RobustFit { n, slope, z, r2 })
}

/// Seconds from `t0` to `t`. (The difference as an i64 when it fits: it
/// converts to the same `f64` as the exact i128 one, without the i128
/// conversion's library call.)
fn secs_since(t0: i64, t: i64) -> f64 {
    match t.checked_sub(t0) {
        Some(d) => d as f64 / 1000.0,
        None => (i128::from(t) - i128::from(t0)) as f64 / 1000.0,
    }
}

/// R² of the line of `slope` through `(x, y)` (intercept: the median of
/// `y - slope·x`); `None` when the values do not vary or a sum is not finite.
fn r_squared(x: &[f64], y: &[f64], slope: f64) -> Option<f64> {
    let b = median_of(x.iter().zip(y).map(|(x, y)| y - slope * x));
    let my = y.iter().sum::<f64>() / y.len() as f64;
    let sst: f64 = y.iter().map(|v| (v - my) * (v - my)).sum();
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(x, y)| {
            let r = y - (b + slope * x);
            r * r
        })
        .sum();
    (sst > 0.0 && sst.is_finite() && sse.is_finite()).then(|| (1.0 - sse / sst).clamp(0.0, 1.0))
}

/// Mann-Kendall S of `y` (at least 3 values) as a z-score, continuity-corrected.
fn mann_kendall_z(y: &[f64]) -> f64 {
    z_of(mann_kendall_s(y), y.len())
}

/// Mann-Kendall S as a z-score, continuity-corrected, for `n` values.
fn z_of(s: i64, n: usize) -> f64 {
    let sd = mann_kendall_sd(n);
    match s {
        0 => 0.0,
        s if s > 0 => (s as f64 - 1.0) / sd,
        s => (s as f64 + 1.0) / sd,
    }
}

/// The standard deviation of Mann-Kendall S for `n` values without ties.
fn mann_kendall_sd(n: usize) -> f64 {
    let nf = n as f64;
    (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt()
}

/// [`mann_kendall_z`], or `None` when counting its pairs shows early that
/// `sign * z >= min_z` cannot hold. Each pair adds -1, 0 or 1 to S, and the
/// corrected z has the sign of S and at most its size over `sd`: once
/// `±S` (the sign of `sign`) plus the pairs left is below `min_z / |sign| × sd`
/// (by a margin of one pair), no order of the rest can pass. Pair by pair only (up to
/// [`MANN_KENDALL_BY_PAIRS`] values); a longer series is counted whole.
fn mann_kendall_z_if(y: &[f64], sign: f64, min_z: f64) -> Option<f64> {
    let n = y.len();
    if n > MANN_KENDALL_BY_PAIRS || min_z.is_nan() || min_z <= 0.0 {
        return Some(mann_kendall_z(y));
    }
    let sd = mann_kendall_sd(n);
    // `|z| >= min_z / |sign|` is needed (infinite for a sign of 0: never).
    let need = min_z / sign.abs() * sd;
    let sgn: i64 = if sign < 0.0 { -1 } else { 1 };
    let mut s: i64 = 0;
    let mut left = (n * n.saturating_sub(1) / 2) as i64;
    for (i, &yi) in y.iter().enumerate() {
        s += pair_signs(yi, &y[i + 1..]);
        left -= (n - i - 1) as i64;
        if ((sgn * s + left) as f64) + 1.0 < need {
            return None;
        }
    }
    Some(z_of(s, n))
}

/// Σ over `rest` of +1 where a value is above `yi`, -1 where below.
fn pair_signs(yi: f64, rest: &[f64]) -> i64 {
    rest.iter()
        .map(|&yj| i64::from(yj > yi) - i64::from(yj < yi))
        .sum::<i64>()
}

/// Up to this many values, Mann-Kendall S is counted pair by pair: the
/// vectorized comparisons of 7,140 pairs (an hour at 30 s) take less time than
/// a merge sort's 840 dependent steps and its two allocations.
const MANN_KENDALL_BY_PAIRS: usize = 128;

/// Mann-Kendall S: over every pair `i < j`, +1 when `y[j] > y[i]`, -1 when
/// below, 0 when equal. Pair by pair up to [`MANN_KENDALL_BY_PAIRS`] values
/// or with a NaN (whose pairs count 0 and would break the sort's order),
/// else in O(n log n) by a merge sort.
fn mann_kendall_s(y: &[f64]) -> i64 {
    if y.len() <= MANN_KENDALL_BY_PAIRS || y.iter().any(|v| v.is_nan()) {
        mann_kendall_s_by_pairs(y)
    } else {
        mann_kendall_s_by_merging(y)
    }
}

/// Mann-Kendall S of `y` (no NaN) in O(n log n): S is the number of pairs
/// less the equal ones less twice the falling ones, and a merge sort counts
/// the falling pairs (its inversions).
fn mann_kendall_s_by_merging(y: &[f64]) -> i64 {
    let n = y.len();
    // Sorted as total-order keys, which compare as the values do once -0 is
    // +0 (`v + 0.0`): integer comparisons the merge makes without a branch.
    let mut sorted: Vec<i64> = y.iter().map(|&v| total_key(v + 0.0)).collect();
    let mut merged = vec![0; n];
    let mut falling = 0usize;
    let mut width = 1;
    while width < n {
        for start in (0..n).step_by(2 * width) {
            let (mid, end) = ((start + width).min(n), (start + 2 * width).min(n));
            let (left, right) = (&sorted[start..mid], &sorted[mid..end]);
            falling += merge(left, right, &mut merged[start..end]);
        }
        std::mem::swap(&mut sorted, &mut merged);
        width *= 2;
    }
    let equal: usize = sorted
        .chunk_by(|a, b| a == b)
        .map(|run| run.len() * (run.len() - 1) / 2)
        .sum();
    let pairs = n * n.saturating_sub(1) / 2;
    pairs as i64 - equal as i64 - 2 * falling as i64
}

/// Merges the sorted `left` and `right` (keys of finite or infinite values,
/// all below `i64::MAX`) into `out`; returns the number of pairs of a key of
/// `left` above one of `right`. Without a branch on the comparison, whose
/// outcome is a coin toss: an exhausted side reads as `i64::MAX`.
fn merge(left: &[i64], right: &[i64], out: &mut [i64]) -> usize {
    let (mut i, mut j, mut above) = (0, 0, 0);
    for slot in out {
        let l = left.get(i).copied().unwrap_or(i64::MAX);
        let r = right.get(j).copied().unwrap_or(i64::MAX);
        let take_left = l <= r;
        *slot = if take_left { l } else { r };
        i += usize::from(take_left);
        j += usize::from(!take_left);
        above += usize::from(!take_left) * (left.len() - i);
    }
    above
}

/// [`mann_kendall_s`] pair by pair (branch-free, so the compiler vectorizes it).
fn mann_kendall_s_by_pairs(y: &[f64]) -> i64 {
    y.iter()
        .enumerate()
        .map(|(i, &yi)| pair_signs(yi, &y[i + 1..]))
        .sum()
}

/// The total-order key of `v`: integers ordered as [`f64::total_cmp`] orders
/// the values. Its own inverse.
/// (Logical shifts only, which SSE2 vectorizes: the sign bit, as 0 or all
/// ones, shifted right once, flips every other bit of a negative value.)
pub(super) fn total_key(v: f64) -> i64 {
    let bits = v.to_bits();
    (bits ^ ((bits >> 63).wrapping_neg() >> 1)) as i64
}

/// The value of a [`total_key`].
pub(super) fn from_total_key(k: i64) -> f64 {
    let bits = k as u64;
    f64::from_bits(bits ^ ((bits >> 63).wrapping_neg() >> 1))
}

/// The keys of the slopes `(y[j] - y[i]) / (x[j] - x[i])` of every pair
/// `i < j` with `x[j] > x[i]`. When the times strictly increase (the usual
/// case: one sample per evaluation) every pair counts and the loop has no
/// branch.
fn pairwise_slope_keys(x: &[f64], y: &[f64]) -> Vec<i64> {
    let n = x.len();
    let mut keys = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    let increasing = x.windows(2).all(|w| w[1] > w[0]);
    for i in 0..n {
        let (xi, yi) = (x[i], y[i]);
        let pairs = x[i + 1..].iter().zip(&y[i + 1..]);
        if increasing {
            let start = keys.len();
            keys.resize(start + (n - i - 1), 0);
            for (key, (&xj, &yj)) in keys[start..].iter_mut().zip(pairs) {
                *key = total_key((yj - yi) / (xj - xi));
            }
        } else {
            keys.extend(
                pairs
                    .filter(|(xj, _)| **xj - xi > 0.0)
                    .map(|(&xj, &yj)| total_key((yj - yi) / (xj - xi))),
            );
        }
    }
    keys
}

/// The median of the values whose [`total_key`]s are `keys` (not empty), as
/// [`super::median_select`] gives it: the middle one, or the mean of the
/// middle two. The middle ranks are first looked for between two keys of an
/// evenly spaced sample ([`bracket`]): one partitioning pass, then a selection
/// among the few keys between; when the middle is not between them, among all.
/// (`keys` is left in some order of the same keys.)
pub(super) fn median_of_keys(keys: &mut [i64]) -> f64 {
    let n = keys.len();
    let k = n / 2;
    // Ranks `k - 1` (for an even count) and `k` are wanted.
    let low_rank = if n.is_multiple_of(2) { k - 1 } else { k };
    let (mid, below) = match bracket(keys, low_rank, k) {
        Some((skip, len)) => middle(&mut keys[..len], k - skip, n),
        None => middle(keys, k, n),
    };
    let mid = from_total_key(mid);
    match below {
        Some(b) => (from_total_key(b) + mid) / 2.0,
        None => mid,
    }
}

/// Moves the keys between two keys of an evenly spaced sample of 256 to the
/// front of `keys`, when the keys of ranks `low..=high` of `keys` sorted
/// (`high - low` is 0 or 1) are among them: `Some` of the number of keys below
/// them and the number between. `None` (`keys` permuted, none lost): too few
/// keys to be worth it, or those ranks are not between.
fn bracket(keys: &mut [i64], low: usize, high: usize) -> Option<(usize, usize)> {
    const SAMPLE: usize = 256;
    const MARGIN: usize = 24;
    let n = keys.len();
    if n < 8 * SAMPLE {
        return None;
    }
    let step = n / SAMPLE;
    let mut sample: Vec<i64> = keys.iter().step_by(step).copied().collect();
    let at = high * sample.len() / n;
    let (lo_at, hi_at) = (
        at.saturating_sub(MARGIN),
        (at + MARGIN).min(sample.len() - 1),
    );
    let (_, &mut lo, above) = sample.select_nth_unstable(lo_at);
    let hi = match hi_at - lo_at {
        0 => lo,
        d => *above.select_nth_unstable(d - 1).1,
    };
    // A branch-free Lomuto partition: `keys[..len]` between `lo` and `hi`,
    // `keys[len..i]` outside (whether a key is between is a coin toss the
    // branch predictor loses). `key - lo`, wrapping, as unsigned is at most
    // `hi - lo` exactly when `lo <= key <= hi`.
    let width = hi.wrapping_sub(lo) as u64;
    let (mut skip, mut len) = (0usize, 0usize);
    for i in 0..n {
        let key = keys[i];
        skip += usize::from(key < lo);
        keys.swap(len, i);
        len += usize::from(key.wrapping_sub(lo) as u64 <= width);
    }
    (skip <= low && skip + len > high).then_some((skip, len))
}

/// The key of rank `k` of `keys`, and for an even total count `n` the key of
/// rank `k - 1` too (the largest of the part the selection leaves below).
fn middle(keys: &mut [i64], k: usize, n: usize) -> (i64, Option<i64>) {
    let (left, mid, _) = keys.select_nth_unstable(k);
    let below = n
        .is_multiple_of(2)
        .then(|| left.iter().copied().max().unwrap_or(*mid));
    (*mid, below)
}

/// At most this many samples give a fit's slope (evenly strided from the
/// latest): the slope is the median of their O(n²) pairwise slopes.
pub(crate) const MAX_SLOPE_FIT: usize = 64;

/// At most this many samples of a long climb are fitted (evenly strided from
/// the latest), of which [`MAX_SLOPE_FIT`] give its slope.
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
    samples: &[Point],
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
    let fitted: Vec<Point> = segment
        .iter()
        .rev()
        .step_by(stride)
        .rev()
        .copied()
        .collect();
    let fit = robust_fit_if(&fitted, sign, min_z)?;
    (sign * fit.z >= min_z && fit.r2 >= min_r2).then_some(SteadyClimb { start, stride, fit })
}

/// Index of the first sample after the last reset: a step against the bad
/// direction (`sign` 1 for rising-is-bad) larger than 40% of the range and six
/// times the median absolute step. 0 when there is none.
pub(crate) fn last_reset(samples: &[Point], sign: f64) -> usize {
    if samples.len() < 3 {
        return 0;
    }
    let (lo, hi) = samples
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.value), hi.max(s.value))
        });
    // A reset drops at least 40% of the range. When no step does, there is
    // none, whatever the median step: most series, which so skip the median.
    let big = 0.4 * (hi - lo);
    let drop_of = |i: usize| sign * (samples[i].value - samples[i - 1].value);
    if !big.is_nan() && !(1..samples.len()).any(|i| drop_of(i) <= -big) {
        return 0;
    }
    let typical = median_of(samples.windows(2).map(|w| (w[1].value - w[0].value).abs()));
    let min_drop = big.max(6.0 * typical);
    if !(min_drop > 0.0 && min_drop.is_finite()) {
        return 0;
    }
    (1..samples.len())
        .rev()
        .find(|&i| drop_of(i) <= -min_drop)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricSample;
    use crate::stats::{median, median_select};

    /// The fit as it was before the slopes' keys and the branch-free loops
    /// (f64 slopes selected with `total_cmp`, signs counted in the same loop).
    fn reference(samples: &[Point]) -> Option<RobustFit> {
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
        let (mut slopes, mut s_stat) = (Vec::new(), 0i64);
        // The slope's samples: every `stride`-th, counted back from the last.
        let stride = n.div_ceil(MAX_SLOPE_FIT);
        let in_slope = |i: usize| (n - 1 - i).is_multiple_of(stride);
        for i in 0..n {
            for j in i + 1..n {
                let dy = y[j] - y[i];
                s_stat += (dy > 0.0) as i64 - (dy < 0.0) as i64;
                if in_slope(i) && in_slope(j) && x[j] - x[i] > 0.0 {
                    slopes.push(dy / (x[j] - x[i]));
                }
            }
        }
        if slopes.is_empty() {
            return None;
        }
        let slope = median(&mut slopes);
        let mut icpt: Vec<f64> = x.iter().zip(&y).map(|(x, y)| y - slope * x).collect();
        let b = median(&mut icpt);
        let my = y.iter().sum::<f64>() / n as f64;
        let sst: f64 = y.iter().map(|v| (v - my) * (v - my)).sum();
        let sse: f64 = x
            .iter()
            .zip(&y)
            .map(|(x, y)| (y - (b + slope * x)).powi(2))
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

    #[test]
    fn the_fit_is_bit_for_bit_the_reference_fit() {
        let mut next = crate::stats::lcg(0x5eed);
        for case in 0..400 {
            let n = 3 + (next() % 250) as usize;
            let mut at = 1_700_000_000_000i64;
            let series: Vec<MetricSample> = (0..n)
                .map(|i| {
                    // Some series repeat times (no slope for those pairs), some
                    // have few distinct values (ties), some a negative drift.
                    if case % 5 != 0 || !next().is_multiple_of(4) {
                        at += 1 + (next() % 60_000) as i64;
                    }
                    let value = match case % 3 {
                        0 => (next() % 4) as f64,
                        1 => i as f64 * 0.37 + (next() % 1000) as f64 / 250.0,
                        _ => -(i as f64) * 1e-3 + (next() % 100) as f64 * 1e-5,
                    };
                    MetricSample {
                        policy: "p".into(),
                        at_ms: at,
                        value,
                    }
                })
                .collect();
            let refs: Vec<Point> = series.iter().map(Point::from).collect();
            let (got, want) = (robust_fit(&refs), reference(&refs));
            let bits = |f: Option<RobustFit>| {
                f.map(|f| (f.n, f.slope.to_bits(), f.z.to_bits(), f.r2.to_bits()))
            };
            assert_eq!(bits(got), bits(want), "case {case}, n {n}");
        }
    }

    #[test]
    fn a_fit_if_is_the_fit_when_its_z_is_wanted() {
        let mut at = 0i64;
        let mut next = crate::stats::lcg(0x2f17);
        for case in 0..200 {
            let n = (next() % 160) as usize;
            let drift = (case % 7) as f64 - 3.0;
            let series: Vec<MetricSample> = (0..n)
                .map(|i| {
                    at += 1 + (next() % 40_000) as i64;
                    let value = drift * i as f64 + (next() % 50) as f64;
                    MetricSample {
                        policy: "p".into(),
                        at_ms: at,
                        value,
                    }
                })
                .collect();
            let refs: Vec<Point> = series.iter().map(Point::from).collect();
            // Gates far off, and just at, below and above the series' own z
            // (where the count of pairs may stop early, or must not), with
            // signs of any size.
            let z = robust_fit(&refs).map_or(1.0, |f| f.z);
            let mut gates = vec![
                (3.0, 1.0),
                (3.0, -1.0),
                (0.0, 1.0),
                (f64::NEG_INFINITY, 1.0),
                (f64::NAN, 1.0),
                (1.0, 0.0),
            ];
            for sign in [1.0, -1.0, 2.0, -0.5] {
                let at = sign * z;
                gates.extend([(at, sign), (at - 1e-9, sign), (at + 1e-9, sign)]);
            }
            for (min, sign) in gates {
                let want = robust_fit(&refs).filter(|f| sign * f.z >= min);
                assert_eq!(robust_fit_if(&refs, sign, min), want, "case {case}");
            }
        }
    }

    #[test]
    fn mann_kendall_by_merging_is_mann_kendall_by_pairs() {
        let mut next = crate::stats::lcg(0x3c11);
        let special = [0.0, -0.0, f64::INFINITY, -f64::INFINITY, f64::NAN];
        for case in 0..600 {
            let n = (next() % 260) as usize;
            let y: Vec<f64> = (0..n)
                .map(|i| match case % 4 {
                    0 => (next() % 5) as f64,
                    1 => i as f64 * 0.1 + (next() % 1000) as f64 / 300.0,
                    2 if next().is_multiple_of(9) => special[(next() % 5) as usize],
                    _ => (next() % 100_000) as f64 - 5e4,
                })
                .collect();
            let by_pairs = mann_kendall_s_by_pairs(&y);
            assert_eq!(mann_kendall_s(&y), by_pairs, "case {case}, n {n}");
            if !y.iter().any(|v| v.is_nan()) {
                assert_eq!(
                    mann_kendall_s_by_merging(&y),
                    by_pairs,
                    "case {case}, n {n}"
                );
            }
        }
    }

    #[test]
    fn the_bracketed_median_is_the_median() {
        let mut next = crate::stats::lcg(0xb7ac);
        for case in 0..120 {
            let n = 1 + (next() % 9_000) as usize;
            // Spread values, few distinct values (ties across the bracket),
            // sorted runs (an uneven sample) and one value repeated.
            let vs: Vec<f64> = (0..n)
                .map(|i| match case % 4 {
                    0 => (next() % 1_000_000) as f64 / 7.0 - 5e4,
                    1 => (next() % 5) as f64,
                    2 => (i % 300) as f64 + (next() % 3) as f64,
                    _ => 2.5,
                })
                .collect();
            let mut keys: Vec<i64> = vs.iter().map(|&v| total_key(v)).collect();
            let want = median(&mut vs.clone());
            assert_eq!(
                median_of_keys(&mut keys).to_bits(),
                want.to_bits(),
                "case {case}, n {n}"
            );
        }
    }

    #[test]
    fn the_last_reset_is_the_one_the_median_step_gives() {
        // `last_reset` before it skipped the median when no step could be one.
        fn reference(samples: &[Point], sign: f64) -> usize {
            if samples.len() < 3 {
                return 0;
            }
            let (lo, hi) = samples
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
                    (lo.min(s.value), hi.max(s.value))
                });
            let steps: Vec<f64> = samples
                .windows(2)
                .map(|w| (w[1].value - w[0].value).abs())
                .collect();
            let min_drop = (0.4 * (hi - lo)).max(6.0 * median_select(&steps));
            if !(min_drop > 0.0 && min_drop.is_finite()) {
                return 0;
            }
            (1..samples.len())
                .rev()
                .find(|&i| sign * (samples[i].value - samples[i - 1].value) <= -min_drop)
                .unwrap_or(0)
        }
        let mut next = crate::stats::lcg(0x2e5e);
        let special = [f64::INFINITY, -f64::INFINITY, f64::NAN, -0.0];
        for case in 0..800 {
            let n = (next() % 70) as usize;
            let mut level = 0.0;
            let series: Vec<Point> = (0..n)
                .map(|i| {
                    // Sawtooths (a climb, then a drop to 0), noise, steps and
                    // special values.
                    level = match case % 4 {
                        0 if next().is_multiple_of(15) => 0.0,
                        0 => level + 1.0 + (next() % 10) as f64 / 10.0,
                        1 => (next() % 100) as f64,
                        2 if next().is_multiple_of(25) => special[(next() % 4) as usize],
                        2 => (next() % 7) as f64,
                        _ => (i / 20) as f64 * 50.0 + (next() % 3) as f64,
                    };
                    Point {
                        at_ms: i as i64 * 30_000,
                        value: level,
                    }
                })
                .collect();
            for sign in [1.0, -1.0] {
                assert_eq!(
                    last_reset(&series, sign),
                    reference(&series, sign),
                    "case {case}, sign {sign}"
                );
            }
        }
    }

    #[test]
    fn total_keys_order_as_total_cmp_and_invert() {
        let vs = [-f64::INFINITY, -2.5, -0.0, 0.0, 1e-300, 3.0, f64::INFINITY];
        for w in vs.windows(2) {
            assert!(total_key(w[0]) < total_key(w[1]), "{w:?}");
        }
        for v in vs {
            assert_eq!(from_total_key(total_key(v)).to_bits(), v.to_bits());
        }
    }
}
