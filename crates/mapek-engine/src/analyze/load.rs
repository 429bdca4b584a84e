//! Load signals: whether a policy's breach rises with the load offered to the
//! service (an overload, which capacity relieves) or came at flat load (a fault,
//! a leak or a bad change, which more replicas would not relieve).
//!
//! A ViolationPolicy may name context queries evaluated with it: `load` (such as
//! a request rate) and `saturation`. Their samples reach the engine as
//! [`ContextSample`]s. For a current breach, with the policy's metric samples:
//! - the **healthy baseline** is the evaluations of the `baseline_ms` (1 h) before
//!   the breach's run in which the metric was within its threshold, each paired
//!   with the load sample nearest in time (within half an interval); at least
//!   `min_healthy` (5) of them;
//! - the **recent** load is the median over the run's last `recent_evaluations`
//!   (5) evaluations;
//! - `ratio = recent / median(healthy baseline)`: **rising** at `rising_ratio`
//!   (1.2) or more, **flat** at `flat_ratio` (1.1) or less (a falling load too),
//!   unclear in between.
//!
//! What it changes ([`apply`]): with rising load, the load explains a climb that
//! reads as a leak: `weight` (0.9) of the gradual-degradation evidence moves to
//! the load spike. With flat load, `weight` of the load kinds (load spike,
//! chronic overload, recurring load) moves to the mechanisms present (leak,
//! component fault, upstream dependency), or, when none is, to a component fault
//! (a breach that nothing but the load could explain, at flat load, is a fault or
//! a bad change of the component); and the planner proposes no SCALE_UP. With
//! rising load, a SCALE_UP is sized by load (see [`crate::plan`]). The
//! saturation query's ratio is reported, not used to decide.

use std::collections::BTreeMap;
use std::fmt::Write;

pub use crate::config::LoadConfig;
use crate::decimal::Fixed;
use crate::judge::Breach;
use crate::model::{
    ComparisonOperator, ContextKind, ContextSample, LoadSignal, LoadTrend, Millis, Point,
    RootCause, RootCauseKind,
};
use crate::stats::median;

/// The context samples of `kind` per policy, sorted by time, up to `now`.
pub(crate) fn by_policy(
    context: &[ContextSample],
    kind: ContextKind,
    now: Millis,
) -> BTreeMap<&str, Vec<(Millis, f64)>> {
    let mut out: BTreeMap<&str, Vec<(Millis, f64)>> = BTreeMap::new();
    for c in context {
        if c.kind == kind && c.at_ms <= now && c.value.is_finite() {
            out.entry(c.policy.as_str())
                .or_default()
                .push((c.at_ms, c.value));
        }
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
    out
}

/// The value of the sample nearest to `at` within `tolerance`, if any.
fn nearest(series: &[(Millis, f64)], at: Millis, tolerance: Millis) -> Option<f64> {
    let i = series.partition_point(|s| s.0 < at);
    [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter_map(|j| series.get(j))
        .filter(|s| (s.0 - at).abs() <= tolerance)
        .min_by_key(|s| (s.0 - at).abs())
        .map(|s| s.1)
}

/// What the load says of a current breach, from the policy's metric samples
/// (`history`, in time order) and its load (and saturation) samples. `None`
/// when the breach is not current, or there are too few healthy evaluations or
/// recent load samples to compare.
pub(crate) fn signal(
    breach: &Breach,
    history: &[Point],
    load: &[(Millis, f64)],
    saturation: Option<&[(Millis, f64)]>,
    config: &LoadConfig,
) -> Option<LoadSignal> {
    if !breach.current {
        return None;
    }
    let run_start = breach.run_start_ms?;
    let tolerance = (breach.interval_ms / 2).max(1);
    let from = run_start.saturating_sub(config.baseline_ms.max(0));
    let healthy: Vec<Point> = history
        .iter()
        .copied()
        .filter(|s| {
            s.at_ms >= from
                && s.at_ms < run_start
                && !breach.operator.violates(s.value, breach.threshold)
        })
        .collect();
    let run: Vec<Point> = history
        .iter()
        .copied()
        .filter(|s| s.at_ms >= run_start)
        .collect();
    let recent = &run[run.len().saturating_sub(config.recent_evaluations.max(1))..];
    // (metric, load, saturation) of each evaluation with a load sample.
    let paired = |evals: &[Point]| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut m, mut l, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for e in evals {
            if let Some(x) = nearest(load, e.at_ms, tolerance) {
                m.push(e.value);
                l.push(x);
                if let Some(sat) = saturation.and_then(|ss| nearest(ss, e.at_ms, tolerance)) {
                    s.push(sat);
                }
            }
        }
        (m, l, s)
    };
    let (mut hm, mut hl, mut hs) = paired(&healthy);
    let (mut rm, mut rl, mut rs) = paired(recent);
    if hl.len() < config.min_healthy.max(1) || rl.is_empty() {
        return None;
    }
    let baseline = median(&mut hl);
    let recent_load = median(&mut rl);
    let ratio = recent_load / baseline;
    if !(baseline > 0.0 && ratio.is_finite()) {
        return None;
    }
    let saturation_ratio = (!hs.is_empty() && !rs.is_empty())
        .then(|| median(&mut rs) / median(&mut hs))
        .filter(|r| r.is_finite());
    let trend = if ratio >= config.rising_ratio {
        LoadTrend::Rising
    } else if ratio <= config.flat_ratio {
        LoadTrend::Flat
    } else {
        LoadTrend::Unclear
    };
    let healthy_n = hl.len();
    let mut reason = format!(
        "load {ratio}x its healthy baseline ({recent_load} over the last {} evaluation(s) against {baseline} over {healthy_n} healthy evaluation(s) before the breach): {}",
        rl.len(),
        match trend {
            LoadTrend::Rising => "rising with the breach, an overload",
            LoadTrend::Flat => "flat, so the breach is not load",
            LoadTrend::Unclear => "neither clearly rising nor flat",
        },
        ratio = Fixed(ratio, 2),
        recent_load = Fixed(recent_load, 4),
        baseline = Fixed(baseline, 4)
    );
    if let Some(s) = saturation_ratio {
        let _ = write!(reason, " (saturation {s}x)", s = Fixed(s, 2));
    }
    Some(LoadSignal {
        trend,
        ratio,
        recent: recent_load,
        baseline,
        baseline_metric: median(&mut hm),
        recent_metric: median(&mut rm),
        healthy: healthy_n,
        saturation_ratio,
        reason,
    })
}

/// The kinds that only the load explains.
const LOAD_KINDS: [RootCauseKind; 3] = [
    RootCauseKind::LoadSpike,
    RootCauseKind::ChronicOverload,
    RootCauseKind::RecurringLoad,
];

/// The mechanisms that explain a breach at flat load.
const MECHANISMS: [RootCauseKind; 3] = [
    RootCauseKind::GradualDegradation,
    RootCauseKind::ComponentFault,
    RootCauseKind::UpstreamDependency,
];

/// Moves root-cause evidence by what each breach's load says (see the module
/// documentation), then sorts the causes as the ranking does. Breaches without
/// a rising or flat load change nothing.
pub(crate) fn apply(causes: &mut Vec<RootCause>, breaches: &[Breach], config: &LoadConfig) {
    let w = if config.weight.is_finite() {
        config.weight.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for b in breaches {
        let Some(signal) = &b.load else {
            continue;
        };
        let (sources, sinks, why): (&[RootCauseKind], &[RootCauseKind], &str) = match signal.trend {
            LoadTrend::Rising => (
                &[RootCauseKind::GradualDegradation],
                &[RootCauseKind::LoadSpike],
                "the load rose with the breach, so it explains the climb",
            ),
            LoadTrend::Flat => (
                &LOAD_KINDS,
                &MECHANISMS,
                "the load is flat, so the breach is not load",
            ),
            LoadTrend::Unclear => continue,
        };
        let weakened = format!(
            " Weakened by the load of policy {} ({}x its healthy baseline): {why}.",
            b.policy,
            Fixed(signal.ratio, 2)
        );
        let (moved, mut supports) =
            super::rank::take_share(causes, &b.target, |k| sources.contains(&k), w, &weakened);
        if moved <= 0.0 {
            continue;
        }
        let present: f64 = causes
            .iter()
            .filter(|rc| rc.target == b.target && sinks.contains(&rc.kind))
            .map(|rc| rc.confidence)
            .sum();
        if present > 0.0 {
            for rc in causes.iter_mut() {
                if rc.target == b.target && sinks.contains(&rc.kind) {
                    rc.confidence = (rc.confidence + moved * rc.confidence / present).min(1.0);
                    let _ = write!(
                        rc.description,
                        " Strengthened by the load of policy {} ({}x its healthy baseline): {why}.",
                        b.policy,
                        Fixed(signal.ratio, 2)
                    );
                }
            }
        } else {
            supports.sort_unstable();
            supports.dedup();
            let kind = match signal.trend {
                LoadTrend::Rising => RootCauseKind::LoadSpike,
                _ => RootCauseKind::ComponentFault,
            };
            let confidence = moved.min(1.0);
            let description = match signal.trend {
                LoadTrend::Rising => format!(
                    "{kind:?} on {} (confidence {confidence}), from the load of policy {}: {}.",
                    b.target,
                    b.policy,
                    signal.reason,
                    confidence = Fixed(confidence, 2)
                ),
                _ => format!(
                    "{kind:?} on {} (confidence {confidence}), from the load of policy {}: {}; nothing else explains the breach, so a fault or a bad change of the component.",
                    b.target,
                    b.policy,
                    signal.reason,
                    confidence = Fixed(confidence, 2)
                ),
            };
            causes.push(RootCause {
                kind,
                target: b.target.clone(),
                policy: b.policy.clone(),
                confidence,
                description,
                supporting_patterns: supports,
            });
        }
    }
    super::rank::sort_causes(causes);
}

/// The metric's two points against the load, for sizing a scale-up by load: at
/// the healthy baseline and now. `None` when the load did not rise or the metric
/// did not move toward its threshold with it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadFit {
    pub baseline_load: f64,
    pub baseline_metric: f64,
    pub recent_load: f64,
    pub recent_metric: f64,
    pub threshold: f64,
    /// The load at which the line through the two points reaches the threshold:
    /// what the current replicas carry at the threshold.
    pub load_at_threshold: f64,
}

impl LoadFit {
    /// The fit of a breach's rising load, if its metric moved toward the
    /// threshold as the load rose.
    pub fn of(breach: &Breach) -> Option<LoadFit> {
        let s = breach.load.as_ref()?;
        if s.trend != LoadTrend::Rising || s.recent <= s.baseline {
            return None;
        }
        let sign = match breach.operator {
            ComparisonOperator::LessThan | ComparisonOperator::LessThanOrEqual => -1.0,
            _ => 1.0,
        };
        let rise = sign * (s.recent_metric - s.baseline_metric);
        let room = sign * (breach.threshold - s.baseline_metric);
        if !(rise > 0.0 && room > 0.0) {
            return None;
        }
        let at = s.baseline + room / rise * (s.recent - s.baseline);
        (at.is_finite() && at > 0.0).then_some(LoadFit {
            baseline_load: s.baseline,
            baseline_metric: s.baseline_metric,
            recent_load: s.recent,
            recent_metric: s.recent_metric,
            threshold: breach.threshold,
            load_at_threshold: at,
        })
    }

    /// The recent load over the load at the threshold: how many times the
    /// current capacity is needed.
    pub fn ratio(&self) -> f64 {
        self.recent_load / self.load_at_threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::PatternAnalyzer;
    use crate::model::{MetricSample, PolicyInfo, Severity, Violation};
    use crate::plan::{PlanTarget, Planner};
    use crate::{KnowledgeBase, model::ActionType, model::RemediationEnvelope, model::ScaleBounds};

    const STEP: Millis = 30_000;
    const NOW: Millis = 10_000_000;

    /// 100 evaluations of `metric` (threshold 1.0) and of `load`; violations for
    /// every value over 1.0.
    fn input(
        metric: &[f64],
        load: &[f64],
    ) -> (Vec<Violation>, Vec<MetricSample>, Vec<ContextSample>) {
        let start = NOW - STEP * (metric.len() as Millis - 1);
        let (mut vs, mut ss, mut cs) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (&m, &l)) in metric.iter().zip(load).enumerate() {
            let at_ms = start + STEP * i as Millis;
            ss.push(MetricSample {
                policy: "lat".into(),
                at_ms,
                value: m,
            });
            cs.push(ContextSample {
                policy: "lat".into(),
                kind: ContextKind::Load,
                at_ms,
                value: l,
            });
            if m > 1.0 {
                vs.push(Violation {
                    id: format!("v{i}").into(),
                    policy: "lat".into(),
                    target: "web".into(),
                    component: "web".into(),
                    metric: "lat".into(),
                    severity: Severity::Critical,
                    value: m,
                    threshold: 1.0,
                    at_ms,
                });
            }
        }
        (vs, ss, cs)
    }

    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "lat".into(),
            operator: ComparisonOperator::GreaterThan,
            threshold: 1.0,
            interval_ms: Some(STEP),
            for_ms: 0,
            ..Default::default()
        }
    }

    fn wobble(i: usize) -> f64 {
        0.02 * ((i * 7 % 5) as f64 - 2.0)
    }

    /// 80 quiet evaluations, then 20 at 1.4: latency 0.3 + 0.1 per 100 rps at
    /// 400 rps before and (with `rising`) 1100 rps now.
    fn jump(rising: bool) -> (Vec<f64>, Vec<f64>) {
        let load: Vec<f64> = (0..100)
            .map(|i| (if rising && i >= 80 { 1100.0 } else { 400.0 }) * (1.0 + wobble(i)))
            .collect();
        let metric = (0..100)
            .map(|i| {
                if i >= 80 {
                    1.4 + wobble(i + 1)
                } else {
                    0.3 + load[i] / 1000.0
                }
            })
            .collect();
        (metric, load)
    }

    fn target() -> PlanTarget {
        PlanTarget {
            policy: "lat".into(),
            deployment: "web".into(),
            current_replicas: 4,
            severity: Severity::Critical,
            envelope: RemediationEnvelope {
                allowed_actions: vec![ActionType::ScaleUp, ActionType::RestartService],
                scale: Some(ScaleBounds {
                    min_replicas: 2,
                    max_replicas: 20,
                    max_step: 10,
                }),
                config: Vec::new(),
            },
        }
    }

    #[test]
    fn without_context_the_analysis_is_unchanged() {
        let (m, l) = jump(true);
        let (vs, ss, _) = input(&m, &l);
        let a = PatternAnalyzer::default();
        let before = a.analyze_policies(&vs, &ss, &[info()], NOW);
        let after = a.analyze_with_context(&vs, &ss, &[], &[info()], NOW);
        assert_eq!(before, after);
        assert!(after.breaches[0].load.is_none());
    }

    #[test]
    fn rising_load_is_an_overload_sized_by_load() {
        let (m, l) = jump(true);
        let (vs, ss, cs) = input(&m, &l);
        let r = PatternAnalyzer::default().analyze_with_context(&vs, &ss, &cs, &[info()], NOW);
        let b = &r.breaches[0];
        let s = b.load.as_ref().expect("a load signal");
        assert_eq!(s.trend, LoadTrend::Rising);
        assert!((s.ratio - 2.75).abs() < 0.1, "{s:?}");
        assert!(b.reason.contains("rising with the breach"), "{}", b.reason);
        let plans = Planner::default().generate_plans(&r, &[target()], &KnowledgeBase::new());
        let a = &plans[0].actions[0];
        assert_eq!(a.action_type, ActionType::ScaleUp);
        // The metric reaches 1.0 at about 700 rps on 4 replicas: 1100 rps need
        // ceil(4 × 1100/700 × 1.1) = 7 (HPA's rule on 1.4x would set 7 too,
        // from another reading: ceil(4 × 1.4 × 1.1) = 7).
        assert!(
            plans[0].expected_impact.contains("Sized by load"),
            "{}",
            plans[0].expected_impact
        );
        assert!((6..=8).contains(&a.replicas.unwrap()), "{a:?}");
    }

    #[test]
    fn flat_load_is_no_scale_up() {
        let (m, l) = jump(false);
        let (vs, ss, cs) = input(&m, &l);
        let r = PatternAnalyzer::default().analyze_with_context(&vs, &ss, &cs, &[info()], NOW);
        let s = r.breaches[0].load.as_ref().expect("a load signal");
        assert_eq!(s.trend, LoadTrend::Flat);
        let plans = Planner::default().generate_plans(&r, &[target()], &KnowledgeBase::new());
        assert!(
            plans
                .iter()
                .flat_map(|p| &p.actions)
                .all(|a| a.action_type != ActionType::ScaleUp),
            "{plans:?}"
        );
        assert_eq!(plans[0].actions[0].action_type, ActionType::RestartService);
        // The jump reads as a trend too: the evidence goes to the mechanisms.
        assert!(MECHANISMS.contains(&plans[0].root_cause), "{plans:?}");
        // Without the load the same shape scales.
        let (vs, ss, _) = input(&m, &l);
        let r = PatternAnalyzer::default().analyze_policies(&vs, &ss, &[info()], NOW);
        let plans = Planner::default().generate_plans(&r, &[target()], &KnowledgeBase::new());
        assert_eq!(plans[0].actions[0].action_type, ActionType::ScaleUp);
    }

    fn cause(kind: RootCauseKind, confidence: f64) -> RootCause {
        RootCause {
            kind,
            target: "web".into(),
            policy: "lat".into(),
            confidence,
            description: String::new(),
            supporting_patterns: vec![0],
        }
    }

    fn breach_with(trend: LoadTrend) -> Breach {
        let (m, l) = jump(true);
        let (vs, ss, cs) = input(&m, &l);
        let mut b = PatternAnalyzer::default()
            .analyze_with_context(&vs, &ss, &cs, &[info()], NOW)
            .breaches
            .remove(0);
        b.load.as_mut().expect("a load signal").trend = trend;
        b
    }

    #[test]
    fn rising_load_explains_a_climb_and_flat_load_the_load_kinds_away() {
        let w = LoadConfig::default().weight;
        let mut causes = vec![
            cause(RootCauseKind::GradualDegradation, 0.6),
            cause(RootCauseKind::LoadSpike, 0.2),
        ];
        apply(
            &mut causes,
            &[breach_with(LoadTrend::Rising)],
            &LoadConfig::default(),
        );
        assert_eq!(causes[0].kind, RootCauseKind::LoadSpike);
        assert!((causes[0].confidence - (0.2 + 0.6 * w)).abs() < 1e-9);
        assert!((causes[1].confidence - 0.6 * (1.0 - w)).abs() < 1e-9);
        assert!(causes[1].description.contains("explains the climb"));

        // Flat load: to the leak when there is one ...
        let mut causes = vec![
            cause(RootCauseKind::LoadSpike, 0.5),
            cause(RootCauseKind::GradualDegradation, 0.3),
        ];
        apply(
            &mut causes,
            &[breach_with(LoadTrend::Flat)],
            &LoadConfig::default(),
        );
        assert_eq!(causes[0].kind, RootCauseKind::GradualDegradation);
        assert!((causes[0].confidence - (0.3 + 0.5 * w)).abs() < 1e-9);
        // ... else to a fault of the component.
        let mut causes = vec![cause(RootCauseKind::ChronicOverload, 0.5)];
        apply(
            &mut causes,
            &[breach_with(LoadTrend::Flat)],
            &LoadConfig::default(),
        );
        assert_eq!(causes[0].kind, RootCauseKind::ComponentFault);
        assert!(causes[0].description.contains("nothing else explains"));
        // Unclear load changes nothing.
        let mut causes = vec![cause(RootCauseKind::ChronicOverload, 0.5)];
        apply(
            &mut causes,
            &[breach_with(LoadTrend::Unclear)],
            &LoadConfig::default(),
        );
        assert_eq!(causes, vec![cause(RootCauseKind::ChronicOverload, 0.5)]);
    }

    #[test]
    fn too_few_healthy_evaluations_say_nothing() {
        // Breaching all along: no healthy baseline.
        let m = vec![1.4; 30];
        let l = vec![500.0; 30];
        let (vs, ss, cs) = input(&m, &l);
        let r = PatternAnalyzer::default().analyze_with_context(&vs, &ss, &cs, &[info()], NOW);
        assert!(r.breaches[0].load.is_none());
    }

    #[test]
    fn the_load_fit_reaches_the_threshold_between_its_points() {
        let (m, l) = jump(true);
        let (vs, ss, cs) = input(&m, &l);
        let r = PatternAnalyzer::default().analyze_with_context(&vs, &ss, &cs, &[info()], NOW);
        let f = LoadFit::of(&r.breaches[0]).expect("a fit");
        assert!(f.load_at_threshold > f.baseline_load && f.load_at_threshold < f.recent_load);
        assert!((f.load_at_threshold - 700.0).abs() < 60.0, "{f:?}");
        assert!(LoadFit::of(&breach_with(LoadTrend::Flat)).is_none());
    }

    #[test]
    fn nearest_pairs_within_the_tolerance() {
        let s = [(0, 1.0), (30_000, 2.0), (60_000, 3.0)];
        assert_eq!(nearest(&s, 29_000, 15_000), Some(2.0));
        assert_eq!(nearest(&s, 44_000, 15_000), Some(2.0));
        assert_eq!(nearest(&s, 100_000, 15_000), None);
        assert_eq!(nearest(&[], 0, 15_000), None);
    }
}
