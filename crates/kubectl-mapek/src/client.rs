//! The API calls: [`Plugin`] connects with the kubeconfig, reads the plans and
//! outcomes, and writes the approve and reject annotations. The text it returns
//! is made by the pure functions of [`crate::render`] and [`mod@crate::explain`].

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, ResourceExt};

use mapek_api::{
    APPROVE_ANNOTATION, APPROVED_BY_ANNOTATION, ApprovalState, PolicyOutcome, REJECT_ANNOTATION,
    RemediationPolicy, ViolationPolicy,
};
use mapek_engine::knowledge::KnowledgeBase;

use crate::cli::{Cli, Command};
use crate::error::PluginError;
use crate::explain::{explain, explain_policy};
use crate::render::{approval, format_insights, format_plans};
use crate::review::ReviewOptions;

/// The plugin's API calls, in one namespace (or all, for listing).
#[derive(Clone)]
pub struct Plugin {
    pub client: Client,
    pub namespace: String,
}

/// The policy `explain` is asked about (`policy/NAME`, `vp/NAME`,
/// `violationpolicy/NAME`), if it is one.
fn policy_name(arg: &str) -> Option<&str> {
    let (kind, name) = arg.split_once('/')?;
    matches!(
        kind.to_ascii_lowercase().as_str(),
        "policy" | "vp" | "violationpolicy" | "violationpolicies"
    )
    .then_some(name)
}

impl Plugin {
    /// Connects with the kubeconfig (`--kubeconfig`, else `$KUBECONFIG` or
    /// `~/.kube/config`) and context; the namespace is `-n`, else the context's.
    pub async fn connect(cli: &Cli) -> Result<Plugin, PluginError> {
        let options = KubeConfigOptions {
            context: cli.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &cli.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| PluginError::Config(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None => kube::Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| PluginError::Config(e.to_string()))?;
        let namespace = cli
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config)?;
        Ok(Plugin { client, namespace })
    }

    /// The same client in namespace `ns`.
    pub fn in_namespace(&self, ns: &str) -> Plugin {
        Plugin {
            client: self.client.clone(),
            namespace: ns.to_string(),
        }
    }

    fn plans(&self) -> Api<RemediationPolicy> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Runs one command and returns what to print.
    pub async fn run(&self, command: &Command) -> Result<String, PluginError> {
        match command {
            Command::Plans { all_namespaces } => {
                let api: Api<RemediationPolicy> = if *all_namespaces {
                    Api::all(self.client.clone())
                } else {
                    self.plans()
                };
                let list = api.list(&ListParams::default()).await?;
                let scope = if *all_namespaces {
                    None
                } else {
                    Some(self.namespace.as_str())
                };
                Ok(format_plans(&list.items, scope))
            }
            Command::Explain { plan } => match policy_name(plan) {
                Some(name) => {
                    let api: Api<ViolationPolicy> =
                        Api::namespaced(self.client.clone(), &self.namespace);
                    let vp = api
                        .get_opt(name)
                        .await?
                        .ok_or_else(|| PluginError::NotFound {
                            name: name.to_string(),
                            namespace: self.namespace.clone(),
                        })?;
                    Ok(explain_policy(&vp))
                }
                None => Ok(explain(&self.get(plan).await?)),
            },
            Command::Approve { plan } => self.approve(plan).await,
            Command::Reject { plan, reason } => self.reject(plan, reason).await,
            Command::Review { .. } => {
                let options = ReviewOptions::of(command, &self.namespace)
                    .expect("a review command has review options");
                crate::review::serve(options, self.clone()).await
            }
            Command::Insights { all_namespaces } => {
                let api: Api<PolicyOutcome> = if *all_namespaces {
                    Api::all(self.client.clone())
                } else {
                    Api::namespaced(self.client.clone(), &self.namespace)
                };
                let outcomes = api.list(&ListParams::default()).await?;
                let kb =
                    KnowledgeBase::from_outcomes(outcomes.items.iter().map(|o| &o.spec.outcome));
                Ok(format_insights(
                    &kb.generate_insights(),
                    outcomes.items.len(),
                ))
            }
        }
    }

    async fn get(&self, name: &str) -> Result<RemediationPolicy, PluginError> {
        self.plans()
            .get_opt(name)
            .await?
            .ok_or_else(|| PluginError::NotFound {
                name: name.to_string(),
                namespace: self.namespace.clone(),
            })
    }

    /// Reads the plan and writes `mapek.io/approve=<its current plan hash>` and
    /// `mapek.io/approved-by=<your user name>` (from a SelfSubjectReview: the
    /// name the API server knows you by, which its approvers policy checks).
    pub async fn approve(&self, name: &str) -> Result<String, PluginError> {
        self.approve_seen(name, None).await
    }

    /// [`Plugin::approve`], refused when the plan's hash is no longer `seen`
    /// (the hash the reviewer was shown: the plan changed since).
    pub async fn approve_seen(
        &self,
        name: &str,
        seen: Option<&str>,
    ) -> Result<String, PluginError> {
        let rp = self.get(name).await?;
        check_pending(&rp, "approved")?;
        let hash = rp.spec.plan.plan_hash.clone();
        if hash.is_empty() {
            return Err(PluginError::NoHash { name: name.into() });
        }
        if let Some(seen) = seen.filter(|s| *s != hash) {
            return Err(PluginError::Stale {
                name: name.into(),
                seen: seen.into(),
                hash,
            });
        }
        let me = self.user_name().await?;
        let mut annotations = serde_json::Map::new();
        annotations.insert(APPROVE_ANNOTATION.into(), hash.clone().into());
        if let Some(me) = &me {
            annotations.insert(APPROVED_BY_ANNOTATION.into(), me.clone().into());
        }
        let patch = serde_json::json!({ "metadata": { "annotations": annotations } });
        self.plans()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let by = me.map(|m| format!(" by {m}")).unwrap_or_default();
        Ok(format!(
            "RemediationPolicy {name} approved{by} (plan hash {hash}); the operator executes it on Deployment {}.\n",
            rp.spec.plan.target
        ))
    }

    /// The user name the API server knows this client by (a SelfSubjectReview,
    /// served since Kubernetes 1.28); `None` where the API is not served.
    async fn user_name(&self) -> Result<Option<String>, PluginError> {
        let reviews: Api<SelfSubjectReview> = Api::all(self.client.clone());
        match reviews
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
        {
            Ok(review) => Ok(review
                .status
                .and_then(|s| s.user_info)
                .and_then(|u| u.username)),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `mapek.io/reject=<reason>` on a pending plan.
    pub async fn reject(&self, name: &str, reason: &str) -> Result<String, PluginError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(PluginError::EmptyReason);
        }
        let rp = self.get(name).await?;
        check_pending(&rp, "rejected")?;
        self.annotate(name, REJECT_ANNOTATION, reason).await?;
        Ok(format!("RemediationPolicy {name} rejected: {reason}\n"))
    }

    /// A JSON merge patch of exactly one annotation.
    async fn annotate(&self, name: &str, key: &str, value: &str) -> Result<(), PluginError> {
        let patch = serde_json::json!({ "metadata": { "annotations": { key: value } } });
        self.plans()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}

fn check_pending(rp: &RemediationPolicy, verb: &'static str) -> Result<(), PluginError> {
    match approval(rp) {
        ApprovalState::Pending => Ok(()),
        state => Err(PluginError::NotPending {
            name: rp.name_any(),
            state: format!("{state:?}"),
            verb,
        }),
    }
}

#[cfg(test)]
mod tests;
