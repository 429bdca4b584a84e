//! Monitor: turns one evaluation of a ViolationPolicy's query into its new status,
//! with the `for` semantics of Prometheus alerting rules (pending, then firing),
//! bounded lists of violations and samples, and the `Ready` and `Violating`
//! conditions. Pure: the controller passes in the query result and the time.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::conditions::{self, Status};
use crate::crd::{
    MAX_RECENT_SAMPLES, MAX_RECENT_VIOLATIONS, RecordedSample, RecordedViolation,
    ViolationPolicySpec, ViolationPolicyStatus,
};
use crate::prometheus::QueryError;
use mapek_engine::model::Millis;

/// Condition type: the query evaluates to a usable number.
pub const READY: &str = "Ready";
/// Condition type: the condition has held for `for` and violations are recorded.
pub const VIOLATING: &str = "Violating";

/// What one evaluation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluated {
    /// The query failed; nothing was recorded.
    Failed,
    /// Inside the threshold.
    Ok,
    /// Violating, but not yet for `for`.
    Pending,
    /// A violation was recorded.
    Violation,
}

/// Applies one query result to a policy's status.
pub fn observe(
    name: &str,
    spec: &ViolationPolicySpec,
    generation: Option<i64>,
    status: &mut ViolationPolicyStatus,
    result: &Result<f64, QueryError>,
    now: Millis,
) -> Evaluated {
    let now_time = time(now);
    status.last_evaluation_time = Some(now_time.clone());
    status.observed_generation = generation;
    let value = match result {
        Err(e) => {
            conditions::set(
                &mut status.conditions,
                READY,
                false,
                e.reason(),
                e.to_string(),
                generation,
                &now_time,
            );
            conditions::set(
                &mut status.conditions,
                VIOLATING,
                Status::Unknown,
                "NoData",
                "the last evaluation gave no usable value",
                generation,
                &now_time,
            );
            return Evaluated::Failed;
        }
        Ok(v) => *v,
    };
    conditions::set(
        &mut status.conditions,
        READY,
        true,
        "Evaluated",
        format!("the query returned {value}"),
        generation,
        &now_time,
    );
    status.last_value = Some(value);
    push_bounded(
        &mut status.recent_samples,
        RecordedSample {
            time: now_time.clone(),
            value,
        },
        MAX_RECENT_SAMPLES,
    );

    let c = &spec.condition;
    if !c.operator.violates(value, c.threshold) {
        status.pending_since = None;
        conditions::set(
            &mut status.conditions,
            VIOLATING,
            false,
            "WithinThreshold",
            format!(
                "{value} is within the threshold {:?} {}",
                c.operator, c.threshold
            ),
            generation,
            &now_time,
        );
        return Evaluated::Ok;
    }

    let since = status
        .pending_since
        .get_or_insert_with(|| now_time.clone())
        .0
        .as_millisecond();
    let hold_ms = c
        .for_
        .map(|d| std::time::Duration::from(d).as_millis() as i64)
        .unwrap_or(0);
    let held_ms = now.saturating_sub(since);
    if held_ms < hold_ms {
        conditions::set(
            &mut status.conditions,
            VIOLATING,
            false,
            "Pending",
            format!(
                "{value} breaks the threshold; held {}s of the {}s `for`",
                held_ms / 1000,
                hold_ms / 1000
            ),
            generation,
            &now_time,
        );
        return Evaluated::Pending;
    }

    status.violation_count = status.violation_count.saturating_add(1);
    push_bounded(
        &mut status.recent_violations,
        RecordedViolation {
            id: format!("{name}-{}", status.violation_count),
            time: now_time.clone(),
            value,
            threshold: c.threshold,
        },
        MAX_RECENT_VIOLATIONS,
    );
    conditions::set(
        &mut status.conditions,
        VIOLATING,
        true,
        "ThresholdExceeded",
        format!(
            "{value} breaks the threshold {:?} {}",
            c.operator, c.threshold
        ),
        generation,
        &now_time,
    );
    Evaluated::Violation
}

/// A `metav1.Time` from milliseconds since the epoch (clamped into jiff's range).
pub fn time(ms: Millis) -> Time {
    use k8s_openapi::jiff::Timestamp;
    let clamped = ms.clamp(
        Timestamp::MIN.as_millisecond(),
        Timestamp::MAX.as_millisecond(),
    );
    Time(Timestamp::from_millisecond(clamped).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn push_bounded<T>(list: &mut Vec<T>, item: T, max: usize) {
    list.push(item);
    if list.len() > max {
        let excess = list.len() - max;
        list.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{RemediationSpec, TargetKind, TargetRef, ViolationCondition};
    use mapek_engine::model::{ComparisonOperator, Severity};

    fn spec(for_secs: u64) -> ViolationPolicySpec {
        ViolationPolicySpec {
            target_ref: TargetRef {
                kind: TargetKind::Deployment,
                name: "checkout".into(),
            },
            query: "latency".into(),
            condition: ViolationCondition {
                operator: ComparisonOperator::GreaterThan,
                threshold: 0.5,
                for_: Some(std::time::Duration::from_secs(for_secs).into()),
            },
            severity: Severity::Warning,
            component: None,
            metric: None,
            evaluation_interval: std::time::Duration::from_secs(10).into(),
            remediation: RemediationSpec::default(),
        }
    }

    fn condition<'a>(s: &'a ViolationPolicyStatus, t: &str) -> (&'a str, &'a str) {
        let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn for_makes_a_violation_pending_then_firing() {
        let spec = spec(30);
        let mut s = ViolationPolicyStatus::default();
        assert_eq!(
            observe("p", &spec, Some(1), &mut s, &Ok(0.9), 0),
            Evaluated::Pending
        );
        assert_eq!(
            observe("p", &spec, Some(1), &mut s, &Ok(0.9), 20_000),
            Evaluated::Pending
        );
        assert_eq!(condition(&s, VIOLATING), ("False", "Pending"));
        assert_eq!(
            observe("p", &spec, Some(1), &mut s, &Ok(0.9), 30_000),
            Evaluated::Violation
        );
        assert_eq!(condition(&s, VIOLATING), ("True", "ThresholdExceeded"));
        assert_eq!(s.violation_count, 1);
        assert_eq!(s.recent_violations[0].id, "p-1");
        // Back under the threshold: pending resets, so the next breach waits again.
        assert_eq!(
            observe("p", &spec, Some(1), &mut s, &Ok(0.2), 40_000),
            Evaluated::Ok
        );
        assert_eq!(
            observe("p", &spec, Some(1), &mut s, &Ok(0.9), 50_000),
            Evaluated::Pending
        );
        assert_eq!(s.violation_count, 1);
    }

    #[test]
    fn without_for_every_breach_is_a_violation() {
        let spec = spec(0);
        let mut s = ViolationPolicyStatus::default();
        assert_eq!(
            observe("p", &spec, None, &mut s, &Ok(0.6), 0),
            Evaluated::Violation
        );
        assert_eq!(
            observe("p", &spec, None, &mut s, &Ok(0.5), 1),
            Evaluated::Ok
        );
    }

    #[test]
    fn a_failed_query_records_nothing_and_says_why() {
        let spec = spec(0);
        let mut s = ViolationPolicyStatus::default();
        let r = observe(
            "p",
            &spec,
            Some(3),
            &mut s,
            &Err(QueryError::NotANumber(f64::NAN)),
            0,
        );
        assert_eq!(r, Evaluated::Failed);
        assert_eq!(condition(&s, READY), ("False", "NotANumber"));
        assert_eq!(condition(&s, VIOLATING), ("Unknown", "NoData"));
        assert_eq!(s.violation_count, 0);
        assert!(s.recent_samples.is_empty() && s.last_value.is_none());
    }

    #[test]
    fn lists_stay_bounded_and_the_count_keeps_growing() {
        let spec = spec(0);
        let mut s = ViolationPolicyStatus::default();
        for i in 0..500 {
            observe("p", &spec, None, &mut s, &Ok(1.0), i * 1000);
        }
        assert_eq!(s.violation_count, 500);
        assert_eq!(s.recent_violations.len(), MAX_RECENT_VIOLATIONS);
        assert_eq!(s.recent_violations.last().unwrap().id, "p-500");
        assert_eq!(s.recent_samples.len(), MAX_RECENT_SAMPLES);
    }
}
