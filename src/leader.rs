//! Leader election on a `coordination.k8s.io/v1` Lease, so that only one replica
//! of the operator acts. A replica acquires the Lease when it is free or expired,
//! renews it while it leads, and stops acting (the process exits) when it loses it,
//! as controller-runtime does. Every write carries the `resourceVersion` it read, so
//! two replicas can never both believe they won.
//!
//! As in client-go, a leader that cannot renew within the renew deadline (shorter
//! than the lease duration) stands down, so that it has stopped before another
//! replica may take the Lease: [`Leadership`] says until when it may still act
//! (the start of its last successful renewal plus the renew deadline), and the
//! executor checks it before each of its writes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
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
    /// How long a leader keeps acting without a successful renewal; shorter than
    /// `lease_duration`, so that it stops before another replica may take over.
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// Until when this replica may act. Without leader election it always may; with
/// it, until the renew deadline after the start of its last successful renewal.
#[derive(Clone, Debug)]
pub struct Leadership(Arc<Mutex<Option<Instant>>>);

/// A write refused because this replica no longer (or not yet) holds the Lease.
#[derive(Debug, thiserror::Error)]
#[error("this replica does not hold the leader Lease (its renew deadline passed); not writing")]
pub struct NotLeading;

impl Leadership {
    /// No leader election: every write may go.
    pub fn unconditional() -> Leadership {
        Leadership(Arc::new(Mutex::new(None)))
    }

    /// Leader election: no write may go until [`Leadership::extend`] says so.
    pub fn elected() -> Leadership {
        let past = Instant::now();
        Leadership(Arc::new(Mutex::new(Some(past))))
    }

    /// This replica may act until `until` (never shortened by a late call).
    pub fn extend(&self, until: Instant) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = slot.as_mut() {
            *current = (*current).max(until);
        }
    }

    /// This replica may no longer act (with or without leader election).
    pub fn end(&self) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(Instant::now());
    }

    /// Whether a write may go now.
    pub fn check(&self) -> Result<(), NotLeading> {
        let slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match *slot {
            Some(until) if Instant::now() >= until => Err(NotLeading),
            _ => Ok(()),
        }
    }
}

impl Default for Leadership {
    fn default() -> Leadership {
        Leadership::unconditional()
    }
}

/// What the renewal loop does after one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep leading; act until this instant.
    Lead(Instant),
    /// Stand down: the Lease is another's, or the renew deadline passed.
    StandDown,
}

/// The verdict on a renewal round started at `started` that ended at `now` with
/// `outcome` (`None`: an error or a timeout), while the last successful renewal
/// allowed acting until `until`.
pub fn judge(
    outcome: Option<Round>,
    started: Instant,
    now: Instant,
    until: Instant,
    renew_deadline: Duration,
) -> Verdict {
    match outcome {
        Some(Round::Leading) => Verdict::Lead(started + renew_deadline),
        Some(Round::Following) => Verdict::StandDown,
        None if now >= until => Verdict::StandDown,
        None => Verdict::Lead(until),
    }
}

/// What one election round decided for this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// This replica holds the Lease until at least the next round.
    Leading,
    /// Another replica holds a live Lease.
    Following,
}

/// What this replica last saw of the Lease, and since when (its own monotonic
/// clock). As in client-go, another replica's Lease has lapsed when its record
/// (holder and renewTime) has stayed unchanged here for the lease duration: the
/// holder's renewTime is never compared with this replica's wall clock, so a
/// clock skewed between replicas cannot make a follower take a live Lease.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    record: Option<(Option<String>, Option<MicroTime>)>,
    since: Option<Instant>,
}

impl Observed {
    /// Notes the record of `lease` seen at `now`; returns for how long this
    /// replica has seen it unchanged.
    pub fn see(&mut self, lease: &LeaseSpec, now: Instant) -> Duration {
        let record = (lease.holder_identity.clone(), lease.renew_time.clone());
        if self.record.as_ref() != Some(&record) {
            self.record = Some(record);
            self.since = Some(now);
        }
        now.saturating_duration_since(self.since.unwrap_or(now))
    }
}

/// Whether `lease` may be taken by `identity`, its record unchanged here for
/// `unchanged_for`: it is free, ours, or not renewed for its whole duration.
pub fn can_acquire(lease: &LeaseSpec, identity: &str, unchanged_for: Duration) -> bool {
    match lease.holder_identity.as_deref() {
        None | Some("") => true,
        Some(holder) if holder == identity => true,
        Some(_) => {
            let duration = u64::try_from(lease.lease_duration_seconds.unwrap_or(15)).unwrap_or(15);
            unchanged_for > Duration::from_secs(duration)
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
/// allowed (`observed`: what earlier rounds saw of it). A conflict (another
/// replica wrote first) means following.
pub async fn round(
    client: &Client,
    settings: &LeaseSettings,
    observed: &mut Observed,
) -> Result<Round, KubeError> {
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
            let unchanged_for = observed.see(&current, Instant::now());
            if !can_acquire(&current, &settings.identity, unchanged_for) {
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

/// Waits until this replica leads, then keeps renewing in the background, each
/// round bounded by the renew deadline, extending `leadership` after each
/// successful one. The returned receiver turns `false` when leadership is lost
/// (the Lease was taken, or no renewal succeeded within the renew deadline);
/// `leadership` has ended by then.
pub async fn acquire(
    client: Client,
    settings: LeaseSettings,
    leadership: Leadership,
) -> tokio::sync::watch::Receiver<bool> {
    let mut started;
    let mut observed = Observed::default();
    loop {
        started = Instant::now();
        match round(&client, &settings, &mut observed).await {
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
    let mut until = started + settings.renew_deadline;
    leadership.extend(until);
    tracing::info!(lease = %settings.name, identity = %settings.identity, "acquired leadership");
    let (tx, rx) = tokio::sync::watch::channel(true);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(settings.retry_period).await;
            let started = Instant::now();
            let outcome = match tokio::time::timeout_at(
                until,
                round(&client, &settings, &mut observed),
            )
            .await
            {
                Ok(Ok(round)) => Some(round),
                Ok(Err(e)) => {
                    tracing::warn!(lease = %settings.name, error = %e, "cannot renew the lease");
                    None
                }
                Err(_) => None,
            };
            match judge(
                outcome,
                started,
                Instant::now(),
                until,
                settings.renew_deadline,
            ) {
                Verdict::Lead(next) => {
                    until = next;
                    leadership.extend(until);
                }
                Verdict::StandDown => {
                    leadership.end();
                    tracing::error!(lease = %settings.name, ?outcome, "leadership lost: the Lease was taken or not renewed within the renew deadline");
                    let _ = tx.send(false);
                    return;
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
            renew_time: Some(MicroTime(
                now - k8s_openapi::jiff::SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_live_lease_of_another_replica_is_not_taken() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let secs = Duration::from_secs;
        assert!(!can_acquire(&lease("b", 5, now), "a", secs(5)));
        assert!(can_acquire(&lease("b", 5, now), "a", secs(16)));
        assert!(can_acquire(&lease("a", 5, now), "a", secs(0)));
        assert!(can_acquire(&LeaseSpec::default(), "a", secs(0)));
    }

    #[test]
    fn expiry_is_judged_on_this_replicas_clock_not_the_holders() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut observed = Observed::default();
        // The holder's clock is 40 s behind: its renewTime looks long expired,
        // but it keeps changing, so it is live.
        let wall = Timestamp::from_second(1_000_000).unwrap();
        for s in [0, 2, 4, 6, 20] {
            let renewed = lease("b", 40 - s as i64, wall);
            let unchanged = observed.see(&renewed, at(s));
            assert!(!can_acquire(&renewed, "a", unchanged), "at {s} s");
        }
        // No renewal seen for 16 s of this replica's time: lapsed.
        let last = lease("b", 20, wall);
        assert!(!can_acquire(&last, "a", observed.see(&last, at(30))));
        assert!(can_acquire(&last, "a", observed.see(&last, at(46))));
    }

    #[test]
    fn taking_over_counts_a_transition_and_renewing_does_not() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let settings = LeaseSettings {
            name: "l".into(),
            namespace: "default".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
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

    #[test]
    fn a_failed_renewal_keeps_the_old_deadline_until_it_passes() {
        let t0 = Instant::now();
        let deadline = Duration::from_secs(10);
        let until = t0 + deadline;
        let at = |s| t0 + Duration::from_secs(s);
        // A successful round started at 4 s allows acting until 14 s.
        assert_eq!(
            judge(Some(Round::Leading), at(4), at(5), until, deadline),
            Verdict::Lead(at(14))
        );
        // Failed or timed-out rounds keep the deadline of the last success...
        assert_eq!(
            judge(None, at(6), at(9), until, deadline),
            Verdict::Lead(until)
        );
        // ...and stand down once it has passed, well before the 15 s lease lapses.
        assert_eq!(
            judge(None, at(8), at(10), until, deadline),
            Verdict::StandDown
        );
        assert_eq!(
            judge(Some(Round::Following), at(2), at(3), until, deadline),
            Verdict::StandDown
        );
    }

    #[tokio::test]
    async fn writes_are_refused_once_the_renew_deadline_passes() {
        assert!(Leadership::unconditional().check().is_ok());
        let leadership = Leadership::elected();
        assert!(
            leadership.check().is_err(),
            "no write before the Lease is held"
        );
        leadership.extend(Instant::now() + Duration::from_millis(300));
        assert!(leadership.check().is_ok());
        // A late extension to an earlier instant does not shorten it.
        leadership.extend(Instant::now());
        assert!(leadership.check().is_ok());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(leadership.check().is_err(), "the renew deadline passed");
        leadership.extend(Instant::now() + Duration::from_secs(10));
        assert!(leadership.check().is_ok());
        leadership.end();
        assert!(leadership.check().is_err(), "leadership ended");
    }
}
