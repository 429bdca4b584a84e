//! Tests of the change signal: its window's edges, the healthy-before rule, the
//! rising-load exclusion, the weight it moves and the plan it leads to.

use super::*;
use crate::KnowledgeBase;
use crate::analyze::PatternAnalyzer;
use crate::model::AnalysisResult;
use crate::model::{
    ActionType, ComparisonOperator, ContextKind, ContextSample, MetricSample, Point, PolicyInfo,
    RemediationEnvelope, ScaleBounds, Severity, Violation,
};
use crate::plan::{PlanTarget, Planner};

const STEP: Millis = 30_000;
const NOW: Millis = 10_000_000;
const N: usize = 100;
/// The first breaking evaluation: the run's start.
const ONSET: usize = 80;

fn at(i: usize) -> Millis {
    NOW - STEP * (N as Millis - 1) + STEP * i as Millis
}

fn wobble(i: usize) -> f64 {
    0.02 * ((i * 7 % 5) as f64 - 2.0)
}

/// Error ratio (threshold 1.0) quiet at 0.3 until [`ONSET`], then 1.4; load
/// samples at 400/s (times 2.75 from the onset with `rising`).
fn input(rising: bool) -> (Vec<Violation>, Vec<MetricSample>, Vec<ContextSample>) {
    let (mut vs, mut ss, mut cs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..N {
        let m = if i >= ONSET { 1.4 } else { 0.3 } + wobble(i);
        let l = if rising && i >= ONSET { 1100.0 } else { 400.0 } * (1.0 + wobble(i + 2));
        ss.push(MetricSample {
            policy: "err".into(),
            at_ms: at(i),
            value: m,
        });
        cs.push(ContextSample {
            policy: "err".into(),
            kind: ContextKind::Load,
            at_ms: at(i),
            value: l,
        });
        if m > 1.0 {
            vs.push(Violation {
                id: format!("v{i}").into(),
                policy: "err".into(),
                target: "web".into(),
                component: "web".into(),
                metric: "err".into(),
                severity: Severity::Critical,
                value: m,
                threshold: 1.0,
                at_ms: at(i),
            });
        }
    }
    (vs, ss, cs)
}

fn info() -> PolicyInfo {
    PolicyInfo {
        name: "err".into(),
        operator: ComparisonOperator::GreaterThan,
        threshold: 1.0,
        interval_ms: Some(STEP),
        for_ms: 0,
        ..Default::default()
    }
}

fn field(name: &str, before: Option<&str>, after: Option<&str>) -> FieldChange {
    FieldChange {
        field: name.into(),
        before: before.map(Into::into),
        after: after.map(Into::into),
    }
}

/// Revision 4 of web at `at_ms`: MODE from "lenient" to "strict".
fn change_at(at_ms: Millis) -> TemplateChange {
    TemplateChange {
        target: "web".into(),
        at_ms,
        revision: 4,
        previous_revision: 3,
        diff: vec![field(
            "containers[web].env[MODE]",
            Some("lenient"),
            Some("strict"),
        )],
    }
}

fn analyze(changes: &[TemplateChange], rising: bool) -> AnalysisResult {
    let (vs, ss, cs) = input(rising);
    PatternAnalyzer::default().analyze_with_changes(&vs, &ss, &cs, changes, &[info()], NOW)
}

/// The breach and the samples, without any change.
fn breach_and_history() -> (Breach, Vec<MetricSample>) {
    let (_, ss, _) = input(false);
    let b = analyze(&[], false).breaches.remove(0);
    assert!(b.current && b.actionable, "{b:?}");
    assert_eq!(b.run_start_ms, Some(at(ONSET)));
    (b, ss)
}

fn signal_of(b: &Breach, ss: &[MetricSample], changes: &[TemplateChange]) -> Option<ChangeSignal> {
    let history: Vec<Point> = ss.iter().map(Point::from).collect();
    signal(b, &history, changes, &ChangeConfig::default())
}

#[test]
fn the_window_ends_at_the_run_start_and_reaches_back_window_ms() {
    let (b, ss) = breach_and_history();
    let start = at(ONSET);
    let window = ChangeConfig::default().window_ms;
    // At the run's start, and exactly the window before it: blamed.
    assert_eq!(
        signal_of(&b, &ss, &[change_at(start)]).map(|s| s.lead_ms),
        Some(0)
    );
    assert_eq!(
        signal_of(&b, &ss, &[change_at(start - window)]).map(|s| s.lead_ms),
        Some(window)
    );
    // A millisecond too early, or after the run began: not.
    assert!(signal_of(&b, &ss, &[change_at(start - window - 1)]).is_none());
    assert!(signal_of(&b, &ss, &[change_at(start + 1)]).is_none());
    // Another Deployment's change: not.
    let mut other = change_at(start - 60_000);
    other.target = "db".into();
    assert!(signal_of(&b, &ss, &[other]).is_none());
}

#[test]
fn the_latest_change_in_the_window_is_blamed_with_its_diff() {
    let (b, ss) = breach_and_history();
    let mut earlier = change_at(at(ONSET) - 600_000);
    earlier.revision = 3;
    earlier.previous_revision = 2;
    let later = change_at(at(ONSET) - 180_000);
    let s = signal_of(&b, &ss, &[later.clone(), earlier.clone()]).expect("a signal");
    assert_eq!(s.change, later);
    assert_eq!(s.lead_ms, 180_000);
    assert_eq!(
        s.reason,
        "began 3m after revision 4 of web (containers[web].env[MODE]: \"lenient\" -> \"strict\"); revision 3 ran healthy before"
    );
    // At most three fields are named.
    let mut many = later;
    many.diff = vec![
        field("containers[web].image", Some("web:1.4"), Some("web:1.5")),
        field("containers[web].env[A]", None, Some("1")),
        field("containers[web].env[B]", Some("2"), None),
        field("annotations[x]", Some("a"), Some("b")),
        field("annotations[y]", Some("c"), Some("d")),
    ];
    let s = signal_of(&b, &ss, &[many]).expect("a signal");
    assert!(
        s.reason.contains(
            "(containers[web].image: \"web:1.4\" -> \"web:1.5\", containers[web].env[A]: unset -> \"1\", containers[web].env[B]: \"2\" -> unset and 2 more)"
        ),
        "{}",
        s.reason
    );
    assert_eq!(duration(90_500), "1m30s");
    assert_eq!(duration(45_000), "45s");
}

#[test]
fn a_change_is_blamed_only_when_the_metric_was_healthy_before_it() {
    let (b, mut ss) = breach_and_history();
    let change = change_at(at(ONSET) - 300_000);
    assert!(signal_of(&b, &ss, std::slice::from_ref(&change)).is_some());
    // Breaking all the hour before the change but four evaluations: the breach
    // was already there.
    let healthy_left = 4;
    let mut healthy = 0;
    for s in ss.iter_mut().rev() {
        if s.at_ms < change.at_ms {
            if healthy < healthy_left {
                healthy += 1;
            } else {
                s.value = 1.5;
            }
        }
    }
    assert!(signal_of(&b, &ss, std::slice::from_ref(&change)).is_none());
    // With one more healthy evaluation it is blamed again.
    let last_broken = ss
        .iter_mut()
        .rfind(|s| s.at_ms < change.at_ms && s.value == 1.5)
        .unwrap();
    last_broken.value = 0.3;
    assert!(signal_of(&b, &ss, std::slice::from_ref(&change)).is_some());
    // No samples at all before the change: not blamed.
    assert!(signal_of(&b, &[], &[change]).is_none());
}

#[test]
fn only_a_current_actionable_breach_without_rising_load_has_one() {
    let (b, ss) = breach_and_history();
    let change = change_at(at(ONSET) - 120_000);
    let mut not_actionable = b.clone();
    not_actionable.actionable = false;
    assert!(signal_of(&not_actionable, &ss, std::slice::from_ref(&change)).is_none());
    let mut past = b.clone();
    past.current = false;
    assert!(signal_of(&past, &ss, std::slice::from_ref(&change)).is_none());

    // A load rising with the breach explains it better: an overload.
    let r = analyze(std::slice::from_ref(&change), true);
    let b = &r.breaches[0];
    assert_eq!(b.load.as_ref().map(|l| l.trend), Some(LoadTrend::Rising));
    assert!(b.change.is_none(), "{b:?}");
    assert!(
        r.root_causes
            .iter()
            .all(|rc| rc.kind != RootCauseKind::BadChange)
    );
    // At flat load it is blamed.
    let r = analyze(&[change], false);
    assert!(r.breaches[0].change.is_some());
    assert!(
        r.breaches[0]
            .reason
            .ends_with("revision 3 ran healthy before"),
        "{}",
        r.breaches[0].reason
    );
}

fn cause(kind: RootCauseKind, target: &str, confidence: f64) -> RootCause {
    RootCause {
        kind,
        target: target.into(),
        policy: "err".into(),
        confidence,
        description: String::new(),
        supporting_patterns: vec![kind as usize],
    }
}

fn blamed_breach() -> Breach {
    let (mut b, ss) = breach_and_history();
    b.change = signal_of(&b, &ss, &[change_at(at(ONSET) - 120_000)]);
    assert!(b.change.is_some());
    b
}

#[test]
fn apply_moves_the_weight_of_the_others_to_the_change() {
    let w = ChangeConfig::default().weight;
    let b = blamed_breach();
    let mut causes = vec![
        cause(RootCauseKind::ComponentFault, "web", 0.6),
        cause(RootCauseKind::LoadSpike, "web", 0.2),
        cause(RootCauseKind::LoadSpike, "db", 0.5),
    ];
    let total: f64 = causes
        .iter()
        .filter(|c| c.target == "web")
        .map(|c| c.confidence)
        .sum();
    apply(
        &mut causes,
        std::slice::from_ref(&b),
        &ChangeConfig::default(),
    );
    assert_eq!(causes[0].kind, RootCauseKind::BadChange);
    assert_eq!(causes[0].target, "web");
    assert!((causes[0].confidence - 0.8 * w).abs() < 1e-9);
    assert!(causes[0].description.contains("revision 4 of web"));
    assert_eq!(causes[0].supporting_patterns, vec![0, 3]);
    // Another Deployment's causes are untouched, the target's total kept and
    // the others' order among themselves too.
    assert_eq!(causes[1], cause(RootCauseKind::LoadSpike, "db", 0.5));
    let web: Vec<&RootCause> = causes.iter().filter(|c| c.target == "web").collect();
    assert!((web.iter().map(|c| c.confidence).sum::<f64>() - total).abs() < 1e-9);
    assert_eq!(web[1].kind, RootCauseKind::ComponentFault);
    assert!((web[1].confidence - 0.6 * (1.0 - w)).abs() < 1e-9);
    assert!(web[1].description.contains("Weakened by revision 4"));

    // A second breach of the same Deployment moves nothing more.
    let mut twice = vec![cause(RootCauseKind::ComponentFault, "web", 0.6)];
    let mut other = b.clone();
    other.policy = "restarts".into();
    apply(&mut twice, &[b.clone(), other], &ChangeConfig::default());
    assert!((twice[0].confidence - 0.6 * w).abs() < 1e-9);

    // An existing BadChange is strengthened, not duplicated.
    let mut causes = vec![
        cause(RootCauseKind::BadChange, "web", 0.1),
        cause(RootCauseKind::ComponentFault, "web", 0.5),
    ];
    apply(
        &mut causes,
        std::slice::from_ref(&b),
        &ChangeConfig::default(),
    );
    assert_eq!(causes.len(), 2);
    assert!((causes[0].confidence - (0.1 + 0.5 * w)).abs() < 1e-9);

    // No evidence on the target: nothing to move, no cause made up.
    let mut none = vec![cause(RootCauseKind::LoadSpike, "db", 0.5)];
    apply(
        &mut none,
        std::slice::from_ref(&b),
        &ChangeConfig::default(),
    );
    assert_eq!(none, vec![cause(RootCauseKind::LoadSpike, "db", 0.5)]);
}

#[test]
fn apply_is_deterministic_in_the_input_order() {
    let b = blamed_breach();
    let causes = vec![
        cause(RootCauseKind::ComponentFault, "web", 0.3),
        cause(RootCauseKind::LoadSpike, "web", 0.3),
        cause(RootCauseKind::GradualDegradation, "web", 0.2),
        cause(RootCauseKind::LoadSpike, "db", 0.05),
    ];
    let mut a = causes.clone();
    apply(&mut a, std::slice::from_ref(&b), &ChangeConfig::default());
    let mut r = causes;
    r.reverse();
    apply(&mut r, std::slice::from_ref(&b), &ChangeConfig::default());
    assert_eq!(a, r);
    // Highest first (db's untouched cause now outranks web's weakened ones);
    // equal confidences by target, then kind.
    assert_eq!(
        (a[1].target.as_str(), a[1].kind),
        ("db", RootCauseKind::LoadSpike)
    );
    assert_eq!(a[2].kind, RootCauseKind::LoadSpike);
    assert_eq!(a[3].kind, RootCauseKind::ComponentFault);
}

fn target(allowed: Vec<ActionType>) -> PlanTarget {
    PlanTarget {
        policy: "err".into(),
        deployment: "web".into(),
        current_replicas: 4,
        severity: Severity::Critical,
        envelope: RemediationEnvelope {
            allowed_actions: allowed,
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
fn a_bad_change_is_rolled_back_where_the_envelope_allows_it() {
    let change = change_at(at(ONSET) - 180_000);
    let r = analyze(std::slice::from_ref(&change), false);
    assert_eq!(r.root_causes[0].kind, RootCauseKind::BadChange);
    let kb = KnowledgeBase::new();
    let all = vec![
        ActionType::ScaleUp,
        ActionType::RestartService,
        ActionType::RollbackRevision,
    ];
    let plans = Planner::default().generate_plans(&r, &[target(all)], &kb);
    let a = &plans[0].actions[0];
    assert_eq!(a.action_type, ActionType::RollbackRevision);
    assert_eq!(a.revision, Some(3));
    assert_eq!(plans[0].root_cause, RootCauseKind::BadChange);
    // Without ROLLBACK_REVISION in the envelope a restart would roll the same
    // template again: the evidence left for it does not pay its cost.
    let without = vec![ActionType::ScaleUp, ActionType::RestartService];
    let plans = Planner::default().generate_plans(&r, &[target(without.clone())], &kb);
    assert!(plans.is_empty(), "{plans:?}");
    // Without the change the same breach gets the existing answer.
    let r = analyze(&[], false);
    let plans = Planner::default().generate_plans(&r, &[target(without)], &kb);
    assert!(!plans.is_empty());
    assert_ne!(
        plans[0].actions[0].action_type,
        ActionType::RollbackRevision
    );
}

#[test]
fn changes_enter_the_analysis_id_only_when_there_are_some() {
    let (vs, ss, cs) = input(false);
    let a = PatternAnalyzer::default();
    let before = a.analyze_with_context(&vs, &ss, &cs, &[info()], NOW);
    let after = a.analyze_with_changes(&vs, &ss, &cs, &[], &[info()], NOW);
    assert_eq!(before, after);
    let c1 = change_at(at(ONSET) - 180_000);
    let mut c2 = change_at(at(ONSET) - 3_000_000);
    c2.revision = 3;
    c2.previous_revision = 2;
    let one = a.analyze_with_changes(&vs, &ss, &cs, &[c1.clone(), c2.clone()], &[info()], NOW);
    let other = a.analyze_with_changes(&vs, &ss, &cs, &[c2, c1], &[info()], NOW);
    assert_ne!(one.analysis_id, before.analysis_id);
    assert_eq!(one, other);
    // The default configuration serializes as before.
    let json = serde_json::to_value(crate::AnalyzerConfig::default()).unwrap();
    assert!(json.get("change").is_none());
}
