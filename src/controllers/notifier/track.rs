//! What was last sent to Alertmanager, and what to send next (pure): a new or
//! changed alert at once, a firing one again every `resend` (its `endsAt`
//! `ends_after` ahead, so one lost send does not resolve it), and the
//! resolution (`endsAt` now) of one that is no longer wanted. Nothing is
//! recorded until Alertmanager took the batch ([`Tracker::commit`]), so a failed
//! send is sent again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::alerts::{Desired, Labels};
use mapek_engine::model::Millis;

/// One alert of `POST /api/v2/alerts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(
        rename = "generatorURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generator_url: Option<String>,
}

/// RFC 3339, as Alertmanager reads times.
pub fn rfc3339(ms: Millis) -> String {
    k8s_openapi::jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn wire(d: &Desired, ends_ms: Millis) -> Alert {
    Alert {
        labels: d.labels.clone(),
        annotations: d.annotations.clone(),
        starts_at: rfc3339(d.starts_ms.min(ends_ms)),
        ends_at: rfc3339(ends_ms),
        generator_url: d.generator_url.clone(),
    }
}

/// One send: the alerts on the wire and what committing it records.
#[derive(Debug, Default)]
pub struct Batch {
    pub alerts: Vec<Alert>,
    fired: Vec<Desired>,
    resolved: Vec<Labels>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// How many of its alerts resolve one.
    pub fn resolutions(&self) -> usize {
        self.alerts.len() - self.fired.len()
    }
}

#[derive(Debug)]
struct Sent {
    desired: Desired,
    at_ms: Millis,
}

/// The alerts Alertmanager holds from this operator, as far as it knows.
#[derive(Debug)]
pub struct Tracker {
    sent: BTreeMap<Labels, Sent>,
    resend_ms: Millis,
    ends_after_ms: Millis,
    /// Whether a batch was taken since the start (until then, what ended
    /// recently before the start is resolved too).
    started: bool,
}

impl Tracker {
    pub fn new(resend_ms: Millis, ends_after_ms: Millis) -> Tracker {
        Tracker {
            sent: BTreeMap::new(),
            resend_ms,
            ends_after_ms,
            started: false,
        }
    }

    /// Whether the ended alerts of before the start still need resolving.
    pub fn starting(&self) -> bool {
        !self.started
    }

    /// What to send now, given what is wanted and (at the start) what ended
    /// recently and may still fire in Alertmanager.
    pub fn next(&self, desired: &[Desired], ended: &[Desired], now_ms: Millis) -> Batch {
        let mut batch = Batch::default();
        let wanted: BTreeMap<&Labels, &Desired> = desired.iter().map(|d| (&d.labels, d)).collect();
        for d in wanted.values() {
            let due = match self.sent.get(&d.labels) {
                None => true,
                Some(s) => s.desired != **d || now_ms - s.at_ms >= self.resend_ms,
            };
            if due {
                batch.alerts.push(wire(d, now_ms + self.ends_after_ms));
                batch.fired.push((*d).clone());
            }
        }
        for (labels, s) in &self.sent {
            if !wanted.contains_key(labels) {
                batch.alerts.push(wire(&s.desired, now_ms));
                batch.resolved.push(labels.clone());
            }
        }
        if !self.started {
            for d in ended {
                if !wanted.contains_key(&d.labels) && !self.sent.contains_key(&d.labels) {
                    batch.alerts.push(wire(d, now_ms));
                    batch.resolved.push(d.labels.clone());
                }
            }
        }
        batch
    }

    /// Records a batch Alertmanager took.
    pub fn commit(&mut self, batch: Batch, now_ms: Millis) {
        for d in batch.fired {
            self.sent.insert(
                d.labels.clone(),
                Sent {
                    desired: d,
                    at_ms: now_ms,
                },
            );
        }
        for labels in batch.resolved {
            self.sent.remove(&labels);
        }
        self.started = true;
    }

    /// How many alerts it holds as firing.
    pub fn firing(&self) -> usize {
        self.sent.len()
    }
}
