//! Watch caches (kube reflectors) of the workload objects the analyzer reads for
//! every candidate of every analysis and the executor reads for every plan it
//! runs: Deployments, ReplicaSets (a Deployment's rollout history) and
//! HorizontalPodAutoscalers. With a thousand policies breaching at once, a read
//! of each candidate's Deployment and ReplicaSets per analysis was a thousand
//! requests per pass against the API server the monitor's status writes need
//! (the reliability load class); from the caches an analysis sends none.
//!
//! The cached objects are trimmed of what no controller reads (managed fields,
//! `kubectl apply`'s copy, and a ReplicaSet's status), so that 10,000
//! Deployments and their ReplicaSets stay within the operator's memory target.
//! Until a cache has finished its first list (or when its watch is refused, as
//! an older install's RBAC may), reads go to the API server as before.

use std::future::Future;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};

/// The three watch caches, shared by the analyzer and the executor.
#[derive(Clone)]
pub struct Caches {
    pub deployments: Store<Deployment>,
    pub replica_sets: Store<ReplicaSet>,
    pub hpas: Store<HorizontalPodAutoscaler>,
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
        }
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
        let in_ns = |h: &HorizontalPodAutoscaler| h.namespace().as_deref() == Some(namespace);
        Ok(cloned(self.hpas.state_filter(in_ns)))
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
        let (ns, uid) = (d.namespace(), d.metadata.uid.clone());
        let owned = |rs: &ReplicaSet| {
            rs.namespace() == ns
                && rs
                    .owner_references()
                    .iter()
                    .any(|o| o.kind == "Deployment" && Some(&o.uid) == uid.as_ref())
        };
        Ok(cloned(self.replica_sets.state_filter(owned)))
    }
}

/// Whether a cache holds its first list (a store whose watch never started, or
/// was refused, never does).
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

fn cloned<K: Clone>(objects: Vec<std::sync::Arc<K>>) -> Vec<K> {
    objects.into_iter().map(|o| K::clone(&o)).collect()
}

/// One reflector over `K`, its objects trimmed by `modify` before they are kept.
fn cache<K>(
    client: &Client,
    namespace: Option<&str>,
    modify: fn(&mut K),
    kind: &'static str,
) -> (Store<K>, impl Future<Output = ()> + Send + 'static)
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let api = super::scoped_api::<K>(client, namespace);
    let (store, writer) = reflector::store();
    let watch = reflector::reflector(writer, watcher(api, super::watch_config()).modify(modify))
        .default_backoff()
        .touched_objects()
        .for_each(move |r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, kind, "watch error");
            }
        });
    (store, watch)
}

/// Drops the managed fields and `kubectl apply`'s copy of the object: nothing
/// a controller reads.
fn trim<K: Resource>(o: &mut K) {
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
    use kube::runtime::watcher::Event;
    use serde_json::json;

    use super::*;
    use crate::controllers::testing::{Harness, Server, requests};

    const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";

    /// A store that has finished its first list of `objects`.
    fn fed<K>(objects: Vec<K>) -> Store<K>
    where
        K: Resource + Clone + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for o in objects {
            writer.apply_watcher_event(&Event::InitApply(o));
        }
        writer.apply_watcher_event(&Event::InitDone);
        store
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
