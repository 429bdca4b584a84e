//! Pure statistics shared by the detectors, the judgement and the analysis:
//! medians (by sorting and by selection), a policy's bad direction
//! ([`rising_is_bad`]), and in [`fit`] the robust line of a series with the
//! steady-climb test of a leak. It reads only [`crate::model`] and the
//! prepared input ([`crate::input`]), below everything that uses it.

mod fit;

#[cfg(test)]
pub(crate) use fit::robust_fit;
pub(crate) use fit::{RobustFit, last_reset, robust_fit_if, steady_climb};

use crate::input::AnalysisContext;

/// The median of sorted values (the mean of the middle two for an even count).
/// `xs` must not be empty.
pub(crate) fn median_sorted(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The median of `xs` by selection (linear time; `xs` is left partitioned, not
/// sorted): the same value as [`median`]. NaN when empty.
pub(crate) fn median_select(xs: &mut [f64]) -> f64 {
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    let (left, mid, _) = xs.select_nth_unstable_by(n / 2, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        // The element just below the middle is the largest of the left part.
        let below = left.iter().copied().max_by(f64::total_cmp).unwrap_or(mid);
        (below + mid) / 2.0
    }
}

/// The median of `xs`, which it sorts; NaN when empty. (An unstable sort:
/// values equal under `total_cmp` have the same bits, so the sorted slice is
/// the one a stable sort gives.)
pub(crate) fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_unstable_by(f64::total_cmp);
    median_sorted(xs)
}

/// Whether a policy's bad direction is up: most of its violations (`members`) are
/// above their threshold, or as many above as below (none at all included).
pub(crate) fn rising_is_bad(ctx: &AnalysisContext<'_>, members: &[u32]) -> bool {
    let (mut above, mut below) = (0usize, 0usize);
    for &i in members {
        match ctx.direction_of[i as usize] {
            1 => above += 1,
            -1 => below += 1,
            _ => {}
        }
    }
    above >= below
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_by_selection_equals_median_by_sorting() {
        let mut x: u64 = 7;
        for n in 1..60 {
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    // Few distinct values, so ties are common.
                    ((x >> 59) as f64) - 8.0
                })
                .collect();
            let (mut a, mut b) = (v.clone(), v);
            assert_eq!(
                median_select(&mut a).to_bits(),
                median(&mut b).to_bits(),
                "n {n}"
            );
        }
        assert!(median_select(&mut []).is_nan());
    }
}
