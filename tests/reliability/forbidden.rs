//! 403s: a permission missing from the operator's RBAC. The operator names the
//! refused call (verb and resource) in the plan's condition and an Event, changes
//! nothing it may not, goes on with what it may do (the monitor keeps
//! evaluating), and, once the rule is back, executes again without a restart.

use super::*;

async fn last_evaluation(c: &Client, ns: &str, name: &str) -> Option<i64> {
    Api::<ViolationPolicy>::namespaced(c.clone(), ns)
        .get(name)
        .await
        .ok()?
        .status?
        .last_evaluation_time
        .map(|t| t.0.as_millisecond())
}

#[tokio::test]
async fn forbidden_calls() {
    let c = client().await;
    let ns = "forbidden";
    common::ensure_namespace(&c, ns).await;
    deployment(&c, ns, "web").await;
    policy(&c, ns, "web", "web", "vector(0)", 1.0).await;
    // Every evaluation refreshes the status, so `lastEvaluationTime` shows the
    // monitor going on (by default it is written at most every 5 minutes).
    let mut op = Operator::start_without(
        ns,
        "",
        &[("MAPE_K_STATUS_REFRESH", "1s")],
        &[("deployments", "patch")],
    )
    .await;
    let (mut unreported, mut changed, mut stalled) = (0, 0, 0);

    // Approved, but the operator may not patch Deployments.
    let rp = plan(&c, ns, "denied", "web", "web", vec![scale_to(4, "web")]).await;
    approve(&c, ns, &rp).await;
    let done = finished(&c, ns, "denied", Duration::from_secs(30)).await;
    let status = done.status.unwrap();
    let refused = r#"cannot patch resource "deployments""#;
    let error = status
        .execution
        .as_ref()
        .and_then(|e| e.error.clone())
        .unwrap_or_default();
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    if !(error.contains(refused) && condition.contains(refused)) {
        unreported += 1;
        eprintln!("the 403 is not in the status: error {error:?}, condition {condition:?}");
    }
    let notes = wait_for(
        "an Event naming the 403",
        Duration::from_secs(10),
        || async {
            let notes: Vec<String> = events(&c, ns, "denied")
                .await
                .into_iter()
                .map(|(_, n)| n)
                .collect();
            notes.iter().any(|n| n.contains(refused)).then_some(notes)
        },
    )
    .await;
    if !notes.iter().any(|n| n.contains(refused)) {
        unreported += 1;
    }
    if live(&c, ns, "web").await.spec.replicas != Some(2) {
        changed += 1;
    }

    // It goes on with what it may do: the monitor keeps evaluating.
    let seen = last_evaluation(&c, ns, "web").await.unwrap_or_default();
    wait_for(
        "the monitor to evaluate again",
        Duration::from_secs(15),
        || async { (last_evaluation(&c, ns, "web").await? > seen).then_some(()) },
    )
    .await;
    let restarts = usize::from(!op.alive());

    // The rule is back: the same process executes the next plan.
    operator_kubeconfig(ns, &[]);
    let rp = plan(&c, ns, "allowed", "web", "web", vec![scale_to(3, "web")]).await;
    approve(&c, ns, &rp).await;
    let done = finished(&c, ns, "allowed", Duration::from_secs(60)).await;
    let phase = done.status.map(|s| s.phase);
    if phase != Some(ExecutionPhase::Completed)
        || live(&c, ns, "web").await.spec.replicas != Some(3)
    {
        stalled += 1;
        eprintln!("after the rule came back: {phase:?}");
    }
    let restarts = restarts + usize::from(!op.alive());
    let panics = panics_in_log(ns);
    drop(op);
    report(
        "403s: a rule missing from the operator's RBAC",
        2,
        2 - unreported.min(1) - stalled,
        &[
            ("unreported 403s", unreported),
            ("changes made without the permission", changed),
            ("plans stuck once the rule is back", stalled),
            ("operator restarts", restarts),
            ("panics", panics),
        ],
        json!({"refused call named": refused}),
    );
    assert_eq!(
        (unreported, changed, stalled, restarts, panics),
        (0, 0, 0, 0, 0)
    );
}
