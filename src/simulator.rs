//! The workload simulator used by the end-to-end tests and the demo. No kubelet
//! runs on the local API server, so nothing would ever serve metrics for a
//! Deployment: the simulator reads each Deployment from the API and serves
//! Prometheus metrics whose latency and error ratio follow its replicas, env and
//! restart annotation, with faults a test injects over HTTP:
//!
//! - `overload` (load in requests/s): latency grows with load per replica, so
//!   scaling up fixes it;
//! - `leak`: latency climbs until the Deployment is restarted (its pod-template
//!   `kubectl.kubernetes.io/restartedAt` annotation changes);
//! - `badSetting` (env name, good value): the error ratio is high until the first
//!   container's env var has the good value.
//!
//! It also keeps each Deployment's `status` plausible (replicas, readyReplicas,
//! observedGeneration), as the Deployment controller would. This module is the
//! pure model; `src/bin/mapek-simulator.rs` is the process around it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::engine::model::Millis;

/// The pod-template annotation a rolling restart sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// A fault injected into one Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// More requests than the replicas can serve.
    #[serde(rename_all = "camelCase")]
    Overload { load_rps: f64 },
    /// Latency climbing by `seconds_per_second` until the next restart.
    #[serde(rename_all = "camelCase")]
    Leak {
        #[serde(default = "default_leak_rate")]
        seconds_per_second: f64,
        /// The restart annotation when the leak began (filled in by the simulator).
        #[serde(default)]
        restarted_at: Option<String>,
        /// When it began (filled in by the simulator).
        #[serde(default)]
        since_ms: Millis,
    },
    /// Errors until env `name` equals `good_value`.
    #[serde(rename_all = "camelCase")]
    BadSetting { name: String, good_value: String },
}

fn default_leak_rate() -> f64 {
    0.05
}

/// What the simulator reads of a Deployment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    pub replicas: i32,
    /// Env of the first container.
    pub env: BTreeMap<String, String>,
    pub restarted_at: Option<String>,
}

/// Constants of the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Latency with no fault, seconds.
    pub base_latency: f64,
    /// Requests per second one replica serves before queueing.
    pub capacity_rps: f64,
    /// Error ratio with no fault.
    pub base_error_ratio: f64,
    /// Error ratio while a bad setting is in force.
    pub bad_error_ratio: f64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            base_latency: 0.1,
            capacity_rps: 100.0,
            base_error_ratio: 0.005,
            bad_error_ratio: 0.25,
        }
    }
}

/// The metrics of one Deployment at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub latency_seconds: f64,
    pub error_ratio: f64,
}

impl Model {
    /// Latency and error ratio of `w` under `faults` at `now`.
    pub fn observe(&self, w: &Workload, faults: &[Fault], now: Millis) -> Observation {
        let mut latency = self.base_latency;
        let mut errors = self.base_error_ratio;
        for f in faults {
            match f {
                Fault::Overload { load_rps } => {
                    // An M/M/1-like queue: latency / (1 - utilization), capped at 20x.
                    let capacity = f64::from(w.replicas.max(0)) * self.capacity_rps;
                    let utilization = if capacity > 0.0 {
                        load_rps / capacity
                    } else {
                        f64::INFINITY
                    };
                    latency = if utilization < 0.95 {
                        latency / (1.0 - utilization)
                    } else {
                        latency * 20.0
                    };
                }
                Fault::Leak {
                    seconds_per_second,
                    restarted_at,
                    since_ms,
                } => {
                    if &w.restarted_at == restarted_at {
                        let seconds = (now.saturating_sub(*since_ms)).max(0) as f64 / 1000.0;
                        latency += seconds_per_second * seconds;
                    }
                }
                Fault::BadSetting { name, good_value } => {
                    if w.env.get(name) != Some(good_value) {
                        errors = self.bad_error_ratio;
                    }
                }
            }
        }
        Observation {
            latency_seconds: latency,
            error_ratio: errors,
        }
    }
}

/// Injected faults by Deployment name.
pub type Faults = Arc<Mutex<BTreeMap<String, Vec<Fault>>>>;

/// Fills in the leak's starting point from the current workload.
pub fn arm(fault: Fault, w: &Workload, now: Millis) -> Fault {
    match fault {
        Fault::Leak {
            seconds_per_second, ..
        } => Fault::Leak {
            seconds_per_second,
            restarted_at: w.restarted_at.clone(),
            since_ms: now,
        },
        other => other,
    }
}

/// Reads what the model needs from a Deployment.
pub fn workload(d: &k8s_openapi::api::apps::v1::Deployment) -> Workload {
    let template = &d.spec.template;
    let env = template
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.env.as_ref())
        .map(|env| {
            env.iter()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    let restarted_at = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT).cloned());
    Workload {
        replicas: d.spec.replicas.unwrap_or(1),
        env,
        restarted_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(replicas: i32) -> Workload {
        Workload {
            replicas,
            ..Workload::default()
        }
    }

    #[test]
    fn overload_is_fixed_by_scaling_up() {
        let m = Model::default();
        let f = [Fault::Overload { load_rps: 350.0 }];
        // 350 rps on 3 replicas of 100: over capacity, 20 x 0.1 s.
        assert!((m.observe(&w(3), &f, 0).latency_seconds - 2.0).abs() < 1e-9);
        // On 5 replicas: utilization 0.7, 0.1 / 0.3.
        assert!((m.observe(&w(5), &f, 0).latency_seconds - 0.1 / 0.3).abs() < 1e-9);
    }

    #[test]
    fn a_leak_climbs_until_a_restart() {
        let m = Model::default();
        let f = [arm(
            Fault::Leak {
                seconds_per_second: 0.05,
                restarted_at: None,
                since_ms: 0,
            },
            &w(2),
            1_000,
        )];
        assert!((m.observe(&w(2), &f, 11_000).latency_seconds - 0.6).abs() < 1e-9);
        let restarted = Workload {
            restarted_at: Some("2026-11-26T10:00:00Z".into()),
            ..w(2)
        };
        assert_eq!(m.observe(&restarted, &f, 11_000).latency_seconds, 0.1);
    }

    #[test]
    fn a_bad_setting_is_fixed_by_the_good_value() {
        let m = Model::default();
        let f = [Fault::BadSetting {
            name: "MODE".into(),
            good_value: "lenient".into(),
        }];
        let mut wl = w(2);
        wl.env.insert("MODE".into(), "strict".into());
        assert_eq!(m.observe(&wl, &f, 0).error_ratio, 0.25);
        wl.env.insert("MODE".into(), "lenient".into());
        assert_eq!(m.observe(&wl, &f, 0).error_ratio, 0.005);
    }

    #[test]
    fn faults_parse_from_json() {
        let f: Fault = serde_json::from_str(r#"{"kind":"overload","loadRps":350}"#).unwrap();
        assert_eq!(f, Fault::Overload { load_rps: 350.0 });
        let f: Fault =
            serde_json::from_str(r#"{"kind":"badSetting","name":"MODE","goodValue":"lenient"}"#)
                .unwrap();
        assert!(matches!(f, Fault::BadSetting { .. }));
    }
}
