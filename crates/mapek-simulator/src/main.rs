//! `mapek-simulator`: serves simulated Prometheus metrics for the Deployments of a
//! namespace from their Ready replicas, env and restart annotation (see
//! the crate's library, `mapek_simulator`). It only reads Deployments: their status is the Deployment
//! controller's.
//!
//! HTTP: `GET /metrics`; `POST /faults/{deployment}` with a JSON fault such as
//! `{"kind":"overload","loadRps":350}`, `{"kind":"leak"}` or
//! `{"kind":"badSetting","name":"MODE","goodValue":"lenient"}` or
//! `{"kind":"noise","level":0.5,"amplitude":0.2,"duty":0.15,"periodMs":2000}`;
//! `DELETE /faults/{deployment}`; `GET /faults`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use mapek_simulator::{Fault, Faults, Model, arm, workload};

#[derive(Parser, Debug)]
#[command(
    name = "mapek-simulator",
    about = "Simulated workload metrics for Deployments"
)]
struct Args {
    /// Namespace of the Deployments.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Only Deployments matching this label selector.
    #[arg(long, default_value = "mapek.io/simulate=true")]
    selector: String,
    /// Address of the HTTP port.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Seconds between two reads of the Deployments.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    namespace: String,
    deployment: String,
}

type F64Gauge = Family<Labels, Gauge<f64, AtomicU64>>;

#[derive(Clone)]
struct App {
    faults: Faults,
    registry: Arc<Registry>,
    latency: F64Gauge,
    errors: F64Gauge,
    replicas: F64Gauge,
    requests: F64Gauge,
    deployments: Api<Deployment>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into());
    match tracing_subscriber::EnvFilter::try_new(&level) {
        Ok(filter) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Err(e) => {
            eprintln!("error: LOG_LEVEL {level:?} is not a valid level or filter: {e}");
            return std::process::ExitCode::from(2);
        }
    }
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot reach the Kubernetes API: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let mut registry = Registry::default();
    let (latency, errors, replicas, requests) = (
        F64Gauge::default(),
        F64Gauge::default(),
        F64Gauge::default(),
        F64Gauge::default(),
    );
    registry.register(
        "mapek_sim_latency_seconds",
        "Simulated request latency",
        latency.clone(),
    );
    registry.register(
        "mapek_sim_error_ratio",
        "Simulated error ratio",
        errors.clone(),
    );
    registry.register(
        "mapek_sim_requests_per_second",
        "Simulated request rate offered (the load)",
        requests.clone(),
    );
    registry.register(
        "mapek_sim_replicas",
        "Ready replicas the simulator saw",
        replicas.clone(),
    );
    let app = App {
        faults: Faults::default(),
        registry: Arc::new(registry),
        latency,
        errors,
        replicas,
        requests,
        deployments: Api::namespaced(client, &args.namespace),
    };

    let router = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/faults", get(list_faults))
        .route("/faults/{deployment}", post(add_fault).delete(clear_faults))
        .with_state(app.clone());
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::from(1);
        }
    };
    tracing::info!(listen = %args.listen, namespace = %args.namespace, "simulating");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let model = Model::default();
    let interval = Duration::from_secs_f64(args.interval.max(0.05));
    loop {
        if let Err(e) = step(&app, &model, &args).await {
            tracing::warn!(error = %e, "simulation step failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return std::process::ExitCode::SUCCESS,
        }
    }
}

/// Reads the Deployments and updates the metrics.
async fn step(app: &App, model: &Model, args: &Args) -> Result<(), kube::Error> {
    let list = app
        .deployments
        .list(&ListParams::default().labels(&args.selector))
        .await?;
    let now = now_ms();
    for d in list.items {
        let name = d.name_any();
        let w = workload(&d);
        let faults = app
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let o = model.observe(&w, &faults, now);
        let labels = Labels {
            namespace: args.namespace.clone(),
            deployment: name.clone(),
        };
        app.latency.get_or_create(&labels).set(o.latency_seconds);
        app.errors.get_or_create(&labels).set(o.error_ratio);
        app.requests
            .get_or_create(&labels)
            .set(o.requests_per_second);
        app.replicas
            .get_or_create(&labels)
            .set(f64::from(w.replicas));
    }
    Ok(())
}

async fn metrics(
    State(app): State<App>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &app.registry);
    (
        StatusCode::OK,
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
}

async fn add_fault(
    State(app): State<App>,
    Path(deployment): Path<String>,
    Json(fault): Json<Fault>,
) -> Result<Json<Vec<Fault>>, (StatusCode, String)> {
    let d = app
        .deployments
        .get(&deployment)
        .await
        .map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))?;
    let fault = arm(fault, &workload(&d), now_ms());
    let mut faults = app.faults.lock().unwrap_or_else(|e| e.into_inner());
    let list = faults.entry(deployment).or_default();
    list.push(fault);
    Ok(Json(list.clone()))
}

async fn clear_faults(State(app): State<App>, Path(deployment): Path<String>) -> StatusCode {
    app.faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&deployment);
    StatusCode::NO_CONTENT
}

async fn list_faults(
    State(app): State<App>,
) -> Json<std::collections::BTreeMap<String, Vec<Fault>>> {
    Json(app.faults.lock().unwrap_or_else(|e| e.into_inner()).clone())
}
