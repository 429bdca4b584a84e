//! `mapek-test-support`: helpers shared by the workspace's tests and benchmarks.
//!
//! - A scripted API server behind a `tower_test` mock of a kube `Client`:
//!   [`decode`] a request, [`respond`] with JSON. The operator's stateful scripted
//!   server (`controllers::testing`) and the kubectl plugin's tests build on them.
//! - The one poll loop ([`poll`]) and [`free_port`].
//! - [`Process`]: a server process a suite starts (the operator in the
//!   reliability suite, Prometheus in its integration test), logged, polled for
//!   readiness and killed on drop; [`status_kib`], a figure of its
//!   `/proc/<pid>/status` (resident and peak memory).
//! - [`alertmanager::active_alerts`]: the alerts a real Alertmanager holds.
//! - [`browser`]: chromedriver and a headless Chromium session, for the review
//!   page's tests in the plugin and in the e2e suite.

pub mod alertmanager;
pub mod browser;
mod poll;
mod process;

pub use poll::{free_port, poll};
pub use process::{Process, status_kib, tail};

use http::{Request, Response};
use kube::client::Body;
use serde_json::Value;

/// A request's method, path, content type and JSON body (`Null` when it has none).
pub async fn decode(request: Request<Body>) -> (String, String, String, Value) {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .expect("a scripted request's body can be read");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (method, path, content_type, body)
}

/// A JSON response with status `code`.
pub fn respond(code: u16, answer: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(
            serde_json::to_vec(answer).expect("a JSON value serializes"),
        ))
        .expect("a response with a valid status and header")
}
