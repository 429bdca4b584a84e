//! The generated ViolationPolicies of a workload: their Deployments, components,
//! metrics and shapes, how each shape draws its violations' times and values and
//! its metric samples, and the plan target of each.

use mapek_engine::PlanTarget;
use mapek_engine::model::{
    ActionType, ConfigSetting, ConfigTarget, Millis, RemediationEnvelope, ScaleBounds, Severity,
};

use super::{Spec, SplitMix64};

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

/// Quiet periods as offsets from the window start, `(start, end)` in ms.
const QUIET: [(i64, i64); 3] = [
    (600_000, 840_000),
    (1_800_000, 2_100_000),
    (2_880_000, 3_000_000),
];

pub(super) fn quiet(offset: i64) -> bool {
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
pub(super) fn apportion(n: usize, policies: &[PolicySpec]) -> Vec<usize> {
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
pub(super) fn offset_for(p: &PolicySpec, window: i64, rng: &mut SplitMix64) -> i64 {
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

pub(super) fn violation_value(p: &PolicySpec, rng: &mut SplitMix64) -> (f64, Severity) {
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
pub(super) fn sample_value(p: &PolicySpec, t: i64, window: i64, rng: &mut SplitMix64) -> f64 {
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
