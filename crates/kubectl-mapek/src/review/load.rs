//! What the pages read, as the kubeconfig user: the plans and policies of the
//! namespaces in scope (a namespace that refuses is noted, not fatal), one plan
//! with its policy, and the policy's metric from Prometheus for the chart.

use std::collections::HashMap;
use std::fmt::Debug;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::ListParams;
use kube::{Api, Resource, ResourceExt};
use mapek_api::{RemediationPolicy, ViolationPolicy};
use mapek_engine::model::Millis;

use super::chart::{Chart, Mark, Span, svg};
use super::pages::{self, Flash, Listing, PlanPage, review_order};
use super::{Review, Scope, api_message};

/// The chart's default window and step.
const WINDOW_MS: Millis = 3 * 3600 * 1000;
const STEP_S: u32 = 30;
/// The chart never reaches back further than this, whatever the breach.
const MAX_WINDOW_MS: Millis = 24 * 3600 * 1000;

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// The list page's data.
pub async fn listing(s: &Review) -> Listing {
    let (mut plans, problems) = list::<RemediationPolicy>(s).await;
    review_order(&mut plans);
    let (policies, _) = list::<ViolationPolicy>(s).await;
    let ttls: HashMap<(String, String), Millis> = policies
        .iter()
        .map(|p| ((p.namespace().unwrap_or_default(), p.name_any()), ttl_ms(p)))
        .collect();
    let scope = match &s.scope {
        Scope::One(ns) => format!("Namespace {ns}."),
        Scope::All => "All namespaces you can read.".into(),
    };
    Listing {
        plans,
        ttls,
        problems,
        scope,
        now_ms: now_ms(),
    }
}

fn ttl_ms(p: &ViolationPolicy) -> Millis {
    std::time::Duration::from(p.spec.remediation.approval_ttl).as_millis() as Millis
}

/// The objects of kind `K` in scope. Across all namespaces, a cluster-wide
/// list the user may not make falls back to one list per namespace; what is
/// refused is returned as a problem.
async fn list<K>(s: &Review) -> (Vec<K>, Vec<String>)
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    K: Clone + Debug + k8s_openapi::serde::de::DeserializeOwned,
{
    let client = s.plugin.client.clone();
    let one = |ns: &str| Api::<K>::namespaced(client.clone(), ns);
    let kind = K::kind(&());
    let namespaces = match &s.scope {
        Scope::One(ns) => vec![ns.clone()],
        Scope::All => match Api::<K>::all(client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(list) => return (list.items, Vec::new()),
            Err(e) => match namespaces(s).await {
                Ok(names) => names,
                Err(n) => {
                    let m = format!(
                        "cannot list {kind} in all namespaces ({}) nor the namespaces ({n}); showing namespace {}",
                        api_message(&e),
                        s.plugin.namespace
                    );
                    let (items, mut problems) =
                        each(&one, &kind, std::slice::from_ref(&s.plugin.namespace)).await;
                    problems.insert(0, m);
                    return (items, problems);
                }
            },
        },
    };
    each(&one, &kind, &namespaces).await
}

async fn each<K, F>(one: &F, kind: &str, namespaces: &[String]) -> (Vec<K>, Vec<String>)
where
    K: Clone + Debug + k8s_openapi::serde::de::DeserializeOwned,
    F: Fn(&str) -> Api<K>,
{
    let (mut items, mut problems) = (Vec::new(), Vec::new());
    for ns in namespaces {
        match one(ns).list(&ListParams::default()).await {
            Ok(list) => items.extend(list.items),
            Err(e) => problems.push(format!(
                "namespace {ns}: cannot list {kind}: {}",
                api_message(&e)
            )),
        }
    }
    (items, problems)
}

async fn namespaces(s: &Review) -> Result<Vec<String>, String> {
    Api::<Namespace>::all(s.plugin.client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items.iter().map(|n| n.name_any()).collect())
        .map_err(|e| api_message(&e))
}

/// The plan, or the page that says why it cannot be read.
async fn read_plan(
    s: &Review,
    ns: &str,
    name: &str,
) -> Result<RemediationPolicy, (StatusCode, Html<String>)> {
    let api = Api::<RemediationPolicy>::namespaced(s.plugin.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(rp)) => Ok(rp),
        Ok(None) => {
            let m = format!("RemediationPolicy {name} not found in namespace {ns}");
            Err((StatusCode::NOT_FOUND, Html(pages::message("Not found", &m))))
        }
        Err(e) => {
            let code = match &e {
                kube::Error::Api(st) => {
                    StatusCode::from_u16(st.code).unwrap_or(StatusCode::BAD_GATEWAY)
                }
                _ => StatusCode::BAD_GATEWAY,
            };
            Err((
                code,
                Html(pages::message("Cannot read the plan", &api_message(&e))),
            ))
        }
    }
}

/// The plan page (or why it cannot be shown), with `flash` on top.
pub async fn plan_page(
    s: &Review,
    ns: &str,
    name: &str,
    flash: Option<Flash>,
    code: StatusCode,
) -> Response {
    let rp = match read_plan(s, ns, name).await {
        Ok(rp) => rp,
        Err(bad) => return bad.into_response(),
    };
    let mut problems = Vec::new();
    let policy = Api::<ViolationPolicy>::namespaced(s.plugin.client.clone(), ns)
        .get(&rp.spec.plan.policy)
        .await
        .map_err(|e| {
            format!(
                "ViolationPolicy {}: {}",
                rp.spec.plan.policy,
                api_message(&e)
            )
        });
    if let Err(p) = &policy {
        problems.push(p.clone());
    }
    let now = now_ms();
    let chart = match &policy {
        Ok(p) => chart(s, &rp, p, now).await,
        Err(e) => Err(e.clone()),
    };
    let token = s.guard.token();
    let page = PlanPage {
        rp: &rp,
        chart,
        ttl_ms: policy.as_ref().ok().map(ttl_ms),
        problems,
        token,
        flash,
        now_ms: now,
    };
    (code, Html(pages::plan(&page))).into_response()
}

/// The chart of the policy's metric: the last three hours, reaching back to
/// the breach or episode when it began earlier (at most a day).
async fn chart(
    s: &Review,
    rp: &RemediationPolicy,
    p: &ViolationPolicy,
    now: Millis,
) -> Result<String, String> {
    let prometheus = s.prometheus.as_ref().map_err(Clone::clone)?;
    let (spans, marks) = evidence_marks(rp);
    let earliest = spans
        .iter()
        .map(|s| s.from_ms)
        .chain(marks.iter().map(|m| m.at_ms))
        .min();
    let start = earliest
        .map_or(now - WINDOW_MS, |e| (e - 15 * 60_000).min(now - WINDOW_MS))
        .max(now - MAX_WINDOW_MS);
    let step = STEP_S.max(((now - start) / 1000 / 600) as u32);
    let (series, count) = prometheus.range(&p.spec.query, start, now, step).await?;
    let first = if count > 1 {
        format!(", the first of {count} series")
    } else {
        String::new()
    };
    let caption = format!(
        "<p><code>{}</code>{}</p>",
        super::html::esc(&p.spec.query),
        super::html::esc(&first)
    );
    Ok(caption
        + &svg(&Chart {
            series,
            threshold: Some(p.spec.condition.threshold),
            operator: p.spec.condition.operator,
            start_ms: start,
            end_ms: now,
            spans,
            marks,
            title: format!("{} ({}{first})", p.name_any(), p.spec.query),
        }))
}

/// The plan's breaches of its own policy as shaded spans (the episode, the
/// breach's run) and marks (the rollout change before it).
pub fn evidence_marks(rp: &RemediationPolicy) -> (Vec<Span>, Vec<Mark>) {
    let (mut spans, mut marks) = (Vec::new(), Vec::new());
    let policy = rp.spec.plan.policy.as_str();
    for b in rp
        .spec
        .evidence
        .breaches
        .iter()
        .filter(|b| b.policy == policy)
    {
        if let Some(e) = &b.episode {
            spans.push(Span {
                from_ms: e.since_ms,
                to_ms: b.last_at_ms,
                label: "episode".into(),
                colour: "#f39c12",
            });
        }
        if let Some(start) = b.run_start_ms {
            spans.push(Span {
                from_ms: start,
                to_ms: b.last_at_ms,
                label: "breach".into(),
                colour: "#c0392b",
            });
        }
        if let Some(c) = &b.change {
            let label = format!("revision {} of {}", c.change.revision, c.change.target);
            marks.push(Mark {
                at_ms: c.change.at_ms,
                label,
            });
        }
    }
    (spans, marks)
}
