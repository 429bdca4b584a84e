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

#![allow(dead_code)]

use mapek_engine::PlanTarget;
use mapek_engine::model::{
    ActionType, AnalysisResult, ConfigSetting, ConfigTarget, MetricSample, Millis,
    RemediationEnvelope, RootCause, RootCauseKind, ScaleBounds, Severity, Violation,
};

/// SplitMix64 (Steele, Lea and Flood): a tiny, fast, well-mixed 64-bit PRNG.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)`; 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            // Lemire's multiply-shift: unbiased enough for a workload generator.
            ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
        }
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(0) as u64) as i64
    }
}

/// The seed every benchmark uses unless it says otherwise.
pub const SEED: u64 = 0x6d61_7065_6b2d_6231; // "mapek-b1"

/// The clock value of every generated workload: 2026-01-01T00:00:00Z.
pub const NOW: Millis = 1_767_225_600_000;

const DEPLOYMENTS: [&str; 12] = [
    "checkout",
    "cart",
    "catalog",
    "payments",
    "search",
    "auth",
    "gateway",
    "inventory",
    "shipping",
    "recommend",
    "notify",
    "profile",
];

const COMPONENTS: [&str; 8] = [
    "edge", "frontend", "backend", "db", "cache", "queue", "batch", "identity",
];

/// `(metric, short name, threshold, direction)`: direction 1 violates above the
/// threshold, -1 below it.
const METRICS: [(&str, &str, f64, i8); 6] = [
    ("http_request_duration_seconds_p99", "latency", 0.5, 1),
    ("http_requests_error_ratio", "errors", 0.02, 1),
    ("container_cpu_utilization_ratio", "cpu", 0.85, 1),
    ("container_memory_working_set_ratio", "memory", 0.9, 1),
    ("queue_depth_messages", "queue", 1000.0, 1),
    ("available_replicas_ratio", "availability", 0.75, -1),
];

/// The shape of a policy's violations over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Bursty,
    Periodic,
    Trending,
    Downstream,
    Chronic,
}

/// One generated ViolationPolicy.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub name: String,
    pub deployment: String,
    pub component: String,
    pub metric: &'static str,
    pub threshold: f64,
    pub direction: i8,
    pub severity: Severity,
    pub shape: Shape,
    /// Burst centres (ms) of a bursty policy; for a downstream one, the upstream's.
    pub bursts: Vec<Millis>,
    /// Period (ms) of a periodic policy.
    pub period_ms: i64,
    /// For a downstream policy: the index of its upstream policy.
    pub upstream: Option<usize>,
    /// Relative size (Zipf-like).
    pub weight: f64,
}

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

/// Quiet periods as offsets from the window start, `(start, end)` in ms.
const QUIET: [(i64, i64); 3] = [
    (600_000, 840_000),
    (1_800_000, 2_100_000),
    (2_880_000, 3_000_000),
];

fn quiet(offset: i64) -> bool {
    QUIET.iter().any(|&(s, e)| offset >= s && offset < e)
}

/// The policies of a workload: shapes cycle so every shape is present, and each
/// downstream policy follows the bursty policy just before it.
pub fn policies(spec: &Spec, rng: &mut SplitMix64) -> Vec<PolicySpec> {
    let shapes = [
        Shape::Bursty,
        Shape::Downstream,
        Shape::Periodic,
        Shape::Trending,
        Shape::Chronic,
    ];
    let mut out: Vec<PolicySpec> = Vec::with_capacity(spec.policies);
    for p in 0..spec.policies {
        let deployment = DEPLOYMENTS[p % DEPLOYMENTS.len()];
        // Distinct (deployment, metric) pairs for up to 72 policies.
        let (metric, short, threshold, direction) =
            METRICS[(p / DEPLOYMENTS.len() + p) % METRICS.len()];
        let shape = shapes[p % shapes.len()];
        let severity = match rng.below(10) {
            0..=1 => Severity::Critical,
            2..=7 => Severity::Warning,
            _ => Severity::Info,
        };
        let mut bursts = Vec::new();
        let mut upstream = None;
        match shape {
            Shape::Bursty => {
                for _ in 0..4 + rng.below(5) {
                    // Bursts avoid the quiet periods.
                    let mut t = rng.range(0, spec.window_ms);
                    while quiet(t) {
                        t = rng.range(0, spec.window_ms);
                    }
                    bursts.push(t);
                }
                bursts.sort_unstable();
            }
            Shape::Downstream => {
                let up = p - 1;
                upstream = Some(up);
                bursts = out[up].bursts.clone();
            }
            _ => {}
        }
        let period_ms = [300_000, 600_000, 900_000][rng.below(3) as usize];
        out.push(PolicySpec {
            name: if p < DEPLOYMENTS.len() * METRICS.len() {
                format!("{deployment}-{short}")
            } else {
                format!("{deployment}-{short}-{p}")
            },
            deployment: deployment.to_string(),
            component: COMPONENTS[(p * 3 + p / 8) % COMPONENTS.len()].to_string(),
            metric,
            threshold,
            direction,
            severity,
            shape,
            bursts,
            period_ms,
            upstream,
            weight: 1.0 / ((p + 1) as f64).powf(0.8),
        });
    }
    out
}

/// How many violations each policy gets: proportional to its weight, the rounding
/// remainder to the largest.
fn apportion(n: usize, policies: &[PolicySpec]) -> Vec<usize> {
    let total: f64 = policies.iter().map(|p| p.weight).sum();
    let mut counts: Vec<usize> = policies
        .iter()
        .map(|p| (n as f64 * p.weight / total).floor() as usize)
        .collect();
    let assigned: usize = counts.iter().sum();
    if let Some(first) = counts.first_mut() {
        *first += n - assigned;
    }
    counts
}

/// An offset in `[0, window)` drawn from the policy's shape.
fn offset_for(p: &PolicySpec, window: i64, rng: &mut SplitMix64) -> i64 {
    let t = match p.shape {
        Shape::Bursty if !p.bursts.is_empty() && rng.unit() < 0.8 => {
            let c = p.bursts[rng.below(p.bursts.len() as u64) as usize];
            let half = 10_000 + (c % 35_000); // 20-90 s wide
            c + rng.range(-half, half)
        }
        Shape::Downstream if !p.bursts.is_empty() && rng.unit() < 0.85 => {
            let c = p.bursts[rng.below(p.bursts.len() as u64) as usize];
            c + rng.range(60_000, 120_000)
        }
        Shape::Periodic if rng.unit() < 0.85 => {
            let peaks = (window / p.period_ms).max(1);
            let k = rng.below(peaks as u64) as i64;
            k * p.period_ms + p.period_ms / 2 + rng.range(-30_000, 30_000)
        }
        // Density rising linearly towards now: the square root of a uniform.
        Shape::Trending => (window as f64 * rng.unit().sqrt()) as i64,
        // A third of a chronic policy's violations in the last five minutes.
        Shape::Chronic if rng.unit() < 0.33 => window - rng.range(1, 300_000),
        _ => rng.range(0, window),
    };
    t.clamp(0, window - 1)
}

fn violation_value(p: &PolicySpec, rng: &mut SplitMix64) -> (f64, Severity) {
    // Excess over the threshold: mostly small, sometimes large (escalated).
    let excess = -(1.0 - rng.unit()).ln() * 0.2;
    let value = if p.direction > 0 {
        p.threshold * (1.0 + excess)
    } else {
        p.threshold * (1.0 - excess.min(0.99))
    };
    let severity = if excess > 0.6 {
        Severity::Critical
    } else {
        p.severity
    };
    (value, severity)
}

/// One metric sample value of policy `p` at window offset `t`.
fn sample_value(p: &PolicySpec, t: i64, window: i64, rng: &mut SplitMix64) -> f64 {
    let base = p.threshold * (0.6 + 0.1 * rng.unit());
    let over = p.threshold * 0.5;
    let raise = |x: f64| {
        if p.direction > 0 {
            base + x
        } else {
            base - x.min(base * 0.9)
        }
    };
    match p.shape {
        Shape::Bursty | Shape::Downstream => {
            // An upstream bursty metric spikes during its bursts; a downstream one
            // a minute or two later.
            let lag = if p.shape == Shape::Downstream {
                90_000
            } else {
                0
            };
            let hot = p.bursts.iter().any(|&c| (t - c - lag).abs() <= 45_000);
            raise(if hot { over } else { 0.0 })
        }
        Shape::Periodic => {
            let phase = (t % p.period_ms) - p.period_ms / 2;
            raise(if phase.abs() <= 30_000 { over } else { 0.0 })
        }
        Shape::Trending => raise(over * t as f64 / window as f64),
        Shape::Chronic => raise(over * 0.8),
    }
}

/// The plan target of a policy: every action with sensible bounds and settings.
pub fn plan_target(p: &PolicySpec, current_replicas: i32) -> PlanTarget {
    use ActionType::*;
    PlanTarget {
        policy: p.name.as_str().into(),
        deployment: p.deployment.as_str().into(),
        current_replicas,
        severity: p.severity,
        envelope: RemediationEnvelope {
            allowed_actions: vec![
                ScaleUp,
                ScaleDown,
                RestartService,
                UpdateConfiguration,
                ThrottleRequests,
                RebalanceLoad,
                ApplyPolicy,
            ],
            scale: Some(ScaleBounds {
                min_replicas: 2,
                max_replicas: 20,
                max_step: 4,
            }),
            config: vec![
                ConfigSetting {
                    name: "RATE_LIMIT_RPS".into(),
                    target: ConfigTarget::Env,
                    container: None,
                    value: "200".into(),
                    allowed_values: vec!["100".into(), "200".into(), "400".into()],
                    actions: vec![ThrottleRequests],
                },
                ConfigSetting {
                    name: "mapek.io/profile".into(),
                    target: ConfigTarget::Annotation,
                    container: None,
                    value: "conservative".into(),
                    allowed_values: vec![],
                    actions: vec![UpdateConfiguration, ApplyPolicy],
                },
            ],
        },
    }
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
        for k in 0..scrapes {
            let t = k * spec.scrape_ms + rng.below(1000) as i64;
            samples.push(MetricSample {
                policy: p.name.clone(),
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
    };
    (analysis, targets)
}
