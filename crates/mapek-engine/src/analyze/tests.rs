//! Tests of the analyzer: preparation, detectors together, ranking.

use super::*;
use crate::model::PatternType;
use crate::model::Severity;

use crate::input::fixtures::{s, v};

#[test]
fn empty_input_gives_empty_result() {
    let r = PatternAnalyzer::default().analyze(&[], &[], 0);
    assert_eq!(r.violations_analyzed, 0);
    assert!(r.patterns.is_empty());
    assert!(r.root_causes.is_empty());
    assert!(r.recommendations.is_empty());
    assert_eq!(r.confidence_level, 0.0);
    assert!(r.analysis_id.starts_with("an-"));
}

#[test]
fn window_filters_old_and_future_violations() {
    let now = 10_000_000;
    let vs = vec![
        v("old", "p", "d", now - 3_600_001),
        v("edge", "p", "d", now - 3_600_000),
        v("in", "p", "d", now),
        v("future", "p", "d", now + 1),
    ];
    let ctx = AnalysisContext::new(&vs, &[], now, &AnalyzerConfig::default());
    let ids: Vec<&str> = ctx.violations.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, vec!["edge", "in"]);
}

#[test]
fn duplicate_ids_at_the_same_time_count_once() {
    let vs = vec![
        v("x", "p", "d", 5),
        v("x", "p", "d", 5),
        v("x", "p", "d", 6),
    ];
    let ctx = AnalysisContext::new(&vs, &[], 10, &AnalyzerConfig::default());
    assert_eq!(ctx.violations.len(), 2);
    assert_eq!(ctx.policies.members[0], vec![0, 1]);
}

#[test]
fn nan_samples_are_skipped() {
    let ss = vec![
        s("p", 1, f64::NAN),
        s("p", 2, 1.0),
        s("p", 3, f64::INFINITY),
    ];
    let ctx = AnalysisContext::new(&[], &ss, 10, &AnalyzerConfig::default());
    assert_eq!(ctx.samples_of("p").len(), 1);
    assert!(ctx.samples_of("q").is_empty());
}

#[test]
fn analysis_id_depends_on_input_not_order() {
    let a = PatternAnalyzer::default();
    let vs = vec![v("1", "p", "d", 1000), v("2", "p", "d", 2000)];
    let rev: Vec<Violation> = vs.iter().rev().cloned().collect();
    let r1 = a.analyze(&vs, &[], 5000);
    assert_eq!(r1.analysis_id, a.analyze(&rev, &[], 5000).analysis_id);
    assert_ne!(r1.analysis_id, a.analyze(&vs[..1], &[], 5000).analysis_id);
    assert_ne!(r1.analysis_id, a.analyze(&vs, &[], 5001).analysis_id);
}

#[test]
fn burst_yields_load_spike_root_cause_with_recommendation() {
    // 4 violations of web within 30 s, all policy "lat" except one "err".
    let vs = vec![
        v("1", "lat", "web", 1_000),
        v("2", "lat", "web", 11_000),
        v("3", "err", "web", 21_000),
        v("4", "lat", "web", 31_000),
    ];
    let cfg = AnalyzerConfig {
        burst_min_violations: 3,
        spatial_min_violations: 100,
        frequency_spike_min_violations: 100,
        ..AnalyzerConfig::default()
    };
    let r = PatternAnalyzer::new(cfg).analyze(&vs, &[], 40_000);
    assert_eq!(r.patterns.len(), 1, "{:#?}", r.patterns);
    let p = &r.patterns[0];
    assert_eq!(p.pattern_type, PatternType::TemporalBurst);
    // n / (n + k) = 4 / (4 + 3)
    assert!((p.confidence - 4.0 / 7.0).abs() < 1e-12);
    assert_eq!(p.targets, vec!["web".to_string()]);
    assert_eq!(p.evidence, vec!["1", "2", "3", "4"]);
    assert_eq!(r.root_causes.len(), 1);
    let rc = &r.root_causes[0];
    assert_eq!(rc.kind, RootCauseKind::LoadSpike);
    assert_eq!(rc.target, "web");
    assert_eq!(rc.policy, "lat");
    // One pattern weighted by Warning (0.75) and its recency (the latest
    // violation 9 s old, half-life 10 min): 4/7 * 0.75 * 0.5^(9/600). The only
    // cause on web: the distribution gives it all of that.
    let expected = 3.0 / 7.0 * 0.5f64.powf(9.0 / 600.0);
    assert!(
        (rc.confidence - expected).abs() < 1e-12,
        "{}",
        rc.confidence
    );
    assert_eq!(rc.supporting_patterns, vec![0]);
    assert_eq!(r.confidence_level, rc.confidence);
    assert_eq!(r.recommendations.len(), 1);
    assert!(r.recommendations[0].contains("web"));
}

#[test]
fn causal_root_cause_is_about_the_driven_target() {
    // "up" spikes every third minute; "down" (on deployment "back") violates one
    // minute after each spike.
    let mut vs = Vec::new();
    let mut ss = Vec::new();
    for m in 0..60i64 {
        let spike = m % 3 == 2;
        ss.push(s("up", m * 60_000 + 1000, if spike { 10.0 } else { 0.0 }));
        if spike && m + 1 < 60 {
            vs.push(v(&format!("v{m}"), "down", "back", (m + 1) * 60_000 + 2000));
        }
    }
    let r = PatternAnalyzer::default().analyze(&vs, &ss, 3_600_000);
    let causal: Vec<&ViolationPattern> = r
        .patterns
        .iter()
        .filter(|p| p.pattern_type == PatternType::Causal)
        .collect();
    assert_eq!(causal.len(), 1);
    assert_eq!(causal[0].subject, "up");
    assert_eq!(causal[0].targets, vec!["back".to_string()]);
    let rc = r
        .root_causes
        .iter()
        .find(|rc| rc.kind == RootCauseKind::UpstreamDependency)
        .expect("an upstream root cause");
    assert_eq!((rc.target.as_str(), rc.policy.as_str()), ("back", "down"));
    // The upstream explanation leads back's distribution.
    let top = r.root_causes.iter().find(|c| c.target == "back").unwrap();
    assert_eq!(
        top.kind,
        RootCauseKind::UpstreamDependency,
        "{:#?}",
        r.root_causes
    );
    assert!(rc.confidence <= 0.75 * causal[0].confidence + 1e-12);
    // The same violations recur every 3 minutes: periodicity is found too.
    assert!(
        r.patterns
            .iter()
            .any(|p| p.pattern_type == PatternType::Periodic)
    );
    // Root causes are ranked by confidence.
    for w in r.root_causes.windows(2) {
        assert!(w[0].confidence >= w[1].confidence);
    }
}

#[test]
fn noisy_or_combines_patterns_and_severity() {
    // Two bursts on web far apart, one critical: the noisy-or of both.
    let mut vs = vec![
        v("a1", "p", "web", 0),
        v("a2", "p", "web", 1_000),
        v("a3", "p", "web", 2_000),
        v("b1", "p", "web", 1_000_000),
        v("b2", "p", "web", 1_001_000),
        v("b3", "p", "web", 1_002_000),
    ];
    vs[0].severity = Severity::Critical;
    let cfg = AnalyzerConfig {
        burst_min_violations: 3,
        spatial_min_violations: 100,
        frequency_spike_min_violations: 100,
        periodic_min_cycles: 100,
        ..AnalyzerConfig::default()
    };
    let r = PatternAnalyzer::new(cfg).analyze(&vs, &[], 1_100_000);
    assert_eq!(r.patterns.len(), 2);
    assert_eq!(r.root_causes.len(), 1);
    // Each burst is also weighted by its recency (half-life 10 min): the
    // critical one ended 1,098 s before now, the other 98 s.
    let old = 0.5 * 1.0 * 0.5f64.powf(1_098.0 / 600.0);
    let new = 0.5 * 0.75 * 0.5f64.powf(98.0 / 600.0);
    let expected = 1.0 - (1.0 - old) * (1.0 - new);
    assert!((r.root_causes[0].confidence - expected).abs() < 1e-12);
    assert_eq!(r.root_causes[0].supporting_patterns, vec![0, 1]);
}

#[test]
fn evidence_is_capped_to_the_most_recent() {
    let vs: Vec<Violation> = (0..10)
        .map(|i| v(&format!("v{i}"), "p", "d", i * 1000))
        .collect();
    let cfg = AnalyzerConfig {
        max_evidence: 3,
        ..AnalyzerConfig::default()
    };
    let r = PatternAnalyzer::new(cfg).analyze(&vs, &[], 20_000);
    let burst = r
        .patterns
        .iter()
        .find(|p| p.pattern_type == PatternType::TemporalBurst)
        .unwrap();
    assert_eq!(burst.evidence, vec!["v7", "v8", "v9"]);
}

#[test]
fn config_deserializes_with_defaults() {
    let c: AnalyzerConfig = serde_json::from_str(r#"{"burstMinViolations": 5}"#).unwrap();
    assert_eq!(c.burst_min_violations, 5);
    assert_eq!(c.burst_window_ms, 60_000);
    assert_eq!(c.causal_top_k, 16);
}

#[test]
fn extreme_and_nan_inputs_do_not_panic() {
    let mut vs = vec![
        v("a", "p", "d", i64::MIN),
        v("b", "p", "d", i64::MAX),
        v("c", "p", "d", 0),
        v("c", "p", "d", 0),
        v("d", "q", "d", 1),
    ];
    vs[2].value = f64::NAN;
    vs[3].threshold = f64::NAN;
    let ss = vec![
        s("p", i64::MIN, 1.0),
        s("p", i64::MAX, f64::MAX),
        s("p", 0, f64::MAX),
        s("p", 1, -f64::MAX),
        s("p", 2, f64::NAN),
        s("q", 3, 1e308),
    ];
    for now in [i64::MIN, -1, 0, 1, i64::MAX] {
        for window in [0, 1, 60_000, i64::MAX, -5] {
            let cfg = AnalyzerConfig {
                window_ms: window,
                burst_window_ms: i64::MAX,
                periodic_bin_ms: 0,
                causal_bin_ms: -3,
                frequency_window_ms: i64::MIN,
                trend_min_samples: 0,
                periodic_min_cycles: 0,
                causal_min_bins: 0,
                burst_min_violations: 0,
                spatial_min_violations: 0,
                frequency_spike_factor: f64::NAN,
                ..AnalyzerConfig::default()
            };
            let r = PatternAnalyzer::new(cfg).analyze(&vs, &ss, now);
            for p in &r.patterns {
                assert!((0.0..=1.0).contains(&p.confidence));
            }
            for rc in &r.root_causes {
                assert!((0.0..=1.0).contains(&rc.confidence));
            }
        }
    }
}
