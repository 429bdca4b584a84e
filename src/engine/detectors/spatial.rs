//! Spatial clustering: many violations from the same component, metric or policy,
//! suggesting one faulty component.

use super::{Detection, Detector, count_confidence};
use crate::engine::analyze::{AnalysisContext, AnalyzerConfig, Groups};
use crate::engine::fnv::FnvMap;
use crate::engine::model::{PatternType, RootCauseKind};

/// Reports every component, metric and policy with at least
/// `spatial_min_violations` violations, in that order of preference: a group whose
/// violations are exactly those of a group already reported (a component with one
/// policy and one metric, say) is not reported again. Subjects are
/// `component:<name>`, `metric:<name>` or `policy:<name>`. Confidence `n / (n + k)`.
/// Only groups that can be among the `max_patterns_per_type` the analyzer keeps
/// (the largest, with their ties) are returned. O(n).
#[derive(Clone, Copy, Debug, Default)]
pub struct SpatialDetector;

impl Detector for SpatialDetector {
    fn pattern_type(&self) -> PatternType {
        PatternType::Spatial
    }

    fn root_cause_kind(&self) -> RootCauseKind {
        RootCauseKind::ComponentFault
    }

    fn detect(&self, ctx: &AnalysisContext<'_>, config: &AnalyzerConfig) -> Vec<Detection> {
        let k = config.spatial_min_violations.max(1);
        // (label, name, members) of every group reported, before its text is written.
        let mut found: Vec<(&str, &str, &[u32])> = Vec::new();
        // A cheap key of each reported member list -> indices into `found`, to skip
        // identical sets (compared in full when the keys match).
        let mut reported: FnvMap<(usize, u32, u32, u64), Vec<usize>> = FnvMap::default();
        let groupings: [(&str, &Groups<'_>); 3] = [
            ("component", &ctx.components),
            ("metric", &ctx.metrics),
            ("policy", &ctx.policies),
        ];
        for (label, groups) in groupings {
            for (_, name, members) in groups.by_name() {
                if members.len() < k {
                    continue;
                }
                let sum = members
                    .iter()
                    .fold(0u64, |acc, &m| acc.wrapping_add(u64::from(m)));
                let key = (members.len(), members[0], members[members.len() - 1], sum);
                let same = reported.entry(key).or_default();
                if same.iter().any(|&o| found[o].2 == members) {
                    continue;
                }
                same.push(found.len());
                found.push((label, name, members));
            }
        }
        // The analyzer keeps the `max_patterns_per_type` most confident groups:
        // a group less confident than that many others cannot be kept, so only
        // the others (with their ties) are written out.
        let cap = config.max_patterns_per_type;
        if found.len() > cap {
            if cap == 0 {
                return Vec::new();
            }
            let conf = |m: &[u32]| count_confidence(m.len(), k);
            let mut all: Vec<f64> = found.iter().map(|(_, _, m)| conf(m)).collect();
            let lowest_kept = *all.select_nth_unstable_by(cap - 1, |a, b| b.total_cmp(a)).1;
            found.retain(|(_, _, m)| conf(m) >= lowest_kept);
        }
        let mut out: Vec<Detection> = Vec::with_capacity(found.len());
        for (label, name, members) in found {
            let n = members.len();
            out.push(Detection {
                pattern_type: PatternType::Spatial,
                confidence: count_confidence(n, k),
                hypothesis: format!(
                    "{n} violations come from {label} {name}: a fault concentrated in one component."
                ),
                subject: format!("{label}:{name}"),
                evidence: members.to_vec(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::analyze::tests::v;
    use crate::engine::model::Violation;

    fn detect(vs: &[Violation]) -> Vec<Detection> {
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(vs, &[], 1_000_000, &cfg);
        SpatialDetector.detect(&ctx, &cfg)
    }

    #[test]
    fn identical_groupings_are_reported_once_as_the_component() {
        // One policy, one metric, one component: three identical sets.
        let vs = [
            v("a", "p", "d", 0),
            v("b", "p", "d", 1),
            v("c", "p", "d", 2),
        ];
        let ds = detect(&vs);
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].subject, "component:d-c");
        // 3 / (3 + 3)
        assert_eq!(ds[0].confidence, 0.5);
    }

    #[test]
    fn distinct_groupings_are_all_reported() {
        // Component d-c has 4 violations from policies p (3) and q (1).
        let vs = [
            v("a", "p", "d", 0),
            v("b", "p", "d", 1),
            v("c", "p", "d", 2),
            v("e", "q", "d", 3),
        ];
        let subjects: Vec<String> = detect(&vs).into_iter().map(|d| d.subject).collect();
        assert_eq!(subjects, vec!["component:d-c", "metric:p-m",]);
        // policy:p has the same set as metric:p-m, so it is not repeated.
    }

    #[test]
    fn two_violations_are_not_a_cluster() {
        assert!(detect(&[v("a", "p", "d", 0), v("b", "p", "d", 1)]).is_empty());
    }

    #[test]
    fn spread_over_components_is_not_a_cluster() {
        let vs = [
            v("a", "p1", "d1", 0),
            v("b", "p2", "d2", 1),
            v("c", "p3", "d3", 2),
        ];
        assert!(detect(&vs).is_empty());
    }
}
