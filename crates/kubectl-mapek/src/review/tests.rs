//! The review server against a scripted API server: routing, the Host and CSRF
//! checks, approve and reject through the plugin's code, refusals shown, and
//! the whole server over HTTP on a free port.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kube::Client;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::csrf::Guard;
use super::prom::{DEFAULT_SERVICE, Prometheus};
use super::{Review, Scope, router};
use crate::client::Plugin;
use crate::fixtures::{RPS, plan};

/// A request the scripted API server received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    /// The path with its query.
    pub uri: String,
    pub body: Value,
}

pub(crate) type Log = Arc<Mutex<Vec<Seen>>>;

/// A client whose API server answers `answer(method, path)` and logs requests.
pub(crate) fn scripted(
    answer: impl Fn(&str, &str) -> (u16, Value) + Send + 'static,
) -> (Client, Log) {
    let (service, mut handle) =
        tower_test::mock::pair::<Request<kube::client::Body>, http::Response<kube::client::Body>>();
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let uri = request.uri().to_string();
            let (method, path, _, body) = mapek_test_support::decode(request).await;
            let (code, reply) = answer(&method, &path);
            seen.lock().unwrap().push(Seen { method, uri, body });
            send.send_response(mapek_test_support::respond(code, &reply));
        }
    });
    (Client::new(service, "shop"), log)
}

pub(crate) fn now_ms() -> i64 {
    super::load::now_ms()
}

pub(crate) const VPS: &str = "/apis/mapek.io/v1alpha1/namespaces/shop/violationpolicies";
pub(crate) const PROXY: &str =
    "/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/query_range";
const SSR: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

/// The pending plan `fix-web`, made 20 minutes ago, with a breach, its episode
/// and the change before it.
pub(crate) fn pending_plan() -> Value {
    let now = now_ms();
    let mut rp = plan("fix-web", "shop", Some("Pending"));
    rp["metadata"]["creationTimestamp"] = json!(rfc3339(now - 20 * 60_000));
    rp["spec"]["evidence"]["breaches"] = json!([{
        "policy": "web-latency", "target": "web", "current": true, "run": 8,
        "standsOut": true, "shared": false, "actionable": true, "level": 0.8,
        "threshold": 0.5, "operator": "GreaterThan", "intervalMs": 30000,
        "lastAtMs": now - 60_000, "runStartMs": now - 30 * 60_000,
        "reason": "0.8 s against 0.5 s for 4 minutes",
        "episode": { "sinceMs": now - 34 * 60_000, "plans": 0, "maxPlans": 2,
                     "state": "Breaching", "reason": "first plan of the episode" },
        "change": { "leadMs": 120000, "reason": "revision 4 came 2 minutes before",
                    "change": { "target": "web", "atMs": now - 32 * 60_000, "revision": 4,
                                "previousRevision": 3,
                                "diff": [{ "field": "containers[app].image",
                                           "before": "web:1", "after": "web:2" }] } }
    }]);
    rp["spec"]["expectedImpact"] = json!(
        "load is 2.4x its baseline (480 against 200 req/s): 2 replicas x 2.4 = 4.8, \
         rounded up to 5; latency back under 0.5 s"
    );
    rp["status"]["dryRun"] = json!([{ "actionId": "a1", "accepted": true,
        "changes": [{ "field": "spec.replicas", "before": "2", "after": "5" }] }]);
    rp
}

fn rfc3339(ms: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_string()
}

pub(crate) fn policy() -> Value {
    json!({ "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
            "metadata": { "name": "web-latency", "namespace": "shop" },
            "spec": { "targetRef": { "name": "web" },
                      "query": "histogram_quantile(0.99, rate(web_latency_bucket[1m]))",
                      "condition": { "operator": "GreaterThan", "threshold": 0.5 },
                      "remediation": { "approvalTtl": "1h" } } })
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({ "apiVersion": "mapek.io/v1alpha1", "kind": kind,
            "metadata": { "resourceVersion": "1" }, "items": items })
}

/// Three hours of samples, every 30 s, the last half hour above 0.5.
pub(crate) fn matrix() -> Value {
    let now = now_ms() / 1000;
    let values: Vec<Value> = (0..360)
        .map(|i| {
            let t = now - 3 * 3600 + i * 30;
            let v = if i > 300 { 0.8 } else { 0.2 };
            json!([t, format!("{v}")])
        })
        .collect();
    json!({ "status": "success", "data": { "resultType": "matrix",
            "result": [{ "metric": {}, "values": values }] } })
}

pub(crate) fn status(code: u16, message: &str) -> (u16, Value) {
    let reason = match code {
        404 => "NotFound",
        403 => "Forbidden",
        _ => "ServiceUnavailable",
    };
    (
        code,
        json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                   "code": code, "reason": reason, "message": message }),
    )
}

/// The cluster: `fix-web` pending, `old-fix` approved, the policy, Prometheus
/// behind the service proxy, and the user alice.
pub(crate) fn cluster(method: &str, path: &str) -> (u16, Value) {
    let mut approved = plan("old-fix", "shop", Some("Approved"));
    approved["metadata"]["creationTimestamp"] = json!(rfc3339(now_ms() - 3_600_000));
    match (method, path) {
        ("GET", p) if p == RPS => (
            200,
            list("RemediationPolicyList", vec![approved, pending_plan()]),
        ),
        ("GET" | "PATCH", p) if p == format!("{RPS}/fix-web") => (200, pending_plan()),
        ("GET", p) if p == VPS => (200, list("ViolationPolicyList", vec![policy()])),
        ("GET", p) if p == format!("{VPS}/web-latency") => (200, policy()),
        ("GET", PROXY) => (200, matrix()),
        ("POST", SSR) => (
            201,
            json!({ "apiVersion": "authentication.k8s.io/v1",
            "kind": "SelfSubjectReview", "status": { "userInfo": { "username": "alice" } } }),
        ),
        _ => status(404, &format!("{path} not found")),
    }
}

pub(crate) const TOKEN: &str = "0123456789abcdef";

pub(crate) fn review(client: Client, scope: Scope, addr: &str) -> Arc<Review> {
    Arc::new(Review {
        plugin: Plugin {
            client: client.clone(),
            namespace: "shop".into(),
        },
        scope,
        prometheus: Prometheus::via_proxy(client, DEFAULT_SERVICE),
        guard: Guard::new(TOKEN.into(), addr.parse().unwrap()),
    })
}

/// One request through the router; the status and the body.
async fn send(state: Arc<Review>, request: Request<Body>) -> (StatusCode, String) {
    let response = router(state).oneshot(request).await.unwrap();
    let code = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (code, String::from_utf8(bytes.to_vec()).unwrap())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("host", "127.0.0.1:8090")
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, form: &str, origin: Option<&str>) -> Request<Body> {
    let mut r = Request::post(path)
        .header("host", "127.0.0.1:8090")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    r.body(Body::from(form.to_string())).unwrap()
}

fn patches(log: &Log) -> Vec<Seen> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "PATCH")
        .cloned()
        .collect()
}

mod browser;
mod pages;
mod server;
