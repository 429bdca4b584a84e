//! A watch-cached object kept as its JSON text, decoded when read. A typed
//! Deployment or ReplicaSet of k8s-openapi takes about 7.5 KB of memory
//! (every optional field of the pod spec has its slot), its JSON about 1.5 KB;
//! 10,000 of each held typed took the operator from 82 to 233 MiB. The caches
//! are read for a breach's candidates only, so decoding on read costs little.

use std::borrow::Cow;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An object of kind `K` as JSON, with the metadata a cache is keyed and
/// filtered by: name, namespace, uid, and its owners' uids.
#[derive(Clone, Debug)]
pub struct Compact<K> {
    metadata: ObjectMeta,
    owners: Box<[String]>,
    json: Box<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Serialize + DeserializeOwned> Compact<K>
where
    K: Resource,
{
    /// `object`, kept as JSON.
    pub fn new(object: &K) -> Compact<K> {
        let meta = object.meta();
        Compact {
            metadata: ObjectMeta {
                name: meta.name.clone(),
                namespace: meta.namespace.clone(),
                uid: meta.uid.clone(),
                resource_version: meta.resource_version.clone(),
                ..ObjectMeta::default()
            },
            owners: object
                .owner_references()
                .iter()
                .map(|o| o.uid.clone())
                .collect(),
            // An object the API server sent always serializes.
            json: serde_json::to_string(object).unwrap_or_default().into(),
            kind: PhantomData,
        }
    }

    /// The object (`None` only if it no longer decodes, which an object this
    /// process encoded always does).
    pub fn object(&self) -> Option<K> {
        serde_json::from_str(&self.json).ok()
    }

    /// Whether an object with this uid owns it.
    pub fn owned_by(&self, uid: &str) -> bool {
        self.owners.iter().any(|o| o == uid)
    }
}

/// A watch event of `K` as the cache keeps it: `trim` first, then as JSON.
pub fn event<K>(event: watcher::Event<K>, trim: fn(&mut K)) -> watcher::Event<Compact<K>>
where
    K: Resource + Serialize + DeserializeOwned,
{
    let keep = |mut o: K| {
        trim(&mut o);
        Compact::new(&o)
    };
    match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(keep(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(keep(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(keep(o)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Compact<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use serde_json::json;

    #[test]
    fn an_object_reads_back_as_it_was_kept_and_knows_its_owners() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "default", "uid": "r1",
                "annotations": {"deployment.kubernetes.io/revision": "2"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "web", "uid": "u1"}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "web:2"}]}}}
        }))
        .unwrap();
        let kept = Compact::new(&rs);
        assert_eq!(kept.object(), Some(rs.clone()));
        assert!(kept.owned_by("u1") && !kept.owned_by("u2"));
        assert_eq!(
            (kept.meta().name.as_deref(), kept.meta().uid.as_deref()),
            (Some("web-1"), Some("r1"))
        );
        assert!(kept.meta().annotations.is_none());
        // Trimmed before it is kept.
        let trimmed = event(watcher::Event::Apply(rs), |rs: &mut ReplicaSet| {
            rs.spec.template = None
        });
        let watcher::Event::Apply(kept) = trimmed else {
            panic!("an Apply stays an Apply");
        };
        assert!(kept.object().unwrap().spec.template.is_none());
    }
}
