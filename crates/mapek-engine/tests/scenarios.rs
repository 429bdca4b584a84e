//! The bundled example scenarios show the pattern each is named after, and the
//! plans the engine makes for them stay inside each policy's envelope.

use std::path::Path;

use mapek_engine::model::{PatchKind, PatternType, RootCauseKind};
use mapek_engine::report::Report;
use mapek_engine::scenario::Scenario;

fn report(name: &str) -> (Scenario, Report) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios")
        .join(name);
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let report = Report::from_scenario(&scenario);
    (scenario, report)
}

fn check(name: &str, pattern: PatternType, top_cause: Option<RootCauseKind>) {
    let (scenario, report) = report(name);
    let found: Vec<_> = report
        .analysis
        .patterns
        .iter()
        .map(|p| p.pattern_type)
        .collect();
    assert!(
        found.contains(&pattern),
        "{name}: expected {pattern:?} in {found:?}"
    );
    if let Some(kind) = top_cause {
        assert_eq!(
            report.analysis.root_causes[0].kind, kind,
            "{name}: top root cause"
        );
    }
    assert!(!report.plans.is_empty(), "{name}: no plan");
    for plan in &report.plans {
        let policy = scenario
            .policies
            .iter()
            .find(|p| p.name == plan.policy)
            .unwrap();
        for a in &plan.actions {
            assert!(
                policy.remediation.allows(a.action_type),
                "{name}: {} not allowed",
                a.action_type
            );
            if a.action_type.patch_kind() == PatchKind::Scale {
                let b = policy.remediation.scale.as_ref().unwrap();
                let r = a.replicas.unwrap();
                assert!(
                    r >= b.min_replicas && r <= b.max_replicas,
                    "{name}: {r} outside bounds"
                );
                assert!(
                    (r - policy.current_replicas).abs() <= b.max_step,
                    "{name}: step too large"
                );
            }
        }
    }
}

#[test]
fn burst() {
    check(
        "burst.yaml",
        PatternType::TemporalBurst,
        Some(RootCauseKind::LoadSpike),
    );
}

#[test]
fn trend() {
    check(
        "trend.yaml",
        PatternType::Trend,
        Some(RootCauseKind::GradualDegradation),
    );
}

#[test]
fn periodic() {
    check(
        "periodic.yaml",
        PatternType::Periodic,
        Some(RootCauseKind::RecurringLoad),
    );
}

#[test]
fn spatial() {
    check(
        "spatial.yaml",
        PatternType::Spatial,
        Some(RootCauseKind::ComponentFault),
    );
}

#[test]
fn causal() {
    check(
        "causal.yaml",
        PatternType::Causal,
        Some(RootCauseKind::UpstreamDependency),
    );
}

#[test]
fn frequency() {
    check(
        "frequency.yaml",
        PatternType::Frequency,
        Some(RootCauseKind::ChronicOverload),
    );
}

#[test]
fn the_json_report_is_deterministic() {
    let (_, a) = report("causal.yaml");
    let (_, b) = report("causal.yaml");
    assert_eq!(a.to_json(), b.to_json());
}
