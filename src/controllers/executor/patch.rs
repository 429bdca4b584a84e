//! The three Deployment patches every remediation action becomes, as pure
//! builders over a Deployment as read: the `scale` subresource merge patch, the
//! rolling-restart merge patch of the pod-template annotation (as
//! `kubectl rollout restart` writes it), and a JSON Patch (RFC 6902) for a config
//! setting (a container env var or a pod-template annotation), guarded by `test`
//! operations so that it applies only to the state it was computed from.
//!
//! Strategic merge patch is never used: it does not exist for CRD-served kinds,
//! and a JSON merge patch of `env` would replace the whole container list.
//! RFC 6902 cannot test that a value is absent, so a patch that adds a setting
//! which was absent tests the `resourceVersion` it was computed from instead.

use json_patch::Patch as JsonPatch;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;
use serde_json::{Value, json};

use mapek_api::PreviousConfig;
use mapek_engine::model::{ConfigChange, ConfigTarget, Millis, PatchKind, RemediationAction};

pub use mapek_api::RESTARTED_AT_ANNOTATION;

/// Why a config setting cannot be read or patched on a Deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentError {
    #[error("Deployment {deployment} has no containers")]
    NoContainers { deployment: String },
    #[error("Deployment {deployment} has no container named {container:?}")]
    ContainerNotFound {
        deployment: String,
        container: String,
    },
    #[error(
        "env var {name} of container {container:?} is set with valueFrom; config actions only change literal values"
    )]
    ValueFrom { name: String, container: String },
}

/// Which config setting: an env var (of a named container, or the first) or a
/// pod-template annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingRef {
    pub name: String,
    pub target: ConfigTarget,
    pub container: Option<String>,
}

impl From<&ConfigChange> for SettingRef {
    fn from(c: &ConfigChange) -> SettingRef {
        SettingRef {
            name: c.name.clone(),
            target: c.target,
            container: c.container.clone(),
        }
    }
}

impl From<&PreviousConfig> for SettingRef {
    fn from(c: &PreviousConfig) -> SettingRef {
        SettingRef {
            name: c.name.clone(),
            target: c.target,
            container: c.container.clone(),
        }
    }
}

impl SettingRef {
    /// The restart annotation of the pod template, as a setting: a restart's
    /// undo is a guarded change of it like any annotation's.
    pub fn restarted_at() -> SettingRef {
        SettingRef {
            name: RESTARTED_AT_ANNOTATION.to_string(),
            target: ConfigTarget::Annotation,
            container: None,
        }
    }
}

/// `spec.replicas`, 1 when unset (the API server's default).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

/// A pod-template annotation's value.
pub fn template_annotation(d: &Deployment, key: &str) -> Option<String> {
    d.spec
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(key)
        .cloned()
}

/// The `kubectl.kubernetes.io/restartedAt` pod-template annotation.
pub fn restarted_at(d: &Deployment) -> Option<String> {
    template_annotation(d, RESTARTED_AT_ANNOTATION)
}

/// The value a restart at `now` writes: RFC 3339 in seconds, as kubectl does.
pub fn restarted_at_value(now: Millis) -> String {
    let seconds = now.div_euclid(1000);
    crate::controllers::monitor::decide::time(seconds * 1000)
        .0
        .to_string()
}

/// The current value of a config setting (`None` when absent). An env var that is
/// present without a value has the empty value, as Kubernetes reads it.
pub fn config_value(
    d: &Deployment,
    setting: &SettingRef,
) -> Result<Option<String>, DeploymentError> {
    match setting.target {
        ConfigTarget::Annotation => Ok(template_annotation(d, &setting.name)),
        ConfigTarget::Env => {
            let (_, container) = container(d, setting.container.as_deref())?;
            match env_entry(container, &setting.name) {
                None => Ok(None),
                Some((_, entry)) if entry.value_from.is_some() => Err(DeploymentError::ValueFrom {
                    name: setting.name.clone(),
                    container: container.name.clone(),
                }),
                Some((_, entry)) => Ok(Some(entry.value.clone().unwrap_or_default())),
            }
        }
    }
}

/// The JSON Patch that sets `spec.replicas` of `d` (as read) to `replicas`,
/// guarded by a `test` of the count it read, so that it fails with a conflict
/// rather than overwrite a count another writer set since. A Deployment without
/// `spec.replicas` is guarded by its `resourceVersion` instead.
pub fn scale_patch(d: &Deployment, replicas: i32) -> JsonPatch {
    let read = d.spec.replicas;
    let mut ops = Vec::new();
    match read {
        Some(r) => {
            ops.push(test("/spec/replicas", json!(r)));
            ops.push(json!({ "op": "replace", "path": "/spec/replicas", "value": replicas }));
        }
        None => {
            ops.extend(resource_version_test(d));
            ops.push(json!({ "op": "add", "path": "/spec/replicas", "value": replicas }));
        }
    }
    serde_json::from_value(Value::Array(ops))
        .expect("the operations built above are valid RFC 6902 operations")
}

/// The JSON Patch that sets the pod template to `to` (an earlier revision's, or
/// back to the one before a rollback), guarded by a `test` of the whole template
/// it replaces, `from`: a template another writer changed since it was recorded
/// makes it fail with a conflict rather than be overwritten.
pub fn template_patch(from: &Value, to: &Value) -> JsonPatch {
    serde_json::from_value(json!([
        { "op": "test", "path": "/spec/template", "value": from },
        { "op": "replace", "path": "/spec/template", "value": to },
    ]))
    .expect("the operations built above are valid RFC 6902 operations")
}

/// A Deployment patch of either kind the executor sends.
#[derive(Clone, Debug, PartialEq)]
pub enum DeploymentPatch {
    /// RFC 6902, guarded by `test` operations.
    Json(JsonPatch),
    /// A JSON merge patch (the restart annotation).
    Merge(Value),
}

/// The patch action `a` would send to Deployment `d` as it is now: the one the
/// executor builds from the same read after its write-ahead (for a rollback, the
/// earlier revision's template is read from the Deployment's ReplicaSets,
/// `sets`). `Ok(None)`: the Deployment already is as the action would leave it.
/// Used for the server-side dry run of a plan before approval.
pub fn for_action(
    a: &RemediationAction,
    d: &Deployment,
    sets: &[k8s_openapi::api::apps::v1::ReplicaSet],
    now: Millis,
) -> Result<Option<DeploymentPatch>, String> {
    Ok(match a.action_type.patch_kind() {
        PatchKind::Scale => {
            let r = a.replicas.ok_or("no replica count")?;
            (replicas(d) != r).then(|| DeploymentPatch::Json(scale_patch(d, r)))
        }
        PatchKind::Restart => Some(DeploymentPatch::Merge(restart_patch(Some(
            &restarted_at_value(now),
        )))),
        PatchKind::Config => {
            let c = a.config.as_ref().ok_or("no config setting")?;
            config_patch(d, &SettingRef::from(c), Some(&c.value))
                .map_err(|e| e.to_string())?
                .map(DeploymentPatch::Json)
        }
        PatchKind::Rollback => {
            let wanted = a.revision.ok_or("no revision to roll back to")?;
            let to = crate::controllers::revisions::template_of_revision(d, sets, wanted)
                .ok_or_else(|| format!("revision {wanted} not found among the ReplicaSets"))?;
            let from = crate::controllers::revisions::template_of(d);
            (from != to).then(|| DeploymentPatch::Json(template_patch(&from, &to)))
        }
    })
}

/// The merge patch that sets the restart annotation to `value`, or removes it
/// when `value` is `None` (to undo a restart of a Deployment that had none).
pub fn restart_patch(value: Option<&str>) -> Value {
    json!({
        "spec": { "template": { "metadata": { "annotations": {
            RESTARTED_AT_ANNOTATION: value
        } } } }
    })
}

/// The JSON Patch that sets a config setting to `value` (or removes it when
/// `value` is `None`), computed from `d` as read and guarded by `test` operations
/// on what it relies on. `None` when the setting already has that value.
pub fn config_patch(
    d: &Deployment,
    setting: &SettingRef,
    value: Option<&str>,
) -> Result<Option<JsonPatch>, DeploymentError> {
    let current = config_value(d, setting)?;
    if current.as_deref() == value {
        return Ok(None);
    }
    let mut ops = Vec::new();
    match setting.target {
        ConfigTarget::Env => {
            let (index, container) = container(d, setting.container.as_deref())?;
            let base = format!("/spec/template/spec/containers/{index}");
            ops.push(test(&format!("{base}/name"), json!(container.name)));
            match env_entry(container, &setting.name) {
                Some((j, entry)) => {
                    let path = format!("{base}/env/{j}");
                    ops.push(test(
                        &path,
                        serde_json::to_value(entry).unwrap_or(Value::Null),
                    ));
                    match value {
                        Some(v) => ops.push(json!({
                            "op": "replace", "path": path,
                            "value": { "name": setting.name, "value": v }
                        })),
                        None => ops.push(json!({ "op": "remove", "path": path })),
                    }
                }
                None => {
                    // Absent, and `value` is Some (equal values returned above).
                    let v = value.unwrap_or_default();
                    ops.extend(resource_version_test(d));
                    let entry = json!({ "name": setting.name, "value": v });
                    if container.env.is_some() {
                        ops.push(
                            json!({ "op": "add", "path": format!("{base}/env/-"), "value": entry }),
                        );
                    } else {
                        ops.push(
                            json!({ "op": "add", "path": format!("{base}/env"), "value": [entry] }),
                        );
                    }
                }
            }
        }
        ConfigTarget::Annotation => {
            let annotations = "/spec/template/metadata/annotations";
            let path = format!("{annotations}/{}", escape(&setting.name));
            match current {
                Some(c) => {
                    ops.push(test(&path, json!(c)));
                    match value {
                        Some(v) => ops.push(json!({ "op": "replace", "path": path, "value": v })),
                        None => ops.push(json!({ "op": "remove", "path": path })),
                    }
                }
                None => {
                    let v = value.unwrap_or_default();
                    ops.extend(resource_version_test(d));
                    let metadata = d.spec.template.metadata.as_ref();
                    let op = match metadata {
                        Some(m) if m.annotations.is_some() => {
                            json!({ "op": "add", "path": path, "value": v })
                        }
                        Some(_) => json!({
                            "op": "add", "path": annotations,
                            "value": { setting.name.clone(): v }
                        }),
                        None => json!({
                            "op": "add", "path": "/spec/template/metadata",
                            "value": { "annotations": { setting.name.clone(): v } }
                        }),
                    };
                    ops.push(op);
                }
            }
        }
    }
    let patch = serde_json::from_value(Value::Array(ops))
        .expect("the operations built above are valid RFC 6902 operations");
    Ok(Some(patch))
}

fn test(path: &str, value: Value) -> Value {
    json!({ "op": "test", "path": path, "value": value })
}

fn resource_version_test(d: &Deployment) -> Option<Value> {
    d.metadata
        .resource_version
        .as_ref()
        .map(|rv| test("/metadata/resourceVersion", json!(rv)))
}

/// Escapes a key for a JSON Pointer (RFC 6901): `~` as `~0`, `/` as `~1`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn container<'a>(
    d: &'a Deployment,
    name: Option<&str>,
) -> Result<(usize, &'a Container), DeploymentError> {
    let deployment = d.metadata.name.clone().unwrap_or_default();
    let containers = d
        .spec
        .template
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    match name {
        None => containers
            .first()
            .map(|c| (0, c))
            .ok_or(DeploymentError::NoContainers { deployment }),
        Some(name) => containers
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .ok_or_else(|| DeploymentError::ContainerNotFound {
                deployment,
                container: name.to_string(),
            }),
    }
}

fn env_entry<'a>(
    c: &'a Container,
    name: &str,
) -> Option<(usize, &'a k8s_openapi::api::core::v1::EnvVar)> {
    c.env
        .as_ref()?
        .iter()
        .enumerate()
        .find(|(_, e)| e.name == name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Deployment as the API server returns it, for tests.
    pub(crate) fn deployment(replicas: i32, template: Value) -> Deployment {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "web", "namespace": "default", "resourceVersion": "7" },
            "spec": {
                "replicas": replicas,
                "selector": { "matchLabels": { "app": "web" } },
                "template": template
            }
        }))
        .unwrap()
    }

    fn two_containers() -> Deployment {
        deployment(
            2,
            json!({
                "metadata": { "labels": { "app": "web" }, "annotations": { "team": "a/b" } },
                "spec": { "containers": [
                    { "name": "sidecar", "image": "envoy" },
                    { "name": "app", "image": "web:1", "env": [
                        { "name": "MODE", "value": "normal" },
                        { "name": "SECRET", "valueFrom": { "secretKeyRef": { "name": "s", "key": "k" } } }
                    ] }
                ] }
            }),
        )
    }

    fn env(name: &str, container: Option<&str>) -> SettingRef {
        SettingRef {
            name: name.into(),
            target: ConfigTarget::Env,
            container: container.map(String::from),
        }
    }

    fn annotation(name: &str) -> SettingRef {
        SettingRef {
            name: name.into(),
            target: ConfigTarget::Annotation,
            container: None,
        }
    }

    fn patch_json(p: Option<JsonPatch>) -> Value {
        serde_json::to_value(p.expect("a patch")).unwrap()
    }

    #[test]
    fn reads_replicas_and_settings() {
        let d = two_containers();
        assert_eq!(replicas(&d), 2);
        assert_eq!(
            config_value(&d, &env("MODE", Some("app"))).unwrap(),
            Some("normal".into())
        );
        assert_eq!(config_value(&d, &env("MODE", None)).unwrap(), None);
        assert_eq!(
            config_value(&d, &annotation("team")).unwrap(),
            Some("a/b".into())
        );
        assert!(matches!(
            config_value(&d, &env("SECRET", Some("app"))),
            Err(DeploymentError::ValueFrom { .. })
        ));
        assert!(matches!(
            config_value(&d, &env("MODE", Some("nope"))),
            Err(DeploymentError::ContainerNotFound { .. })
        ));
        assert_eq!(restarted_at(&d), None);
    }

    #[test]
    fn scale_and_restart_merge_patches() {
        let mut d = deployment(2, json!({}));
        assert_eq!(
            patch_json(Some(scale_patch(&d, 4))),
            json!([
                {"op": "test", "path": "/spec/replicas", "value": 2},
                {"op": "replace", "path": "/spec/replicas", "value": 4}
            ])
        );
        d.spec.replicas = None;
        d.metadata.resource_version = Some("7".into());
        assert_eq!(
            patch_json(Some(scale_patch(&d, 4))),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/spec/replicas", "value": 4}
            ])
        );
        assert_eq!(
            restart_patch(Some("2024-05-01T10:00:00Z")),
            json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"
            }}}}})
        );
        assert_eq!(
            restart_patch(None),
            json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": null
            }}}}})
        );
        // 2024-05-01T10:00:00.750Z, truncated to seconds.
        assert_eq!(
            restarted_at_value(1_714_557_600_750),
            "2024-05-01T10:00:00Z"
        );
    }

    #[test]
    fn replaces_an_existing_env_var_in_the_named_container() {
        let p = config_patch(
            &two_containers(),
            &env("MODE", Some("app")),
            Some("degraded"),
        )
        .unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "app"},
                {"op": "test", "path": "/spec/template/spec/containers/1/env/0",
                 "value": {"name": "MODE", "value": "normal"}},
                {"op": "replace", "path": "/spec/template/spec/containers/1/env/0",
                 "value": {"name": "MODE", "value": "degraded"}}
            ])
        );
    }

    #[test]
    fn removes_an_env_var_to_restore_its_absence() {
        let p = config_patch(&two_containers(), &env("MODE", Some("app")), None).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "app"},
                {"op": "test", "path": "/spec/template/spec/containers/1/env/0",
                 "value": {"name": "MODE", "value": "normal"}},
                {"op": "remove", "path": "/spec/template/spec/containers/1/env/0"}
            ])
        );
    }

    #[test]
    fn adds_an_absent_env_var_guarded_by_resource_version() {
        // The first container has no env list at all.
        let p = config_patch(&two_containers(), &env("RATE", None), Some("100")).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "sidecar"},
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/spec/template/spec/containers/0/env",
                 "value": [{"name": "RATE", "value": "100"}]}
            ])
        );
        // The second has one: append.
        let p = config_patch(&two_containers(), &env("RATE", Some("app")), Some("100")).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "app"},
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/spec/template/spec/containers/1/env/-",
                 "value": {"name": "RATE", "value": "100"}}
            ])
        );
    }

    #[test]
    fn annotation_patches_escape_the_key_and_test_the_old_value() {
        let d = two_containers();
        let p = config_patch(&d, &annotation("team"), Some("c")).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/spec/template/metadata/annotations/team", "value": "a/b"},
                {"op": "replace", "path": "/spec/template/metadata/annotations/team", "value": "c"}
            ])
        );
        let p = config_patch(&d, &annotation("mapek.io/mode"), Some("safe")).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/spec/template/metadata/annotations/mapek.io~1mode", "value": "safe"}
            ])
        );
        let p = config_patch(&d, &annotation("team"), None).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/spec/template/metadata/annotations/team", "value": "a/b"},
                {"op": "remove", "path": "/spec/template/metadata/annotations/team"}
            ])
        );
    }

    #[test]
    fn annotation_added_where_the_template_has_no_annotations() {
        let d = deployment(
            1,
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app"}]}}),
        );
        let p = config_patch(&d, &annotation("mode"), Some("safe")).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/spec/template/metadata/annotations", "value": {"mode": "safe"}}
            ])
        );
        let d = deployment(1, json!({"spec": {"containers": [{"name": "app"}]}}));
        let p = config_patch(&d, &annotation("mode"), Some("safe")).unwrap();
        assert_eq!(
            patch_json(p),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {"mode": "safe"}}}
            ])
        );
    }

    #[test]
    fn no_patch_when_the_setting_already_has_the_value() {
        let d = two_containers();
        assert_eq!(
            config_patch(&d, &env("MODE", Some("app")), Some("normal")).unwrap(),
            None
        );
        assert_eq!(
            config_patch(&d, &env("RATE", Some("app")), None).unwrap(),
            None
        );
        assert!(config_patch(&d, &env("SECRET", Some("app")), Some("x")).is_err());
    }

    #[test]
    fn patches_apply_to_the_state_they_were_computed_from_only() {
        let d = two_containers();
        let p = config_patch(&d, &env("MODE", Some("app")), Some("degraded"))
            .unwrap()
            .unwrap();
        let mut doc = serde_json::to_value(&d).unwrap();
        json_patch::patch(&mut doc, &p).unwrap();
        let patched: Deployment = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(
            config_value(&patched, &env("MODE", Some("app"))).unwrap(),
            Some("degraded".into())
        );
        // Applying it again fails: the tested old value is gone.
        assert!(json_patch::patch(&mut doc, &p).is_err());
    }
}
