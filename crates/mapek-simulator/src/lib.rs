//! The workload simulator used by the end-to-end tests and the demo. No kubelet
//! runs on the local API server, so nothing would ever serve metrics for a
//! Deployment: the simulator reads each Deployment from the API and serves
//! Prometheus metrics whose latency and error ratio follow its replicas, env and
//! restart annotation, with faults a test injects over HTTP:
//!
//! - `overload` (load in requests/s): latency grows with load per replica, so
//!   scaling up fixes it; the request rate the simulator reports rises to the
//!   load (from `base_load_rps` without it), so a policy's load query sees it;
//! - `leak`: latency climbs until the Deployment is restarted (its pod-template
//!   `kubectl.kubernetes.io/restartedAt` annotation changes);
//! - `badSetting` (env name, good value): the error ratio is high until the first
//!   container's env var has the good value;
//! - `noise` (level, amplitude, duty): latency hovers at `level` (a policy's
//!   threshold), over it in a pseudo-random share `duty` of the time, never for
//!   long: nothing to fix, so nothing should be planned.
//!
//! Capacity follows the Deployment's Ready pods (`status.readyReplicas`, which
//! the cluster's Deployment controller writes), not its desired replicas: a
//! scale-up helps once the new pods are Ready. The simulator writes nothing to
//! the API. This library is the pure model; `src/main.rs` is the process around
//! it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use mapek_engine::model::Millis;

/// The pod-template annotation a rolling restart sets.
pub use mapek_api::RESTARTED_AT_ANNOTATION as RESTARTED_AT;

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
    /// Latency hovering at `level`: time is cut into periods of `period_ms`; each
    /// period's latency is `level` plus or minus 10-100% of `amplitude`, over
    /// `level` in about `duty` of the periods, chosen deterministically by a hash
    /// of the period's index and `seed`. An over period is always followed by at
    /// least `min_gap` periods under `level`, so breaches never last longer than
    /// one period, and evaluations from `period_ms` to `min_gap * period_ms` apart
    /// (a period of about the evaluation interval) never see two in a row; a later
    /// read (a scrape's lag) that varies by less than a period sees at most two.
    /// Replaces the latency the earlier faults gave. Two Deployments with the same
    /// seed get the same noise.
    #[serde(rename_all = "camelCase")]
    Noise {
        level: f64,
        amplitude: f64,
        #[serde(default = "default_noise_duty")]
        duty: f64,
        #[serde(default = "default_noise_period")]
        period_ms: Millis,
        #[serde(default = "default_noise_gap")]
        min_gap: u32,
        #[serde(default)]
        seed: u64,
    },
}

fn default_leak_rate() -> f64 {
    0.05
}

fn default_noise_duty() -> f64 {
    0.15
}

fn default_noise_period() -> Millis {
    1_000
}

fn default_noise_gap() -> u32 {
    2
}

/// SplitMix64's finalizer: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) for period `k`, stream `stream`, seed `seed`.
fn unit(seed: u64, stream: u64, k: i64) -> f64 {
    let h = mix(mix(seed ^ stream.wrapping_mul(0x632b_e59b_d9b4_e019)) ^ k as u64);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The chance `p` that a period is a candidate for breaching, such that a
/// candidate with no candidate among the `gap` periods before it (`p (1-p)^gap`)
/// breaches in `duty` of the periods; at most `1 / (gap + 1)`, the largest share
/// reachable.
fn candidate_chance(duty: f64, gap: u32) -> f64 {
    let f = |p: f64| p * (1.0 - p).powi(gap as i32);
    let (mut lo, mut hi) = (0.0, 1.0 / f64::from(gap + 1));
    if duty >= f(hi) {
        return hi;
    }
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if f(mid) < duty {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The noise fault's latency at `now` (see [`Fault::Noise`]).
pub fn noise(
    level: f64,
    amplitude: f64,
    duty: f64,
    period_ms: Millis,
    min_gap: u32,
    seed: u64,
    now: Millis,
) -> f64 {
    let k = now.div_euclid(period_ms.max(1));
    let p = candidate_chance(duty, min_gap);
    let candidate = |k: i64| unit(seed, 0, k) < p;
    let over = candidate(k) && (1..=i64::from(min_gap)).all(|j| !candidate(k - j));
    let magnitude = amplitude * (0.1 + 0.9 * unit(seed, 1, k));
    if over {
        level + magnitude
    } else {
        level - magnitude
    }
}

/// What the simulator reads of a Deployment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    /// Ready replicas (pods that serve).
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
    /// Requests per second served with no overload (well inside capacity: the
    /// latency stays `base_latency`).
    pub base_load_rps: f64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            base_latency: 0.1,
            capacity_rps: 100.0,
            base_error_ratio: 0.005,
            bad_error_ratio: 0.25,
            base_load_rps: 50.0,
        }
    }
}

/// The metrics of one Deployment at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub latency_seconds: f64,
    pub error_ratio: f64,
    /// The request rate offered to the Deployment (its load).
    pub requests_per_second: f64,
}

impl Model {
    /// Latency and error ratio of `w` under `faults` at `now`.
    pub fn observe(&self, w: &Workload, faults: &[Fault], now: Millis) -> Observation {
        let mut latency = self.base_latency;
        let mut errors = self.base_error_ratio;
        let mut load = self.base_load_rps;
        for f in faults {
            match f {
                Fault::Overload { load_rps } => {
                    load = *load_rps;
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
                Fault::Noise {
                    level,
                    amplitude,
                    duty,
                    period_ms,
                    min_gap,
                    seed,
                } => {
                    latency = noise(*level, *amplitude, *duty, *period_ms, *min_gap, *seed, now);
                }
            }
        }
        Observation {
            latency_seconds: latency,
            error_ratio: errors,
            requests_per_second: load,
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

/// Reads what the model needs from a Deployment: its Ready replicas, the first
/// container's env and the restart annotation.
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
        // None until the Deployment controller has seen the Deployment, and while
        // no pod is Ready.
        replicas: d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
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
        // The load rises with the overload, whatever the replicas.
        assert_eq!(m.observe(&w(5), &f, 0).requests_per_second, 350.0);
        assert_eq!(m.observe(&w(5), &[], 0).requests_per_second, 50.0);
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

    /// Evaluations every `interval_ms` of noise cut into `period_ms` periods, each
    /// read `lag(i)` late (as through a Prometheus scrape): whether each one is
    /// over the level.
    fn noise_evaluations(
        seed: u64,
        period_ms: Millis,
        n: i64,
        interval_ms: i64,
        lag: impl Fn(i64) -> i64,
    ) -> Vec<bool> {
        let m = Model::default();
        let f = [Fault::Noise {
            level: 0.5,
            amplitude: 0.2,
            duty: default_noise_duty(),
            period_ms,
            min_gap: default_noise_gap(),
            seed,
        }];
        (0..n)
            .map(|i| {
                let at = 1_700_000_000_000 + i * interval_ms - lag(i);
                let v = m.observe(&w(2), &f, at).latency_seconds;
                assert!((0.3..=0.7).contains(&v), "{v} is not within the amplitude");
                assert!((v - 0.5).abs() >= 0.02 - 1e-12, "{v} is on the level");
                v > 0.5
            })
            .collect()
    }

    fn longest_run(over: &[bool]) -> usize {
        over.split(|o| !o).map(<[bool]>::len).max().unwrap_or(0)
    }

    fn duty(over: &[bool]) -> f64 {
        over.iter().filter(|o| **o).count() as f64 / over.len() as f64
    }

    #[test]
    fn noise_hovers_at_the_level_with_the_duty_and_no_runs() {
        // (period, evaluation interval, constant lag): evaluations one or two
        // periods apart.
        let cases = [
            (1_000, 1_000, 0),
            (1_000, 2_000, 0),
            (1_000, 2_000, 700),
            (1_000, 1_500, 1_400),
            (2_000, 2_000, 300),
            (2_000, 4_000, 1_100),
            (30_000, 60_000, 5_000),
        ];
        for seed in 0..8 {
            for (period, interval, lag) in cases {
                let over = noise_evaluations(seed, period, 5_000, interval, |_| lag);
                let d = duty(&over);
                assert!(
                    (0.10..=0.20).contains(&d),
                    "seed {seed}, period {period}, interval {interval}: duty {d}"
                );
                assert_eq!(
                    longest_run(&over),
                    1,
                    "seed {seed}, period {period}, interval {interval}"
                );
            }
        }
    }

    #[test]
    fn noise_read_with_a_jittery_lag_breaches_at_most_twice_in_a_row() {
        // Lag anywhere in 0-1.5 s (scrape and simulator step), evaluations every
        // 2 s as in the e2e suite: at worst one breaching period is read twice.
        for seed in 0..8 {
            for period in [1_000, 2_000] {
                let jitter = |i: i64| (mix((seed + 100) ^ i as u64) % 1_500) as i64;
                let over = noise_evaluations(seed, period, 5_000, 2_000, jitter);
                let d = duty(&over);
                assert!(
                    (0.10..=0.20).contains(&d),
                    "seed {seed}, period {period}: duty {d}"
                );
                assert!(longest_run(&over) <= 2, "seed {seed}, period {period}");
            }
        }
    }

    #[test]
    fn noise_is_deterministic_and_seeded() {
        let at = |seed| noise_evaluations(seed, 1_000, 200, 2_000, |_| 0);
        assert_eq!(at(3), at(3));
        assert_ne!(at(3), at(4));
        // A minute of 2 s evaluations has breaches.
        assert!(at(0)[..30].iter().any(|o| *o));
    }

    #[test]
    fn the_candidate_chance_gives_the_duty() {
        let share = |p: f64, gap: u32| p * (1.0 - p).powi(gap as i32);
        for gap in [0, 1, 2, 3] {
            let most = 1.0 / f64::from(gap + 1);
            for duty in [0.05, 0.1, 0.15] {
                let p = candidate_chance(duty, gap);
                if duty <= share(most, gap) {
                    assert!(
                        (share(p, gap) - duty).abs() < 1e-9,
                        "gap {gap}, duty {duty}"
                    );
                } else {
                    // Unreachable: the largest share there is.
                    assert!((p - most).abs() < 1e-9, "gap {gap}, duty {duty}");
                }
            }
        }
    }

    #[test]
    fn capacity_is_the_ready_replicas() {
        let mut d: k8s_openapi::api::apps::v1::Deployment =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web"},
                "spec": {"replicas": 5, "selector": {}, "template": {}}
            }))
            .unwrap();
        assert_eq!(workload(&d).replicas, 0, "no status yet: nothing serves");
        d.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
            replicas: Some(5),
            ready_replicas: Some(3),
            ..Default::default()
        });
        assert_eq!(workload(&d).replicas, 3);
    }

    #[test]
    fn faults_parse_from_json() {
        let f: Fault =
            serde_json::from_str(r#"{"kind":"noise","level":0.5,"amplitude":0.2}"#).unwrap();
        assert_eq!(
            f,
            Fault::Noise {
                level: 0.5,
                amplitude: 0.2,
                duty: 0.15,
                period_ms: 1_000,
                min_gap: 2,
                seed: 0
            }
        );
        let f: Fault = serde_json::from_str(r#"{"kind":"overload","loadRps":350}"#).unwrap();
        assert_eq!(f, Fault::Overload { load_rps: 350.0 });
        let f: Fault =
            serde_json::from_str(r#"{"kind":"badSetting","name":"MODE","goodValue":"lenient"}"#)
                .unwrap();
        assert!(matches!(f, Fault::BadSetting { .. }));
    }
}
