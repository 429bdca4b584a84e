//! The Kubernetes permissions the operator needs, in one place: every API call the
//! controllers make, as (API group, resource, verbs). The Helm chart's ClusterRole,
//! its namespaced Role variant and `mapek-operator rbac` all come from, or are
//! checked against, [`RULES`] (`tests/chart.rs` renders the chart with the real
//! Helm engine and compares the rules exactly).
//!
//! Audit of the calls behind each rule (update this list with the code):
//! - `apps/deployments` get, list, watch, patch: the analyzer reads the target
//!   Deployment from a watch cache (`controllers/caches.rs`: list, watch; `get_opt`
//!   only until the cache holds its first list); the executor reads it (`get_opt`,
//!   and a fresh `get` before each scale or config JSON Patch) and patches it (merge
//!   patch of the restart annotation, RFC 6902 patches of `spec.replicas`, env
//!   vars and annotations, guarded by `test` operations). The `scale` subresource
//!   is not used: its patches cannot be guarded by the replica count they replace.
//! - `apps/replicasets` list, watch: a Deployment's rollout history, from the
//!   watch cache of `controllers/caches.rs` (list, watch; until it holds its
//!   first list, listed by the Deployment's selector, `controllers/revisions.rs`):
//!   the analyzer reads it for the Deployments it may plan for (the change
//!   before a breach), the executor for a `ROLLBACK_REVISION` (the earlier
//!   revision's template). ReplicaSets are never written.
//! - `autoscaling/horizontalpodautoscalers` get, list, patch, watch: a scale
//!   action on a Deployment an `autoscaling/v2` HPA targets goes through the HPA
//!   (`controllers/hpa.rs`), read from the watch cache of `controllers/caches.rs`
//!   (list, watch; listed until it holds its first list): the analyzer reads a
//!   namespace's HPAs when a candidate policy allows scaling; the executor while a plan's
//!   scale action may be written ahead, applied or undone, patches the HPA's
//!   `minReplicas` (RFC 6902, guarded by a `test` of the value it replaces)
//!   and reads it again (`get`) after a conflict. `spec.replicas` of such a
//!   Deployment is never patched.
//! - `mapek.io/violationpolicies` get, list, watch: the reflector in `run.rs` (list,
//!   watch); the executor reads a plan's policy (`get_opt`); the analyzer reads a
//!   policy again after a conflict on its `Exhausted` condition.
//! - `mapek.io/violationpolicies/status` patch: the monitor's status merge patch,
//!   and the analyzer's (`status.episode` and the `Exhausted` condition).
//! - `mapek.io/remediationpolicies` create, list, watch: the analyzer creates plans;
//!   the reflector in `run.rs` and the executor's `Controller` list and watch; the
//!   executor lists plans to find another execution on the same target. No single
//!   plan is read with GET.
//! - `mapek.io/remediationpolicies/status` patch: the analyzer (initial status) and
//!   the executor (approval and execution record).
//! - `mapek.io/policyoutcomes` create, get, list: the knowledge controller lists them
//!   at start-up, checks whether one exists (`get_opt`) and creates it. They are not
//!   watched and their status is not written.
//! - `events.k8s.io/events` create, patch: kube's `Recorder` creates an Event and
//!   patches it when the same event repeats (a series).
//! - `coordination.k8s.io/leases` create, get, update: leader election
//!   (`leader.rs`: `get_opt`, `create`, `replace`), only in the Lease's namespace.

use std::fmt;

/// Where a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The watched namespaces: a ClusterRole when the operator watches every
    /// namespace, a Role in the watched namespace otherwise.
    Watched,
    /// Only the namespace of the leader-election Lease (the release namespace), and
    /// only when leader election is on.
    LeaderElection,
}

/// One RBAC policy rule: one resource of one API group and the verbs used on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The API group; `""` is the core group.
    pub api_group: &'static str,
    /// The resource, with `/subresource` where one is used.
    pub resource: &'static str,
    /// The verbs, sorted.
    pub verbs: &'static [&'static str],
    pub scope: Scope,
}

/// Every permission the operator uses (see the module documentation for the calls).
pub const RULES: &[Rule] = &[
    Rule {
        api_group: "apps",
        resource: "deployments",
        verbs: &["get", "list", "patch", "watch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "apps",
        resource: "replicasets",
        verbs: &["list", "watch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "autoscaling",
        resource: "horizontalpodautoscalers",
        verbs: &["get", "list", "patch", "watch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "mapek.io",
        resource: "violationpolicies",
        verbs: &["get", "list", "watch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "mapek.io",
        resource: "violationpolicies/status",
        verbs: &["patch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "mapek.io",
        resource: "remediationpolicies",
        verbs: &["create", "list", "watch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "mapek.io",
        resource: "remediationpolicies/status",
        verbs: &["patch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "mapek.io",
        resource: "policyoutcomes",
        verbs: &["create", "get", "list"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        scope: Scope::Watched,
    },
    Rule {
        api_group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["create", "get", "update"],
        scope: Scope::LeaderElection,
    },
];

/// The rules of one scope, in [`RULES`] order.
pub fn rules_for(scope: Scope) -> impl Iterator<Item = &'static Rule> {
    RULES.iter().filter(move |r| r.scope == scope)
}

/// A rule as a `rbac.authorization.k8s.io/v1` PolicyRule.
pub fn policy_rule(rule: &Rule) -> k8s_openapi::api::rbac::v1::PolicyRule {
    k8s_openapi::api::rbac::v1::PolicyRule {
        api_groups: Some(vec![rule.api_group.to_string()]),
        resources: Some(vec![rule.resource.to_string()]),
        verbs: rule.verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    }
}

/// The rules as the YAML that `mapek-operator rbac` prints: a ClusterRole with the
/// watched rules and a Role (in `lease_namespace`) for leader election.
pub fn manifests(name: &str, lease_namespace: &str) -> String {
    use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let cluster_role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        rules: Some(rules_for(Scope::Watched).map(policy_rule).collect()),
        ..Default::default()
    };
    let role = Role {
        metadata: ObjectMeta {
            name: Some(format!("{name}-leader-election")),
            namespace: Some(lease_namespace.to_string()),
            ..Default::default()
        },
        rules: Some(rules_for(Scope::LeaderElection).map(policy_rule).collect()),
    };
    format!(
        "---\n{}---\n{}",
        serde_saphyr::to_string(&with_type_meta(&cluster_role, "ClusterRole"))
            .expect("a ClusterRole serializes"),
        serde_saphyr::to_string(&with_type_meta(&role, "Role")).expect("a Role serializes")
    )
}

/// Serializes a k8s-openapi object with its `apiVersion` and `kind` first.
fn with_type_meta(object: &impl serde::Serialize, kind: &str) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert(
        "apiVersion".into(),
        "rbac.authorization.k8s.io/v1".to_string().into(),
    );
    out.insert("kind".into(), kind.to_string().into());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(object) {
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
    }
    serde_json::Value::Object(out)
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            self.api_group
        };
        write!(f, "{group}/{}: {}", self.resource, self.verbs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_explicit_sorted_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in RULES {
            assert!(
                !rule.resource.contains('*') && !rule.api_group.contains('*'),
                "{rule}"
            );
            assert!(!rule.verbs.contains(&"*"), "{rule}");
            let mut sorted = rule.verbs.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted, rule.verbs, "verbs of {rule} must be sorted, unique");
            assert!(
                seen.insert((rule.api_group, rule.resource)),
                "{rule} is listed twice"
            );
        }
    }

    #[test]
    fn leases_are_the_only_leader_election_rule() {
        let leader: Vec<String> = rules_for(Scope::LeaderElection)
            .map(|r| r.to_string())
            .collect();
        assert_eq!(leader, ["coordination.k8s.io/leases: create,get,update"]);
    }

    #[test]
    fn the_printed_manifests_carry_every_rule() {
        let yaml = manifests("mapek-operator", "mapek-system");
        assert!(yaml.contains("kind: ClusterRole\n"), "{yaml}");
        assert!(yaml.contains("kind: Role\n"), "{yaml}");
        assert!(yaml.contains("namespace: mapek-system"), "{yaml}");
        for rule in RULES {
            assert!(yaml.contains(rule.resource), "{rule} missing in\n{yaml}");
        }
        assert_eq!(yaml.matches("- patch").count(), 5, "{yaml}");
    }
}
