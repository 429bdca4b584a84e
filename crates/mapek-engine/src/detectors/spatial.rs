//! Spatial agreement: independent signals (at least two distinct policies) of one
//! component or Deployment breaching together, suggesting a fault in it. One
//! policy's own violations, however many, are one signal counted many times, and
//! a metric shared across Deployments is no component: neither is reported.

use super::{Detection, Detector, count_confidence};
use crate::config::AnalyzerConfig;
use crate::input::{AnalysisContext, Groups};
use crate::model::{PatternType, RootCauseKind};

/// Reports every component, then every Deployment not already reported with the
/// same violations, where at least two distinct policies each have at least
/// `min(spatial_min_violations, 2)` violations and all of them together at least
/// `spatial_min_violations`. Confidence: the noisy-or over the agreeing policies
/// of `n_p / (n_p + k)`, so two policies agreeing weigh more than either alone.
/// Subjects are `component:<name>` or `target:<name>`. O(n).
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
        let per_policy_min = k.min(2);
        let mut out: Vec<Detection> = Vec::new();
        let groupings: [(&str, &Groups<'_>); 2] =
            [("component", &ctx.components), ("target", &ctx.targets)];
        for (label, groups) in groupings {
            for (_, name, members) in groups.by_name() {
                if members.len() < k {
                    continue;
                }
                if out.iter().any(|d| d.evidence == members) {
                    continue;
                }
                let mut counts: std::collections::BTreeMap<u32, usize> = Default::default();
                for &m in members {
                    *counts.entry(ctx.policy_of[m as usize]).or_default() += 1;
                }
                let agreeing: Vec<(u32, usize)> = counts
                    .into_iter()
                    .filter(|(_, n)| *n >= per_policy_min)
                    .collect();
                if agreeing.len() < 2 {
                    continue;
                }
                let miss: f64 = agreeing
                    .iter()
                    .map(|(_, n)| 1.0 - count_confidence(*n, k))
                    .product();
                let names: Vec<&str> = agreeing
                    .iter()
                    .map(|(p, _)| ctx.policies.names[*p as usize])
                    .collect();
                let n = members.len();
                out.push(Detection {
                    pattern_type: PatternType::Spatial,
                    confidence: 1.0 - miss,
                    hypothesis: format!(
                        "{} independent signals of {label} {name} breach together ({}; {n} violations): a fault in that component.",
                        names.len(),
                        names.join(", ")
                    ),
                    subject: format!("{label}:{name}"),
                    evidence: members.to_vec(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixtures::v;
    use crate::model::Violation;

    fn detect(vs: &[Violation]) -> Vec<Detection> {
        let cfg = AnalyzerConfig::default();
        let ctx = AnalysisContext::new(vs, &[], 1_000_000, &cfg);
        SpatialDetector.detect(&ctx, &cfg)
    }

    #[test]
    fn one_policy_is_one_signal_however_many_violations() {
        let vs: Vec<Violation> = (0..20)
            .map(|i| v(&format!("a{i}"), "p", "d", i * 1000))
            .collect();
        assert!(detect(&vs).is_empty());
    }

    #[test]
    fn two_policies_of_one_component_agree() {
        let vs = [
            v("a", "p", "d", 0),
            v("b", "p", "d", 1),
            v("c", "q", "d", 2),
            v("e", "q", "d", 3),
        ];
        let ds = detect(&vs);
        // The component and the target hold the same violations: reported once.
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].subject, "component:d-c");
        // 1 - (1 - 2/5)^2
        assert!((ds[0].confidence - 0.64).abs() < 1e-12);
        assert!(ds[0].hypothesis.contains("p, q"));
    }

    #[test]
    fn a_policy_with_one_violation_does_not_agree() {
        let vs = [
            v("a", "p", "d", 0),
            v("b", "p", "d", 1),
            v("c", "p", "d", 2),
            v("e", "q", "d", 3),
        ];
        assert!(detect(&vs).is_empty());
    }

    #[test]
    fn a_metric_shared_across_deployments_is_no_component() {
        // Three Deployments whose policies share a metric name.
        let mut vs = Vec::new();
        for (i, t) in ["d1", "d2", "d3"].iter().enumerate() {
            let mut x = v(&format!("a{i}"), &format!("p{i}"), t, 0);
            x.metric = "shared".into();
            vs.push(x);
        }
        assert!(detect(&vs).is_empty());
    }
}
