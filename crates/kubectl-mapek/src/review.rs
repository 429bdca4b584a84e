//! `kubectl mapek review`: a local review page on 127.0.0.1, served with the
//! user's own kubeconfig (the plugin's [`Plugin`] client), so every approve or
//! reject is made as that user through the same code as `kubectl mapek
//! approve|reject`. Pages are rendered server-side ([`pages`], [`chart`]);
//! POSTs are guarded by a CSRF token and the Host and Origin headers ([`csrf`]);
//! the chart's data comes from Prometheus ([`prom`]).

pub mod chart;
pub mod csrf;
pub mod html;
mod load;
pub mod pages;
pub mod prom;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::cli::Command;
use crate::client::Plugin;
use crate::error::PluginError;
use csrf::Guard;
use pages::Flash;
use prom::Prometheus;

/// Which namespaces the list shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    One(String),
    All,
}

/// What the server needs: the user's client, where Prometheus is, the guard.
pub struct Review {
    pub plugin: Plugin,
    pub scope: Scope,
    /// Where the chart's data comes from, or why it cannot come.
    pub prometheus: Result<Prometheus, String>,
    pub guard: Guard,
}

/// The message of an API error: the API server's own words (such as the
/// admission policy's refusal) when it sent a Status.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        e => e.to_string(),
    }
}

/// The message and HTTP status of a failed approve or reject.
fn refusal(e: &PluginError) -> (StatusCode, String) {
    match e {
        PluginError::Kube(kube::Error::Api(s)) => (
            StatusCode::from_u16(s.code).unwrap_or(StatusCode::BAD_GATEWAY),
            s.message.clone(),
        ),
        PluginError::NotPending { .. } | PluginError::Stale { .. } => {
            (StatusCode::CONFLICT, e.to_string())
        }
        PluginError::EmptyReason => (StatusCode::BAD_REQUEST, e.to_string()),
        PluginError::NotFound { .. } => (StatusCode::NOT_FOUND, e.to_string()),
        e => (StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// Binds `address:port` (a loopback address only) and serves until killed.
pub async fn serve(review: ReviewOptions, plugin: Plugin) -> Result<String, PluginError> {
    let listener = bind(review.address, review.port).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| PluginError::Review(e.to_string()))?;
    let token = csrf::random_token().map_err(PluginError::Review)?;
    let prometheus = match &review.prometheus_url {
        Some(url) => Prometheus::direct(url),
        None => Prometheus::via_proxy(plugin.client.clone(), &review.prometheus_service),
    };
    let state = Review {
        plugin,
        scope: review.scope,
        prometheus,
        guard: Guard::new(token, addr),
    };
    eprintln!("Serving the review page on http://{addr}/ as your kubeconfig user (Ctrl-C to stop)");
    axum::serve(listener, router(Arc::new(state)))
        .await
        .map_err(|e| PluginError::Review(e.to_string()))?;
    Ok(String::new())
}

/// A listener on `address:port`, which must be a loopback address.
async fn bind(address: IpAddr, port: u16) -> Result<tokio::net::TcpListener, PluginError> {
    if !address.is_loopback() {
        return Err(PluginError::Review(format!(
            "--address {address}: the review page serves on a loopback address only (127.0.0.1 or ::1)"
        )));
    }
    tokio::net::TcpListener::bind(SocketAddr::new(address, port))
        .await
        .map_err(|e| PluginError::Review(format!("cannot listen on {address}:{port}: {e}")))
}

/// What `kubectl mapek review` was asked for.
#[derive(Clone, Debug)]
pub struct ReviewOptions {
    pub address: IpAddr,
    pub port: u16,
    pub prometheus_url: Option<String>,
    pub prometheus_service: String,
    pub scope: Scope,
}

impl ReviewOptions {
    /// The options of a `review` command; `namespace` is the one of `-n` or the
    /// context. `None` for another command.
    pub fn of(command: &Command, namespace: &str) -> Option<ReviewOptions> {
        let Command::Review {
            port,
            address,
            prometheus_url,
            prometheus_service,
            all_namespaces,
        } = command
        else {
            return None;
        };
        Some(ReviewOptions {
            address: *address,
            port: *port,
            prometheus_url: prometheus_url.clone(),
            prometheus_service: prometheus_service.clone(),
            scope: if *all_namespaces {
                Scope::All
            } else {
                Scope::One(namespace.to_string())
            },
        })
    }
}

/// The routes, behind the Host check and the security headers.
pub fn router(state: Arc<Review>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/plans/{ns}/{name}", get(plan))
        .route("/plans/{ns}/{name}/approve", post(approve))
        .route("/plans/{ns}/{name}/reject", post(reject))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard_host))
        .with_state(state)
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Refuses a request whose Host is not this server's; adds the security
/// headers (no framing, no scripts, no external loads, no caching).
async fn guard_host(State(s): State<Arc<Review>>, request: Request, next: Next) -> Response {
    if !s.guard.host_ok(header(request.headers(), header::HOST)) {
        let page = pages::message("Refused", csrf::Refusal::Host.message());
        return (StatusCode::MISDIRECTED_REQUEST, Html(page)).into_response();
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it a browser sends `Origin: null` with the
    // page's own form posts, which the Origin check must refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn not_found() -> Bad {
    let m = "no such page: the plans are at / and each plan at /plans/NAMESPACE/NAME";
    (StatusCode::NOT_FOUND, Html(pages::message("Not found", m)))
}

async fn index(State(s): State<Arc<Review>>) -> Html<String> {
    Html(pages::index(&load::listing(&s).await))
}

/// A refused request: its status and page.
type Bad = (StatusCode, Html<String>);

/// Whether `name` can be a namespace's or a RemediationPolicy's name (a
/// DNS-1123 subdomain), checked before it goes into an API path.
pub fn object_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// A 400 page unless both names can be object names.
fn names(ns: &str, name: &str) -> Result<(), Bad> {
    if object_name(ns) && object_name(name) {
        return Ok(());
    }
    let m = format!("{ns}/{name} is not a namespace and a RemediationPolicy name");
    Err((
        StatusCode::BAD_REQUEST,
        Html(pages::message("Bad request", &m)),
    ))
}

async fn plan(State(s): State<Arc<Review>>, Path((ns, name)): Path<(String, String)>) -> Response {
    if let Err(bad) = names(&ns, &name) {
        return bad.into_response();
    }
    load::plan_page(&s, &ns, &name, None, StatusCode::OK).await
}

/// The fields of a POSTed form (`application/x-www-form-urlencoded`).
fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The CSRF checks of a POST, as a refusal page when they fail.
fn check(s: &Review, headers: &HeaderMap, form: &[(String, String)]) -> Result<(), Bad> {
    s.guard
        .check_post(
            header(headers, header::HOST),
            header(headers, header::ORIGIN),
            field(form, "csrf"),
        )
        .map_err(|r| {
            (
                StatusCode::FORBIDDEN,
                Html(pages::message("Refused", r.message())),
            )
        })
}

/// Approves as the kubeconfig user through [`Plugin::approve_seen`], with the
/// plan hash the page showed.
async fn approve(
    State(s): State<Arc<Review>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&body);
    if let Err(refused) = check(&s, &headers, &form).and_then(|()| names(&ns, &name)) {
        return refused.into_response();
    }
    let plugin = s.plugin.in_namespace(&ns);
    let result = plugin.approve_seen(&name, field(&form, "hash")).await;
    after(&s, &ns, &name, result).await
}

/// Rejects as the kubeconfig user through [`Plugin::reject`], with the reason typed.
async fn reject(
    State(s): State<Arc<Review>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&body);
    if let Err(refused) = check(&s, &headers, &form).and_then(|()| names(&ns, &name)) {
        return refused.into_response();
    }
    let plugin = s.plugin.in_namespace(&ns);
    let result = plugin
        .reject(&name, field(&form, "reason").unwrap_or(""))
        .await;
    after(&s, &ns, &name, result).await
}

/// The plan page again, with the outcome on top.
async fn after(s: &Review, ns: &str, name: &str, result: Result<String, PluginError>) -> Response {
    let (flash, code) = match result {
        Ok(text) => (Flash::Done(text.trim().to_string()), StatusCode::OK),
        Err(e) => {
            let (code, message) = refusal(&e);
            (Flash::Refused(message), code)
        }
    };
    load::plan_page(s, ns, name, Some(flash), code).await
}

#[cfg(test)]
mod tests;
