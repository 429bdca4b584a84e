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

/// A fixed pseudo-random sequence for the engine's randomized tests (an LCG,
/// its top 53 bits), so that they need no dependency and repeat exactly.
#[cfg(test)]
pub(crate) fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 11
    }
}

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

/// The median of `xs` by selection (linear time, on the values' total-order
/// keys, which integer comparisons select in about half the instructions of
/// `f64::total_cmp`): the same value as [`median`]. NaN when empty.
pub(crate) fn median_select(xs: &[f64]) -> f64 {
    median_of(xs.iter().copied())
}

/// [`median_select`] of the values `xs` yields, without collecting them
/// first: their keys go on the stack when they are few (see
/// [`KEYS_ON_STACK`]). NaN when there are none.
pub(crate) fn median_of(xs: impl IntoIterator<Item = f64>) -> f64 {
    with_keys(xs, |keys| {
        if keys.is_empty() {
            f64::NAN
        } else {
            fit::median_of_keys(keys)
        }
    })
}

/// The values of ranks `ranks` (each below `xs.len()`) of `xs` sorted by
/// [`f64::total_cmp`]: what indexing the sorted values gives, by one selection
/// per distinct rank, each within the part the selections before it left
/// (about half the work of a sort for a median and two quantiles of 120).
pub(crate) fn order_statistics<const N: usize>(xs: &[f64], ranks: [usize; N]) -> [f64; N] {
    let mut wanted = ranks;
    wanted.sort_unstable();
    let mut out = [f64::NAN; N];
    with_keys(xs.iter().copied(), |keys| {
        select_ranks(keys, 0, &wanted, &ranks, &mut out)
    });
    out
}

/// Selects the keys of the sorted `wanted` ranks (ranks of the whole, of
/// which `keys` starts at `offset`): the middle one first, then the lower
/// ranks among the keys below it and the higher among those above. Each
/// value goes to `out[j]` for every `ranks[j]` of its rank (a rank past the
/// end leaves NaN).
fn select_ranks(
    keys: &mut [i64],
    offset: usize,
    wanted: &[usize],
    ranks: &[usize],
    out: &mut [f64],
) {
    let half = wanted.len() / 2;
    let Some(&rank) = wanted.get(half) else {
        return;
    };
    // The same rank wanted twice is selected once.
    let lower = &wanted[..wanted[..half].partition_point(|&r| r < rank)];
    let higher = &wanted[half + wanted[half..].partition_point(|&r| r <= rank)..];
    let at = rank - offset;
    if at >= keys.len() {
        return select_ranks(keys, offset, lower, ranks, out);
    }
    let (below, key, above) = keys.select_nth_unstable(at);
    let value = fit::from_total_key(*key);
    for (o, _) in out.iter_mut().zip(ranks).filter(|(_, r)| **r == rank) {
        *o = value;
    }
    select_ranks(below, offset, lower, ranks, out);
    select_ranks(above, offset + at + 1, higher, ranks, out);
}

/// Up to this many values, [`with_keys`] keeps their keys on the stack: most
/// medians are of one policy's evaluations (120 in an hour at 30 s), a hundred
/// and more of them an analysis, and each allocation cost as much as a third
/// of its selection.
const KEYS_ON_STACK: usize = 256;

/// `f` of the [`fit::total_key`]s of the values `xs` yields, taken as they
/// come: in a buffer on the stack when they are few, without collecting the
/// values first.
fn with_keys<T>(xs: impl IntoIterator<Item = f64>, f: impl FnOnce(&mut [i64]) -> T) -> T {
    let mut buf = [0i64; KEYS_ON_STACK];
    let mut xs = xs.into_iter();
    let mut n = 0;
    // `zip` asks the buffer first, so no value is taken past its end.
    for (key, v) in buf.iter_mut().zip(&mut xs) {
        *key = fit::total_key(v);
        n += 1;
    }
    let mut rest = xs.peekable();
    if rest.peek().is_none() {
        return f(&mut buf[..n]);
    }
    let mut keys = buf.to_vec();
    keys.extend(rest.map(fit::total_key));
    f(&mut keys)
}

/// The median of `xs`, which it sorts; NaN when empty. (Sorted as total-order
/// keys: values equal under `total_cmp` have the same bits, so the sorted slice
/// is the one any sort by `total_cmp` gives.)
pub(crate) fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut keys: Vec<i64> = xs.iter().map(|&v| fit::total_key(v)).collect();
    keys.sort_unstable();
    for (x, &k) in xs.iter_mut().zip(&keys) {
        *x = fit::from_total_key(k);
    }
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

    /// The medians as they were before the total-order keys: by `total_cmp`.
    fn reference_select(xs: &mut [f64]) -> f64 {
        let n = xs.len();
        let (left, mid, _) = xs.select_nth_unstable_by(n / 2, f64::total_cmp);
        let mid = *mid;
        let below = left.iter().copied().max_by(f64::total_cmp).unwrap_or(mid);
        if n % 2 == 1 { mid } else { (below + mid) / 2.0 }
    }

    #[test]
    fn order_statistics_are_the_sorted_values() {
        let mut next = lcg(0x05de);
        let special = [0.0, -0.0, f64::INFINITY, -f64::NAN, f64::NAN, 1e-310];
        for case in 0..400 {
            let n = 1 + (next() % 300) as usize;
            let v: Vec<f64> = (0..n)
                .map(|_| match case % 3 {
                    0 => (next() % 6) as f64,
                    1 if next().is_multiple_of(7) => special[(next() % 6) as usize],
                    _ => (next() % 100_000) as f64 / 7.0 - 5e3,
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            // Repeated ranks too (few distinct ones when n is small).
            let ranks: [usize; 4] = std::array::from_fn(|_| (next() as usize) % n);
            let got = order_statistics(&v, ranks).map(f64::to_bits);
            assert_eq!(
                got,
                ranks.map(|r| sorted[r].to_bits()),
                "case {case}, n {n}"
            );
        }
        // A rank wanted twice, in the middle and at the ends; a rank past the end.
        let v = [3.0, 1.0, 2.0, 0.0, 4.0];
        assert_eq!(order_statistics(&v, [0, 2, 2, 4]), [0.0, 2.0, 2.0, 4.0]);
        assert_eq!(order_statistics(&v, [1, 1, 3, 3]), [1.0, 1.0, 3.0, 3.0]);
        let past = order_statistics(&v, [1, 7, 4]);
        assert_eq!((past[0], past[2]), (1.0, 4.0));
        assert!(past[1].is_nan());
    }

    #[test]
    fn the_medians_are_the_reference_medians() {
        let mut x: u64 = 7;
        let special = [
            0.0,
            -0.0,
            f64::INFINITY,
            -f64::INFINITY,
            f64::NAN,
            -f64::NAN,
            1e-310,
        ];
        for n in 1..300 {
            let v: Vec<f64> = (0..n)
                .map(|i| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    match n % 3 {
                        // Few distinct values, so ties are common.
                        0 => ((x >> 59) as f64) - 8.0,
                        1 => (x >> 11) as f64 / 1e9 - 4e6,
                        _ if i % 5 == 0 => special[(x >> 60) as usize % special.len()],
                        _ => ((x >> 40) as f64) * if x & 1 == 0 { 1.0 } else { -1.0 },
                    }
                })
                .collect();
            let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let (mut sorted, mut want_sorted) = (v.clone(), v.clone());
            want_sorted.sort_by(f64::total_cmp);
            let got = median(&mut sorted);
            assert_eq!(bits(&sorted), bits(&want_sorted), "n {n}");
            assert_eq!(got.to_bits(), median_sorted(&want_sorted).to_bits());
            let want = reference_select(&mut v.clone());
            assert_eq!(median_select(&v).to_bits(), want.to_bits(), "n {n}");
            assert_eq!(got.to_bits(), want.to_bits(), "n {n}");
        }
        assert!(median_select(&[]).is_nan());
        assert!(median(&mut []).is_nan());
    }
}
