//! The benchmark workload generator (`benches/common/mod.rs`) is deterministic and
//! gives every part of the engine work to do: if it stopped doing so, the
//! benchmark figures would measure an easier problem than the one they claim.

#[path = "../benches/common/mod.rs"]
mod common;

use std::collections::BTreeSet;

use common::{Spec, generate, planning_input};
use mapek_engine::model::PatternType;
use mapek_engine::{KnowledgeBase, PatternAnalyzer, Planner};

#[test]
fn same_seed_same_workload_other_seed_other_workload() {
    let a = generate(&Spec::new(2_000));
    let b = generate(&Spec::new(2_000));
    assert_eq!(a.violations, b.violations);
    assert_eq!(a.samples, b.samples);
    assert_eq!(a.targets, b.targets);
    let c = generate(&Spec {
        seed: 7,
        ..Spec::new(2_000)
    });
    assert_ne!(a.violations, c.violations);
}

#[test]
fn workload_has_the_requested_size_inside_the_window() {
    for n in [0, 1, 999, 10_000] {
        let w = generate(&Spec::new(n));
        assert_eq!(w.violations.len(), n);
        let ids: BTreeSet<&str> = w.violations.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids.len(), n, "ids are unique");
        assert!(
            w.violations
                .iter()
                .all(|v| v.at_ms < w.now && v.at_ms >= w.now - 3_600_000)
        );
        assert_eq!(w.samples.len(), 40 * 120);
    }
}

#[test]
fn workload_exercises_every_detector_and_the_planner() {
    let w = generate(&Spec::new(10_000));
    let r = PatternAnalyzer::default().analyze(&w.violations, &w.samples, w.now);
    assert_eq!(r.violations_analyzed, 10_000);
    let types: BTreeSet<PatternType> = r.patterns.iter().map(|p| p.pattern_type).collect();
    assert_eq!(types.len(), 6, "pattern types found: {types:?}");
    let plans = Planner::default().generate_plans(&r, &w.targets, &KnowledgeBase::new());
    assert!(plans.len() >= 6, "{} plans", plans.len());
}

#[test]
fn planning_input_plans_one_per_deployment() {
    let (analysis, targets) = planning_input(100, common::SEED);
    assert_eq!(analysis.root_causes.len(), 100);
    assert_eq!(targets.len(), 100);
    let plans = Planner::default().generate_plans(&analysis, &targets, &KnowledgeBase::new());
    assert_eq!(plans.len(), 100);
}
