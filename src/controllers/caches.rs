//! Watch caches (kube reflectors) of the workload objects the analyzer reads for
//! every candidate of every analysis and the executor reads for every plan it
//! runs: Deployments, ReplicaSets (a Deployment's rollout history) and
//! HorizontalPodAutoscalers. With a thousand policies breaching at once, a read
//! of each candidate's Deployment and ReplicaSets per analysis was a thousand
//! requests per pass against the API server the monitor's status writes need
//! (the reliability load class); from the caches an analysis sends none.
//!
//! The cached objects are trimmed of what no controller reads (managed fields,
//! `kubectl apply`'s copy, and a ReplicaSet's status) and kept as JSON
//! ([`super::compact`]), so that 10,000 Deployments and their ReplicaSets stay
//! within the operator's memory target.
//! Until a cache has finished its first list (or when its watch is refused, as
//! an older install's RBAC may), reads go to the API server as before.
//!
//! The executor also reads the ViolationPolicy watch cache `run` keeps, for a
//! plan that waits for a human (its policy's approval TTL and mode are all
//! such a plan needs): a storm's thousand new plans cost no policy GETs.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use mapek_api::ViolationPolicy;
use serde::Serialize;

use super::compact::{self, Compact};

/// The three watch caches, shared by the analyzer and the executor.
#[derive(Clone)]
pub struct Caches {
    pub deployments: Store<Compact<Deployment>>,
    pub replica_sets: Store<Compact<ReplicaSet>>,
    pub hpas: Store<Compact<HorizontalPodAutoscaler>>,
    /// The ViolationPolicy watch cache, once `run` has one, and whether it
    /// has its first list ([`Caches::use_policy_cache`]).
    policies: Arc<OnceLock<(Store<ViolationPolicy>, Listed)>>,
}

impl Caches {
    /// The caches of the watched namespaces (or of all), and the watches that
    /// fill them: run that future for as long as the caches are read.
    pub fn start(
        client: &Client,
        namespace: Option<&str>,
    ) -> (Caches, impl Future<Output = ()> + Send + 'static) {
        let (deployments, d) = cache::<Deployment>(client, namespace, trim, "Deployment");
        let (replica_sets, r) = cache::<ReplicaSet>(client, namespace, trim_set, "ReplicaSet");
        let (hpas, h) = cache::<HorizontalPodAutoscaler>(client, namespace, trim, "HPA");
        let caches = Caches {
            deployments,
            replica_sets,
            hpas,
            policies: Arc::default(),
        };
        (caches, async move {
            futures::join!(d, r, h);
        })
    }

    /// Caches no watch fills: every read goes to the API server (tests, and the
    /// controllers before [`Caches::start`]).
    pub fn unfed() -> Caches {
        Caches {
            deployments: reflector::store().0,
            replica_sets: reflector::store().0,
            hpas: reflector::store().0,
            policies: Arc::default(),
        }
    }

    /// The ViolationPolicy watch cache [`Caches::policy`] reads (set once),
    /// with the mark its reflector sets once it has its first list.
    pub fn use_policy_cache(&self, store: Store<ViolationPolicy>, listed: Listed) {
        let _ = self.policies.set((store, listed));
    }

    /// A policy as the watch cache holds it: `None` until the cache holds its
    /// first list, then whether the policy exists.
    pub fn policy(&self, namespace: &str, name: &str) -> Option<Option<ViolationPolicy>> {
        let (store, _) = self.policies.get().filter(|(_, l)| l.is_set())?;
        let key = ObjectRef::new(name).within(namespace);
        Some(store.get(&key).map(|p| ViolationPolicy::clone(&p)))
    }

    /// The namespace's `autoscaling/v2` HPAs: from the cache once it holds the
    /// first list, else listed ([`super::hpa::list`]).
    pub async fn hpas_in(
        &self,
        api: &Api<HorizontalPodAutoscaler>,
        namespace: &str,
    ) -> Result<Vec<HorizontalPodAutoscaler>, kube::Error> {
        if !ready(&self.hpas) {
            return super::hpa::list(api).await;
        }
        let in_ns =
            |h: &Compact<HorizontalPodAutoscaler>| h.namespace().as_deref() == Some(namespace);
        Ok(decoded(self.hpas.state_filter(in_ns)))
    }

    /// The ReplicaSets `d` owns: from the cache once it holds the first list,
    /// else listed by the Deployment's selector ([`super::revisions::list`]).
    pub async fn replica_sets_of(
        &self,
        api: &Api<ReplicaSet>,
        d: &Deployment,
    ) -> Result<Vec<ReplicaSet>, kube::Error> {
        if !ready(&self.replica_sets) {
            return super::revisions::list(api, d).await;
        }
        let (ns, uid) = (d.namespace(), d.metadata.uid.as_deref());
        let owned =
            |rs: &Compact<ReplicaSet>| rs.namespace() == ns && uid.is_some_and(|u| rs.owned_by(u));
        Ok(decoded(self.replica_sets.state_filter(owned)))
    }
}

/// Whether a reflector has applied its first list, set by its event stream
/// ([`Listed::mark`]). A store's `wait_until_ready` cannot tell this to more
/// than one task: kube-runtime's `DelayedInit` wakes only the last task that
/// polled it, so [`ready`]'s poll of the ViolationPolicy store took the
/// notifier's wake-up, and the notifier never started (a flaky reliability
/// class, `alertmanager_down_and_slow`).
#[derive(Clone, Debug, Default)]
pub struct Listed(Arc<AtomicBool>);

impl Listed {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// A mark already set: for a cache filled by hand (tests).
    pub fn done() -> Listed {
        Listed(Arc::new(AtomicBool::new(true)))
    }

    /// `events`, a reflector's output (each event already applied to its
    /// store), marking this once the first list is in.
    pub fn mark<K, E>(
        self,
        events: impl futures::Stream<Item = Result<watcher::Event<K>, E>>,
    ) -> impl futures::Stream<Item = Result<watcher::Event<K>, E>> {
        let flag = self.0;
        events.inspect_ok(move |e| {
            if matches!(e, watcher::Event::InitDone) {
                flag.store(true, Ordering::Release);
            }
        })
    }
}

/// Whether a cache holds its first list (a store whose watch never started, or
/// was refused, never does). Polls the store's readiness: only for a store no
/// task awaits (see [`Listed`]).
pub fn ready<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .wait_until_ready()
        .now_or_never()
        .is_some_and(|r| r.is_ok())
}

fn decoded<K: Resource + Serialize + serde::de::DeserializeOwned>(
    objects: Vec<Arc<Compact<K>>>,
) -> Vec<K> {
    objects.iter().filter_map(|o| o.object()).collect()
}

/// One reflector over `K`, its objects trimmed by `trim` and kept as JSON.
fn cache<K>(
    client: &Client,
    namespace: Option<&str>,
    trim: fn(&mut K),
    kind: &'static str,
) -> (Store<Compact<K>>, impl Future<Output = ()> + Send + 'static)
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Serialize
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let api = super::scoped_api::<K>(client, namespace);
    let (store, writer) = reflector::store();
    let events = watcher(api, super::watch_config()).map_ok(move |e| compact::event(e, trim));
    let watch = reflector::reflector(writer, events)
        .default_backoff()
        .touched_objects()
        .for_each(move |r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, kind, "watch error");
            }
        });
    (store, watch)
}

/// Drops what no controller reads from a watched object before a watch cache
/// keeps it: the managed fields (one field set per writer, often larger than
/// the spec) and `kubectl apply`'s copy of the last applied object.
pub fn trim<K: Resource>(o: &mut K) {
    o.meta_mut().managed_fields = None;
    if let Some(a) = o.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// [`trim`], and a ReplicaSet's status: a revision is its owner, its number,
/// its creation and its pod template.
fn trim_set(rs: &mut ReplicaSet) {
    trim(rs);
    rs.status = None;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::controllers::testing::{Harness, Server, listed, requests};

    const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";

    /// A store that has finished its first list of `objects`.
    fn fed<K>(objects: Vec<K>) -> Store<Compact<K>>
    where
        K: Resource<DynamicType = ()> + Serialize + serde::de::DeserializeOwned + Clone + 'static,
    {
        listed(objects.iter().map(Compact::new).collect())
    }

    fn hpa(namespace: &str, name: &str) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": name}, "maxReplicas": 3}
        }))
        .unwrap()
    }

    fn set(namespace: &str, name: &str, owner: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "web", "uid": owner}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}}}
        }))
        .unwrap()
    }

    fn web() -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}}}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn filled_caches_answer_without_a_request_and_unfilled_ones_list() {
        let harness = Harness::start(Server::empty(), 0);
        let client = harness.ctx.client.clone();
        let (hpa_api, rs_api) = (
            Api::namespaced(client.clone(), "default"),
            Api::namespaced(client, "default"),
        );
        let caches = Caches {
            deployments: fed(vec![web()]),
            replica_sets: fed(vec![
                set("default", "web-1", "u1"),
                set("default", "web-2", "u1"),
                set("default", "other-1", "u2"),
                set("shop", "web-1", "u1"),
            ]),
            hpas: fed(vec![hpa("default", "web"), hpa("shop", "web")]),
            policies: Arc::default(),
        };
        assert!(ready(&caches.hpas) && ready(&caches.replica_sets));
        let hpas = caches.hpas_in(&hpa_api, "default").await.unwrap();
        assert_eq!(hpas.len(), 1);
        let mut sets: Vec<String> = caches
            .replica_sets_of(&rs_api, &web())
            .await
            .unwrap()
            .iter()
            .map(|s| s.name_any())
            .collect();
        sets.sort();
        assert_eq!(sets, ["web-1", "web-2"]);

        let unfed = Caches::unfed();
        assert!(!ready(&unfed.hpas));
        assert!(unfed.hpas_in(&hpa_api, "default").await.unwrap().is_empty());
        drop((hpa_api, rs_api));
        let server = harness.finish().await;
        assert_eq!(
            requests(&server, "GET", HPAS).len(),
            1,
            "only the unfed cache lists"
        );
    }

    #[tokio::test]
    async fn the_mark_is_set_once_the_first_list_is_applied_and_polls_no_store() {
        let listed = Listed::default();
        let events = futures::stream::iter([
            Ok::<_, ()>(watcher::Event::Init),
            Ok(watcher::Event::InitApply(web())),
            Ok(watcher::Event::InitDone),
        ]);
        let mut marked = std::pin::pin!(listed.clone().mark(events));
        marked.next().await;
        marked.next().await;
        assert!(!listed.is_set(), "not before the list is done");
        marked.next().await;
        assert!(listed.is_set());
    }

    #[test]
    fn a_cached_replica_set_keeps_its_revision_and_template_only() {
        let mut rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "annotations": {
                "deployment.kubernetes.io/revision": "1",
                "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kube-controller-manager"}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}}},
            "status": {"replicas": 1}
        }))
        .unwrap();
        trim_set(&mut rs);
        assert!(rs.status.is_none() && rs.metadata.managed_fields.is_none());
        assert_eq!(rs.annotations().len(), 1);
        assert!(rs.spec.template.is_some());
    }
}
