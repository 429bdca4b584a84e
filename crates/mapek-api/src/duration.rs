//! Reading the specs' durations (`30s`, `1h30m`) without panicking: kube's
//! parser panics on a value too large for a `std::time::Duration` (such as
//! `99999999999999999999h`, which the CRD's pattern accepts), so each value is
//! measured first and one longer than [`MAX_DURATION_SECS`] is an error naming
//! it.

use kube::core::Duration;
use serde::{Deserialize, Deserializer, de::Error};

/// The longest duration a spec may hold: 100 years, in seconds.
pub const MAX_DURATION_SECS: f64 = 100.0 * 365.25 * 86_400.0;

/// A duration's length in seconds as kube's parser reads it (segments of a
/// number and a unit), or `None` when a segment is not one (kube says why).
fn seconds(text: &str) -> Option<f64> {
    let mut s = text.trim_start_matches(['+', '-']);
    let mut total = 0.0;
    while !s.is_empty() && s != "0" {
        let unit_start = s.find(char::is_alphabetic)?;
        let (number, rest) = s.split_at(unit_start);
        let unit_end = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * scale;
        s = rest;
    }
    Some(total)
}

/// Parses a spec's duration, refusing one longer than [`MAX_DURATION_SECS`]
/// (or not a number) instead of panicking.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match seconds(text) {
        // NaN is refused too: it is not within the bound.
        Some(secs) if !(-MAX_DURATION_SECS..=MAX_DURATION_SECS).contains(&secs) => Err(format!(
            "duration {text:?} is longer than 100 years (or not a number)"
        )),
        _ => text
            .parse::<Duration>()
            .map_err(|e| format!("duration {text:?}: {e}")),
    }
}

/// `deserialize_with` for a duration field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(D::Error::custom)
}

/// `deserialize_with` for an optional duration field.
pub fn deserialize_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_duration(&text).map(Some).map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_kube_reads_them() {
        for text in [
            "30s", "1h30m", "1.5h", "250ms", "10µs", "0", "0s", "876000h",
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(text.parse::<Duration>().unwrap()),
                "{text}"
            );
        }
        assert!(parse_duration("30").unwrap_err().contains("\"30\""));
        assert!(parse_duration("5d").is_err());
    }

    /// Found by the `crd_specs` fuzz target: kube's parser panicked ("cannot
    /// convert float seconds to Duration") on a value the CRD pattern accepts.
    #[test]
    fn a_duration_too_long_is_an_error_not_a_panic() {
        for text in ["99999999999999999999h", "876601h", "5124095576030431h1h"] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains("longer than 100 years"), "{text}: {e}");
        }
        let e = serde_json::from_str::<crate::ViolationPolicySpec>(
            r#"{"targetRef":{"name":"web"},"query":"q","condition":{"threshold":1},"evaluationInterval":"99999999999999999999h"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("longer than 100 years"), "{e}");
    }
}
