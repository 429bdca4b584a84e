//! A scripted API server for the controllers' request-sequence tests: a small
//! in-memory store that answers GET (objects and lists), POST (create), merge
//! patches, RFC 6902 patches and scale patches the way the API server does, with
//! injected failures. It answers a [`kube::Client`] through `tower-test`, and
//! records every request so that a test can check exactly what was sent.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use serde_json::{Value, json};

use super::executor::ExecutionLimits;
use super::{Clock, Context, FIELD_MANAGER, Settings};
use mapek_engine::model::Millis;

/// Where Events go (`/apis/events.k8s.io/v1/namespaces/<ns>/events`).
pub(crate) const EVENTS_API: &str = "/apis/events.k8s.io/v1/";

/// A clock that stands still until the test moves it.
#[derive(Debug)]
pub(crate) struct FixedClock(AtomicI64);

impl FixedClock {
    pub(crate) fn new(now: Millis) -> FixedClock {
        FixedClock(AtomicI64::new(now))
    }

    pub(crate) fn set(&self, now: Millis) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) use mapek_test_support::{decode, respond};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub body: Value,
    pub code: u16,
    /// Sent with `dryRun=All`: answered as the server would, nothing stored.
    pub dry_run: bool,
}

impl Seen {
    /// `METHOD path`, or `EVENT <Type> <reason>` for Events.
    pub(crate) fn line(&self) -> String {
        if self.path.starts_with(EVENTS_API) {
            format!(
                "EVENT {} {}",
                self.body["type"].as_str().unwrap_or("?"),
                self.body["reason"].as_str().unwrap_or("?")
            )
        } else if self.dry_run {
            format!("{} {} (dry run)", self.method, self.path)
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}

/// A change to the stored objects, made by someone else.
pub(crate) type Change = Box<dyn FnOnce(&mut BTreeMap<String, Value>) + Send>;

/// A failure injected for the `nth` (1-based) request of `method` on `path`,
/// with a change to the stored objects made just before it is answered.
pub(crate) struct Fault {
    pub method: &'static str,
    pub path: &'static str,
    pub nth: usize,
    pub code: u16,
    pub meanwhile: Option<Change>,
}

/// The store: objects by their API path (such as
/// `/apis/apps/v1/namespaces/default/deployments/web`).
#[derive(Default)]
pub(crate) struct Server {
    pub objects: BTreeMap<String, Value>,
    pub faults: Vec<Fault>,
    pub counts: HashMap<(String, String), usize>,
    pub seen: Vec<Seen>,
    pub version: u64,
    /// Deployments as their controller leaves them: when set, a change of a
    /// Deployment's spec bumps its generation and rolls it out at once (every replica updated and available) unless `stalls`
    /// says otherwise.
    pub deployment_controller: bool,
    /// With `deployment_controller`, a Deployment this says yes to is observed
    /// but its rollout never finishes: the `Progressing` condition says
    /// `ProgressDeadlineExceeded`, as after `spec.progressDeadlineSeconds`.
    pub stalls: Option<fn(&Value) -> bool>,
}

/// What the Deployment controller makes of `d` after its spec changed.
fn roll_out(d: &mut Value, stall: bool) {
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
    d["metadata"]["generation"] = json!(generation);
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    d["status"] = if stall {
        json!({ "observedGeneration": generation, "replicas": replicas + 1,
                "updatedReplicas": 1, "availableReplicas": replicas,
                "conditions": [{ "type": "Progressing", "status": "False",
                                 "reason": "ProgressDeadlineExceeded",
                                 "message": "ReplicaSet has timed out progressing." }] })
    } else {
        json!({ "observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": replicas,
                "availableReplicas": replicas })
    };
}

pub(crate) fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "reason": reason, "message": message, "code": code })
}

/// What an API path names.
#[derive(Debug, PartialEq, Eq)]
struct Location<'a> {
    /// `/api/v1` or `/apis/<group>/<version>`.
    prefix: String,
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

fn locate(path: &str) -> Option<Location<'_>> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let prefix_len = match segments.first() {
        Some(&"api") => 2,
        Some(&"apis") => 3,
        _ => return None,
    };
    if segments.len() <= prefix_len {
        return None;
    }
    let prefix = format!("/{}", segments[..prefix_len].join("/"));
    let (namespace, rest) = match &segments[prefix_len..] {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        rest => (None, rest),
    };
    match rest {
        [plural] => Some(Location {
            prefix,
            namespace,
            plural,
            name: None,
            subresource: None,
        }),
        [plural, name] => Some(Location {
            prefix,
            namespace,
            plural,
            name: Some(name),
            subresource: None,
        }),
        [plural, name, sub] => Some(Location {
            prefix,
            namespace,
            plural,
            name: Some(name),
            subresource: Some(sub),
        }),
        _ => None,
    }
}

impl Server {
    /// An empty store.
    pub(crate) fn empty() -> Server {
        Server {
            version: 100,
            deployment_controller: true,
            ..Default::default()
        }
    }

    /// Stores `object` at `path`.
    pub(crate) fn insert(&mut self, path: &str, object: &impl serde::Serialize) {
        self.objects
            .insert(path.into(), serde_json::to_value(object).unwrap());
    }

    fn bump(&mut self, path: &str) {
        self.version += 1;
        if let Some(o) = self.objects.get_mut(path) {
            o["metadata"]["resourceVersion"] = json!(self.version.to_string());
        }
    }

    /// The stored objects of the collection at `at` (one namespace or all).
    fn list(&self, at: &Location<'_>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| {
                locate(k).is_some_and(|l| {
                    l.prefix == at.prefix
                        && l.plural == at.plural
                        && l.name.is_some()
                        && l.subresource.is_none()
                        && (at.namespace.is_none() || l.namespace == at.namespace)
                })
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn handle(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Value,
    ) -> (u16, Value) {
        let n = self
            .counts
            .entry((method.to_string(), path.to_string()))
            .or_default();
        *n += 1;
        let n = *n;
        if let Some(i) = self
            .faults
            .iter()
            .position(|f| f.method == method && f.path == path && f.nth == n)
        {
            let mut fault = self.faults.remove(i);
            if let Some(change) = fault.meanwhile.take() {
                change(&mut self.objects);
                let base = match path.rsplit_once('/') {
                    Some((b, "status" | "scale")) => b,
                    _ => path,
                };
                self.bump(base);
            }
            let reason = match fault.code {
                409 => "Conflict",
                404 => "NotFound",
                _ => "InternalError",
            };
            return (
                fault.code,
                status_body(fault.code, reason, "injected failure"),
            );
        }
        if path.starts_with(EVENTS_API) {
            return (if method == "POST" { 201 } else { 200 }, body);
        }
        let not_found = || {
            (
                404,
                status_body(404, "NotFound", &format!("{path} not found")),
            )
        };
        let Some(location) = locate(path) else {
            return not_found();
        };
        match method {
            "GET" if location.name.is_none() => {
                let items = self.list(&location);
                let kind = items
                    .first()
                    .and_then(|i| i["kind"].as_str())
                    .map_or("List".to_string(), |k| format!("{k}List"));
                let api_version = items
                    .first()
                    .map_or(json!("v1"), |i| i["apiVersion"].clone());
                (
                    200,
                    json!({ "apiVersion": api_version, "kind": kind,
                            "metadata": { "resourceVersion": self.version.to_string() },
                            "items": items }),
                )
            }
            "GET" => match self.objects.get(path) {
                Some(o) => (200, o.clone()),
                None => not_found(),
            },
            "POST" if location.name.is_none() => {
                let Some(name) = body["metadata"]["name"].as_str().map(str::to_string) else {
                    return (400, status_body(400, "BadRequest", "no metadata.name"));
                };
                if body["metadata"]["namespace"].as_str() != location.namespace {
                    return (
                        400,
                        status_body(
                            400,
                            "BadRequest",
                            "the namespace of the object does not match the namespace of the request",
                        ),
                    );
                }
                let key = format!("{path}/{name}");
                if self.objects.contains_key(&key) {
                    return (
                        409,
                        status_body(409, "AlreadyExists", &format!("{key} already exists")),
                    );
                }
                // The status subresource is not written on create.
                let mut object = body;
                if let Some(o) = object.as_object_mut() {
                    o.remove("status");
                }
                object["metadata"]["uid"] = json!(format!("uid-{name}"));
                self.objects.insert(key.clone(), object);
                self.bump(&key);
                (201, self.objects[&key].clone())
            }
            "PATCH" => {
                let (base, sub) = match path.rsplit_once('/') {
                    Some((b, s @ ("status" | "scale"))) => (b.to_string(), Some(s)),
                    _ => (path.to_string(), None),
                };
                let Some(object) = self.objects.get_mut(&base) else {
                    return not_found();
                };
                // A resourceVersion in a merge patch is a precondition, as on
                // the API server.
                let expected = &body["metadata"]["resourceVersion"];
                if content_type == "application/merge-patch+json"
                    && !expected.is_null()
                    && *expected != object["metadata"]["resourceVersion"]
                {
                    return (
                        409,
                        status_body(
                            409,
                            "Conflict",
                            "the object has been modified; please apply your changes to the latest version and try again",
                        ),
                    );
                }
                match (sub, content_type) {
                    (Some("status"), "application/merge-patch+json") => {
                        let mut status = object.get("status").cloned().unwrap_or(json!({}));
                        json_patch::merge(&mut status, &body["status"]);
                        object["status"] = status;
                    }
                    (Some("scale"), "application/merge-patch+json") => {
                        object["spec"]["replicas"] = body["spec"]["replicas"].clone();
                    }
                    (None, "application/merge-patch+json") => {
                        let mut patch = body.clone();
                        patch.as_object_mut().unwrap().remove("status");
                        json_patch::merge(object, &patch);
                    }
                    (None, "application/json-patch+json") => {
                        let ops: json_patch::Patch = match serde_json::from_value(body.clone()) {
                            Ok(p) => p,
                            Err(e) => {
                                return (400, status_body(400, "BadRequest", &e.to_string()));
                            }
                        };
                        let mut patched = object.clone();
                        if let Err(e) = json_patch::patch(&mut patched, &ops) {
                            // What the API server answers for a failed `test`.
                            return (
                                422,
                                status_body(422, "Invalid", &format!("testing value failed: {e}")),
                            );
                        }
                        *object = patched;
                    }
                    other => {
                        return (
                            415,
                            status_body(415, "UnsupportedMediaType", &format!("{other:?}")),
                        );
                    }
                }
                if self.deployment_controller
                    && base.contains("/deployments/")
                    && sub != Some("status")
                    && let Some(d) = self.objects.get_mut(&base)
                {
                    let stall = self.stalls.is_some_and(|stalls| stalls(d));
                    roll_out(d, stall);
                }
                self.bump(&base);
                let object = self.objects[&base].clone();
                if sub == Some("scale") {
                    let replicas = object["spec"]["replicas"].clone();
                    return (
                        200,
                        json!({ "apiVersion": "autoscaling/v1", "kind": "Scale",
                        "metadata": { "name": object["metadata"]["name"],
                                      "namespace": object["metadata"]["namespace"] },
                        "spec": { "replicas": replicas }, "status": { "replicas": 0 } }),
                    );
                }
                (200, object)
            }
            _ => (405, status_body(405, "MethodNotAllowed", method)),
        }
    }
}

/// A [`Context`] whose client talks to a [`Server`], and the server's task.
pub(crate) struct Harness {
    pub ctx: Arc<Context>,
    pub clock: Arc<FixedClock>,
    server: Arc<Mutex<Server>>,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    /// Default settings, four execution slots, the clock at `now`.
    pub(crate) fn start(server: Server, now: Millis) -> Harness {
        Harness::with(
            server,
            now,
            Settings::default(),
            Arc::new(ExecutionLimits::new(4)),
        )
    }

    pub(crate) fn with(
        server: Server,
        now: Millis,
        settings: Settings,
        limits: Arc<ExecutionLimits>,
    ) -> Harness {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = Arc::new(Mutex::new(server));
        let shared = server.clone();
        let task = tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let dry_run = request
                    .uri()
                    .query()
                    .is_some_and(|q| q.split('&').any(|kv| kv == "dryRun=All"));
                let (method, path, content_type, body) = decode(request).await;
                let (code, answer) = {
                    let mut server = shared.lock().unwrap();
                    // A dry run is answered as the real request would be, and
                    // then forgotten.
                    let kept = dry_run.then(|| server.objects.clone());
                    let (code, answer) = server.handle(&method, &path, &content_type, body.clone());
                    if let Some(kept) = kept {
                        server.objects = kept;
                    }
                    server.seen.push(Seen {
                        method,
                        path,
                        content_type,
                        body,
                        code,
                        dry_run,
                    });
                    (code, answer)
                };
                send.send_response(respond(code, &answer));
            }
        });
        let client = kube::Client::new(service, "default");
        let clock = Arc::new(FixedClock::new(now));
        let ctx = Arc::new(Context {
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: FIELD_MANAGER.into(),
                    instance: None,
                },
            ),
            client,
            history: Arc::new(crate::controllers::monitor::history::History::new(
                settings.history_samples,
            )),
            write_budget: Arc::new(crate::controllers::monitor::WriteBudget::new(
                settings.write_qps,
                settings.write_burst,
            )),
            unwritten: Arc::default(),
            settings,
            clock: clock.clone(),
            metrics: Arc::new(crate::metrics::Metrics::default()),
            executions: limits,
            leadership: crate::leader::Leadership::unconditional(),
            caches: crate::controllers::caches::Caches::unfed(),
        });
        Harness {
            ctx,
            clock,
            server,
            task,
        }
    }

    /// The server as it is now (do not hold it across an `await`).
    pub(crate) fn server(&self) -> MutexGuard<'_, Server> {
        self.server.lock().unwrap()
    }

    /// Drops the client and returns the server once its task has ended.
    pub(crate) async fn finish(self) -> Server {
        let Harness {
            ctx, server, task, ..
        } = self;
        drop(ctx);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the server task ends when the client is dropped")
            .unwrap();
        let server = Arc::try_unwrap(server)
            .ok()
            .expect("only the harness holds the server");
        server.into_inner().unwrap()
    }
}

/// Every request, as `METHOD path` or `EVENT <Type> <reason>` lines.
pub(crate) fn lines(server: &Server, mutating_only: bool) -> Vec<String> {
    server
        .seen
        .iter()
        .filter(|s| !mutating_only || s.method != "GET")
        .map(Seen::line)
        .collect()
}

/// The object stored at `path`.
pub(crate) fn stored<T: serde::de::DeserializeOwned>(server: &Server, path: &str) -> T {
    serde_json::from_value(server.objects[path].clone()).unwrap()
}

/// The requests of `method` on `path`, in order.
pub(crate) fn requests<'a>(server: &'a Server, method: &str, path: &str) -> Vec<&'a Seen> {
    server
        .seen
        .iter()
        .filter(|s| s.method == method && s.path == path)
        .collect()
}

#[test]
fn paths_are_located() {
    let l =
        locate("/apis/mapek.io/v1alpha1/namespaces/default/violationpolicies/a/status").unwrap();
    assert_eq!(
        (
            l.prefix.as_str(),
            l.namespace,
            l.plural,
            l.name,
            l.subresource
        ),
        (
            "/apis/mapek.io/v1alpha1",
            Some("default"),
            "violationpolicies",
            Some("a"),
            Some("status")
        )
    );
    let l = locate("/apis/mapek.io/v1alpha1/policyoutcomes").unwrap();
    assert_eq!(
        (l.namespace, l.plural, l.name),
        (None, "policyoutcomes", None)
    );
    let l = locate("/api/v1/namespaces/prod/pods").unwrap();
    assert_eq!(
        (l.prefix.as_str(), l.namespace, l.plural, l.name),
        ("/api/v1", Some("prod"), "pods", None)
    );
}

/// A watch cache that has finished its first list, of `objects`.
pub(crate) fn listed<K>(objects: Vec<K>) -> kube::runtime::reflector::Store<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    use kube::runtime::watcher::Event;
    let (store, mut writer) = kube::runtime::reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for o in objects {
        writer.apply_watcher_event(&Event::InitApply(o));
    }
    writer.apply_watcher_event(&Event::InitDone);
    store
}
