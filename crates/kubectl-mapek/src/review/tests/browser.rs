//! The plan page in headless Chromium through WebDriver (`fantoccini`), against
//! the scripted API server: the chart and the plan are there, Approve works
//! and a refusal is shown. Runs only when `MAPEK_CHROMEDRIVER` names a
//! chromedriver binary (Debian's `chromium-driver`: `/usr/bin/chromedriver`);
//! otherwise it returns at once (`make unit` sets it, installing Debian's
//! Chromium when missing). It saves a screenshot of the plan page (see
//! `screenshot_path`).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client as Browser, Locator};
use mapek_test_support::browser::{driver, session};

use super::server::start;
use super::*;

/// Runs `test` in a browser when `MAPEK_CHROMEDRIVER` is set, and closes the
/// session (and kills chromedriver's group) whether it passes or panics.
async fn in_browser<F, Fut>(test: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Ok(path) = std::env::var("MAPEK_CHROMEDRIVER") else {
        eprintln!("skipped: set MAPEK_CHROMEDRIVER=/usr/bin/chromedriver to run the browser test");
        return;
    };
    let driver = driver(&path).await;
    let b = session(&driver).await;
    let outcome = tokio::spawn(test(b.clone())).await;
    let _ = b.close().await;
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Where the plan page's screenshot goes: `MAPEK_REVIEW_SCREENSHOT`, or the temp
/// dir, so that a test run does not rewrite a committed file (the README's
/// picture comes from the e2e case on the real API server, `tests/e2e/review.rs`).
fn screenshot_path() -> PathBuf {
    std::env::var_os("MAPEK_REVIEW_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mapek-review-page.png"))
}

async fn text(b: &Browser, css: &str) -> String {
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The outcome shown after a click, or the page that came instead.
async fn result(b: &Browser) -> String {
    let wait = b.wait().at_most(Duration::from_secs(20));
    match wait.for_element(Locator::Id("result")).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!("no result ({e}); the page: {}", b.source().await.unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_plan_page_shows_the_chart_and_approves() {
    in_browser(|b| async move {
        let (client, log) = scripted(cluster);
        let addr = start(client).await;
        b.goto(&format!("http://{addr}/")).await.unwrap();
        b.find(Locator::LinkText("fix-web"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(b.current_url().await.unwrap().path(), "/plans/shop/fix-web");
        b.find(Locator::Css("svg.chart polyline.series"))
            .await
            .unwrap();
        b.find(Locator::Css("svg.chart line.threshold"))
            .await
            .unwrap();
        b.find(Locator::Css("svg.chart rect.span")).await.unwrap();
        assert!(text(&b, "main").await.contains("LoadSpike"));
        let png = b.screenshot().await.unwrap();
        std::fs::write(screenshot_path(), png).unwrap();
        b.find(Locator::Id("approve"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let said = result(&b).await;
        assert!(
            said.contains("approved by alice (plan hash 9f3c2a7b)"),
            "{said}"
        );
        assert_eq!(patches(&log).len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_refused_approval_shows_the_policys_words() {
    in_browser(|b| async move {
        let refusal =
            "ValidatingAdmissionPolicy 'mapek-approvers' denied request: bob is not an approver";
        let (client, _) = scripted(move |method, path| match method {
            "PATCH" => status(403, refusal),
            _ => cluster(method, path),
        });
        let addr = start(client).await;
        b.goto(&format!("http://{addr}/plans/shop/fix-web"))
            .await
            .unwrap();
        b.find(Locator::Id("approve"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let said = result(&b).await;
        assert!(said.contains("bob is not an approver"), "{said}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_reject_asks_for_a_reason() {
    in_browser(|b| async move {
        let (client, log) = scripted(cluster);
        let addr = start(client).await;
        b.goto(&format!("http://{addr}/plans/shop/fix-web"))
            .await
            .unwrap();
        // Empty: the browser's own `required` check keeps the form from going.
        b.find(Locator::Id("reject"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(patches(&log).is_empty());
        let reason = b.find(Locator::Id("reason")).await.unwrap();
        reason.send_keys("capacity freeze").await.unwrap();
        b.find(Locator::Id("reject"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let said = result(&b).await;
        assert!(said.contains("rejected: capacity freeze"), "{said}");
        assert_eq!(
            patches(&log)[0].body["metadata"]["annotations"]["mapek.io/reject"],
            "capacity freeze"
        );
    })
    .await;
}
