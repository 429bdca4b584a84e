//! Leader election on a `coordination.k8s.io/v1` Lease, so that only one replica
//! of the operator acts. A replica acquires the Lease when it is free or expired,
//! renews it while it leads, and stops acting (the process exits) when it loses it,
//! as controller-runtime does. Every write carries the `resourceVersion` it read, so
//! two replicas can never both believe they won.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::{Client, Error as KubeError};

/// Lease timing, as in client-go's defaults.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    pub lease_duration: Duration,
    pub retry_period: Duration,
}

/// What one election round decided for this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// This replica holds the Lease until at least the next round.
    Leading,
    /// Another replica holds a live Lease.
    Following,
}

/// Whether `lease` may be taken by `identity` at `now`: it is free, ours, or expired.
pub fn can_acquire(lease: &LeaseSpec, identity: &str, now: Timestamp) -> bool {
    match lease.holder_identity.as_deref() {
        None | Some("") => true,
        Some(holder) if holder == identity => true,
        Some(_) => {
            let duration = i64::from(lease.lease_duration_seconds.unwrap_or(15));
            match &lease.renew_time {
                Some(MicroTime(renewed)) => *renewed + SignedDuration::from_secs(duration) < now,
                None => true,
            }
        }
    }
}

fn spec_for(
    identity: &str,
    settings: &LeaseSettings,
    previous: Option<&LeaseSpec>,
    now: Timestamp,
) -> LeaseSpec {
    let same_holder = previous.and_then(|p| p.holder_identity.as_deref()) == Some(identity);
    let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(settings.lease_duration.as_secs().max(1) as i32),
        acquire_time: if same_holder {
            previous.and_then(|p| p.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if same_holder || previous.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..LeaseSpec::default()
    }
}

/// One election round: read the Lease, then create, renew or take it over when
/// allowed. A conflict (another replica wrote first) means following.
pub async fn round(client: &Client, settings: &LeaseSettings) -> Result<Round, KubeError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    let now = Timestamp::now();
    match api.get_opt(&settings.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(settings.name.clone()),
                    namespace: Some(settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec_for(&settings.identity, settings, None, now)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Round::Leading),
                Err(KubeError::Api(s)) if s.code == 409 => Ok(Round::Following),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let current = lease.spec.clone().unwrap_or_default();
            if !can_acquire(&current, &settings.identity, now) {
                return Ok(Round::Following);
            }
            lease.spec = Some(spec_for(&settings.identity, settings, Some(&current), now));
            match api
                .replace(&settings.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(Round::Leading),
                Err(KubeError::Api(s)) if s.code == 409 => Ok(Round::Following),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until this replica leads, then keeps renewing in the background. The
/// returned receiver turns `false` when leadership is lost (the Lease was taken or
/// could not be renewed before it expired).
pub async fn acquire(
    client: Client,
    settings: LeaseSettings,
) -> tokio::sync::watch::Receiver<bool> {
    loop {
        match round(&client, &settings).await {
            Ok(Round::Leading) => break,
            Ok(Round::Following) => {
                tracing::debug!(lease = %settings.name, "another replica leads; waiting")
            }
            Err(e) => {
                tracing::warn!(lease = %settings.name, error = %e, "leader election round failed")
            }
        }
        tokio::time::sleep(settings.retry_period).await;
    }
    tracing::info!(lease = %settings.name, identity = %settings.identity, "acquired leadership");
    let (tx, rx) = tokio::sync::watch::channel(true);
    tokio::spawn(async move {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(settings.retry_period).await;
            match round(&client, &settings).await {
                Ok(Round::Leading) => last_renewal = tokio::time::Instant::now(),
                Ok(Round::Following) => {
                    tracing::error!(lease = %settings.name, "leadership lost to another replica");
                    let _ = tx.send(false);
                    return;
                }
                Err(e) => {
                    tracing::warn!(lease = %settings.name, error = %e, "cannot renew the lease");
                    if last_renewal.elapsed() >= settings.lease_duration {
                        let _ = tx.send(false);
                        return;
                    }
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64, now: Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed_secs_ago))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_live_lease_of_another_replica_is_not_taken() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        assert!(!can_acquire(&lease("b", 5, now), "a", now));
        assert!(can_acquire(&lease("b", 16, now), "a", now));
        assert!(can_acquire(&lease("a", 5, now), "a", now));
        assert!(can_acquire(&LeaseSpec::default(), "a", now));
    }

    #[test]
    fn taking_over_counts_a_transition_and_renewing_does_not() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let settings = LeaseSettings {
            name: "l".into(),
            namespace: "default".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        };
        let mut old = lease("b", 20, now);
        old.lease_transitions = Some(3);
        assert_eq!(
            spec_for("a", &settings, Some(&old), now).lease_transitions,
            Some(4)
        );
        let mut mine = lease("a", 2, now);
        mine.lease_transitions = Some(4);
        assert_eq!(
            spec_for("a", &settings, Some(&mine), now).lease_transitions,
            Some(4)
        );
    }
}
