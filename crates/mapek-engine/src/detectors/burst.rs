//! Temporal bursts: several violations of one Deployment close together in time,
//! suggesting a sudden load spike.

use super::{Detection, Detector, count_confidence, secs, span};
use crate::config::AnalyzerConfig;
use crate::decimal::Fixed;
use crate::input::AnalysisContext;
use crate::model::{PatternType, RootCauseKind};

/// Finds, per target Deployment, maximal bursts: unions of overlapping windows in
/// which at least `burst_min_violations` violations fall within `burst_window_ms`
/// (first to last, inclusive). Each burst is reported once, however many windows
/// it contains. Confidence `n / (n + k)` for `n` violations and threshold `k`.
/// Only bursts that can be among the `max_patterns_per_type` the analyzer keeps
/// (the largest, with their ties) are returned. O(n) per target with two
/// pointers.
#[derive(Clone, Copy, Debug, Default)]
pub struct BurstDetector;

impl Detector for BurstDetector {
    fn pattern_type(&self) -> PatternType {
        PatternType::TemporalBurst
    }

    fn root_cause_kind(&self) -> RootCauseKind {
        RootCauseKind::LoadSpike
    }

    fn detect(&self, ctx: &AnalysisContext<'_>, config: &AnalyzerConfig) -> Vec<Detection> {
        let k = config.burst_min_violations.max(1);
        let w = i128::from(config.burst_window_ms.max(0));
        // (target, members, first, last) of every burst kept so far.
        let mut found: Vec<(&str, &[u32], usize, usize)> = Vec::new();
        for (_, target, members) in ctx.targets.by_name() {
            // Bursts as [first, last] positions in `members`.
            let mut bursts: Vec<(usize, usize)> = Vec::new();
            let mut current: Option<(usize, usize)> = None;
            let mut i = 0;
            for j in 0..members.len() {
                while span(ctx.at(members[i]), ctx.at(members[j])) > w {
                    i += 1;
                }
                if j - i + 1 >= k {
                    current = match current {
                        Some((s, e)) if i <= e => Some((s, j)),
                        Some(done) => {
                            bursts.push(done);
                            Some((i, j))
                        }
                        None => Some((i, j)),
                    };
                }
            }
            bursts.extend(current);
            // Only the largest (then most recent) bursts can survive the analyzer's
            // per-type cap, so only those are kept.
            bursts.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(b.0.cmp(&a.0)));
            bursts.truncate(config.max_patterns_per_type);
            found.extend(bursts.into_iter().map(|(s, e)| (target, members, s, e)));
        }
        // The same holds across targets: the analyzer keeps the
        // `max_patterns_per_type` most confident bursts, so a burst less confident
        // than that many others cannot be kept. Those as confident as the least
        // confident that can are all written out (the analyzer breaks those ties
        // on the subject and the text).
        let cap = config.max_patterns_per_type;
        if found.len() > cap {
            if cap == 0 {
                return Vec::new();
            }
            let conf = |s: usize, e: usize| count_confidence(e - s + 1, k);
            let mut all: Vec<f64> = found.iter().map(|&(_, _, s, e)| conf(s, e)).collect();
            let lowest_kept = *all.select_nth_unstable_by(cap - 1, |a, b| b.total_cmp(a)).1;
            found.retain(|&(_, _, s, e)| conf(s, e) >= lowest_kept);
        }
        let mut out = Vec::with_capacity(found.len());
        for (target, members, s, e) in found {
            let n = e - s + 1;
            let duration = span(ctx.at(members[s]), ctx.at(members[e]));
            out.push(Detection {
                pattern_type: PatternType::TemporalBurst,
                confidence: count_confidence(n, k),
                hypothesis: format!(
                    "{n} violations on {target} within {} s: a burst consistent with a sudden load spike.",
                    Fixed(secs(duration), 0)),
                subject: target.to_string(),
                evidence: members[s..=e].to_vec(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixtures::v;
    use crate::model::Violation;

    /// The detector with k = 3 (the default is 2: two consecutive breaking
    /// evaluations already make a burst), so the tests show the window logic.
    fn detect(vs: &[Violation]) -> Vec<Detection> {
        let cfg = AnalyzerConfig {
            burst_min_violations: 3,
            ..AnalyzerConfig::default()
        };
        let ctx = AnalysisContext::new(vs, &[], 1_000_000, &cfg);
        BurstDetector.detect(&ctx, &cfg)
    }

    #[test]
    fn three_within_sixty_seconds_is_a_burst() {
        let vs = [
            v("a", "p", "d", 0),
            v("b", "p", "d", 30_000),
            v("c", "p", "d", 60_000),
        ];
        let ds = detect(&vs);
        assert_eq!(ds.len(), 1);
        // 3 / (3 + 3)
        assert_eq!(ds[0].confidence, 0.5);
        assert_eq!(ds[0].evidence, vec![0, 1, 2]);
        assert_eq!(ds[0].subject, "d");
    }

    #[test]
    fn two_within_sixty_seconds_is_not() {
        assert!(detect(&[v("a", "p", "d", 0), v("b", "p", "d", 1_000)]).is_empty());
    }

    #[test]
    fn three_spread_over_sixty_one_seconds_is_not() {
        let vs = [
            v("a", "p", "d", 0),
            v("b", "p", "d", 30_500),
            v("c", "p", "d", 61_000),
        ];
        assert!(detect(&vs).is_empty());
    }

    #[test]
    fn bursts_are_per_target() {
        let vs = [
            v("a", "p", "d1", 0),
            v("b", "p", "d2", 1_000),
            v("c", "p", "d1", 2_000),
        ];
        assert!(detect(&vs).is_empty());
    }

    #[test]
    fn overlapping_windows_merge_into_one_maximal_burst() {
        // 0, 20, 40, 70, 90 s: windows {0,20,40}, {20,40,70}, {40,70,90} overlap.
        // A separate burst at 500, 501, 502 s.
        let times = [0, 20, 40, 70, 90, 500, 501, 502];
        let vs: Vec<Violation> = times
            .iter()
            .enumerate()
            .map(|(i, t)| v(&format!("v{i}"), "p", "d", t * 1000))
            .collect();
        let mut ds = detect(&vs);
        ds.sort_by_key(|d| d.evidence[0]);
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].evidence, vec![0, 1, 2, 3, 4]);
        // 5 / (5 + 3)
        assert_eq!(ds[0].confidence, 0.625);
        assert_eq!(ds[1].evidence, vec![5, 6, 7]);
        assert!(ds[0].hypothesis.contains("5 violations on d within 90 s"));
    }
}
