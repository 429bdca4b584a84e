//! Whether a GitOps tool manages a Deployment, read from the labels and
//! annotations each tool puts on what it applies:
//!
//! - Argo CD: the annotation `argocd.argoproj.io/tracking-id`
//!   (`APP:GROUP/KIND:NAMESPACE/NAME`, annotation tracking, the default since
//!   Argo CD 3.0), or the label `argocd.argoproj.io/instance` (the label most
//!   installations that track by label set in `application.instanceLabelKey`).
//!   Argo CD's older default label, `app.kubernetes.io/instance`, is not read:
//!   Helm charts set it too, so it does not say that Argo CD syncs the object.
//! - Flux: the labels `kustomize.toolkit.fluxcd.io/name` and `.../namespace` (a
//!   Kustomization applied it) or `helm.toolkit.fluxcd.io/name` and
//!   `.../namespace` (a HelmRelease did).
//!
//! A tool's next sync may undo what the operator changed in fields its manifests
//! set. The policy chooses ([`GitOpsMode`]): `Refuse` (no plan), `Warn` (the
//! default: the plan carries the mark and says so) or `Allow` (marked only).

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use mapek_api::{GitOpsMark, GitOpsMode, GitOpsTool};

pub const ARGOCD_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
pub const ARGOCD_INSTANCE: &str = "argocd.argoproj.io/instance";
const FLUX_KUSTOMIZATION: (&str, &str) = (
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
);
const FLUX_HELM_RELEASE: (&str, &str) = (
    "helm.toolkit.fluxcd.io/name",
    "helm.toolkit.fluxcd.io/namespace",
);

/// The tool that manages `d`, the object it is managed by and the label or
/// annotation that says so; `None` when no tool's marks are on it.
pub fn manager(d: &Deployment) -> Option<(GitOpsTool, String, String)> {
    let (labels, annotations) = (d.labels(), d.annotations());
    if let Some(id) = annotations.get(ARGOCD_TRACKING_ID) {
        let app = id.split(':').next().unwrap_or(id);
        return Some((
            GitOpsTool::ArgoCd,
            format!("Application {app}"),
            format!("annotation {ARGOCD_TRACKING_ID}={id}"),
        ));
    }
    if let Some(app) = labels.get(ARGOCD_INSTANCE) {
        return Some((
            GitOpsTool::ArgoCd,
            format!("Application {app}"),
            format!("label {ARGOCD_INSTANCE}={app}"),
        ));
    }
    for ((name_key, ns_key), kind) in [
        (FLUX_KUSTOMIZATION, "Kustomization"),
        (FLUX_HELM_RELEASE, "HelmRelease"),
    ] {
        if let Some(name) = labels.get(name_key) {
            let owner = match labels.get(ns_key) {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            };
            return Some((GitOpsTool::Flux, owner, format!("label {name_key}={name}")));
        }
    }
    None
}

/// What a plan for `d` carries under the policy's `mode`: `Ok(None)` when no
/// tool manages it, `Ok(Some(mark))` to propose the plan with the mark, and
/// `Err(reason)` when the policy refuses to plan for a managed Deployment.
pub fn mark(d: &Deployment, mode: GitOpsMode) -> Result<Option<GitOpsMark>, String> {
    let Some((tool, owner, evidence)) = manager(d) else {
        return Ok(None);
    };
    let tool_name = match tool {
        GitOpsTool::ArgoCd => "Argo CD",
        GitOpsTool::Flux => "Flux",
    };
    let message = match mode {
        GitOpsMode::Refuse => {
            return Err(format!(
                "Deployment {} is managed by {tool_name} ({owner}; {evidence}) and the policy's \
                 gitOps is Refuse: no plan",
                d.name_any()
            ));
        }
        GitOpsMode::Warn => format!(
            "Deployment {} is managed by {tool_name} ({owner}): its next sync may undo this \
             plan's change unless it leaves the mapek-operator field manager's changes alone \
             (see the README), or the change is also made in Git",
            d.name_any()
        ),
        GitOpsMode::Allow => format!(
            "Deployment {} is managed by {tool_name} ({owner}); the policy allows plans for it",
            d.name_any()
        ),
    };
    Ok(Some(GitOpsMark {
        tool,
        owner,
        evidence,
        mode,
        message,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(labels: serde_json::Value, annotations: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "labels": labels, "annotations": annotations},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}}}
        }))
        .unwrap()
    }

    #[test]
    fn each_tools_marks_are_read_and_helms_label_is_not() {
        let argo_annotation = deployment(
            json!({}),
            json!({ARGOCD_TRACKING_ID: "shop-prod:apps/Deployment:shop/web"}),
        );
        let (tool, owner, evidence) = manager(&argo_annotation).unwrap();
        assert_eq!(tool, GitOpsTool::ArgoCd);
        assert_eq!(owner, "Application shop-prod");
        assert!(evidence.starts_with("annotation argocd.argoproj.io/tracking-id="));

        let argo_label = deployment(json!({ARGOCD_INSTANCE: "shop-prod"}), json!({}));
        assert_eq!(
            manager(&argo_label).map(|m| m.1),
            Some("Application shop-prod".into())
        );

        let flux = deployment(
            json!({"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
            json!({}),
        );
        assert_eq!(
            manager(&flux).map(|m| (m.0, m.1)),
            Some((GitOpsTool::Flux, "Kustomization flux-system/apps".into()))
        );
        let helm_release = deployment(json!({"helm.toolkit.fluxcd.io/name": "web"}), json!({}));
        assert_eq!(
            manager(&helm_release).map(|m| m.1),
            Some("HelmRelease web".into())
        );

        // What Helm (and Argo CD's old default) sets says nothing of a sync.
        let helm = deployment(
            json!({"app.kubernetes.io/instance": "web", "app.kubernetes.io/managed-by": "Helm"}),
            json!({}),
        );
        assert_eq!(manager(&helm), None);
    }

    #[test]
    fn the_policy_refuses_warns_or_allows() {
        let managed = deployment(json!({ARGOCD_INSTANCE: "shop-prod"}), json!({}));
        let refused = mark(&managed, GitOpsMode::Refuse).unwrap_err();
        assert!(
            refused.contains("managed by Argo CD (Application shop-prod"),
            "{refused}"
        );
        assert!(refused.contains("gitOps is Refuse"), "{refused}");
        let warned = mark(&managed, GitOpsMode::Warn).unwrap().unwrap();
        assert_eq!(warned.mode, GitOpsMode::Warn);
        assert!(
            warned.message.contains("next sync may undo"),
            "{}",
            warned.message
        );
        let allowed = mark(&managed, GitOpsMode::Allow).unwrap().unwrap();
        assert_eq!(allowed.mode, GitOpsMode::Allow);
        let plain = deployment(json!({}), json!({}));
        for mode in [GitOpsMode::Refuse, GitOpsMode::Warn, GitOpsMode::Allow] {
            assert_eq!(mark(&plain, mode), Ok(None));
        }
    }
}
