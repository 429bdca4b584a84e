//! `mapek-operator run`: settings of the operator process and its start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::sync::{mpsc, watch};

use crate::controllers::{self, Context, Settings, notifier};
use crate::error::{Error, Result};
use crate::leader;
use crate::metrics::Metrics;
use crate::prometheus::Prometheus;
use crate::server::{self, Health};
use mapek_api::{RemediationPolicy, ViolationPolicy};

/// Settings of `mapek-operator run`. Flags override the seed system's environment
/// variables.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Base URL of the Prometheus HTTP API.
    #[arg(long, env = "PROMETHEUS_URL", default_value = "http://localhost:9090")]
    pub prometheus_url: String,
    /// Default evaluation interval of the loop, in seconds or as a duration (`30s`,
    /// `1m`); a ViolationPolicy's own `evaluationInterval` wins.
    #[arg(long, env = "MAPE_K_INTERVAL", default_value = "30s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Timeout of one PromQL query.
    #[arg(long, env = "MAPE_K_QUERY_TIMEOUT", default_value = "10s", value_parser = parse_interval)]
    pub query_timeout: Duration,
    /// Address of the HTTP port (`/metrics`, `/healthz`, `/readyz`).
    #[arg(long, env = "MAPE_K_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Watch only this namespace (all namespaces when unset).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Take part in leader election with a Lease in this namespace; when unset,
    /// this replica acts alone.
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Wait after an execution before its outcome is measured.
    #[arg(long, env = "MAPE_K_STABILIZATION_WINDOW", default_value = "2m", value_parser = parse_interval)]
    pub stabilization_window: Duration,
    /// Most executions running at once.
    #[arg(long, env = "MAPE_K_MAX_CONCURRENT_EXECUTIONS", default_value_t = 4)]
    pub max_concurrent_executions: usize,
    /// The storm brake: most executions that may start in one brake window
    /// across all policies; past it, approved plans wait (0: no brake).
    #[arg(long, env = "MAPE_K_STORM_BRAKE_MAX_EXECUTIONS", default_value_t = 20)]
    pub storm_brake_max_executions: usize,
    /// The storm brake's sliding window.
    #[arg(long, env = "MAPE_K_STORM_BRAKE_WINDOW", default_value = "10m", value_parser = parse_interval)]
    pub storm_brake_window: Duration,
    /// A ViolationPolicy's status is written when a condition changes, a
    /// violation is recorded or the spec changes, and otherwise at most this often
    /// (the last value and the sample summary).
    #[arg(long, env = "MAPE_K_STATUS_REFRESH", default_value = "5m", value_parser = parse_interval)]
    pub status_refresh: Duration,
    /// Query values kept in memory per query and interval for the analyzer
    /// (1440: 12 hours at 30 s); read back from Prometheus after a start.
    #[arg(long, env = "MAPE_K_HISTORY_SAMPLES", default_value_t = controllers::monitor::history::DEFAULT_CAPACITY, value_parser = clap::value_parser!(usize))]
    pub history_samples: usize,
    /// The monitor's status writes per second (client-side budget; 0: unlimited).
    #[arg(long, env = "MAPE_K_WRITE_QPS", default_value_t = 20)]
    pub write_qps: u32,
    /// Status writes allowed at once above the budget's rate.
    #[arg(long, env = "MAPE_K_WRITE_BURST", default_value_t = 100)]
    pub write_burst: u32,
    /// Notifications through Alertmanager (`controllers::notifier`).
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// Flags of `mapek-operator run` for notifications through Alertmanager
/// (`controllers::notifier`; off without a URL).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NotifyArgs {
    /// Base URL of an Alertmanager (its v2 API gets the alerts); notifications
    /// are off when unset.
    #[arg(long, env = "ALERTMANAGER_URL")]
    pub alertmanager_url: Option<String>,
    /// PEM CA bundle that signs Alertmanager's certificate.
    #[arg(long, env = "ALERTMANAGER_CA_FILE")]
    pub alertmanager_ca_file: Option<PathBuf>,
    /// Accept any certificate from Alertmanager (for tests only).
    #[arg(
        long,
        env = "ALERTMANAGER_INSECURE_SKIP_VERIFY",
        default_value_t = false
    )]
    pub alertmanager_insecure_skip_verify: bool,
    /// File with a bearer token sent to Alertmanager (a mounted Secret), read at each send.
    #[arg(long, env = "ALERTMANAGER_BEARER_TOKEN_FILE")]
    pub alertmanager_bearer_token_file: Option<PathBuf>,
    /// Labels added to every alert, `key=value` separated by commas.
    #[arg(long, env = "ALERTMANAGER_EXTRA_LABELS", value_parser = notifier::parse_label, value_delimiter = ',')]
    pub alertmanager_extra_labels: Vec<(String, String)>,
    /// The review page of a plan, linked from its alert: `{namespace}`, `{plan}`,
    /// `{policy}` and `{target}` are replaced, e.g.
    /// `http://localhost:8000/plans/{namespace}/{plan}`.
    #[arg(long, env = "ALERTMANAGER_REVIEW_URL_TEMPLATE")]
    pub alertmanager_review_url_template: Option<String>,
    /// How often a firing alert is sent again; its `endsAt` is 4 times this ahead.
    #[arg(long, env = "ALERTMANAGER_RESEND_INTERVAL", default_value = "1m", value_parser = parse_interval)]
    pub alertmanager_resend_interval: Duration,
    /// Bound of one try of a send to Alertmanager (3 tries, with backoff).
    #[arg(long, env = "ALERTMANAGER_TIMEOUT", default_value = "10s", value_parser = parse_interval)]
    pub alertmanager_timeout: Duration,
    /// How long a failed or rolled-back execution keeps its alert firing.
    #[arg(long, env = "ALERTMANAGER_FAILED_EXECUTION_FOR", default_value = "1h", value_parser = parse_interval)]
    pub alertmanager_failed_execution_for: Duration,
}

impl NotifyArgs {
    /// The notifier the flags ask for; `None` without a URL.
    pub fn notifier(&self) -> Result<Option<notifier::Notifier>> {
        let Some(url) = &self.alertmanager_url else {
            return Ok(None);
        };
        let settings = notifier::Settings {
            url: url.clone(),
            ca_file: self.alertmanager_ca_file.clone(),
            insecure_skip_verify: self.alertmanager_insecure_skip_verify,
            bearer_token_file: self.alertmanager_bearer_token_file.clone(),
            extra_labels: self.alertmanager_extra_labels.clone(),
            review_url_template: self.alertmanager_review_url_template.clone(),
            resend: self.alertmanager_resend_interval,
            timeout: self.alertmanager_timeout,
            failed_execution_for: self.alertmanager_failed_execution_for,
        };
        notifier::Notifier::new(settings)
            .map(Some)
            .map_err(|e| Error::Setting {
                name: "ALERTMANAGER_*".into(),
                reason: e.to_string(),
            })
    }
}

/// Parses `30`, `30s`, `1m` or `1h30m` into a positive duration.
pub fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let duration = match text.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => text
            .trim()
            .parse::<kube::core::Duration>()
            .map_err(|e| format!("{text:?} is not seconds or a duration such as 30s: {e}"))
            .and_then(|d| {
                if d.is_negative() {
                    Err(format!("{text:?} is negative"))
                } else {
                    Ok(Duration::from(d))
                }
            })?,
    };
    if duration.is_zero() {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(duration)
}

/// Runs the operator: connects, serves the HTTP port, waits for leadership, then
/// runs the controllers until SIGTERM or SIGINT (or until leadership is lost).
pub async fn run(args: RunArgs) -> Result<()> {
    let prometheus =
        Prometheus::new(&args.prometheus_url, args.query_timeout).map_err(|e| Error::Setting {
            name: "PROMETHEUS_URL".into(),
            reason: format!("{:?} is not a usable URL: {e}", args.prometheus_url),
        })?;
    let notifier = args.notify.notifier()?;
    let client = connect().await?;
    check_prometheus(&prometheus).await;

    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(forward_signals(stop_tx.clone()));
    let server = tokio::spawn(server::serve(
        args.listen,
        Health {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
        stopped(stop_rx.clone()),
    ));

    let mut leadership = leader::Leadership::unconditional();
    let mut leading = match &args.leader_election_namespace {
        Some(namespace) => {
            leadership = leader::Leadership::elected();
            let settings = leader::LeaseSettings {
                name: "mapek-operator-leader".into(),
                namespace: namespace.clone(),
                identity: identity(),
                lease_duration: Duration::from_secs(15),
                renew_deadline: Duration::from_secs(10),
                retry_period: Duration::from_secs(2),
            };
            ready.store(true, Ordering::SeqCst);
            tokio::select! {
                rx = leader::acquire(client.clone(), settings, leadership.clone()) => Some(rx),
                _ = stopped(stop_rx.clone()) => return Ok(()),
            }
        }
        None => None,
    };

    let settings = Settings {
        default_interval: args.interval,
        stabilization_window: args.stabilization_window,
        max_concurrent_executions: args.max_concurrent_executions,
        storm_brake_max_executions: args.storm_brake_max_executions,
        storm_brake_window: args.storm_brake_window,
        status_refresh: args.status_refresh,
        history_samples: args.history_samples,
        write_qps: args.write_qps,
        write_burst: args.write_burst,
    };
    let mut ctx = Context::new(client.clone(), settings, metrics.clone());
    ctx.leadership = leadership;
    let (caches, cache_watch) =
        controllers::caches::Caches::start(&client, args.namespace.as_deref());
    ctx.caches = caches;
    let ctx = Arc::new(ctx);
    let policies: Api<ViolationPolicy> =
        controllers::scoped_api(&client, args.namespace.as_deref());
    let (store, writer) = reflector::store();
    let listed = controllers::caches::Listed::default();
    let policy_watch = listed
        .clone()
        .mark(reflector(
            writer,
            watcher(policies, controllers::watch_config()).modify(controllers::caches::trim),
        ))
        .default_backoff()
        .touched_objects()
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "ViolationPolicy watch error");
            }
        });
    ctx.caches.use_policy_cache(store.clone(), listed);
    let plans_api: Api<RemediationPolicy> =
        controllers::scoped_api(&client, args.namespace.as_deref());
    let (plan_store, plan_writer) = reflector::store();
    let plan_watch = reflector(
        plan_writer,
        watcher(plans_api.clone(), controllers::watch_config()).modify(controllers::caches::trim),
    )
    .default_backoff()
    .touched_objects()
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::warn!(error = %e, "RemediationPolicy watch error");
        }
    });
    let learned = match controllers::knowledge::load(&ctx, args.namespace.as_deref()).await {
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(Error::Setting {
                name: "CRDs".into(),
                reason: "the mapek.io resources are not served by this cluster; install them with `kubectl apply -f crds/`".into(),
            });
        }
        other => other?,
    };
    let knowledge = Arc::new(RwLock::new(learned));
    let (analyze_tx, analyze_rx) = mpsc::channel::<String>(64);

    ready.store(true, Ordering::SeqCst);
    tracing::info!(interval = ?args.interval, "controllers started");
    let lost_leadership = async {
        match leading.as_mut() {
            Some(rx) => {
                let _ = rx.wait_for(|leading| !leading).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    // Each controller is its own task, so that none holds up another.
    let monitor = tokio::spawn(controllers::monitor::run(
        ctx.clone(),
        store.clone(),
        prometheus.clone(),
        analyze_tx.clone(),
        stopped(stop_rx.clone()),
    ));
    let analyzer = tokio::spawn(controllers::analyzer::run(
        ctx.clone(),
        store.clone(),
        plan_store.clone(),
        ctx.caches.deployments.clone(),
        knowledge.clone(),
        analyze_rx,
        stopped(stop_rx.clone()),
    ));
    let executor = tokio::spawn(controllers::executor::run(
        ctx.clone(),
        plans_api.clone(),
        stopped(stop_rx.clone()),
    ));
    let knowledge = tokio::spawn(controllers::knowledge::run(
        ctx.clone(),
        store.clone(),
        plan_store.clone(),
        knowledge.clone(),
        stopped(stop_rx.clone()),
    ));
    // Not among the tasks awaited below: it only ends with the stop signal, and
    // a stuck Alertmanager must not end or hold up anything else.
    if let Some(notifier) = notifier {
        tokio::spawn(controllers::notifier::run(
            notifier,
            metrics.clone(),
            ctx.clock.clone(),
            plan_store.clone(),
            store.clone(),
            stopped(stop_rx.clone()),
        ));
    }
    // Freed memory back to the system after bursts (see `memory`).
    tokio::spawn(crate::memory::release_periodically());
    let policy_watch = tokio::spawn(policy_watch);
    let plan_watch = tokio::spawn(plan_watch);
    let cache_watch = tokio::spawn(cache_watch);
    tokio::select! {
        _ = policy_watch => {}
        _ = plan_watch => {}
        _ = cache_watch => {}
        _ = monitor => {}
        _ = analyzer => {}
        _ = executor => {}
        _ = knowledge => {}
        _ = lost_leadership => {
            let _ = stop_tx.send(true);
            let _ = server.await;
            return Err(Error::Unreachable { what: "the leader Lease".into(), reason: "leadership was lost; exiting so that another replica takes over".into() });
        }
    }
    let _ = stop_tx.send(true);
    let _ = server.await;
    tracing::info!("shut down");
    Ok(())
}

/// `config` with the operator's read timeout ([`controllers::READ_TIMEOUT`]).
fn with_read_timeout(mut config: kube::Config) -> kube::Config {
    config.read_timeout = Some(controllers::READ_TIMEOUT);
    config
}

/// A client for the cluster of the in-cluster config or kubeconfig, checked with
/// one request so that an unreachable cluster fails at once with one line.
async fn connect() -> Result<kube::Client> {
    let config = kube::Config::infer().await.map_err(|e| Error::Setting {
        name: "kubeconfig".into(),
        reason: format!("no usable in-cluster config or kubeconfig: {e}"),
    })?;
    let config = with_read_timeout(config);
    let cluster_url = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)?;
    let version = client
        .apiserver_version()
        .await
        .map_err(|e| Error::Unreachable {
            what: format!("the Kubernetes API at {cluster_url}"),
            reason: e.to_string(),
        })?;
    tracing::info!(cluster = %cluster_url, version = %version.git_version, "connected to Kubernetes");
    Ok(client)
}

/// Prometheus being down is not fatal: policies report `Ready=False` until it is back.
async fn check_prometheus(prometheus: &Prometheus) {
    match prometheus.query_value("vector(1)").await {
        Ok(_) => tracing::info!(url = %prometheus.url(), "connected to Prometheus"),
        Err(e) => {
            tracing::warn!(url = %prometheus.url(), error = %e, "Prometheus is not reachable yet; policies will report Ready=False until it is")
        }
    }
}

/// This replica's name for leader election: the pod name, or the host name.
fn identity() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("mapek-operator-{}", std::process::id()))
}

/// Sets the stop flag on SIGTERM or SIGINT.
async fn forward_signals(stop: watch::Sender<bool>) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
}

/// Completes when the stop flag is set.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_accepts_seconds_and_durations() {
        assert_eq!(parse_interval("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("-5s").is_err());
        assert!(parse_interval("soon").unwrap_err().contains("soon"));
    }

    /// What `connect` sets: a request to an API server that accepts and never
    /// answers fails once the read timeout passes instead of waiting forever.
    #[tokio::test]
    async fn a_request_on_a_stalled_connection_fails_after_the_read_timeout() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                open.push(conn);
            }
        });
        let config = kube::Config::new(url.parse().unwrap());
        assert_eq!(config.read_timeout, None, "kube's default waits forever");
        let mut config = with_read_timeout(config);
        assert_eq!(config.read_timeout, Some(controllers::READ_TIMEOUT));
        // The same timeout, shorter, so that the test does not wait 75 s.
        config.read_timeout = Some(Duration::from_millis(300));
        let client = kube::Client::try_from(config).unwrap();
        let answer =
            tokio::time::timeout(Duration::from_secs(30), client.apiserver_version()).await;
        held.abort();
        let error = answer.expect("the request ended by itself").unwrap_err();
        assert!(
            error.to_string().to_lowercase().contains("timed out")
                || format!("{error:?}").contains("TimedOut"),
            "{error:?}"
        );
    }

    #[test]
    fn notifications_are_off_without_a_url_and_bad_settings_are_named() {
        assert!(NotifyArgs::default().notifier().unwrap().is_none());
        let bad = NotifyArgs {
            alertmanager_url: Some("ftp://alertmanager".into()),
            alertmanager_timeout: Duration::from_secs(1),
            ..NotifyArgs::default()
        };
        let e = bad.notifier().err().expect("refused").to_string();
        assert!(
            e.contains("ALERTMANAGER") && e.contains("http or https"),
            "{e}"
        );
    }
}
