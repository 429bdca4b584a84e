//! Which history series a policy's evaluations feed: its query's and its
//! context queries', each at the policy's interval.

use std::time::Duration;

use super::history::Key;
use mapek_api::ViolationPolicy;
use mapek_engine::model::Millis;

/// The history series a policy's evaluations go to: its query at its interval.
pub fn history_key(policy: &ViolationPolicy, default_interval: Duration) -> Key {
    Key {
        query: policy.spec.query.clone(),
        interval_ms: interval_of(policy, default_interval).as_millis() as Millis,
    }
}

/// The history series of a policy's context queries (load, saturation), each
/// with what it measures.
pub fn context_keys(
    policy: &ViolationPolicy,
    default_interval: Duration,
) -> Vec<(mapek_engine::model::ContextKind, Key)> {
    let interval_ms = interval_of(policy, default_interval).as_millis() as Millis;
    policy
        .spec
        .context
        .iter()
        .flat_map(|c| c.queries())
        .map(|(kind, query)| {
            (
                kind,
                Key {
                    query: query.to_string(),
                    interval_ms,
                },
            )
        })
        .collect()
}

/// Every series a policy's evaluations feed: its query's and its context queries'.
pub(super) fn series_of(policy: &ViolationPolicy, default_interval: Duration) -> Vec<Key> {
    let mut keys = vec![history_key(policy, default_interval)];
    keys.extend(
        context_keys(policy, default_interval)
            .into_iter()
            .map(|(_, k)| k),
    );
    keys
}

/// A policy's evaluation interval, or the operator's default when it sets none.
pub(super) fn interval_of(policy: &ViolationPolicy, default_interval: Duration) -> Duration {
    let interval = Duration::from(policy.spec.evaluation_interval);
    if interval.is_zero() {
        default_interval
    } else {
        interval
    }
}
