//! The alerts the operator wants Alertmanager to hold, derived from the watch
//! caches of RemediationPolicies and ViolationPolicies alone (pure: no I/O), so
//! that a restarted operator derives the same set and Alertmanager's dedup by
//! label set keeps one alert per plan.
//!
//! - `MapekPlanPending`: a plan waits for approval (the newest open plan of a
//!   Deployment; an older one is superseded). Plans that a policy's
//!   `approvalMode: AutoLowRisk` approves by itself get none.
//! - `MapekExecutionFailed`: an execution failed or was rolled back, for
//!   [`AlertConfig::failed_for_ms`] after it finished.
//! - `MapekRemediationExhausted`: a ViolationPolicy's `Exhausted` condition is
//!   `True` (the analyzer's judgement, read, not made again here).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::words;
use crate::conditions;
use crate::controllers::analyzer::EXHAUSTED;
use mapek_api::{ApprovalState, ExecutionPhase, RemediationPolicy, ViolationPolicy};
use mapek_engine::model::{ApprovalMode, Millis, RiskLevel};

pub const PLAN_PENDING: &str = "MapekPlanPending";
pub const EXECUTION_FAILED: &str = "MapekExecutionFailed";
pub const REMEDIATION_EXHAUSTED: &str = "MapekRemediationExhausted";

/// A label set: Alertmanager's identity of an alert.
pub type Labels = BTreeMap<String, String>;

/// One alert as the operator wants it, before it is timed for sending.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// When what it reports began (the plan's creation, the execution's end,
    /// the condition's transition).
    pub starts_ms: Millis,
    /// The review page, when a template is configured.
    pub generator_url: Option<String>,
}

/// What shapes the alerts beyond the objects.
#[derive(Clone, Debug, Default)]
pub struct AlertConfig {
    /// Added to every alert's labels (a derived label of the same name wins).
    pub extra_labels: Labels,
    /// The review page of a plan, with `{namespace}`, `{plan}`, `{policy}` and
    /// `{target}` replaced.
    pub review_url_template: Option<String>,
    /// How long a failed or rolled-back execution keeps its alert firing.
    pub failed_for_ms: Millis,
}

/// The policies of a namespace by name.
type PolicyIndex<'a> = HashMap<(String, String), &'a ViolationPolicy>;

fn index(policies: &[Arc<ViolationPolicy>]) -> PolicyIndex<'_> {
    policies
        .iter()
        .map(|vp| ((namespace(vp.as_ref()), vp.name_any()), vp.as_ref()))
        .collect()
}

fn namespace<K: kube::Resource>(object: &K) -> String {
    object.meta().namespace.clone().unwrap_or_default()
}

pub fn millis(t: &Time) -> Millis {
    t.0.as_millisecond()
}

/// Every alert that should be firing now.
pub fn desired(
    plans: &[Arc<RemediationPolicy>],
    policies: &[Arc<ViolationPolicy>],
    now_ms: Millis,
    config: &AlertConfig,
) -> Vec<Desired> {
    let by_name = index(policies);
    let mut out: Vec<Desired> = newest_pending(plans, &by_name)
        .into_iter()
        .map(|rp| plan_alert(rp, PLAN_PENDING, by_name_of(&by_name, rp), config))
        .collect();
    for rp in plans {
        if let Some(end) = failed_at(rp)
            && now_ms - end < config.failed_for_ms
        {
            let vp = by_name_of(&by_name, rp);
            out.push(plan_alert(rp, EXECUTION_FAILED, vp, config));
        }
    }
    out.extend(
        policies
            .iter()
            .filter(|vp| exhausted(vp).is_some())
            .map(|vp| exhausted_alert(vp, config)),
    );
    out
}

/// The alerts that may still be firing in Alertmanager from before a restart
/// although nothing wants them now: what ended within `horizon_ms` (the longest
/// an alert lives there without a re-send). A started operator resolves them
/// once; older ones have expired by their `endsAt`.
pub fn recently_ended(
    plans: &[Arc<RemediationPolicy>],
    policies: &[Arc<ViolationPolicy>],
    now_ms: Millis,
    horizon_ms: Millis,
    config: &AlertConfig,
) -> Vec<Desired> {
    let by_name = index(policies);
    let recent = |t: Millis| now_ms - t <= horizon_ms;
    let mut out = Vec::new();
    for rp in plans {
        let vp = by_name_of(&by_name, rp);
        if !waits_for_approval(rp) && recent(last_change(rp)) {
            out.push(plan_alert(rp, PLAN_PENDING, vp, config));
        }
        if let Some(end) = failed_at(rp) {
            let window_end = end + config.failed_for_ms;
            if window_end <= now_ms && recent(window_end) {
                out.push(plan_alert(rp, EXECUTION_FAILED, vp, config));
            }
        }
    }
    for vp in policies {
        let ended = vp
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == EXHAUSTED))
            .filter(|c| c.status != "True")
            .map(|c| millis(&c.last_transition_time));
        if ended.is_some_and(recent) {
            out.push(exhausted_alert(vp, config));
        }
    }
    out
}

fn by_name_of<'a>(
    by_name: &PolicyIndex<'a>,
    rp: &RemediationPolicy,
) -> Option<&'a ViolationPolicy> {
    let key = (namespace(rp), rp.spec.plan.policy.to_string());
    by_name.get(&key).copied()
}

/// Whether a plan waits for a person: Pending, not started, not being deleted.
pub fn waits_for_approval(rp: &RemediationPolicy) -> bool {
    let (approval, phase) = rp
        .status
        .as_ref()
        .map(|s| (s.approval, s.phase))
        .unwrap_or_default();
    approval == ApprovalState::Pending
        && phase == ExecutionPhase::Pending
        && rp.metadata.deletion_timestamp.is_none()
}

/// Whether the plan's policy approves it without a person.
fn auto_approved(rp: &RemediationPolicy, vp: Option<&ViolationPolicy>) -> bool {
    vp.is_some_and(|vp| vp.spec.remediation.approval_mode == ApprovalMode::AutoLowRisk)
        && rp.spec.plan.risk == RiskLevel::Low
}

/// The plans waiting for a person, the newest per Deployment (an older open
/// plan of the same Deployment is superseded).
fn newest_pending<'a>(
    plans: &'a [Arc<RemediationPolicy>],
    by_name: &PolicyIndex<'_>,
) -> Vec<&'a RemediationPolicy> {
    let mut newest: BTreeMap<(String, String), &RemediationPolicy> = BTreeMap::new();
    for rp in plans.iter().map(Arc::as_ref) {
        if !waits_for_approval(rp) || auto_approved(rp, by_name_of(by_name, rp)) {
            continue;
        }
        let key = (namespace(rp), rp.spec.plan.target.to_string());
        let order = |p: &RemediationPolicy| (created(p), p.name_any());
        match newest.get(&key) {
            Some(&current) if order(current) >= order(rp) => {}
            _ => {
                newest.insert(key, rp);
            }
        }
    }
    newest.into_values().collect()
}

fn created(rp: &RemediationPolicy) -> Millis {
    rp.metadata
        .creation_timestamp
        .as_ref()
        .map(millis)
        .unwrap_or(0)
}

/// When a failed or rolled-back execution finished.
fn failed_at(rp: &RemediationPolicy) -> Option<Millis> {
    let status = rp.status.as_ref()?;
    if !matches!(
        status.phase,
        ExecutionPhase::Failed | ExecutionPhase::RolledBack
    ) {
        return None;
    }
    let finished = status
        .execution
        .as_ref()
        .and_then(|e| e.finished_at.as_ref());
    Some(finished.map(millis).unwrap_or_else(|| last_change(rp)))
}

/// The latest time the plan's state is known to have changed.
fn last_change(rp: &RemediationPolicy) -> Millis {
    let mut latest = created(rp);
    if let Some(s) = &rp.status {
        let times = s
            .conditions
            .iter()
            .map(|c| &c.last_transition_time)
            .chain(s.approval_time.as_ref())
            .chain(s.execution.as_ref().and_then(|e| e.finished_at.as_ref()));
        latest = times.map(millis).fold(latest, Millis::max);
    }
    latest
}

/// When the policy's `Exhausted` condition turned `True`, while it is.
fn exhausted(vp: &ViolationPolicy) -> Option<Millis> {
    let conditions = &vp.status.as_ref()?.conditions;
    if !conditions::is_true(conditions, EXHAUSTED) {
        return None;
    }
    conditions
        .iter()
        .find(|c| c.type_ == EXHAUSTED)
        .map(|c| millis(&c.last_transition_time))
}

fn severity(vp: Option<&ViolationPolicy>) -> String {
    let s = vp.map(|vp| vp.spec.severity).unwrap_or_default();
    format!("{s:?}").to_lowercase()
}

fn labels(config: &AlertConfig, own: impl IntoIterator<Item = (&'static str, String)>) -> Labels {
    let mut labels = config.extra_labels.clone();
    labels.extend(own.into_iter().map(|(k, v)| (k.to_string(), v)));
    labels
}

/// The labels of a plan's alert: the same for its firing and its resolution.
pub fn plan_labels(
    rp: &RemediationPolicy,
    alertname: &str,
    vp: Option<&ViolationPolicy>,
    config: &AlertConfig,
) -> Labels {
    let plan = &rp.spec.plan;
    let first_action = plan
        .actions
        .first()
        .map(|a| a.action_type.to_string())
        .unwrap_or_else(|| "none".into());
    labels(
        config,
        [
            ("alertname", alertname.to_string()),
            ("namespace", namespace(rp)),
            ("plan", rp.name_any()),
            ("target", plan.target.to_string()),
            ("policy", plan.policy.to_string()),
            ("root_cause", format!("{:?}", plan.root_cause)),
            ("risk", format!("{:?}", plan.risk)),
            ("first_action", first_action),
            ("severity", severity(vp)),
        ],
    )
}

fn plan_alert(
    rp: &RemediationPolicy,
    alertname: &str,
    vp: Option<&ViolationPolicy>,
    config: &AlertConfig,
) -> Desired {
    let review = review_url(config, &namespace(rp), &rp.name_any(), rp);
    let (annotations, starts_ms) = if alertname == PLAN_PENDING {
        (words::pending(rp, review.as_deref()), created(rp))
    } else {
        let at = failed_at(rp).unwrap_or_else(|| last_change(rp));
        (words::failed(rp, review.as_deref()), at)
    };
    Desired {
        labels: plan_labels(rp, alertname, vp, config),
        annotations,
        starts_ms,
        generator_url: review,
    }
}

fn exhausted_alert(vp: &ViolationPolicy, config: &AlertConfig) -> Desired {
    let episode = vp.status.as_ref().and_then(|s| s.episode.as_ref());
    let last_plan = episode.and_then(|e| e.plans.last()).map(|p| p.name.clone());
    let mut own = vec![
        ("alertname", REMEDIATION_EXHAUSTED.to_string()),
        ("namespace", namespace(vp)),
        ("policy", vp.name_any()),
        ("target", vp.spec.target_ref.name.clone()),
        ("severity", severity(Some(vp))),
    ];
    if let Some(plan) = &last_plan {
        own.push(("plan", plan.clone()));
    }
    let review = match (&config.review_url_template, &last_plan) {
        (Some(t), Some(plan)) => Some(fill(
            t,
            &namespace(vp),
            plan,
            &vp.name_any(),
            &vp.spec.target_ref.name,
        )),
        _ => None,
    };
    Desired {
        labels: labels(config, own),
        annotations: words::exhausted(vp, review.as_deref()),
        starts_ms: exhausted(vp).unwrap_or(0),
        generator_url: review,
    }
}

fn review_url(
    config: &AlertConfig,
    ns: &str,
    plan: &str,
    rp: &RemediationPolicy,
) -> Option<String> {
    let t = config.review_url_template.as_ref()?;
    Some(fill(
        t,
        ns,
        plan,
        &rp.spec.plan.policy,
        &rp.spec.plan.target,
    ))
}

/// The template with its placeholders replaced.
pub fn fill(template: &str, ns: &str, plan: &str, policy: &str, target: &str) -> String {
    template
        .replace("{namespace}", ns)
        .replace("{plan}", plan)
        .replace("{policy}", policy)
        .replace("{target}", target)
}
