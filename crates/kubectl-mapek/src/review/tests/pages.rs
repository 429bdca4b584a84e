//! Routing through the router: the list, the plan page, the guards, approve
//! and reject as the plugin makes them, refusals shown.

use axum::http::StatusCode;

use super::super::Scope;
use super::*;

const PLAN: &str = "/plans/shop/fix-web";

#[tokio::test]
async fn the_list_shows_pending_plans_first_with_their_columns() {
    let (client, _) = scripted(cluster);
    let (code, page) = send(
        review(client, Scope::One("shop".into()), "127.0.0.1:8090"),
        get("/"),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (pending, approved) = (page.find("fix-web").unwrap(), page.find("old-fix").unwrap());
    assert!(pending < approved, "pending first");
    assert!(page.contains("href=\"/plans/shop/fix-web\""));
    for cell in ["LoadSpike (82%)", "Medium", "SCALE_UP:", "20m00s"] {
        assert!(page.contains(cell), "{cell} in {page}");
    }
    assert!(
        page.contains("in 39m5") || page.contains("in 40m00s"),
        "expiry in {page}"
    );
}

#[tokio::test]
async fn a_namespace_that_refuses_is_shown_not_fatal() {
    let (client, _) = scripted(|method, path| match path {
        "/apis/mapek.io/v1alpha1/remediationpolicies"
        | "/apis/mapek.io/v1alpha1/violationpolicies" => {
            status(403, "cannot list at the cluster scope")
        }
        "/api/v1/namespaces" => (
            200,
            serde_json::json!({ "apiVersion": "v1", "kind": "NamespaceList",
            "metadata": {}, "items": [{ "metadata": { "name": "shop" } }, { "metadata": { "name": "kube-system" } }] }),
        ),
        p if p.starts_with("/apis/mapek.io/v1alpha1/namespaces/kube-system/") => status(
            403,
            "remediationpolicies is forbidden: User \"alice\" cannot list",
        ),
        _ => cluster(method, path),
    });
    let (code, page) = send(review(client, Scope::All, "127.0.0.1:8090"), get("/")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        page.contains("namespace kube-system: cannot list RemediationPolicy"),
        "{page}"
    );
    assert!(page.contains("User &quot;alice&quot; cannot list"));
    assert!(page.contains("fix-web"));
}

#[tokio::test]
async fn the_plan_page_has_the_chart_the_evidence_and_the_forms() {
    let (client, log) = scripted(cluster);
    let (code, page) = send(
        review(client, Scope::One("shop".into()), "127.0.0.1:8090"),
        get(PLAN),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{page}");
    for part in [
        "<svg",
        "class=\"threshold\"",
        "class=\"violation\"",
        "class=\"span\"",
        "revision 4 of web",
        "LoadSpike",
        "ComponentFault",
        "latency back under 0.5 s",
        "spec.replicas",
        "<del>2</del> &rarr; <ins>5</ins>",
        "id=\"approve\"",
        "name=\"reason\"",
        "value=\"0123456789abcdef\"",
        "value=\"9f3c2a7b\"",
        "kubectl mapek explain",
        "<code>histogram_quantile(0.99, rate(web_latency_bucket[1m]))</code>",
    ] {
        assert!(page.contains(part), "{part} in {page}");
    }
    // Created 20 minutes ago under a 1 h TTL (a second may have passed).
    let expiry = ["<th>Expiry</th><td>in 39m5", "<th>Expiry</th><td>in 40m00s"];
    assert!(expiry.iter().any(|e| page.contains(e)), "{page}");
    let query = log
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.uri.starts_with(PROXY))
        .unwrap()
        .uri
        .clone();
    assert!(query.contains("query=histogram_quantile%280.99"), "{query}");
    assert!(query.contains("step=30"), "{query}");
}

#[tokio::test]
async fn without_prometheus_the_page_says_why_there_is_no_chart() {
    let (client, _) = scripted(|method, path| match path {
        PROXY => status(
            503,
            "no endpoints available for service \"prometheus-operated\"",
        ),
        _ => cluster(method, path),
    });
    let (code, page) = send(
        review(client, Scope::One("shop".into()), "127.0.0.1:8090"),
        get(PLAN),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        page.contains("no metric data: Prometheus service monitoring/prometheus-operated:9090"),
        "{page}"
    );
    assert!(page.contains("no endpoints available"));
    assert!(!page.contains("<svg"));
    assert!(page.contains("id=\"approve\""));
}

#[tokio::test]
async fn another_host_is_refused() {
    let (client, log) = scripted(cluster);
    let request = Request::get("/")
        .header("host", "evil.example:8090")
        .body(Body::empty())
        .unwrap();
    let (code, page) = send(
        review(client, Scope::One("shop".into()), "127.0.0.1:8090"),
        request,
    )
    .await;
    assert_eq!(code, StatusCode::MISDIRECTED_REQUEST);
    assert!(page.contains("Host header"));
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn approve_needs_the_token_and_this_origin() {
    let (client, log) = scripted(cluster);
    let state = review(client, Scope::One("shop".into()), "127.0.0.1:8090");
    let approve = format!("{PLAN}/approve");
    let (code, page) = send(state.clone(), post(&approve, "hash=9f3c2a7b", None)).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(page.contains("CSRF token"));
    let form = format!("csrf={TOKEN}&hash=9f3c2a7b");
    let (code, _) = send(
        state.clone(),
        post(&approve, &form, Some("http://evil.example")),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(
        patches(&log).is_empty(),
        "nothing written without the guard's consent"
    );
    let (code, page) = send(state, post(&approve, &form, Some("http://127.0.0.1:8090"))).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    assert!(
        page.contains("approved by alice (plan hash 9f3c2a7b)"),
        "{page}"
    );
    let p = patches(&log);
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].body["metadata"]["annotations"]["mapek.io/approve"],
        "9f3c2a7b"
    );
    assert_eq!(
        p[0].body["metadata"]["annotations"]["mapek.io/approved-by"],
        "alice"
    );
}

#[tokio::test]
async fn a_plan_that_changed_since_it_was_shown_is_not_approved() {
    let (client, log) = scripted(cluster);
    let state = review(client, Scope::One("shop".into()), "127.0.0.1:8090");
    let form = format!("csrf={TOKEN}&hash=0000");
    let (code, page) = send(state, post(&format!("{PLAN}/approve"), &form, None)).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(page.contains("changed since you read it"), "{page}");
    assert!(patches(&log).is_empty());
}

#[tokio::test]
async fn the_admission_policys_refusal_is_shown_on_the_page() {
    let refusal =
        "ValidatingAdmissionPolicy 'mapek-approvers' denied request: bob is not an approver";
    let (client, _) = scripted(move |method, path| match method {
        "PATCH" => status(403, refusal),
        _ => cluster(method, path),
    });
    let state = review(client, Scope::One("shop".into()), "127.0.0.1:8090");
    let form = format!("csrf={TOKEN}&hash=9f3c2a7b");
    let (code, page) = send(state, post(&format!("{PLAN}/approve"), &form, None)).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(page.contains("class=\"refused\" id=\"result\""), "{page}");
    assert!(page.contains("bob is not an approver"), "{page}");
}

#[tokio::test]
async fn reject_writes_the_reason_and_needs_one() {
    let (client, log) = scripted(cluster);
    let state = review(client, Scope::One("shop".into()), "127.0.0.1:8090");
    let reject = format!("{PLAN}/reject");
    let (code, page) = send(
        state.clone(),
        post(&reject, &format!("csrf={TOKEN}&reason=+"), None),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(page.contains("needs a reason"));
    assert!(patches(&log).is_empty());
    let form = format!("csrf={TOKEN}&reason=capacity+freeze+%3Cuntil+Monday%3E");
    let (code, page) = send(state, post(&reject, &form, None)).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        page.contains("rejected: capacity freeze &lt;until Monday&gt;"),
        "{page}"
    );
    let p = patches(&log);
    assert_eq!(
        p[0].body["metadata"]["annotations"]["mapek.io/reject"],
        "capacity freeze <until Monday>"
    );
}

#[tokio::test]
async fn a_missing_plan_is_a_404_and_names_are_escaped() {
    let (client, _) = scripted(cluster);
    let state = review(client, Scope::One("shop".into()), "127.0.0.1:8090");
    let (code, page) = send(state.clone(), get("/plans/shop/gone")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        page.contains("RemediationPolicy gone not found in namespace shop"),
        "{page}"
    );
    let (code, page) = send(state.clone(), get("/nowhere")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(page.contains("no such page"));
    let (code, page) = send(state, get("/plans/%3Cb%3E/x%22%3E")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("&lt;b&gt;") && !page.contains("<b>"),
        "{page}"
    );
    assert!(!page.contains("x\">"), "{page}");
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let (client, _) = scripted(cluster);
    let response = router(review(client, Scope::One("shop".into()), "127.0.0.1:8090"))
        .oneshot(get("/"))
        .await
        .unwrap();
    let h = response.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    // A browser sends the page's forms with `Origin: null` under `no-referrer`.
    assert_eq!(h["referrer-policy"], "same-origin");
}
