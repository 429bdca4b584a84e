//! The operator's own Prometheus metrics: the seed system's `mape_k_*` families plus
//! reconcile counts, errors and durations, in one registry rendered at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A MAPE-K phase, as the `phase` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

/// A controller, as the `controller` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

/// A pattern type, as the `pattern_type` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PatternLabels {
    pub pattern_type: String,
}

/// A policy, as `namespace` and `policy` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub namespace: String,
    pub policy: String,
}

/// An outcome type, as the `outcome` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// Why the monitor wrote (or did not write) a status, as the `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub reason: String,
}

/// The result of a notification send, as the `result` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    /// Seconds per MAPE-K phase run.
    pub cycle_duration: Family<PhaseLabels, Histogram>,
    pub patterns_detected: Family<PatternLabels, Counter>,
    pub policies_generated: Counter,
    /// Succeeded over finished executions since start.
    pub execution_success_rate: Gauge<f64, AtomicU64>,
    pub reconciles: Family<ControllerLabels, Counter>,
    pub reconcile_errors: Family<ControllerLabels, Counter>,
    pub reconcile_duration: Family<ControllerLabels, Histogram>,
    pub violations: Family<PolicyLabels, Counter>,
    /// Distinct PromQL queries sent to Prometheus.
    pub prometheus_queries: Counter,
    pub prometheus_query_errors: Counter,
    pub outcomes: Family<OutcomeLabels, Counter>,
    /// Seconds from the end of an execution to the last violation after it.
    pub time_to_stabilization: Histogram,
    /// Analyses that found a shared cause (same-instant breaches across
    /// Deployments sharing a metric), which get no plan.
    pub shared_causes: Counter,
    /// Plans not proposed because a GitOps tool manages the target and its
    /// policy's `gitOps` is `Refuse`.
    pub gitops_refused: Counter,
    /// Analyses whose plan for a Deployment an HPA scales would have scaled,
    /// and whose scale actions were left out (policy `hpa: Refuse`, several
    /// HPAs, or HPAs that cannot be read).
    pub hpa_withheld: Counter,
    /// Breach episodes that turned Exhausted (no more plans until they end).
    pub remediation_exhausted: Counter,
    /// Policies whose breach episode is Exhausted now (as of the analyzer's
    /// last timer pass).
    pub policies_exhausted: Gauge,
    /// Times the storm brake held an approved plan (each look at a held plan).
    pub storm_brake_held: Counter,
    /// 1 while the storm brake holds plans, 0 once one starts again.
    pub storm_brake_engaged: Gauge,
    /// Range queries sent to read a query's history back after a start.
    pub prometheus_range_queries: Counter,
    /// Seconds each evaluation ran after its due time.
    pub evaluation_lag: Histogram,
    /// The monitor's status writes by reason (`generation`, `transition`,
    /// `violation`, `refresh`), and the evaluations it did not write (`skipped`:
    /// nothing a reader needs changed; `deferred`: a refresh over budget;
    /// `queued`: a change over budget, kept and written at a later evaluation).
    pub status_writes: Family<WriteLabels, Counter>,
    /// Alerts posted to Alertmanager by result (`sent`, `failed`: after its retries).
    pub notifications: Family<ResultLabels, Counter>,
    /// 1 while sends to Alertmanager fail (the last one failed after its
    /// retries), 0 otherwise (also on replicas that do not send).
    pub notifications_failing: Gauge,
    /// Alerts the notifier holds as firing in Alertmanager.
    pub notifications_firing: Gauge,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let cycle_duration = Family::<PhaseLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let reconcile_duration = Family::<ControllerLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let m = Metrics {
            cycle_duration: cycle_duration.clone(),
            patterns_detected: Family::default(),
            policies_generated: Counter::default(),
            execution_success_rate: Gauge::default(),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: reconcile_duration.clone(),
            violations: Family::default(),
            prometheus_queries: Counter::default(),
            prometheus_query_errors: Counter::default(),
            outcomes: Family::default(),
            time_to_stabilization: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            shared_causes: Counter::default(),
            gitops_refused: Counter::default(),
            hpa_withheld: Counter::default(),
            remediation_exhausted: Counter::default(),
            policies_exhausted: Gauge::default(),
            storm_brake_held: Counter::default(),
            storm_brake_engaged: Gauge::default(),
            prometheus_range_queries: Counter::default(),
            evaluation_lag: Histogram::new(exponential_buckets(0.25, 2.0, 12)),
            status_writes: Family::default(),
            notifications: Family::default(),
            notifications_failing: Gauge::default(),
            notifications_firing: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "mape_k_cycle_duration_seconds",
            "Duration of a MAPE-K phase run",
            cycle_duration,
        );
        registry.register(
            "mape_k_patterns_detected",
            "Patterns detected by type",
            m.patterns_detected.clone(),
        );
        registry.register(
            "mape_k_policies_generated",
            "RemediationPolicies written",
            m.policies_generated.clone(),
        );
        registry.register(
            "mape_k_policy_execution_success_rate",
            "Completed executions over finished executions since start",
            m.execution_success_rate.clone(),
        );
        registry.register(
            "mapek_reconcile",
            "Reconciles by controller",
            m.reconciles.clone(),
        );
        registry.register(
            "mapek_reconcile_errors",
            "Failed reconciles by controller",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "mapek_reconcile_duration_seconds",
            "Reconcile duration by controller",
            reconcile_duration,
        );
        registry.register(
            "mapek_violations",
            "Violations recorded by policy",
            m.violations.clone(),
        );
        registry.register(
            "mapek_storm_brake_held",
            "Times the storm brake held an approved plan",
            m.storm_brake_held.clone(),
        );
        registry.register(
            "mapek_storm_brake_engaged",
            "1 while the storm brake holds approved plans",
            m.storm_brake_engaged.clone(),
        );
        registry.register(
            "mapek_shared_causes",
            "Analyses that found a shared cause across Deployments (no plan)",
            m.shared_causes.clone(),
        );
        registry.register(
            "mapek_gitops_refused",
            "Plans not proposed for a GitOps-managed target (policy gitOps: Refuse)",
            m.gitops_refused.clone(),
        );
        registry.register(
            "mapek_hpa_withheld",
            "Scale actions left out for a Deployment an HPA scales (policy hpa: Refuse, several HPAs, or unreadable HPAs)",
            m.hpa_withheld.clone(),
        );
        registry.register(
            "mapek_remediation_exhausted",
            "Breach episodes that turned Exhausted: maxPlansPerEpisode reached or a plan declined",
            m.remediation_exhausted.clone(),
        );
        registry.register(
            "mapek_policies_exhausted",
            "Policies whose breach episode is Exhausted now",
            m.policies_exhausted.clone(),
        );
        registry.register(
            "mapek_prometheus_queries",
            "Distinct PromQL queries sent",
            m.prometheus_queries.clone(),
        );
        registry.register(
            "mapek_prometheus_range_queries",
            "Range queries sent to read a query's history back",
            m.prometheus_range_queries.clone(),
        );
        registry.register(
            "mapek_evaluation_lag_seconds",
            "Seconds an evaluation ran after its due time",
            m.evaluation_lag.clone(),
        );
        registry.register(
            "mapek_status_writes",
            "ViolationPolicy status writes by reason (skipped, deferred and queued: not written yet)",
            m.status_writes.clone(),
        );
        registry.register(
            "mapek_prometheus_query_errors",
            "PromQL queries that gave no usable value",
            m.prometheus_query_errors.clone(),
        );
        registry.register(
            "mapek_outcomes",
            "PolicyOutcomes by outcome type",
            m.outcomes.clone(),
        );
        registry.register(
            "mapek_time_to_stabilization_seconds",
            "Seconds from the end of an execution to the last violation after it",
            m.time_to_stabilization.clone(),
        );
        registry.register(
            "mapek_notifications",
            "Alerts posted to Alertmanager by result (sent, or failed after retries)",
            m.notifications.clone(),
        );
        registry.register(
            "mapek_notifications_failing",
            "1 while sends to Alertmanager fail (the last one failed after its retries)",
            m.notifications_failing.clone(),
        );
        registry.register(
            "mapek_notifications_firing",
            "Alerts the notifier holds as firing in Alertmanager",
            m.notifications_firing.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// Records one reconcile of `controller`.
    pub fn reconciled(&self, controller: &str, seconds: f64, failed: bool) {
        let labels = ControllerLabels {
            controller: controller.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(seconds);
        if failed {
            self.reconcile_errors.get_or_create(&labels).inc();
        }
    }

    /// Counts one status write (or skip) of the monitor.
    pub fn status_write(&self, reason: &str) {
        self.status_writes
            .get_or_create(&WriteLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts `n` alerts posted to Alertmanager with `result`.
    pub fn notification_results(&self, result: &str, n: u64) {
        self.notifications
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc_by(n);
    }

    /// Records the time one MAPE-K phase took.
    pub fn phase(&self, phase: &str, seconds: f64) {
        self.cycle_duration
            .get_or_create(&PhaseLabels {
                phase: phase.to_string(),
            })
            .observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_seed_families_and_counts() {
        let m = Metrics::default();
        m.policies_generated.inc();
        m.patterns_detected
            .get_or_create(&PatternLabels {
                pattern_type: "TemporalBurst".into(),
            })
            .inc();
        m.reconciled("executor", 0.01, true);
        m.phase("analyze", 0.002);
        m.execution_success_rate.set(0.75);
        let text = m.render();
        for family in [
            "mape_k_cycle_duration_seconds_bucket{le=\"0.002\",phase=\"analyze\"} 1",
            "mape_k_policies_generated_total 1",
            "mape_k_policy_execution_success_rate 0.75",
            "mapek_reconcile_errors_total{controller=\"executor\"} 1",
            "mape_k_patterns_detected_total{pattern_type=\"TemporalBurst\"} 1",
        ] {
            assert!(text.contains(family), "missing {family:?} in\n{text}");
        }
    }
}
