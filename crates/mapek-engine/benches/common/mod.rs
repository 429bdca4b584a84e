//! Deterministic, realistic inputs for the engine benchmarks: violation streams,
//! metric samples and plan targets, generated from a seed with a SplitMix64 PRNG
//! (no `rand`), so that two runs on two machines analyse byte-identical input.
//!
//! The stream imitates what the analyzer controller gathers from the
//! ViolationPolicy statuses of a namespace: a few dozen policies over a dozen
//! Deployments, components and metrics, each policy with its own shape:
//!
//! - **bursty**: a low background rate plus a handful of 20-90 s bursts that carry
//!   most of its violations (load spikes);
//! - **periodic**: violations clustered around multiples of a 5, 10 or 15 minute
//!   period (cron jobs, scheduled peaks);
//! - **trending**: violations that grow denser towards `now`, over a metric that
//!   rises steadily (a leak);
//! - **downstream**: violations one to two minutes after the bursts of an upstream
//!   bursty policy, whose metric spikes first (an upstream dependency);
//! - **chronic**: violations spread evenly over the window, with a recent surge.
//!
//! Policy sizes follow a Zipf-like law (a few policies hold most violations), and
//! three quiet periods of a few minutes (deploy freezes, night) carry almost none.
//! Violations are emitted policy by policy, each policy's in time order: the order
//! the controller concatenates status lists in (the analyzer does not depend on the
//! order). Metric samples are one per policy per 30 s scrape: their number does not
//! grow with the number of violations.
//!
//! Shared by the benchmark binary (`benches/engine.rs`); every function is pure.
//! Here: the workload's size ([`Spec`]), [`generate`] and [`planning_input`];
//! `policies` holds the generated policies and their shapes, `rng` the PRNG.

#![allow(dead_code)]

mod policies;
mod rng;

use mapek_engine::PlanTarget;
use mapek_engine::model::{
    AnalysisResult, MetricSample, Millis, RootCause, RootCauseKind, Violation,
};

pub use policies::{PolicySpec, plan_target, policies};
use policies::{apportion, offset_for, quiet, sample_value, violation_value};
pub use rng::SplitMix64;

/// The seed every benchmark uses unless it says otherwise.
pub const SEED: u64 = 0x6d61_7065_6b2d_6231; // "mapek-b1"

/// The clock value of every generated workload: 2026-01-01T00:00:00Z.
pub const NOW: Millis = 1_767_225_600_000;

/// The size and seed of a workload.
#[derive(Clone, Debug)]
pub struct Spec {
    pub violations: usize,
    pub policies: usize,
    pub window_ms: i64,
    pub scrape_ms: i64,
    pub seed: u64,
}

impl Spec {
    /// `violations` over 40 policies in the analyzer's default one-hour window.
    pub fn new(violations: usize) -> Self {
        Spec {
            violations,
            policies: 40,
            window_ms: 3_600_000,
            scrape_ms: 30_000,
            seed: SEED,
        }
    }
}

/// A generated namespace: violations, samples and what the planner may act on.
#[derive(Clone, Debug)]
pub struct Workload {
    pub now: Millis,
    pub policies: Vec<PolicySpec>,
    pub violations: Vec<Violation>,
    pub samples: Vec<MetricSample>,
    pub targets: Vec<PlanTarget>,
}

/// A workload of `spec.violations` violations.
pub fn generate(spec: &Spec) -> Workload {
    let mut rng = SplitMix64::new(spec.seed);
    let window = spec.window_ms.max(1);
    let start = NOW - window;
    let pols = policies(spec, &mut rng);
    let counts = apportion(spec.violations, &pols);

    let mut violations = Vec::with_capacity(spec.violations);
    let mut offsets: Vec<i64> = Vec::new();
    for (p, &count) in pols.iter().zip(&counts) {
        offsets.clear();
        while offsets.len() < count {
            let t = offset_for(p, window, &mut rng);
            // Quiet periods keep one violation in twenty.
            if quiet(t) && rng.below(20) != 0 {
                continue;
            }
            offsets.push(t);
        }
        offsets.sort_unstable();
        for (seq, &t) in offsets.iter().enumerate() {
            let (value, severity) = violation_value(p, &mut rng);
            violations.push(Violation {
                id: format!("{}-{seq:07}", p.name).into(),
                policy: p.name.clone(),
                target: p.deployment.clone(),
                component: p.component.clone(),
                metric: p.metric.to_string(),
                severity,
                value,
                threshold: p.threshold,
                at_ms: start + t,
            });
        }
    }

    let scrapes = window / spec.scrape_ms.max(1);
    let mut samples = Vec::with_capacity(pols.len() * scrapes as usize);
    for p in &pols {
        // One name shared by the policy's samples, as the operator gives them.
        let name = mapek_engine::model::SharedStr::from(p.name.as_str());
        for k in 0..scrapes {
            let t = k * spec.scrape_ms + rng.below(1000) as i64;
            samples.push(MetricSample {
                policy: name.clone(),
                at_ms: start + t,
                value: sample_value(p, t, window, &mut rng),
            });
        }
    }

    let targets = pols
        .iter()
        .map(|p| plan_target(p, 3 + rng.below(6) as i32))
        .collect();
    Workload {
        now: NOW,
        policies: pols,
        violations,
        samples,
        targets,
    }
}

/// `n` root causes over `n` distinct Deployments, each with a policy and a plan
/// target, for planning at scale without analysing first. Kinds, severities and
/// confidences (0.5 to 0.95) vary so every candidate list is exercised.
pub fn planning_input(n: usize, seed: u64) -> (AnalysisResult, Vec<PlanTarget>) {
    const KINDS: [RootCauseKind; 6] = [
        RootCauseKind::LoadSpike,
        RootCauseKind::GradualDegradation,
        RootCauseKind::RecurringLoad,
        RootCauseKind::ComponentFault,
        RootCauseKind::UpstreamDependency,
        RootCauseKind::ChronicOverload,
    ];
    let mut rng = SplitMix64::new(seed);
    let spec = Spec {
        policies: n,
        ..Spec::new(0)
    };
    // Distinct names beyond the 72 of a namespace: suffix every policy.
    let pols: Vec<PolicySpec> = policies(&spec, &mut rng)
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            p.name = format!("{}-{i}", p.name);
            p.deployment = format!("{}-{i}", p.deployment);
            p
        })
        .collect();
    let mut root_causes: Vec<RootCause> = pols
        .iter()
        .enumerate()
        .map(|(i, p)| RootCause {
            kind: KINDS[i % KINDS.len()],
            target: p.deployment.clone(),
            policy: p.name.clone(),
            confidence: 0.5 + 0.45 * rng.unit(),
            description: String::new(),
            supporting_patterns: vec![0],
        })
        .collect();
    root_causes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let targets = pols
        .iter()
        .map(|p| plan_target(p, 3 + rng.below(6) as i32))
        .collect();
    let analysis = AnalysisResult {
        analysis_id: "an-bench".into(),
        violations_analyzed: 0,
        patterns: Vec::new(),
        root_causes,
        recommendations: Vec::new(),
        confidence_level: 0.0,
        breaches: Vec::new(),
        shared_causes: Vec::new(),
        episodes: Vec::new(),
    };
    (analysis, targets)
}
