//! Watch caches (kube reflectors) of the workload objects the analyzer reads for
//! every candidate of every analysis: the Deployments. With a thousand policies
//! breaching at once, a GET of each candidate's Deployment per analysis was a
//! thousand requests per pass against the API server the monitor's status
//! writes need (the reliability load class). The analyzer reads a Deployment
//! the cache does not hold (just created, or before the first list) with a GET.

use std::future::Future;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::runtime::reflector::{self, Store};

use kube::runtime::{WatchStreamExt, watcher};

/// The watch cache of the Deployments of the watched namespaces (or of all),
/// and the watch that fills it: run it for as long as the cache is read.
pub fn deployments(
    client: &Client,
    namespace: Option<&str>,
) -> (Store<Deployment>, impl Future<Output = ()> + Send + 'static) {
    let api = super::scoped_api::<Deployment>(client, namespace);
    let (store, writer) = reflector::store();
    let watch = reflector::reflector(writer, watcher(api, super::watch_config()).modify(trim))
        .default_backoff()
        .touched_objects()
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "Deployment watch error");
            }
        });
    (store, watch)
}

/// Drops the managed fields and `kubectl apply`'s copy of the object: nothing
/// the analyzer reads.
fn trim(d: &mut Deployment) {
    use kube::Resource;
    d.meta_mut().managed_fields = None;
    if let Some(a) = d.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}
