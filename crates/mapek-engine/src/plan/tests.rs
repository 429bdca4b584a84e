//! Tests of the planner: choices, sizing, envelopes and learned outcomes.

use super::*;
use crate::knowledge::tests::outcome;
use crate::model::{ConfigSetting, ConfigTarget, RiskLevel, ScaleBounds};
use sha2::{Digest, Sha256};

fn rc(kind: RootCauseKind, confidence: f64) -> RootCause {
    RootCause {
        kind,
        target: "web".into(),
        policy: "lat".into(),
        confidence,
        description: String::new(),
        supporting_patterns: vec![],
    }
}

fn analysis(causes: Vec<RootCause>) -> AnalysisResult {
    AnalysisResult {
        analysis_id: "an-0".into(),
        violations_analyzed: 0,
        patterns: vec![],
        root_causes: causes,
        recommendations: vec![],
        confidence_level: 0.0,
        breaches: Vec::new(),
        shared_causes: Vec::new(),
        episodes: Vec::new(),
    }
}

fn bounds(min: i32, max: i32, step: i32) -> ScaleBounds {
    ScaleBounds {
        min_replicas: min,
        max_replicas: max,
        max_step: step,
    }
}

fn target(allowed: &[ActionType], current: i32) -> PlanTarget {
    PlanTarget {
        policy: "lat".into(),
        deployment: "web".into(),
        current_replicas: current,
        severity: Severity::Critical,
        envelope: RemediationEnvelope {
            allowed_actions: allowed.to_vec(),
            scale: Some(bounds(1, 10, 3)),
            config: vec![],
        },
    }
}

fn setting(actions: &[ActionType], value: &str, allowed: &[&str]) -> ConfigSetting {
    ConfigSetting {
        name: "RATE_LIMIT".into(),
        target: ConfigTarget::Env,
        container: None,
        value: value.into(),
        allowed_values: allowed.iter().map(|s| s.to_string()).collect(),
        actions: actions.to_vec(),
    }
}

fn plan(causes: Vec<RootCause>, targets: &[PlanTarget]) -> Vec<RemediationPlan> {
    Planner::default().generate_plans(&analysis(causes), targets, &KnowledgeBase::new())
}

fn breach(level: f64, threshold: f64) -> Breach {
    Breach {
        policy: "lat".into(),
        target: "web".into(),
        current: true,
        run: 4,
        stands_out: true,
        shared: false,
        actionable: true,
        level,
        threshold,
        operator: crate::model::ComparisonOperator::GreaterThan,
        baseline: None,
        excess_z: None,
        margin_z: None,
        baseline_duty: None,
        novel: None,
        previous_peak: None,
        long_z: None,
        interval_ms: 30_000,
        last_at_ms: 0,
        run_start_ms: None,
        reason: String::new(),
        load: None,
        change: None,
        episode: None,
    }
}

#[test]
fn scale_up_is_sized_as_hpa_does_with_headroom_inside_the_envelope() {
    let b = bounds(2, 20, 10);
    // 4 replicas at 1.26x: ceil(4 × 1.26) = 6 (HPA); with 10% headroom
    // ceil(5.544) = 6 too.
    let (r, z) = proportional_replicas(4, 1.26, 0.1, &b).unwrap();
    assert_eq!((r, z.desired), (6, 6));
    assert_eq!(proportional_replicas(4, 1.26, 0.0, &b).unwrap().0, 6);
    // Headroom can add one: 4 × 1.4 = 5.6 -> 6, × 1.1 = 6.16 -> 7.
    assert_eq!(proportional_replicas(4, 1.4, 0.0, &b).unwrap().0, 6);
    assert_eq!(proportional_replicas(4, 1.4, 0.1, &b).unwrap().0, 7);
    // maxStep and maxReplicas bound it; a slight overload still adds one.
    assert_eq!(
        proportional_replicas(4, 5.0, 0.1, &bounds(2, 20, 3))
            .unwrap()
            .0,
        7
    );
    assert_eq!(
        proportional_replicas(4, 5.0, 0.1, &bounds(2, 6, 10))
            .unwrap()
            .0,
        6
    );
    assert_eq!(proportional_replicas(4, 1.01, 0.0, &b).unwrap().0, 5);
    assert_eq!(proportional_replicas(6, 2.0, 0.1, &bounds(2, 6, 10)), None);
    assert_eq!(proportional_replicas(4, f64::NAN, 0.1, &b), None);
}

#[test]
fn a_judged_plan_scales_proportionally_and_shows_the_arithmetic() {
    let mut a = analysis(vec![rc(RootCauseKind::LoadSpike, 0.9)]);
    a.breaches = vec![breach(0.63, 0.5)];
    let mut t = target(&[ActionType::ScaleUp], 4);
    t.envelope.scale = Some(bounds(2, 20, 10));
    let plans = Planner::default().generate_plans(&a, &[t], &KnowledgeBase::new());
    assert_eq!(plans[0].actions[0].replicas, Some(6));
    assert!(
        plans[0]
            .expected_impact
            .contains("ceil(4 × 1.26 (level over threshold) × 1.10 (headroom)) = 6"),
        "{}",
        plans[0].expected_impact
    );
}

#[test]
fn the_sizing_note_comes_only_with_a_chosen_scale_up() {
    use ActionType::*;
    let mut a = analysis(vec![rc(RootCauseKind::GradualDegradation, 0.9)]);
    a.breaches = vec![breach(0.63, 0.5)];
    let mut t = target(&[RestartService, ScaleUp], 4);
    t.envelope.scale = Some(bounds(2, 20, 10));
    let kb = KnowledgeBase::new();
    // Both: the restart first, then the sized scale-up, and its note.
    let both = Planner::default().generate_plans(&a, std::slice::from_ref(&t), &kb);
    let types: Vec<_> = both[0].actions.iter().map(|x| x.action_type).collect();
    assert_eq!(types, [RestartService, ScaleUp]);
    assert!(
        both[0].expected_impact.ends_with(
            " Sized as HPA does: ceil(4 × 1.26 (level over threshold) × 1.10 (headroom)) = 6 replicas."
        ),
        "{}",
        both[0].expected_impact
    );
    // One action: the restart alone, without the scale-up's note.
    let one = Planner::new(PlannerConfig {
        max_actions: 1,
        ..PlannerConfig::default()
    })
    .generate_plans(&a, &[t], &kb);
    assert_eq!(one[0].actions.len(), 1);
    assert_eq!(one[0].actions[0].action_type, RestartService);
    assert!(
        !one[0].expected_impact.contains("Sized"),
        "{}",
        one[0].expected_impact
    );
}

#[test]
fn no_plan_for_a_breach_that_is_not_actionable() {
    let mut a = analysis(vec![rc(RootCauseKind::LoadSpike, 0.9)]);
    let mut b = breach(0.63, 0.5);
    b.actionable = false;
    a.breaches = vec![b];
    let t = target(&[ActionType::ScaleUp], 4);
    assert!(
        Planner::default()
            .generate_plans(&a, &[t], &KnowledgeBase::new())
            .is_empty()
    );
}

#[test]
fn an_action_that_failed_twice_for_a_cause_gives_way_to_another() {
    use ActionType::*;
    let mut t = target(&[RestartService, UpdateConfiguration], 4);
    t.envelope.config = vec![setting(&[UpdateConfiguration], "5", &[])];
    let causes = vec![rc(RootCauseKind::ComponentFault, 0.9)];
    let first = plan(causes.clone(), std::slice::from_ref(&t));
    assert_eq!(first[0].actions[0].action_type, RestartService);
    let failed = |i: usize| crate::knowledge::OutcomeRecord {
        plan_name: format!("fix-{i}"),
        plan_hash: String::new(),
        target: "web".into(),
        policy: "lat".into(),
        root_cause: RootCauseKind::ComponentFault,
        action_types: vec![RestartService],
        violations_before: Some(10),
        violations_after: Some(9),
        resolved_count: 1,
        time_to_stabilization_seconds: None,
        outcome: crate::model::OutcomeType::Ineffective,
        success_confidence: 0.0,
        recorded_at_ms: 0,
        detail: None,
    };
    let kb = KnowledgeBase::from_outcomes(&[failed(1), failed(2)]);
    let next = Planner::default().generate_plans(&analysis(causes), &[t], &kb);
    assert_eq!(next[0].actions[0].action_type, UpdateConfiguration);
}

#[test]
fn actions_are_chosen_against_the_whole_distribution() {
    use ActionType::*;
    // An upstream dependency (0.6) and a load spike (0.3) on web: throttling
    // helps against both (0.6·0.7 + 0.3·0.7 = 0.63 - 0.40), scaling against
    // the spike only (0.3·0.9 = 0.27 - 0.15).
    let mut t = target(&[ScaleUp, ThrottleRequests], 4);
    t.envelope.config = vec![setting(&[ThrottleRequests], "5", &[])];
    let plans = plan(
        vec![
            rc(RootCauseKind::UpstreamDependency, 0.6),
            rc(RootCauseKind::LoadSpike, 0.3),
        ],
        &[t],
    );
    assert_eq!(plans[0].actions[0].action_type, ThrottleRequests);
    assert_eq!(plans[0].root_cause, RootCauseKind::UpstreamDependency);
}

#[test]
fn scale_replicas_bounds() {
    let b = bounds(2, 10, 3);
    assert_eq!(scale_replicas(ActionType::ScaleUp, 4, &b), Some(7));
    assert_eq!(scale_replicas(ActionType::ScaleUp, 9, &b), Some(10));
    assert_eq!(scale_replicas(ActionType::ScaleUp, 10, &b), None);
    // Below the bounds: brought in when one step suffices.
    assert_eq!(scale_replicas(ActionType::ScaleUp, 0, &b), Some(3));
    assert_eq!(
        scale_replicas(ActionType::ScaleUp, 0, &bounds(5, 10, 2)),
        None
    );
    // Above the bounds: scaling up is impossible.
    assert_eq!(scale_replicas(ActionType::ScaleUp, 12, &b), None);
    assert_eq!(scale_replicas(ActionType::ScaleDown, 12, &b), Some(9));
    assert_eq!(scale_replicas(ActionType::ScaleDown, 2, &b), None);
    assert_eq!(
        scale_replicas(ActionType::ScaleUp, 4, &bounds(5, 3, 1)),
        None
    );
    assert_eq!(
        scale_replicas(ActionType::ScaleUp, 4, &bounds(1, 9, 0)),
        None
    );
    assert_eq!(
        scale_replicas(
            ActionType::ScaleUp,
            i32::MAX,
            &bounds(0, i32::MAX, i32::MAX)
        ),
        None
    );
    assert_eq!(
        scale_replicas(
            ActionType::ScaleUp,
            i32::MIN,
            &bounds(0, i32::MAX, i32::MAX)
        ),
        None
    );
    assert_eq!(scale_replicas(ActionType::RestartService, 4, &b), None);
}

#[test]
fn load_spike_plan_hand_computed() {
    use ActionType::*;
    // Confidence 0.8, no knowledge: SCALE_UP benefit 0.8·0.9 = 0.72, score 0.57;
    // THROTTLE benefit 0.56, score 0.16; REBALANCE 0.48, score 0.23.
    // Best two: SCALE_UP then REBALANCE_LOAD.
    let t = target(&[ScaleUp, ThrottleRequests, RebalanceLoad], 4);
    let mut t = t;
    t.envelope.config = vec![setting(&[ThrottleRequests], "100", &[])];
    let plans = plan(vec![rc(RootCauseKind::LoadSpike, 0.8)], &[t]);
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    let types: Vec<ActionType> = p.actions.iter().map(|a| a.action_type).collect();
    assert_eq!(types, vec![ScaleUp, RebalanceLoad]);
    assert_eq!(p.actions[0].id, "a1");
    assert_eq!(p.actions[1].id, "a2");
    assert_eq!(p.actions[0].replicas, Some(7));
    assert_eq!(p.actions[0].estimated_latency_seconds, 30);
    assert_eq!(p.actions[1].estimated_latency_seconds, 120);
    assert!((p.cost - 0.40).abs() < 1e-12);
    assert!((p.benefit - 1.20).abs() < 1e-12);
    assert!((p.score - 0.80).abs() < 1e-12);
    // Critical (1.0) × 0.8 = 0.8 => Critical.
    assert_eq!(p.priority, Priority::Critical);
    // Max cost 0.25, total 0.40, step 3 of 4 (> half) => Medium.
    assert_eq!(p.risk, RiskLevel::Medium);
    assert_eq!(p.plan_hash, plan_hash(p));
    assert_eq!(p.plan_hash.len(), 16);
    assert!(p.expected_impact.contains("SCALE_UP to 7 replicas"));
}

#[test]
fn disallowed_actions_are_never_planned() {
    use ActionType::*;
    let plans = plan(
        vec![rc(RootCauseKind::LoadSpike, 1.0)],
        &[target(&[RestartService], 4)],
    );
    // RESTART_SERVICE is no LoadSpike candidate: nothing to plan.
    assert!(plans.is_empty());
    let plans = plan(
        vec![rc(RootCauseKind::LoadSpike, 1.0)],
        &[target(&[RebalanceLoad], 4)],
    );
    assert_eq!(plans[0].actions.len(), 1);
    assert_eq!(plans[0].actions[0].action_type, RebalanceLoad);
}

#[test]
fn scale_needs_bounds_and_room() {
    use ActionType::*;
    let mut t = target(&[ScaleUp], 4);
    t.envelope.scale = None;
    assert!(plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]).is_empty());
    let t = target(&[ScaleUp], 10);
    assert!(plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]).is_empty());
}

#[test]
fn config_actions_need_a_listed_setting_with_an_allowed_value() {
    use ActionType::*;
    let cause = || vec![rc(RootCauseKind::ComponentFault, 1.0)];
    let t = target(&[UpdateConfiguration], 4);
    assert!(plan(cause(), std::slice::from_ref(&t)).is_empty());
    let mut t2 = t.clone();
    t2.envelope.config = vec![setting(&[ThrottleRequests], "1", &[])];
    assert!(plan(cause(), &[t2]).is_empty());
    let mut t3 = t.clone();
    t3.envelope.config = vec![setting(&[UpdateConfiguration], "5", &["1", "2"])];
    assert!(plan(cause(), &[t3]).is_empty());
    let mut t4 = t.clone();
    t4.envelope.config = vec![setting(&[UpdateConfiguration], "2", &["1", "2"])];
    let plans = plan(cause(), &[t4]);
    assert_eq!(plans.len(), 1);
    // 1.0 × 0.6 - 0.35 = 0.25
    assert!((plans[0].score - 0.25).abs() < 1e-12);
    let c = plans[0].actions[0].config.as_ref().unwrap();
    assert_eq!((c.name.as_str(), c.value.as_str()), ("RATE_LIMIT", "2"));
    assert_eq!(plans[0].risk, RiskLevel::Medium);
}

#[test]
fn every_kind_has_at_most_four_distinct_candidates() {
    // `choose` keeps the candidates of one kind in 4 slots and relies on
    // distinct action types for a total order.
    for kind in [
        RootCauseKind::LoadSpike,
        RootCauseKind::GradualDegradation,
        RootCauseKind::RecurringLoad,
        RootCauseKind::ComponentFault,
        RootCauseKind::UpstreamDependency,
        RootCauseKind::ChronicOverload,
    ] {
        let list = candidate_actions(kind);
        assert!(list.len() <= 4, "{kind:?}");
        let mut types: Vec<ActionType> = list.iter().map(|(a, _)| *a).collect();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), list.len(), "{kind:?}");
    }
}

#[test]
fn every_kind_has_a_config_option() {
    use ActionType::UpdateConfiguration;
    for kind in [
        RootCauseKind::LoadSpike,
        RootCauseKind::GradualDegradation,
        RootCauseKind::RecurringLoad,
        RootCauseKind::ComponentFault,
        RootCauseKind::UpstreamDependency,
        RootCauseKind::ChronicOverload,
    ] {
        let mut t = target(&[UpdateConfiguration], 4);
        t.envelope.config = vec![setting(&[UpdateConfiguration], "x", &[])];
        let plans = plan(vec![rc(kind, 1.0)], &[t]);
        assert_eq!(plans.len(), 1, "{kind:?}");
        assert_eq!(plans[0].actions[0].action_type, UpdateConfiguration);
    }
}

#[test]
fn one_setting_is_not_changed_twice() {
    use ActionType::*;
    let mut t = target(&[ThrottleRequests, UpdateConfiguration], 4);
    t.envelope.config = vec![setting(&[ThrottleRequests, UpdateConfiguration], "9", &[])];
    let plans = plan(vec![rc(RootCauseKind::LoadSpike, 1.0)], &[t]);
    assert_eq!(plans[0].actions.len(), 1);
    assert_eq!(plans[0].actions[0].action_type, ThrottleRequests);
}

#[test]
fn low_confidence_gives_no_plan() {
    // 0.1 × 0.9 = 0.09 < 0.15.
    let plans = plan(
        vec![rc(RootCauseKind::LoadSpike, 0.1)],
        &[target(&[ActionType::ScaleUp], 4)],
    );
    assert!(plans.is_empty());
}

#[test]
fn knowledge_changes_the_ranking() {
    use ActionType::*;
    use RootCauseKind::GradualDegradation as G;
    let t = target(&[RestartService, ScaleUp], 4);
    let planner = Planner::new(PlannerConfig {
        max_actions: 1,
        ..PlannerConfig::default()
    });
    let a = analysis(vec![rc(G, 0.9)]);
    // Prior: RESTART 0.9·0.85 - 0.2 = 0.565 beats SCALE_UP 0.9·0.5 - 0.15 = 0.3.
    let before = planner.generate_plans(&a, std::slice::from_ref(&t), &KnowledgeBase::new());
    assert_eq!(before[0].actions[0].action_type, RestartService);
    // Restarts failed 4 times (Beta(1, 5), factor 2/6), scaling worked 4 times
    // (Beta(5, 1), factor 10/6): RESTART 0.765/3 - 0.2 = 0.055, SCALE_UP 0.75 - 0.15 = 0.6.
    let mut outs = Vec::new();
    for _ in 0..4 {
        outs.push(outcome(G, &[RestartService], 10, 10, None));
        outs.push(outcome(G, &[ScaleUp], 10, 0, Some(20)));
    }
    let kb = KnowledgeBase::from_outcomes(&outs);
    let after = planner.generate_plans(&a, &[t], &kb);
    assert_eq!(after[0].actions[0].action_type, ScaleUp);
    assert!((after[0].score - 0.6).abs() < 1e-12);
    assert_ne!(after[0].plan_hash, before[0].plan_hash);
}

#[test]
fn one_plan_per_deployment_best_score_wins() {
    use ActionType::*;
    let t = target(&[ScaleUp, RestartService], 4);
    let plans = plan(
        vec![
            rc(RootCauseKind::ComponentFault, 0.9),
            rc(RootCauseKind::LoadSpike, 0.8),
        ],
        &[t],
    );
    assert_eq!(plans.len(), 1);
    // LoadSpike: SCALE_UP 0.72 - 0.15 = 0.57 alone (RESTART no candidate).
    // ComponentFault: RESTART 0.72 - 0.20 = 0.52 alone. LoadSpike wins.
    assert_eq!(plans[0].root_cause, RootCauseKind::LoadSpike);
}

#[test]
fn root_causes_without_a_target_are_skipped_and_plans_sorted() {
    use ActionType::*;
    let mut other = target(&[ScaleUp], 4);
    other.policy = "err".into();
    other.deployment = "api".into();
    other.severity = Severity::Info;
    let mut c2 = rc(RootCauseKind::LoadSpike, 0.9);
    c2.policy = "err".into();
    c2.target = "api".into();
    let plans = plan(
        vec![rc(RootCauseKind::LoadSpike, 0.9), c2, {
            let mut c = rc(RootCauseKind::LoadSpike, 0.9);
            c.policy = "nobody".into();
            c
        }],
        &[other, target(&[ScaleUp], 4)],
    );
    let order: Vec<(&str, Priority)> = plans
        .iter()
        .map(|p| (p.target.as_str(), p.priority))
        .collect();
    // web: Critical (1.0 × 0.9); api: Info 0.5 × 0.9 = 0.45 => Medium.
    assert_eq!(
        order,
        vec![("web", Priority::Critical), ("api", Priority::Medium)]
    );
}

#[test]
fn plan_hash_is_stable_and_content_sensitive() {
    let plans = plan(
        vec![rc(RootCauseKind::LoadSpike, 0.8)],
        &[target(&[ActionType::ScaleUp], 4)],
    );
    let p = plans[0].clone();
    assert_eq!(plan_hash(&p), p.plan_hash);
    let mut q = p.clone();
    q.plan_hash = "anything".into();
    assert_eq!(plan_hash(&q), p.plan_hash);
    q.actions[0].replicas = Some(6);
    assert_ne!(plan_hash(&q), p.plan_hash);
    assert!(p.plan_hash.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn plan_hash_is_the_sha256_of_the_json_without_the_hash_floats_with_6_decimals() {
    let p = plan(
        vec![rc(RootCauseKind::LoadSpike, 0.8)],
        &[target(&[ActionType::ScaleUp, ActionType::RebalanceLoad], 4)],
    )
    .remove(0);
    let mut q = p.clone();
    q.plan_hash = String::new();
    // The plan's only fractional numbers are its top-level figures.
    let mut value = serde_json::to_value(&q).unwrap();
    for key in ["confidence", "cost", "benefit", "score"] {
        let f = value[key].as_f64().unwrap();
        value[key] = serde_json::Value::String(format!("{f:.6}"));
    }
    let digest = Sha256::digest(serde_json::to_vec(&value).unwrap());
    let want: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(p.plan_hash, want);
    assert_eq!(plan_hash(&q), want);
}

#[test]
fn a_full_tie_between_plans_for_one_deployment_goes_to_the_smaller_hash() {
    use ActionType::*;
    // Two targets of one policy on one Deployment whose plans tie on score,
    // confidence, kind and policy but differ in content (the replicas).
    let a = target(&[ScaleUp], 4);
    let mut b = target(&[ScaleUp], 5);
    b.envelope.scale = Some(bounds(1, 10, 3));
    let cause = vec![rc(RootCauseKind::LoadSpike, 0.8)];
    let one = plan(cause.clone(), std::slice::from_ref(&a)).remove(0);
    let two = plan(cause.clone(), std::slice::from_ref(&b)).remove(0);
    assert_eq!(one.score, two.score);
    assert_ne!(one.plan_hash, two.plan_hash);
    let want = if one.plan_hash < two.plan_hash {
        &one
    } else {
        &two
    };
    assert_eq!(&plan(cause.clone(), &[a.clone(), b.clone()])[0], want);
    assert_eq!(&plan(cause, &[b, a])[0], want);
}

#[test]
fn nan_confidence_plans_nothing() {
    let plans = plan(
        vec![rc(RootCauseKind::LoadSpike, f64::NAN)],
        &[target(&[ActionType::ScaleUp], 4)],
    );
    assert!(plans.is_empty());
}
