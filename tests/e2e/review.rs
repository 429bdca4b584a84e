//! `kubectl mapek review` on the real API server, in headless Chromium (Debian's
//! chromium and chromium-driver through WebDriver, `MAPEK_CHROMEDRIVER` set by
//! `e2e/run-local`): each page is served by the plugin with one user's
//! kubeconfig context, so the chart's approvers admission policy decides.

use fantoccini::{Client as Browser, Locator};
use mapek_test_support::browser::{driver, session};
use mapek_test_support::{Process, free_port, poll};

use super::*;

/// The review page served as the kubeconfig context `user`, on a free port.
struct ReviewPage {
    _process: Process,
    url: String,
}

impl ReviewPage {
    async fn start(user: &str) -> ReviewPage {
        let plugin = std::env::var("MAPEK_E2E_PLUGIN_BIN")
            .expect("MAPEK_E2E_PLUGIN_BIN (set by e2e/run-local)");
        let prometheus = std::env::var("MAPEK_E2E_PROMETHEUS")
            .expect("MAPEK_E2E_PROMETHEUS (set by e2e/run-local)");
        let port = free_port();
        let mut cmd = Command::new(plugin);
        cmd.args(["--context", user, "review", "-n", NS, "--port"])
            .arg(port.to_string())
            .args(["--prometheus-url", &prometheus]);
        let log = std::env::temp_dir().join(format!("mapek-e2e-review-{user}-{port}.log"));
        let process = Process::spawn(cmd, &log);
        // The page answers only requests naming it (Host and port), so readiness
        // is its port accepting.
        let listening = || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        };
        poll(
            "kubectl mapek review",
            Duration::from_secs(30),
            Duration::from_millis(100),
            listening,
        )
        .await;
        ReviewPage {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Opens the page of plan `name` and clicks Approve once the page offers it
    /// (a Role just bound may take a moment to apply); what the page then says.
    async fn approve(&self, b: &Browser, name: &str) -> String {
        let page = format!("{}/plans/{NS}/{name}", self.url);
        let approve = wait_for("the plan page's Approve button", LOOP_TIMEOUT, || async {
            b.goto(&page).await.ok()?;
            b.find(Locator::Id("approve")).await.ok()
        })
        .await;
        approve.click().await.expect("Approve clicked");
        let shown = b
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Id("result"))
            .await;
        match shown {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(e) => panic!("no result ({e}): {}", b.source().await.unwrap_or_default()),
        }
    }
}

/// mallory (allowed by RBAC to read and annotate plans, not an approver) clicks
/// Approve on the review page and sees the chart's approvers policy refuse her,
/// and nothing changes; alice (group mapek-approvers) sees the plan with its
/// metric's chart, clicks Approve, is named as the approver, and the Deployment
/// scales.
#[tokio::test]
async fn the_review_page_approves_as_its_user_in_chromium() {
    let e = env().await;
    e.deployment("review", 2, &[]).await;
    e.policy(
        "review-latency",
        json!({
            "targetRef": {"name": "review"},
            "query": "mapek_sim_latency_seconds{deployment=\"review\"} or vector(0.1)",
            "condition": {"operator": "GreaterThan", "threshold": 50},
            "evaluationInterval": "2s",
            "remediation": {"allowedActions": ["SCALE_UP"],
                            "scale": {"minReplicas": 2, "maxReplicas": 4, "maxStep": 2}}
        }),
    )
    .await;
    let _ = e
        .plans()
        .delete("review-plan", &DeleteParams::default())
        .await;
    let (object, _) = handmade_plan("review-plan", "review", "review-latency", json!({}));
    let object: RemediationPolicy = serde_json::from_value(object).unwrap();
    e.plans()
        .create(&PostParams::default(), &object)
        .await
        .expect("plan created");
    let _ = kubectl_as(&[
        "create",
        "role",
        "e2e-review-reader",
        "-n",
        NS,
        "--verb=get,list,patch",
        "--resource=remediationpolicies.mapek.io,violationpolicies.mapek.io",
    ]);
    let _ = kubectl_as(&[
        "create",
        "rolebinding",
        "e2e-review-reader",
        "-n",
        NS,
        "--role=e2e-review-reader",
        "--user=mallory",
        "--user=alice",
    ]);

    let chromedriver = std::env::var("MAPEK_CHROMEDRIVER")
        .expect("MAPEK_CHROMEDRIVER (set by e2e/run-local through mk/chromedriver)");
    let driver = driver(&chromedriver).await;
    let b = session(&driver).await;

    let said = ReviewPage::start("mallory")
        .await
        .approve(&b, "review-plan")
        .await;
    assert!(
        said.contains("only the approvers named in the mapek-operator chart may"),
        "mallory's approval: {said}"
    );
    let rp = e.plans().get("review-plan").await.unwrap();
    assert!(
        !rp.annotations().contains_key(mapek_api::APPROVE_ANNOTATION),
        "mallory's refused approval left an annotation"
    );

    let alice = ReviewPage::start("alice").await;
    b.goto(&format!("{}/plans/{NS}/review-plan", alice.url))
        .await
        .unwrap();
    b.find(Locator::Css("svg.chart line.threshold"))
        .await
        .expect("the chart with its threshold");
    if let Ok(path) = std::env::var("MAPEK_REVIEW_SCREENSHOT") {
        std::fs::write(path, b.screenshot().await.unwrap()).unwrap();
    }
    let said = alice.approve(&b, "review-plan").await;
    assert!(
        said.contains("approved by alice"),
        "alice's approval: {said}"
    );
    let done = e.phase("review-plan", ExecutionPhase::Completed).await;
    assert_eq!(done.status.unwrap().approved_by.as_deref(), Some("alice"));
    let replicas = e.deployments().get("review").await.unwrap().spec.replicas;
    assert_eq!(replicas, Some(3));
    let _ = b.close().await;
}
