//! The controllers of the MAPE-K loop, each owning one step: monitor
//! (ViolationPolicy evaluation), analyzer (plans), executor (approved plans) and
//! knowledge (outcomes), and the notifier, which brings plans to people
//! through Alertmanager. They share one [`Context`].

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::metrics::Metrics;
use mapek_engine::model::Millis;

pub mod analyzer;
pub mod caches;
pub mod compact;
pub mod executor;
pub mod hpa;
pub mod knowledge;
pub mod monitor;
pub mod notifier;
pub mod revisions;
#[cfg(test)]
pub(crate) mod testing;

/// The field manager the operator writes with (server-side apply and patches).
pub const FIELD_MANAGER: &str = "mapek-operator";

/// How long each watch asks the API server to keep it open (`timeoutSeconds`).
/// kube's watcher also gives up on a watch that has received nothing for this
/// long plus 5 s and starts a new one, so a watch stalled by the network is
/// restarted after 65 s instead of the default 295 s.
pub const WATCH_TIMEOUT_SECS: u32 = 60;

/// How long any request to the API server may receive nothing before it fails.
/// kube sets no read timeout, so a request sent on a connection that stalled (a
/// one-way partition, a lost NAT entry) would wait forever; longer than a
/// watch's own timeout, which the API server ends by itself and kube's watcher
/// restarts first.
pub const READ_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(WATCH_TIMEOUT_SECS as u64 + 15);

/// The watch configuration of every watch of the operator.
pub fn watch_config() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().timeout(WATCH_TIMEOUT_SECS)
}

/// Tunables of the controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Default evaluation interval when a policy sets none (`MAPE_K_INTERVAL`).
    pub default_interval: Duration,
    /// How long after an execution the knowledge controller waits before measuring.
    pub stabilization_window: Duration,
    /// Most executions running at once across all Deployments.
    pub max_concurrent_executions: usize,
    /// The storm brake: at most this many executions may start in any
    /// `storm_brake_window` across all policies (0: no brake).
    pub storm_brake_max_executions: usize,
    pub storm_brake_window: Duration,
    /// A policy's status is written when something a reader needs changes (a
    /// condition, a violation, the spec), and otherwise refreshed this often,
    /// each policy on its own phase; longer when the write budget cannot
    /// refresh every policy this often (`monitor::refresh`).
    pub status_refresh: Duration,
    /// Values kept in memory per query and interval for the analyzer.
    pub history_samples: usize,
    /// The monitor's write budget: status writes per second (0: unlimited) and
    /// the burst allowed above it, as client-go's QPS and burst.
    pub write_qps: u32,
    pub write_burst: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_interval: Duration::from_secs(30),
            stabilization_window: Duration::from_secs(120),
            max_concurrent_executions: 4,
            storm_brake_max_executions: 20,
            storm_brake_window: Duration::from_secs(600),
            status_refresh: Duration::from_secs(300),
            history_samples: mapek_engine::HISTORY_SAMPLES,
            write_qps: 20,
            write_burst: 100,
        }
    }
}

/// An API over one namespace, or over all of them when `namespace` is `None`.
pub fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> kube::Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    }
}

/// Where controllers read the time; tests pass a fixed clock.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}

/// What every controller shares.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// The executor's limits on concurrent executions.
    pub executions: Arc<executor::ExecutionLimits>,
    /// The monitor's values of each query, read by the analyzer.
    pub history: Arc<monitor::history::History>,
    /// The budget of the monitor's status writes.
    pub write_budget: Arc<monitor::WriteBudget>,
    /// The violations the monitor recorded that the watch cache does not show
    /// yet, read by the analyzer.
    pub unwritten: Arc<monitor::Unwritten>,
    /// Until when this replica may write (checked before each write of an
    /// execution); unconditional without leader election.
    pub leadership: crate::leader::Leadership,
    /// The watch caches of Deployments, ReplicaSets and HPAs the analyzer and
    /// the executor read (unfed until `run` starts them: reads go to the API).
    pub caches: caches::Caches,
}

impl Context {
    /// A context with the system clock, reporting events as `mapek-operator`.
    pub fn new(client: Client, settings: Settings, metrics: Arc<Metrics>) -> Context {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            executions: Arc::new(executor::ExecutionLimits::new(
                settings.max_concurrent_executions,
            )),
            history: Arc::new(monitor::history::History::new(settings.history_samples)),
            write_budget: Arc::new(monitor::WriteBudget::new(
                settings.write_qps,
                settings.write_burst,
            )),
            unwritten: Arc::default(),
            settings,
            clock: Arc::new(SystemClock),
            metrics,
            leadership: crate::leader::Leadership::unconditional(),
            caches: caches::Caches::unfed(),
        }
    }
}
