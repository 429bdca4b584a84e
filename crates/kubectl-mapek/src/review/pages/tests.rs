//! The pure parts of the pages: review order, expiry, escaping.

use crate::fixtures::{plan, rp};

use super::{Flash, PlanPage, expiry, first_action, plan as plan_page, review_order};

fn at(name: &str, approval: &str, created: &str) -> mapek_api::RemediationPolicy {
    let mut v = plan(name, "shop", Some(approval));
    v["metadata"]["creationTimestamp"] = serde_json::json!(created);
    rp(v)
}

#[test]
fn pending_plans_come_first_then_the_newest() {
    let mut plans = vec![
        at("old-approved", "Approved", "2026-01-01T10:00:00Z"),
        at("old-pending", "Pending", "2026-01-01T09:00:00Z"),
        at("new-rejected", "Rejected", "2026-01-01T12:00:00Z"),
        at("new-pending", "Pending", "2026-01-01T11:00:00Z"),
    ];
    review_order(&mut plans);
    let names: Vec<String> = plans.iter().map(kube::ResourceExt::name_any).collect();
    assert_eq!(
        names,
        ["new-pending", "old-pending", "new-rejected", "old-approved"]
    );
}

#[test]
fn expiry_is_creation_plus_the_policys_ttl() {
    let p = at("p", "Pending", "2026-01-01T10:00:00Z");
    let created = 1_767_261_600_000;
    assert_eq!(expiry(&p, Some(3_600_000), created + 600_000), "in 50m00s");
    assert_eq!(expiry(&p, Some(60_000), created + 600_000), "9m00s ago");
    assert_eq!(expiry(&p, None, created), "unknown (policy not readable)");
    let done = at("d", "Approved", "2026-01-01T10:00:00Z");
    assert_eq!(expiry(&done, Some(1), created), "Approved");
    assert!(first_action(&p).starts_with("SCALE_UP: "));
}

#[test]
fn the_plan_page_escapes_what_it_shows_and_hides_the_forms_once_decided() {
    let mut v = plan("p", "shop", Some("Pending"));
    v["spec"]["expectedImpact"] = serde_json::json!("<script>alert(1)</script>");
    let p = rp(v);
    let page = plan_page(&PlanPage {
        rp: &p,
        chart: Err("Prometheus <down>".into()),
        ttl_ms: None,
        problems: vec!["policy \"x\" <gone>".into()],
        token: "t\"k",
        flash: Some(Flash::Refused("denied <because>".into())),
        now_ms: 0,
    });
    assert!(!page.contains("<script>") && page.contains("&lt;script&gt;alert(1)"));
    assert!(page.contains("no metric data: Prometheus &lt;down&gt;"));
    assert!(page.contains("value=\"t&quot;k\""));
    assert!(page.contains("Refused: denied &lt;because&gt;"));
    let decided = rp(plan("p", "shop", Some("Rejected")));
    let page = plan_page(&PlanPage {
        rp: &decided,
        chart: Ok(String::new()),
        ttl_ms: None,
        problems: vec![],
        token: "t",
        flash: None,
        now_ms: 0,
    });
    assert!(!page.contains("id=\"approve\"") && !page.contains("<form"));
}
