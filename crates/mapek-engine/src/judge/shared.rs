//! Shared causes: same-instant breaches on several Deployments whose policies
//! share a metric name are one event (a scrape, Prometheus or platform event),
//! reported as a [`SharedCause`]; none of those breaches is actionable.

use std::collections::BTreeMap;

use super::{Breach, JudgeConfig, SharedCause};
use crate::model::Millis;

/// Marks the breaches of every shared cause in `out` and returns the causes.
/// `starts` maps (metric, run start) to the indices in `out` of the current
/// breaches whose run began then.
pub(super) fn shared_causes(
    out: &mut [Breach],
    starts: BTreeMap<(&str, Millis), Vec<usize>>,
    config: &JudgeConfig,
) -> Vec<SharedCause> {
    let mut shared = Vec::new();
    for ((metric, at), idx) in starts {
        let mut targets: Vec<String> = idx.iter().map(|&i| out[i].target.clone()).collect();
        targets.sort();
        targets.dedup();
        if targets.len() < config.shared_min_targets.max(2) {
            continue;
        }
        let mut policies: Vec<String> = Vec::new();
        for &i in &idx {
            let b = &mut out[i];
            b.shared = true;
            b.actionable = false;
            b.reason = format!(
                "part of a shared cause: {} Deployments breached on {metric} at the same instant",
                targets.len()
            );
            policies.push(b.policy.clone());
        }
        shared.push(SharedCause {
        metric: metric.to_string(),
        at_ms: at,
        description: format!(
            "{} Deployments ({}) whose policies share the metric {metric} breached at the same instant: a shared cause (a scrape, Prometheus or platform event), not a fault in each. No per-Deployment plan.",
            targets.len(),
            targets.join(", ")
        ),
        targets,
        policies,
    });
    }
    shared
}
