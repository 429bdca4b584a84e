//! Fixed-point decimal text of floats, exactly as `format!("{x:.N}")` writes
//! it, without its slow path. The standard formatting proves each digit and
//! falls back to big-number arithmetic (Dragon4) for values whose decimals
//! run out early, which are most of the engine's (thresholds, levels, shares):
//! the reasons and descriptions of one analysis spent a twelfth of its time
//! there. [`Fixed`] scales and rounds instead ([`scaled`]), and leaves to the standard
//! formatting only the values it cannot round with certainty.

use std::fmt;

/// At most this many decimals take the fast path.
const MAX_DECIMALS: usize = 6;
const POW10: [f64; MAX_DECIMALS + 1] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6];
/// Scaled values up to 2⁴⁰ (about 10¹²) take the fast path.
const MAX_SCALED: f64 = 1_099_511_627_776.0;

/// The text of `f` with `decimals` decimals in a stack buffer, written from
/// its end: at most a sign, 13 digits (below 2⁴⁰), a point and 6 decimals.
struct FixedText {
    bytes: [u8; 24],
    start: usize,
}

impl FixedText {
    fn as_str(&self) -> &str {
        // Only ASCII digits, '-' and '.' are written.
        std::str::from_utf8(&self.bytes[self.start..]).unwrap_or_default()
    }

    fn push_front(&mut self, byte: u8) {
        self.start -= 1;
        self.bytes[self.start] = byte;
    }
}

/// `|f| × 10^decimals` rounded to the nearest integer, when that gives the
/// decimals `format!("{f:.N$}")` writes (with a `-` before them when `f` is
/// negative, -0.0 too); `None` when that cannot be known without the
/// standard formatting.
///
/// The value is scaled in floating point, whose error is at most half a unit
/// in the last place, `y × 2⁻⁵³`. Rounding the scaled value to the nearest
/// integer gives the correctly rounded decimals unless its fraction is within
/// that error of a half; a margin of `y × 2⁻⁵⁰` (and at least 10⁻⁹) leaves
/// those, and ties, to the standard formatting, as it does huge values,
/// non-finite ones and more than six decimals.
#[inline]
pub(crate) fn scaled(f: f64, decimals: usize) -> Option<u64> {
    let scale = *POW10.get(decimals)?;
    let y = f.abs() * scale;
    // NaN and the infinities too.
    if y.is_nan() || y >= MAX_SCALED {
        return None;
    }
    // Truncation is the floor of a value in [0, 2⁴⁰), and the fraction is
    // exact (no call to `floor`, which the baseline x86-64 lacks).
    let floor = y as u64;
    let frac = y - floor as f64;
    if (frac - 0.5).abs() <= 1e-9f64.max(y * f64::EPSILON * 4.0) {
        return None;
    }
    Some(floor + u64::from(frac > 0.5))
}

/// `f` with `decimals` decimals, as `format!("{f:.N$}")` writes it ([`scaled`]);
/// `None` when that cannot be known without the standard formatting.
fn fixed(f: f64, decimals: usize) -> Option<FixedText> {
    let k = scaled(f, decimals)?;
    let mut text = FixedText {
        bytes: [0; 24],
        start: 24,
    };
    // Digits from the last decimal up (divisions by the constant 10 only).
    let mut rest = k;
    for _ in 0..decimals {
        text.push_front(b'0' + (rest % 10) as u8);
        rest /= 10;
    }
    if decimals > 0 {
        text.push_front(b'.');
    }
    loop {
        text.push_front(b'0' + (rest % 10) as u8);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // The standard formatting keeps the sign of a negative value (and of -0.0)
    // even when it rounds to zero.
    if f.is_sign_negative() {
        text.push_front(b'-');
    }
    Some(text)
}

/// Displays `.0` with `.1` decimals, as `{:.N}` does (only plain `{}`: no width
/// or other flags are read).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fixed(pub f64, pub usize);

impl fmt::Display for Fixed {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match fixed(self.0, self.1) {
            Some(text) => out.write_str(text.as_str()),
            None => write!(out, "{:.*}", self.1, self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(x: f64, decimals: usize) {
        assert_eq!(
            Fixed(x, decimals).to_string(),
            format!("{x:.*}", decimals),
            "{x:e} with {decimals} decimals"
        );
    }

    #[test]
    fn edge_values_read_as_the_standard_formatting_writes_them() {
        for x in [
            0.0,
            -0.0,
            -0.001,
            -0.004,
            -0.005,
            -0.006,
            0.005,
            0.015,
            0.125,
            0.375,
            2.675,
            1.005,
            0.5,
            1.5,
            2.5,
            -2.5,
            99.995,
            1e-300,
            5e-324,
            123_456.789_012,
            1e11 + 0.5,
            1e12,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            for decimals in 0..=8 {
                same(x, decimals);
            }
        }
    }

    #[test]
    fn every_ten_thousandth_reads_as_the_standard_formatting_writes_it() {
        for k in -300_000i64..300_000 {
            for decimals in [0, 1, 2, 4] {
                same(k as f64 / 1e4, decimals);
            }
        }
    }

    #[test]
    fn the_fast_path_is_taken_for_ordinary_values() {
        for x in [0.0, 500.0, 0.25, 1234.5678, -3.75] {
            assert!(fixed(x, 4).is_some(), "{x}");
        }
        assert!(fixed(f64::NAN, 2).is_none());
        assert!(fixed(0.125, 2).is_none(), "a tie");
        assert!(fixed(1.0, 7).is_none(), "more than six decimals");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn any_float_reads_as_the_standard_formatting_writes_it(
            bits in any::<u64>(),
            scaled in -3e12..3e12f64,
            decimals in 0usize..=7,
        ) {
            for x in [
                f64::from_bits(bits),
                scaled,
                scaled / 100.0,
                scaled / 1e6,
                (scaled.round() + 0.5) / 100.0,
                scaled.round() / 1e4,
            ] {
                prop_assert_eq!(Fixed(x, decimals).to_string(), format!("{x:.*}", decimals));
            }
        }
    }
}
