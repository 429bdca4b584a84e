//! A throughput probe, not a benchmark: `cargo test --release --lib analyze::scale -- --ignored --nocapture`.

use super::*;
use crate::model::Severity;

pub(crate) fn synthetic(n: usize, now: Millis) -> (Vec<Violation>, Vec<MetricSample>) {
    // A small LCG keeps the input fixed without a dependency.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let vs = (0..n)
        .map(|i| {
            let p = next() % 50;
            Violation {
                id: format!("v{i}").into(),
                policy: format!("policy-{p}"),
                target: format!("deploy-{}", p % 20),
                component: format!("comp-{}", p % 10),
                metric: format!("metric-{p}"),
                severity: Severity::Warning,
                value: 2.0,
                threshold: 1.0,
                at_ms: now - (next() % 3_600_000) as i64,
            }
        })
        .collect();
    let ss = (0..50)
        .flat_map(|p| {
            (0..60).map(move |m| MetricSample {
                policy: format!("policy-{p}").into(),
                at_ms: now - m * 60_000,
                value: (m * p) as f64 % 7.0,
            })
        })
        .collect();
    (vs, ss)
}

#[test]
#[ignore]
fn throughput_probe() {
    let now = 10_000_000_000;
    for n in [100_000, 1_000_000] {
        let (vs, ss) = synthetic(n, now);
        let start = std::time::Instant::now();
        let r = PatternAnalyzer::default().analyze(&vs, &ss, now);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{n} violations: {secs:.3} s, {:.0}/s, {} patterns, {} root causes",
            n as f64 / secs,
            r.patterns.len(),
            r.root_causes.len()
        );
        assert_eq!(r.violations_analyzed, n);
        let cfg = AnalyzerConfig::default();
        let start = std::time::Instant::now();
        let ctx = AnalysisContext::new(&vs, &ss, now, &cfg);
        println!("  context: {:.3} s", start.elapsed().as_secs_f64());
        for d in detectors::registry() {
            let start = std::time::Instant::now();
            let found = d.detect(&ctx, &cfg).len();
            println!(
                "  {:?}: {:.3} s, {found} found",
                d.pattern_type(),
                start.elapsed().as_secs_f64()
            );
        }
    }
}
