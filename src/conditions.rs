//! Status conditions as the Kubernetes API conventions describe them: one entry per
//! type, `lastTransitionTime` moved only when the status changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use mapek_api::Condition;

/// The status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl From<bool> for Status {
    fn from(b: bool) -> Status {
        if b { Status::True } else { Status::False }
    }
}

/// Sets the condition of `type_`, keeping its `lastTransitionTime` when the status
/// does not change. Returns whether the status changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: impl Into<Status>,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) -> bool {
    let status = format!("{:?}", status.into());
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            let changed = c.status != status;
            if changed {
                c.last_transition_time = now.clone();
            }
            c.status = status;
            c.reason = reason.to_string();
            c.message = message;
            c.observed_generation = generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_string(),
                status,
                reason: reason.to_string(),
                message,
                observed_generation: generation,
                last_transition_time: now.clone(),
            });
            true
        }
    }
}

/// Whether the condition of `type_` is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_millisecond(ms).unwrap())
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut c = Vec::new();
        assert!(set(
            &mut c,
            "Ready",
            true,
            "Evaluated",
            "ok",
            Some(1),
            &at(1000)
        ));
        assert!(!set(
            &mut c,
            "Ready",
            true,
            "Evaluated",
            "still ok",
            Some(2),
            &at(2000)
        ));
        assert_eq!(c[0].last_transition_time, at(1000));
        assert_eq!(c[0].message, "still ok");
        assert!(set(
            &mut c,
            "Ready",
            false,
            "PrometheusUnreachable",
            "down",
            Some(2),
            &at(3000)
        ));
        assert_eq!(c[0].last_transition_time, at(3000));
        assert_eq!(c.len(), 1);
        assert!(!is_true(&c, "Ready"));
    }
}
