//! Property tests across the engine: plans stay inside their envelopes for any
//! input, and analysis plus planning is deterministic (the same input, in any
//! order, gives the same result and the same plan hashes) and never panics.

use proptest::prelude::*;

use super::analyze::{AnalyzerConfig, PatternAnalyzer};
use super::knowledge::{KnowledgeBase, OutcomeRecord, classify_outcome, success_confidence};
use super::model::{
    ActionType, AnalysisResult, ConfigSetting, ConfigTarget, MetricSample, PatchKind, Point,
    RemediationEnvelope, RootCause, RootCauseKind, Samples, ScaleBounds, Series, Severity,
    Violation,
};
use super::plan::{PlanTarget, Planner, PlannerConfig, plan_hash};

const KINDS: [RootCauseKind; 6] = [
    RootCauseKind::LoadSpike,
    RootCauseKind::GradualDegradation,
    RootCauseKind::RecurringLoad,
    RootCauseKind::ComponentFault,
    RootCauseKind::UpstreamDependency,
    RootCauseKind::ChronicOverload,
];

fn action() -> impl Strategy<Value = ActionType> {
    (0..ActionType::ALL.len()).prop_map(|i| ActionType::ALL[i])
}

fn kind() -> impl Strategy<Value = RootCauseKind> {
    (0..KINDS.len()).prop_map(|i| KINDS[i])
}

fn replicas() -> impl Strategy<Value = i32> {
    prop_oneof![-3..40i32, Just(i32::MIN), Just(i32::MAX), Just(0)]
}

fn setting() -> impl Strategy<Value = ConfigSetting> {
    (
        prop::sample::select(vec!["A", "B"]),
        prop::sample::select(vec!["1", "2", "3"]),
        prop::collection::vec(prop::sample::select(vec!["1", "2"]), 0..3),
        prop::collection::vec(action(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(name, value, allowed, actions, env)| ConfigSetting {
            name: name.to_string(),
            target: if env {
                ConfigTarget::Env
            } else {
                ConfigTarget::Annotation
            },
            container: None,
            value: value.to_string(),
            allowed_values: allowed.into_iter().map(str::to_string).collect(),
            actions,
        })
}

fn envelope() -> impl Strategy<Value = RemediationEnvelope> {
    (
        prop::collection::vec(action(), 0..9),
        prop::option::of((replicas(), replicas(), -2..8i32)),
        prop::collection::vec(setting(), 0..3),
    )
        .prop_map(|(allowed_actions, scale, config)| RemediationEnvelope {
            allowed_actions,
            scale: scale.map(|(min_replicas, max_replicas, max_step)| ScaleBounds {
                min_replicas,
                max_replicas,
                max_step,
            }),
            config,
        })
}

fn confidence() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..=1.0f64,
        Just(f64::NAN),
        Just(-1.0),
        Just(2.0),
        Just(f64::INFINITY)
    ]
}

fn root_cause() -> impl Strategy<Value = RootCause> {
    (kind(), 0..3usize, confidence()).prop_map(|(kind, p, confidence)| RootCause {
        kind,
        target: format!("d{p}"),
        policy: format!("p{p}"),
        confidence,
        description: String::new(),
        supporting_patterns: vec![],
    })
}

fn plan_target() -> impl Strategy<Value = PlanTarget> {
    (0..3usize, replicas(), envelope(), 0..3usize).prop_map(|(p, current, envelope, sev)| {
        PlanTarget {
            policy: format!("p{p}").into(),
            deployment: format!("d{p}").into(),
            current_replicas: current,
            severity: [Severity::Info, Severity::Warning, Severity::Critical][sev],
            envelope,
        }
    })
}

fn outcome_record() -> impl Strategy<Value = OutcomeRecord> {
    (
        kind(),
        prop::collection::vec(action(), 1..3),
        prop::option::of(0..20u32),
        prop::option::of(0..20u32),
    )
        .prop_map(|(root_cause, action_types, before, after)| OutcomeRecord {
            plan_name: "r".into(),
            plan_hash: String::new(),
            target: "d0".into(),
            policy: "p0".into(),
            root_cause,
            action_types,
            violations_before: before,
            violations_after: after,
            resolved_count: 0,
            time_to_stabilization_seconds: Some(10),
            outcome: classify_outcome(before, after),
            success_confidence: success_confidence(before, after),
            recorded_at_ms: 0,
            detail: None,
        })
}

fn violation() -> impl Strategy<Value = Violation> {
    (
        0..40u32,
        0..4usize,
        0..3usize,
        prop_oneof![-5.0..5.0f64, Just(f64::NAN)],
        prop_oneof![0..1_200_000i64, Just(i64::MIN), Just(i64::MAX)],
        0..3usize,
    )
        .prop_map(|(id, p, c, value, at_ms, sev)| Violation {
            id: format!("v{id}").into(),
            policy: format!("p{p}"),
            target: format!("d{}", p % 3),
            component: format!("c{c}"),
            metric: format!("m{p}"),
            severity: [Severity::Info, Severity::Warning, Severity::Critical][sev],
            value,
            threshold: 0.0,
            at_ms,
        })
}

fn sample() -> impl Strategy<Value = MetricSample> {
    (
        0..4usize,
        0..1_200_000i64,
        prop_oneof![-5.0..5.0f64, Just(f64::NAN), Just(f64::INFINITY)],
    )
        .prop_map(|(p, at_ms, value)| MetricSample {
            policy: format!("p{p}").into(),
            at_ms,
            value,
        })
}

fn analysis(root_causes: Vec<RootCause>) -> AnalysisResult {
    AnalysisResult {
        analysis_id: "an".into(),
        violations_analyzed: 0,
        patterns: vec![],
        root_causes,
        recommendations: vec![],
        confidence_level: 0.0,
        breaches: Vec::new(),
        shared_causes: Vec::new(),
        episodes: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plans_stay_inside_their_envelopes(
        causes in prop::collection::vec(root_cause(), 0..6),
        targets in prop::collection::vec(plan_target(), 0..4),
        outcomes in prop::collection::vec(outcome_record(), 0..12),
        max_actions in 0..4usize,
    ) {
        let kb = KnowledgeBase::from_outcomes(&outcomes);
        let planner = Planner::new(PlannerConfig { max_actions, ..PlannerConfig::default() });
        let plans = planner.generate_plans(&analysis(causes), &targets, &kb);
        let mut deployments: Vec<&str> = plans.iter().map(|p| p.target.as_str()).collect();
        deployments.sort();
        deployments.dedup();
        prop_assert_eq!(deployments.len(), plans.len(), "one plan per deployment");
        for plan in &plans {
            prop_assert!(!plan.actions.is_empty() && plan.actions.len() <= max_actions);
            prop_assert_eq!(&plan.plan_hash, &plan_hash(plan));
            prop_assert!(plan.score > 0.0 && plan.score.is_finite());
            prop_assert!((0.0..=1.0).contains(&plan.confidence));
            // Some target with this policy and deployment allows every action.
            let ok = targets.iter().any(|t| {
                t.policy == plan.policy && t.deployment == plan.target && plan.actions.iter().all(|a| {
                    if !t.envelope.allows(a.action_type) || a.target != t.deployment {
                        return false;
                    }
                    match a.action_type.patch_kind() {
                        PatchKind::Scale => {
                            let (Some(b), Some(r)) = (&t.envelope.scale, a.replicas) else {
                                return false;
                            };
                            let step = (i64::from(r) - i64::from(t.current_replicas)).abs();
                            r >= b.min_replicas && r <= b.max_replicas
                                && step <= i64::from(b.max_step) && step > 0
                                && a.config.is_none()
                        }
                        PatchKind::Restart => a.replicas.is_none() && a.config.is_none(),
                        PatchKind::Rollback => {
                            a.replicas.is_none() && a.config.is_none() && a.revision.is_some()
                        }
                        PatchKind::Config => {
                            let (Some(s), Some(c)) = (t.envelope.setting_for(a.action_type), &a.config) else {
                                return false;
                            };
                            a.replicas.is_none() && c.name == s.name && c.value == s.value
                                && (s.allowed_values.is_empty() || s.allowed_values.contains(&c.value))
                        }
                    }
                })
            });
            prop_assert!(ok, "plan outside every envelope: {:?}", plan);
            let ids: Vec<String> = (1..=plan.actions.len()).map(|i| format!("a{i}")).collect();
            let got: Vec<String> = plan.actions.iter().map(|a| a.id.to_string()).collect();
            prop_assert_eq!(got, ids);
        }
    }

    #[test]
    fn engine_is_deterministic_under_shuffling(
        (vs, shuffled_vs) in prop::collection::vec(violation(), 0..60)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        (ss, shuffled_ss) in prop::collection::vec(sample(), 0..40)
            .prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle())),
        now in prop_oneof![Just(1_200_000i64), Just(600_000i64), Just(i64::MAX), Just(i64::MIN)],
        targets in prop::collection::vec(plan_target(), 0..4),
    ) {
        let cfg = AnalyzerConfig { window_ms: 1_200_000, burst_min_violations: 2, ..AnalyzerConfig::default() };
        let analyzer = PatternAnalyzer::new(cfg);
        let planner = Planner::default();
        let kb = KnowledgeBase::new();
        let a = analyzer.analyze(&vs, &ss, now);
        let b = analyzer.analyze(&vs, &ss, now);
        let c = analyzer.analyze(&shuffled_vs, &shuffled_ss, now);
        // Compare as JSON: NaN-free output is then compared exactly.
        let json = |r: &AnalysisResult| serde_json::to_string(r).unwrap();
        prop_assert_eq!(json(&a), json(&b));
        prop_assert_eq!(json(&a), json(&c));
        for p in &a.patterns {
            prop_assert!((0.0..=1.0).contains(&p.confidence));
        }
        for rc in &a.root_causes {
            prop_assert!((0.0..=1.0).contains(&rc.confidence));
            for &i in &rc.supporting_patterns {
                prop_assert!(i < a.patterns.len());
                prop_assert!(a.patterns[i].targets.contains(&rc.target));
            }
        }
        let pa = planner.generate_plans(&a, &targets, &kb);
        let pc = planner.generate_plans(&c, &targets, &kb);
        prop_assert_eq!(serde_json::to_string(&pa).unwrap(), serde_json::to_string(&pc).unwrap());
    }

    /// The operator's path (each policy's series read in place) gives the
    /// analysis of the same samples as one list: with series sorted (read in
    /// place) or not, split in two or not, with NaNs and infinities.
    #[test]
    fn series_read_in_place_give_the_analysis_of_the_list(
        vs in prop::collection::vec(violation(), 0..40),
        ss in prop::collection::vec(sample(), 0..60),
        sort in any::<bool>(),
        split in any::<bool>(),
        now in prop_oneof![Just(1_200_000i64), Just(600_000i64), Just(i64::MAX), Just(i64::MIN)],
    ) {
        let cfg = AnalyzerConfig { window_ms: 1_200_000, burst_min_violations: 2, ..AnalyzerConfig::default() };
        let analyzer = PatternAnalyzer::new(cfg);
        let mut names: Vec<&str> = ss.iter().map(|s| s.policy.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut held: Vec<(&str, Vec<Point>)> = Vec::new();
        for name in names {
            let mut points: Vec<Point> = ss.iter().filter(|s| s.policy.as_str() == name).map(Point::from).collect();
            if sort {
                points.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.value.total_cmp(&b.value)));
            }
            if split && points.len() > 1 {
                let second = points.split_off(points.len() / 2);
                held.push((name, second));
            }
            held.push((name, points));
        }
        let series: Vec<Series> = held.iter().map(|(policy, points)| Series { policy, points }).collect();
        let run = |samples: Samples| analyzer.analyze_with_episodes(&vs, samples, &[], &[], &[], &[], now);
        let json = |r: &AnalysisResult| serde_json::to_string(r).unwrap();
        prop_assert_eq!(json(&run(Samples::List(&ss))), json(&run(Samples::Series(&series))));
    }
}
