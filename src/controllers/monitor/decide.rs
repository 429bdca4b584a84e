//! Monitor: turns one evaluation of a ViolationPolicy's query into its new status,
//! with the `for` semantics of Prometheus alerting rules (pending, then firing), a
//! bounded list of violations and the `Ready` and `Violating` conditions; says
//! whether the new status is worth a write to the API server; and aligns
//! evaluation times to interval boundaries. Pure: the controller passes in the
//! query result and the time.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::conditions::{self, Status};
use crate::prometheus::QueryError;
use mapek_api::{
    MAX_RECENT_VIOLATIONS, RecordedViolation, ViolationPolicySpec, ViolationPolicyStatus,
};
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

/// Why a new status is written to the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Nothing a reader needs changed: the write is skipped.
    Skip,
    /// The spec changed (a new `observedGeneration`).
    Generation,
    /// A condition changed status or reason, or a breach began or ended pending.
    Transition,
    /// A violation was recorded.
    Violation,
    /// The last written evaluation is older than the refresh period: the last
    /// value and the sample summary are brought up to date. May wait for the
    /// write budget.
    Refresh,
}

/// The analyzer owns `status.episode` and every condition but `Ready` and
/// `Violating` (`Exhausted`): a status the monitor writes carries them as the
/// watch cache (`cached`) has them now, never an older copy, and no episode at
/// all (a merge patch leaves the stored one alone).
pub fn keep_analyzer_fields(
    status: &mut ViolationPolicyStatus,
    cached: Option<&ViolationPolicyStatus>,
) {
    status.episode = None;
    status
        .conditions
        .retain(|c| c.type_ == READY || c.type_ == VIOLATING);
    if let Some(cached) = cached {
        status.conditions.extend(
            cached
                .conditions
                .iter()
                .filter(|c| c.type_ != READY && c.type_ != VIOLATING)
                .cloned(),
        );
    }
}

/// Whether `after` (the status after an evaluation) must be written, given
/// `written` (the status the API server holds) and the refresh period. Values,
/// messages and evaluation times alone are not worth a write before the refresh
/// period passes: they change on every evaluation.
pub fn worth_writing(
    written: &ViolationPolicyStatus,
    after: &ViolationPolicyStatus,
    now: Millis,
    refresh_ms: Millis,
) -> Write {
    if written.observed_generation != after.observed_generation {
        return Write::Generation;
    }
    if written.violation_count != after.violation_count {
        return Write::Violation;
    }
    let shape = |s: &ViolationPolicyStatus| {
        let mut c: Vec<_> = s
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect();
        c.sort();
        c
    };
    if written.pending_since != after.pending_since || shape(written) != shape(after) {
        return Write::Transition;
    }
    let last = written
        .last_evaluation_time
        .as_ref()
        .map_or(Millis::MIN, |t| t.0.as_millisecond());
    if now.saturating_sub(last) >= refresh_ms {
        return Write::Refresh;
    }
    Write::Skip
}

/// The evaluation after one at `now`: the first interval boundary (a multiple
/// of the interval since the epoch) at least `wait` after the boundary `now`
/// belongs to. Aligned times let every policy that shares a query be evaluated
/// in the same round, so the query runs once.
pub fn next_due(now: Millis, interval_ms: Millis, wait_ms: Millis) -> Millis {
    let interval = interval_ms.max(1);
    let after = now.saturating_add(wait_ms.max(interval) - interval);
    (after / interval)
        .saturating_add(1)
        .saturating_mul(interval)
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
    use mapek_api::{RemediationSpec, TargetKind, TargetRef, ViolationCondition};
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
                keep_firing_for: None,
            },
            severity: Severity::Warning,
            component: None,
            metric: None,
            evaluation_interval: std::time::Duration::from_secs(10).into(),
            remediation: RemediationSpec::default(),
            context: None,
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
        assert!(s.last_value.is_none());
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
        assert!(
            s.recent_samples.is_empty(),
            "samples live in memory, not status"
        );
    }

    #[test]
    fn only_what_a_reader_needs_is_written_before_the_refresh() {
        let spec = spec(20);
        let refresh = 300_000;
        let mut written = ViolationPolicyStatus::default();
        let step = |written: &mut ViolationPolicyStatus, value: f64, now: Millis| {
            let mut s = written.clone();
            observe("p", &spec, Some(1), &mut s, &Ok(value), now);
            let w = worth_writing(written, &s, now, refresh);
            if w != Write::Skip {
                *written = s;
            }
            w
        };
        // The first evaluation sets the conditions.
        assert_eq!(step(&mut written, 0.1, 0), Write::Generation);
        // Same conditions, a new value: no write.
        assert_eq!(step(&mut written, 0.2, 10_000), Write::Skip);
        assert_eq!(step(&mut written, 0.3, 20_000), Write::Skip);
        // A breach begins pending, still pending (only the message moves), fires.
        assert_eq!(step(&mut written, 0.9, 30_000), Write::Transition);
        assert_eq!(step(&mut written, 0.9, 40_000), Write::Skip);
        assert_eq!(step(&mut written, 0.9, 50_000), Write::Violation);
        assert_eq!(step(&mut written, 0.9, 60_000), Write::Violation);
        // Back within the threshold, then quiet until the refresh period.
        assert_eq!(step(&mut written, 0.1, 70_000), Write::Transition);
        assert_eq!(step(&mut written, 0.1, 80_000), Write::Skip);
        assert_eq!(step(&mut written, 0.2, 370_000), Write::Refresh);
        assert_eq!(written.last_value, Some(0.2));
        // A failing query is a transition; a spec change is always written.
        let mut s = written.clone();
        observe(
            "p",
            &spec,
            Some(1),
            &mut s,
            &Err(QueryError::Empty),
            380_000,
        );
        assert_eq!(
            worth_writing(&written, &s, 380_000, refresh),
            Write::Transition
        );
        let mut s = written.clone();
        observe("p", &spec, Some(2), &mut s, &Ok(0.2), 380_000);
        assert_eq!(
            worth_writing(&written, &s, 380_000, refresh),
            Write::Generation
        );
    }

    #[test]
    fn evaluations_fall_on_interval_boundaries() {
        // Any time inside a round gives the next boundary.
        assert_eq!(next_due(30_000, 30_000, 30_000), 60_000);
        assert_eq!(next_due(30_400, 30_000, 30_000), 60_000);
        assert_eq!(next_due(59_999, 30_000, 30_000), 60_000);
        // Two policies created at different times meet at the same boundaries.
        assert_eq!(
            next_due(1_234, 10_000, 10_000),
            next_due(7_777, 10_000, 10_000)
        );
        // A longer wait (backoff) skips whole intervals and stays aligned.
        assert_eq!(next_due(30_400, 30_000, 120_000), 150_000);
        // A wait shorter than the interval is the next boundary.
        assert_eq!(next_due(30_400, 30_000, 1), 60_000);
    }

    #[test]
    fn the_monitor_writes_the_analyzers_condition_as_cached_and_no_episode() {
        let now = time(1_000);
        let mut mine = ViolationPolicyStatus::default();
        conditions::set(
            &mut mine.conditions,
            READY,
            true,
            "Evaluated",
            "",
            None,
            &now,
        );
        // An older copy of the analyzer's condition, from the status it started from.
        conditions::set(
            &mut mine.conditions,
            "Exhausted",
            false,
            "Planning",
            "",
            None,
            &now,
        );
        let mut cached = mine.clone();
        conditions::set(&mut cached.conditions, READY, false, "Old", "", None, &now);
        conditions::set(
            &mut cached.conditions,
            "Exhausted",
            true,
            "MaxPlansReached",
            "",
            None,
            &now,
        );
        mine.episode = Some(mapek_api::PolicyEpisode {
            state: mapek_engine::model::EpisodeState::Planned,
            since: now.clone(),
            last_breach: now.clone(),
            ended_at: None,
            plans: Vec::new(),
            max_plans: 2,
            message: String::new(),
        });
        keep_analyzer_fields(&mut mine, Some(&cached));
        assert_eq!(mine.episode, None);
        let shown: Vec<_> = mine
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(shown, [(READY, "True"), ("Exhausted", "True")]);
    }
}
