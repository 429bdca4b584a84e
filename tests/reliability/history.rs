//! Operator kills and the history a plan needs: the violations stay in the
//! policy's status, and the samples, which live only in the operator's memory,
//! are read back from Prometheus by the next process with a range query, so a
//! restart does not leave the analyzer without the policy's normal behaviour.

use super::*;

/// Values kept per series in this class (two minutes at 1 s).
const KEPT: u32 = 120;

#[tokio::test]
async fn operator_kills_keep_the_history() {
    let c = client().await;
    let ns = "history";
    common::ensure_namespace(&c, ns).await;
    deployment(&c, ns, "quiet").await;
    deployment(&c, ns, "firing").await;
    policy(&c, ns, "quiet", "quiet", "vector(0.2)", 1.0).await;
    policy(&c, ns, "firing", "firing", "vector(5)", 1.0).await;
    let policies = Api::<ViolationPolicy>::namespaced(c.clone(), ns);
    // Every evaluation refreshes the status, so the summary shows each
    // process's memory as soon as it evaluates.
    let env = [
        ("MAPE_K_STATUS_REFRESH", "1s"),
        ("MAPE_K_HISTORY_SAMPLES", "120"),
    ];
    let status = |name: &'static str| {
        let policies = policies.clone();
        async move { policies.get(name).await.ok()?.status }
    };

    const KILLS: usize = 3;
    let (mut samples_lost, mut violations_lost, mut unread) = (0, 0, 0);
    let mut back_after = Vec::new();
    let mut op = Operator::start(ns, "", &env).await;
    for _ in 0..KILLS {
        // The process holds a full history (its own start read it back too).
        wait_for("a full history", Duration::from_secs(60), || async {
            let s = status("quiet").await?;
            (s.samples?.count >= KEPT).then_some(())
        })
        .await;
        let before = status("firing").await.unwrap_or_default();
        op.kill();
        let killed_at = k8s_openapi::jiff::Timestamp::now().as_millisecond();
        let restarted = Instant::now();
        op = Operator::start(ns, "", &env).await;
        // The next process's first evaluations: its memory started empty, so a
        // full history within seconds was read back from Prometheus.
        let (quiet, firing) = wait_for(
            "the new process to evaluate",
            Duration::from_secs(30),
            || async {
                let quiet = status("quiet").await?;
                let firing = status("firing").await?;
                let evaluated = |s: &mapek_api::ViolationPolicyStatus| {
                    s.last_evaluation_time
                        .as_ref()
                        .is_some_and(|t| t.0.as_millisecond() > killed_at)
                };
                (evaluated(&quiet) && evaluated(&firing)).then_some((quiet, firing))
            },
        )
        .await;
        // Live evaluations alone would take two minutes to fill it.
        let mut held = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while held < KEPT && Instant::now() < deadline {
            held = status("quiet")
                .await
                .and_then(|s| s.samples)
                .map_or(0, |h| h.count);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        back_after.push(restarted.elapsed().as_millis() as u64);
        samples_lost += KEPT.saturating_sub(held) as usize;
        if quiet.samples.is_none() {
            unread += 1;
        }
        // Violations: the count goes on from where it was, and every violation
        // the killed process wrote is still listed or older than the list.
        if firing.violation_count < before.violation_count {
            violations_lost += (before.violation_count - firing.violation_count) as usize;
        }
        let kept: std::collections::BTreeSet<_> =
            firing.recent_violations.iter().map(|v| &v.id).collect();
        let newest_before = before.recent_violations.last().map(|v| &v.id);
        if firing.recent_violations.len() < mapek_api::MAX_RECENT_VIOLATIONS
            && newest_before.is_some_and(|id| !kept.contains(id))
        {
            violations_lost += 1;
        }
    }
    let panics = panics_in_log(ns);
    drop(op);
    report(
        "operator kills and the in-memory history",
        KILLS,
        KILLS - usize::from(samples_lost + violations_lost > 0).min(KILLS),
        &[
            ("samples not read back", samples_lost),
            ("violations lost", violations_lost),
            ("statuses without a sample summary", unread),
            ("panics", panics),
        ],
        json!({"kept per series": KEPT, "ms from kill to a full history": back_after}),
    );
    assert_eq!(
        (samples_lost, violations_lost, unread, panics),
        (0, 0, 0, 0)
    );
}
