//! Frequency: a policy violating far more often than allowed or than its own
//! baseline, suggesting chronic overload.

use super::{Detection, Detector, count_confidence, secs, span};
use crate::config::AnalyzerConfig;
use crate::decimal::Fixed;
use crate::input::AnalysisContext;
use crate::model::{PatternType, RootCauseKind};

/// Three tests per policy; the one with the higher confidence is reported (at
/// most one pattern per policy):
/// - density: the densest `frequency_window_ms` window (first to last, inclusive)
///   holds more than `frequency_max_violations` violations. Confidence
///   `c / (c + max)` for `c` violations in it; its violations are the evidence.
/// - spike: the recent window `(now - frequency_window_ms, now]` holds at least
///   `frequency_spike_min_violations` violations at a rate at least
///   `frequency_spike_factor` times the policy's baseline rate over the rest of the
///   analysis window. The baseline needs at least one violation: without one there
///   is no rate to compare with (a first burst is the burst detector's business).
///   Confidence `ratio / (ratio + factor)`; the recent violations are the evidence.
/// - sustained: the latest run of violations (no gap longer than two and a half
///   evaluation intervals, the median gap of the policy's samples) lasts at
///   least `frequency_window_ms` and reaches `now` (within that gap): a breach at
///   every evaluation, however slow the evaluations. Needs the samples (without
///   them the interval is unknown). Confidence `d / (d + window)` for a run of
///   `d` ms.
///
/// O(n) per policy with two pointers.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrequencyDetector;

impl Detector for FrequencyDetector {
    fn pattern_type(&self) -> PatternType {
        PatternType::Frequency
    }

    fn root_cause_kind(&self) -> RootCauseKind {
        RootCauseKind::ChronicOverload
    }

    fn detect(&self, ctx: &AnalysisContext<'_>, config: &AnalyzerConfig) -> Vec<Detection> {
        let w = i128::from(config.frequency_window_ms.max(0));
        let max = config.frequency_max_violations;
        let factor = config.frequency_spike_factor;
        let window = span(ctx.window_start, ctx.now);
        let recent_start = i128::from(ctx.now) - w;
        let mut out = Vec::new();
        for (_, policy, members) in ctx.policies.by_name() {
            // Densest window; on ties the most recent wins.
            let (mut best, mut best_start, mut i) = (0usize, 0usize, 0usize);
            for j in 0..members.len() {
                while span(ctx.at(members[i]), ctx.at(members[j])) > w {
                    i += 1;
                }
                if j - i + 1 >= best {
                    best = j - i + 1;
                    best_start = i;
                }
            }
            let mut candidate: Option<Detection> = None;
            if best > max {
                candidate = Some(Detection {
                    pattern_type: PatternType::Frequency,
                    confidence: count_confidence(best, max),
                    hypothesis: format!(
                        "Policy {policy} violated {best} times within {} s (more than {max}): chronic overload.",
                        Fixed(secs(w), 0)
                    ),
                    subject: policy.to_string(),
                    evidence: members[best_start..best_start + best].to_vec(),
                });
            }

            let first_recent = members.partition_point(|&m| i128::from(ctx.at(m)) <= recent_start);
            let recent = members.len() - first_recent;
            let baseline = first_recent;
            let baseline_span = window - w;
            if recent >= config.frequency_spike_min_violations.max(1)
                && baseline >= 1
                && baseline_span > 0
                && w > 0
            {
                let recent_rate = recent as f64 / w as f64;
                let baseline_rate = baseline as f64 / baseline_span as f64;
                let ratio = recent_rate / baseline_rate;
                if ratio >= factor {
                    let confidence = ratio / (ratio + factor.max(0.0));
                    if candidate.as_ref().is_none_or(|c| confidence > c.confidence) {
                        candidate = Some(Detection {
                            pattern_type: PatternType::Frequency,
                            confidence,
                            hypothesis: format!(
                                "Policy {policy} violated {recent} times in the last {} s, {ratio} times its baseline rate ({baseline} in the {} s before): an overload above its usual level.",
                                Fixed(secs(w), 0),
                                Fixed(secs(baseline_span), 0),
                                ratio = Fixed(ratio, 1)
                            ),
                            subject: policy.to_string(),
                            evidence: members[first_recent..].to_vec(),
                        });
                    }
                }
            }
            if let Some((start, d)) = sustained_run(ctx, policy, members)
                && w > 0
                && d >= w
            {
                let confidence = d as f64 / (d + w) as f64;
                if candidate.as_ref().is_none_or(|c| confidence > c.confidence) {
                    candidate = Some(Detection {
                        pattern_type: PatternType::Frequency,
                        confidence,
                        hypothesis: format!(
                            "Policy {policy} has violated at every evaluation for {} s: a sustained overload.",
                            Fixed(secs(d), 0)
                        ),
                        subject: policy.to_string(),
                        evidence: members[start..].to_vec(),
                    });
                }
            }
            out.extend(candidate);
        }
        out
    }
}

/// The latest run of a policy's violations: its first position in `members` and
/// its length in ms, when it reaches `now` (within two and a half median gaps).
fn sustained_run(
    ctx: &AnalysisContext<'_>,
    policy: &str,
    members: &[u32],
) -> Option<(usize, i128)> {
    if members.len() < 3 {
        return None;
    }
    // The positive gaps between consecutive samples, as u64 (a later time
    // minus an earlier one fits): cheaper to select than i128.
    let samples = ctx.samples_of(policy);
    let mut gaps: Vec<u64> = Vec::with_capacity(samples.len());
    gaps.extend(
        samples
            .windows(2)
            .filter(|w| w[1].at_ms > w[0].at_ms)
            .map(|w| w[1].at_ms.abs_diff(w[0].at_ms)),
    );
    if gaps.is_empty() {
        return None;
    }
    let mid = gaps.len() / 2;
    let max_gap = i128::from(*gaps.select_nth_unstable(mid).1) * 5 / 2;
    let last = members.len() - 1;
    if span(ctx.at(members[last]), ctx.now) > max_gap {
        return None;
    }
    let mut start = last;
    while start > 0 && span(ctx.at(members[start - 1]), ctx.at(members[start])) <= max_gap {
        start -= 1;
    }
    Some((start, span(ctx.at(members[start]), ctx.at(members[last]))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixtures::v;
    use crate::model::Violation;

    const NOW: i64 = 3_600_000;

    fn at_seconds(times: &[i64]) -> Vec<Violation> {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| v(&format!("v{i}"), "p", "d", t * 1000))
            .collect()
    }

    fn detect(vs: &[Violation]) -> Vec<Detection> {
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(vs, &[], NOW, &cfg);
        FrequencyDetector.detect(&ctx, &cfg)
    }

    #[test]
    fn nine_in_five_minutes_is_frequent() {
        // 9 violations 30 s apart (0..240 s), far from now so the spike test has no
        // recent violations.
        let ds = detect(&at_seconds(&(0..9).map(|i| i * 30).collect::<Vec<_>>()));
        assert_eq!(ds.len(), 1);
        // 9 / (9 + 8)
        assert!((ds[0].confidence - 9.0 / 17.0).abs() < 1e-12);
        assert_eq!(ds[0].evidence.len(), 9);
    }

    #[test]
    fn eight_in_five_minutes_is_not() {
        assert!(detect(&at_seconds(&(0..8).map(|i| i * 30).collect::<Vec<_>>())).is_empty());
    }

    #[test]
    fn nine_spread_over_more_than_five_minutes_is_not() {
        // 0, 38, ..., 304 s: first to last 304 s > 300 s, and any 8 fit.
        assert!(detect(&at_seconds(&(0..9).map(|i| i * 38).collect::<Vec<_>>())).is_empty());
    }

    #[test]
    fn recent_spike_against_baseline() {
        // Baseline: 11 violations in the 3300 s before the recent window (1 per 300 s);
        // recent: 4 in the last 300 s. ratio = (4/300)/(11/3300) = 4; 4 >= 3.
        // Confidence 4 / (4 + 3) = 4/7.
        let mut times: Vec<i64> = (0..11).map(|i| 100 + i * 300).collect();
        times.extend([3400, 3450, 3500, 3550]);
        let ds = detect(&at_seconds(&times));
        assert_eq!(ds.len(), 1);
        assert!(
            (ds[0].confidence - 4.0 / 7.0).abs() < 1e-9,
            "{}",
            ds[0].confidence
        );
        assert_eq!(ds[0].evidence, vec![11, 12, 13, 14]);
    }

    #[test]
    fn recent_rate_below_factor_is_not_a_spike() {
        // 22 baseline violations (100..3250 s), 3 recent:
        // ratio = (3/300) / (22/3300) = 1.5 < 3.
        let mut times: Vec<i64> = (0..22).map(|i| 100 + i * 150).collect();
        times.extend([3400, 3450, 3500]);
        assert!(detect(&at_seconds(&times)).is_empty());
    }

    #[test]
    fn no_baseline_is_no_spike() {
        assert!(detect(&at_seconds(&[3400, 3450, 3500, 3550])).is_empty());
    }
}
