//! A Deployment's rollout history, read as `kubectl rollout history` reads it:
//! its ReplicaSets (owned by it, listed by its selector), each one revision
//! (`deployment.kubernetes.io/revision`) with the pod template it ran.
//!
//! The analyzer turns the latest revision into a [`TemplateChange`] (what
//! changed, field by field, and when), the evidence of a bad change; the
//! executor takes an earlier revision's template for `ROLLBACK_REVISION`, as
//! `kubectl rollout undo` does. Pure functions over what the controllers read,
//! and the one read ([`list`]).
//!
//! A change's time is its ReplicaSet's creation. A rollback to an old revision
//! reuses that revision's ReplicaSet (the Deployment controller gives it a new
//! revision number), so such a change carries its first creation time and is
//! too old to be blamed: only new templates are. A rolling restart (only the
//! `kubectl.kubernetes.io/restartedAt` annotation changed) is not a change.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::Value;

use mapek_api::RESTARTED_AT_ANNOTATION;
use mapek_engine::model::{FieldChange, Millis, TemplateChange};

/// The annotation the Deployment controller numbers revisions with, on the
/// Deployment (its current revision) and on each ReplicaSet.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The label the Deployment controller adds to each ReplicaSet's template.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// One revision of a Deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    pub number: i64,
    /// Its ReplicaSet's creation.
    pub created_ms: Millis,
    /// Its pod template, without the `pod-template-hash` label.
    pub template: Value,
}

/// The ReplicaSets the Deployment owns, listed by its selector's labels.
pub async fn list(api: &Api<ReplicaSet>, d: &Deployment) -> Result<Vec<ReplicaSet>, kube::Error> {
    let selector = d
        .spec
        .selector
        .match_labels
        .as_ref()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    // From the watch cache (`resourceVersion=0`), as the HPAs are: a
    // consistent list would wait for the cache to catch up with etcd.
    let params = match selector.is_empty() {
        true => ListParams::default().match_any(),
        false => ListParams::default().labels(&selector).match_any(),
    };
    Ok(api.list(&params).await?.items)
}

/// The Deployment's revisions, oldest first: the ReplicaSets it owns (by uid)
/// that carry a revision number.
pub fn revisions(d: &Deployment, sets: &[ReplicaSet]) -> Vec<Revision> {
    let uid = d.metadata.uid.as_deref();
    let mut out: Vec<Revision> = sets
        .iter()
        .filter(|rs| {
            uid.is_some()
                && rs
                    .owner_references()
                    .iter()
                    .any(|o| o.kind == "Deployment" && Some(o.uid.as_str()) == uid)
        })
        .filter_map(|rs| {
            let number = rs.annotations().get(REVISION_ANNOTATION)?.parse().ok()?;
            let template = rs.spec.template.as_ref()?;
            let mut template = serde_json::to_value(template).ok()?;
            if let Some(labels) = template
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                labels.remove(POD_TEMPLATE_HASH);
            }
            Some(Revision {
                number,
                created_ms: rs
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or(0, |t| t.0.as_millisecond()),
                template,
            })
        })
        .collect();
    out.sort_by_key(|r| r.number);
    out
}

/// The pod template of revision `number` of the Deployment, if one of its
/// ReplicaSets still carries it.
pub fn template_of_revision(d: &Deployment, sets: &[ReplicaSet], number: i64) -> Option<Value> {
    revisions(d, sets)
        .into_iter()
        .find(|r| r.number == number)
        .map(|r| r.template)
}

/// The Deployment's current revision number, if the controller has set one.
pub fn current_revision(d: &Deployment) -> Option<i64> {
    d.annotations().get(REVISION_ANNOTATION)?.parse().ok()
}

/// The Deployment's pod template as JSON.
pub fn template_of(d: &Deployment) -> Value {
    serde_json::to_value(&d.spec.template).unwrap_or(Value::Null)
}

/// The latest change of the Deployment's template: its newest revision against
/// the one before, when they differ in more than the restart annotation.
pub fn latest_change(d: &Deployment, sets: &[ReplicaSet]) -> Option<TemplateChange> {
    let revs = revisions(d, sets);
    let [.., before, after] = revs.as_slice() else {
        return None;
    };
    // A rolling restart changes only its annotation: no change of the template.
    let restart = format!("metadata.annotations.{RESTARTED_AT_ANNOTATION}");
    let diff: Vec<FieldChange> = diff(&before.template, &after.template)
        .into_iter()
        .filter(|f| f.field != restart)
        .collect();
    if diff.is_empty() {
        return None;
    }
    Some(TemplateChange {
        target: d.name_any(),
        at_ms: after.created_ms,
        revision: after.number,
        previous_revision: before.number,
        diff,
    })
}

/// What changed between two JSON objects (pod templates, Deployment specs),
/// field by field, in path order: each
/// leaf value named by its path, list items that have a `name` (containers, env
/// vars, ports, volumes) named by it, such as
/// `spec.containers[web].env[MODE].value`.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", before, &mut a);
    flatten("", after, &mut b);
    let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter_map(|f| {
            let (x, y) = (a.get(f), b.get(f));
            (x != y).then(|| FieldChange {
                field: f.clone(),
                before: x.cloned(),
                after: y.cloned(),
            })
        })
        .collect()
}

fn flatten(path: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| match path.is_empty() {
        true => key.to_string(),
        false => format!("{path}.{key}"),
    };
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match (item.get("name").and_then(Value::as_str), item) {
                    // A named item: its name is in its path, not a field of it.
                    (Some(name), Value::Object(fields)) => {
                        for (k, v) in fields.iter().filter(|(k, _)| *k != "name") {
                            flatten(&format!("{path}[{name}].{k}"), v, out);
                        }
                    }
                    _ => flatten(&format!("{path}[{i}]"), item, out),
                }
            }
        }
        Value::Null => {}
        Value::String(s) => {
            out.insert(path.to_string(), s.clone());
        }
        other => {
            out.insert(path.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(uid: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": uid,
                         "annotations": {REVISION_ANNOTATION: "3"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "web:2"}]}}}
        }))
        .unwrap()
    }

    fn replica_set(
        owner: &str,
        revision: &str,
        created: &str,
        image: &str,
        env: &[(&str, &str)],
    ) -> ReplicaSet {
        let env: Vec<Value> = env
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{revision}"), "namespace": "default",
                         "creationTimestamp": created,
                         "annotations": {REVISION_ANNOTATION: revision},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "web", "uid": owner}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: format!("h{revision}")}},
                                  "spec": {"containers": [{"name": "web", "image": image, "env": env}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn the_latest_change_is_the_newest_revision_against_the_one_before() {
        let d = deployment("u1");
        let sets = [
            replica_set(
                "u1",
                "3",
                "2026-11-29T10:05:00Z",
                "web:2",
                &[("MODE", "strict")],
            ),
            replica_set(
                "u1",
                "1",
                "2026-11-29T09:00:00Z",
                "web:1",
                &[("MODE", "lenient")],
            ),
            replica_set(
                "u1",
                "2",
                "2026-11-29T09:30:00Z",
                "web:2",
                &[("MODE", "lenient")],
            ),
            // Not this Deployment's.
            replica_set("other", "9", "2026-11-29T10:10:00Z", "web:9", &[]),
        ];
        let change = latest_change(&d, &sets).unwrap();
        assert_eq!((change.revision, change.previous_revision), (3, 2));
        assert_eq!(change.at_ms, 1_795_946_700_000);
        assert_eq!(change.target, "web");
        assert_eq!(
            change.diff,
            vec![FieldChange {
                field: "spec.containers[web].env[MODE].value".into(),
                before: Some("lenient".into()),
                after: Some("strict".into()),
            }]
        );
        let revs = revisions(&d, &sets);
        assert_eq!(revs.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(
            revs[0]
                .template
                .pointer("/metadata/labels/pod-template-hash")
                .is_none()
        );
    }

    #[test]
    fn a_restart_is_not_a_change_and_one_revision_has_none() {
        let d = deployment("u1");
        let mut restarted = replica_set("u1", "2", "2026-11-29T10:05:00Z", "web:1", &[]);
        restarted
            .spec
            .template
            .as_mut()
            .unwrap()
            .metadata
            .as_mut()
            .unwrap()
            .annotations = Some([(RESTARTED_AT_ANNOTATION.to_string(), "now".to_string())].into());
        let first = replica_set("u1", "1", "2026-11-29T09:00:00Z", "web:1", &[]);
        assert_eq!(latest_change(&d, &[first.clone(), restarted]), None);
        assert_eq!(latest_change(&d, &[first]), None);
    }

    #[test]
    fn the_diff_names_containers_and_env_vars_and_sees_additions_and_removals() {
        let before = json!({"spec": {"containers": [
            {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "side:1"}]}});
        let after = json!({"spec": {"containers": [
            {"name": "web", "image": "web:2", "env": [{"name": "B", "value": "2"}],
             "resources": {"limits": {"memory": "256Mi"}}},
            {"name": "side", "image": "side:1"}]}});
        let d = diff(&before, &after);
        let fields: Vec<(&str, Option<&str>, Option<&str>)> = d
            .iter()
            .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
            .collect();
        assert_eq!(
            fields,
            [
                ("spec.containers[web].env[A].value", Some("1"), None),
                ("spec.containers[web].env[B].value", None, Some("2")),
                ("spec.containers[web].image", Some("web:1"), Some("web:2")),
                (
                    "spec.containers[web].resources.limits.memory",
                    None,
                    Some("256Mi")
                ),
            ]
        );
    }
}
