//! The review page's two views as pure functions of the objects: the list of
//! plans (pending first) and one plan with its chart, evidence, actions, dry
//! run, risk, expiry and the Approve and Reject forms.

use std::collections::HashMap;
use std::fmt::Write as _;

use kube::ResourceExt;
use mapek_api::{ApprovalState, DryRunResult, RemediationPolicy};
use mapek_engine::model::Millis;

use super::html::{esc, layout, relative, span};
use crate::explain::{describe_action, explain};
use crate::render::{approval, percent};

/// What the list page shows.
pub struct Listing {
    pub plans: Vec<RemediationPolicy>,
    /// The approval TTL (ms) of each readable ViolationPolicy, by `(namespace, name)`.
    pub ttls: HashMap<(String, String), Millis>,
    /// What could not be read, such as a namespace the user may not list.
    pub problems: Vec<String>,
    /// Which namespaces were listed, in words.
    pub scope: String,
    pub now_ms: Millis,
}

/// When a plan was created, ms.
pub fn created_ms(rp: &RemediationPolicy) -> Option<Millis> {
    rp.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond())
}

/// The plans in review order: pending first, then newest first.
pub fn review_order(plans: &mut [RemediationPolicy]) {
    plans.sort_by_key(|rp| {
        (
            approval(rp) != ApprovalState::Pending,
            std::cmp::Reverse(created_ms(rp).unwrap_or(0)),
            rp.namespace(),
            rp.name_any(),
        )
    });
}

/// The expiry cell: when a pending plan expires (creation + the policy's TTL),
/// or its state once decided.
pub fn expiry(rp: &RemediationPolicy, ttl_ms: Option<Millis>, now_ms: Millis) -> String {
    match (approval(rp), created_ms(rp), ttl_ms) {
        (ApprovalState::Pending, Some(c), Some(ttl)) => relative(c + ttl, now_ms),
        (ApprovalState::Pending, _, _) => "unknown (policy not readable)".into(),
        (state, _, _) => format!("{state:?}"),
    }
}

/// The first action in words, such as `SCALE_UP: scale web to 5 replicas`.
pub fn first_action(rp: &RemediationPolicy) -> String {
    rp.spec.plan.actions.first().map_or("(none)".into(), |a| {
        format!("{}: {}", a.action_type, describe_action(a))
    })
}

fn plan_href(rp: &RemediationPolicy) -> String {
    format!(
        "/plans/{}/{}",
        esc(&rp.namespace().unwrap_or_default()),
        esc(&rp.name_any())
    )
}

/// The list page.
pub fn index(l: &Listing) -> String {
    let mut body = format!("<h1>Remediation plans</h1><p>{}</p>", esc(&l.scope));
    for p in &l.problems {
        let _ = write!(body, "<div class=\"note\">{}</div>", esc(p));
    }
    if l.plans.is_empty() {
        body.push_str("<p>No plans.</p>");
        return layout("Plans", &body);
    }
    body.push_str(
        "<table><tr><th>Namespace</th><th>Plan</th><th>State</th><th>Target</th>\
         <th>Root cause</th><th>Risk</th><th>First action</th><th>Age</th><th>Expiry</th></tr>",
    );
    for rp in &l.plans {
        index_row(&mut body, rp, l);
    }
    body.push_str("</table>");
    layout("Plans", &body)
}

fn index_row(body: &mut String, rp: &RemediationPolicy, l: &Listing) {
    let ns = rp.namespace().unwrap_or_default();
    let plan = &rp.spec.plan;
    let state = approval(rp);
    let ttl = l.ttls.get(&(ns.clone(), plan.policy.to_string())).copied();
    let age = created_ms(rp).map_or("?".into(), |c| span(l.now_ms - c));
    let _ = write!(
        body,
        "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td class=\"{}\">{state:?}</td>\
         <td>{}</td><td>{:?} ({})</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&ns),
        plan_href(rp),
        esc(&rp.name_any()),
        if state == ApprovalState::Pending {
            "pending"
        } else {
            ""
        },
        esc(&plan.target),
        plan.root_cause,
        percent(plan.confidence),
        plan.risk,
        esc(&first_action(rp)),
        age,
        esc(&expiry(rp, ttl, l.now_ms)),
    );
}

/// The outcome of an approve or reject, shown on top of the plan page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flash {
    Done(String),
    Refused(String),
}

/// What the plan page shows.
pub struct PlanPage<'a> {
    pub rp: &'a RemediationPolicy,
    /// The chart's SVG, or why there is none.
    pub chart: Result<String, String>,
    /// The policy's approval TTL (ms), when the policy could be read.
    pub ttl_ms: Option<Millis>,
    /// What could not be read (such as the ViolationPolicy).
    pub problems: Vec<String>,
    pub token: &'a str,
    pub flash: Option<Flash>,
    pub now_ms: Millis,
}

/// The plan page.
pub fn plan(p: &PlanPage) -> String {
    let rp = p.rp;
    let name = rp.name_any();
    let mut body = format!(
        "<h1>{} <small>in {}</small></h1>",
        esc(&name),
        esc(&rp.namespace().unwrap_or_default())
    );
    match &p.flash {
        Some(Flash::Done(m)) => {
            let _ = write!(body, "<div class=\"ok\" id=\"result\">{}</div>", esc(m));
        }
        Some(Flash::Refused(m)) => {
            let _ = write!(
                body,
                "<div class=\"refused\" id=\"result\">Refused: {}</div>",
                esc(m)
            );
        }
        None => {}
    }
    for problem in &p.problems {
        let _ = write!(body, "<div class=\"note\">{}</div>", esc(problem));
    }
    summary(&mut body, p);
    decide(&mut body, p);
    chart(&mut body, p);
    causes(&mut body, rp);
    actions(&mut body, rp);
    let _ = write!(
        body,
        "<section><h2>In words (kubectl mapek explain)</h2><pre>{}</pre></section>",
        esc(&explain(rp))
    );
    layout(&name, &body)
}

fn summary(body: &mut String, p: &PlanPage) {
    let rp = p.rp;
    let plan = &rp.spec.plan;
    let status = rp.status.as_ref();
    let _ = write!(
        body,
        "<section><table><tr><th>State</th><td id=\"state\">{:?}{}</td></tr>\
         <tr><th>Target</th><td>Deployment {}</td></tr><tr><th>Policy</th><td>{}</td></tr>\
         <tr><th>Root cause</th><td>{:?} ({})</td></tr>\
         <tr><th>Risk</th><td>{:?} (cost {:.2}, benefit {:.2}, score {:.2}, priority {:?})</td></tr>\
         <tr><th>Age</th><td>{}</td></tr><tr><th>Expiry</th><td>{}</td></tr>\
         <tr><th>Plan hash</th><td><code>{}</code></td></tr></table></section>",
        approval(rp),
        status
            .and_then(|s| s.approved_by.as_ref())
            .map(|b| format!(" by {}", esc(b)))
            .unwrap_or_default(),
        esc(&plan.target),
        esc(&plan.policy),
        plan.root_cause,
        percent(plan.confidence),
        plan.risk,
        plan.cost,
        plan.benefit,
        plan.score,
        plan.priority,
        created_ms(rp).map_or("?".into(), |c| span(p.now_ms - c)),
        esc(&expiry(rp, p.ttl_ms, p.now_ms)),
        esc(&plan.plan_hash),
    );
    let approved = rp.annotations().get(mapek_api::APPROVE_ANNOTATION);
    if approval(rp) == ApprovalState::Pending && approved.is_some() {
        let _ = write!(
            body,
            "<div class=\"ok\">Approval sent (mapek.io/approve={}); the operator has not acted on it yet.</div>",
            esc(approved.map_or("", String::as_str))
        );
    }
    if let Some(m) = status.and_then(|s| s.approval_message.as_ref()) {
        let _ = write!(body, "<div class=\"note\">{}</div>", esc(m));
    }
}

/// The Approve and Reject forms (plain HTML forms; they need no script).
fn decide(body: &mut String, p: &PlanPage) {
    if approval(p.rp) != ApprovalState::Pending {
        return;
    }
    let href = plan_href(p.rp);
    let token = esc(p.token);
    let _ = write!(
        body,
        "<section class=\"actions\"><h2>Decide</h2>\
         <form method=\"post\" action=\"{href}/approve\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <input type=\"hidden\" name=\"hash\" value=\"{hash}\">\
         <button class=\"approve\" id=\"approve\" type=\"submit\">Approve</button></form>\
         <form method=\"post\" action=\"{href}/reject\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <input type=\"text\" name=\"reason\" id=\"reason\" required placeholder=\"why (required)\" \
         maxlength=\"1000\"> <button class=\"reject\" id=\"reject\" type=\"submit\">Reject</button></form>\
         <p><small>As your kubeconfig user; the same annotations as \
         <code>kubectl mapek approve|reject</code>.</small></p></section>",
        hash = esc(&p.rp.spec.plan.plan_hash),
    );
}

const LEGEND: &str = "<p class=\"legend\"><small><span style=\"color:#1f5fbf\">&#9472;</span> the \
metric &middot; <span style=\"color:#c0392b\">- -</span> threshold &middot; \
<span style=\"color:#c0392b\">&#9679;</span> violations &middot; shaded: the breach and its \
episode &middot; <span style=\"color:#8e44ad\">|</span> the rollout change &middot; times in UTC\
</small></p>";

fn chart(body: &mut String, p: &PlanPage) {
    body.push_str("<section><h2>The metric</h2>");
    match &p.chart {
        Ok(svg) => {
            body.push_str(svg);
            body.push_str(LEGEND);
        }
        Err(reason) => {
            let _ = write!(
                body,
                "<div class=\"nodata\">no metric data: {}</div>",
                esc(reason)
            );
        }
    }
    for b in &p.rp.spec.evidence.breaches {
        let _ = write!(
            body,
            "<p>Why now ({}): {}</p>",
            esc(&b.policy),
            esc(&b.reason)
        );
        if let Some(e) = &b.episode {
            let _ = write!(body, "<p>Episode: {}</p>", esc(&e.reason));
        }
        if let Some(c) = &b.change {
            let _ = write!(body, "<p>The change before it: {}</p>", esc(&c.reason));
        }
    }
    body.push_str("</section>");
}

fn causes(body: &mut String, rp: &RemediationPolicy) {
    let causes = &rp.spec.evidence.root_causes;
    if causes.is_empty() {
        return;
    }
    body.push_str("<section><h2>Root causes considered</h2><table>");
    for c in causes {
        let w = (c.confidence.clamp(0.0, 1.0) * 200.0).round();
        let _ = write!(
            body,
            "<tr><td>{:?}</td><td><span class=\"bar\" style=\"width:{w}px\"></span> {}</td><td>{}</td></tr>",
            c.kind,
            percent(c.confidence),
            esc(&c.description)
        );
    }
    body.push_str("</table></section>");
}

fn actions(body: &mut String, rp: &RemediationPolicy) {
    let plan = &rp.spec.plan;
    body.push_str("<section><h2>What it does, in order</h2><table>");
    body.push_str("<tr><th>#</th><th>Action</th><th>What</th><th>Dry run</th></tr>");
    let dry: &[DryRunResult] = rp.status.as_ref().map_or(&[], |s| &s.dry_run);
    for (i, a) in plan.actions.iter().enumerate() {
        let run = dry.iter().find(|r| r.action_id == a.id.as_str());
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{} <small>[{}]</small></td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(a.action_type.as_str()),
            esc(&a.id),
            esc(&describe_action(a)),
            dry_run(run)
        );
    }
    let _ = write!(
        body,
        "</table><p><b>Expected impact and sizing:</b> {}</p></section>",
        esc(&plan.expected_impact)
    );
}

/// One action's dry run: refused with why, or the fields it changes.
fn dry_run(run: Option<&DryRunResult>) -> String {
    match run {
        None => "not run".into(),
        Some(r) if !r.accepted => format!(
            "<span class=\"refused\">refused: {}</span>",
            esc(r.error.as_deref().unwrap_or("no reason given"))
        ),
        Some(r) if r.changes.is_empty() => "accepted; changes nothing".into(),
        Some(r) => r
            .changes
            .iter()
            .map(|c| {
                format!(
                    "<code>{}</code>: <del>{}</del> &rarr; <ins>{}</ins>",
                    esc(&c.field),
                    esc(c.before.as_deref().unwrap_or("(unset)")),
                    esc(c.after.as_deref().unwrap_or("(unset)"))
                )
            })
            .collect::<Vec<_>>()
            .join("<br>"),
    }
}

/// A page that says only `message`, such as a refused request.
pub fn message(title: &str, message: &str) -> String {
    layout(
        title,
        &format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/\">Back to the plans</a></p>",
            esc(title),
            esc(message)
        ),
    )
}

#[cfg(test)]
mod tests;
