//! API server and etcd restarts (alone: they affect every client).

use super::crash::COMPLETES;
use super::*;

/// The API server restarted while the operator watches, then mid-execution, and
/// etcd restarted mid-execution: the watch resumes, every execution completes,
/// every action ran once.
#[tokio::test]
async fn serial_api_server_and_etcd_restarts() {
    let c = client().await;
    let ns = "restarts";
    common::ensure_namespace(&c, ns).await;
    let mut op = Operator::start(ns, "write-ahead:1=pause:2500", &[]).await;

    // Mid-watch: restart, then a new plan must still be seen and executed.
    local_cluster(&["restart-apiserver"]);
    deployment(&c, ns, "after-watch").await;
    policy(&c, ns, "after-watch", "after-watch", "vector(0)", 1.0).await;
    let rp = plan(
        &c,
        ns,
        "after-watch",
        "after-watch",
        "after-watch",
        COMPLETES.actions("after-watch"),
    )
    .await;
    let approved_at = Instant::now();
    approve(&c, ns, &rp).await;
    let done = finished(&c, ns, "after-watch", Duration::from_secs(90)).await;
    let watch_resumed = approved_at.elapsed();

    let mut results = vec![("after-watch", done)];
    for (name, fault) in [
        ("apiserver-mid", vec!["restart-apiserver", "2"]),
        ("etcd-mid", vec!["restart-etcd", "2"]),
    ] {
        deployment(&c, ns, name).await;
        policy(&c, ns, name, name, "vector(0)", 1.0).await;
        let rp = plan(&c, ns, name, name, name, COMPLETES.actions(name)).await;
        approve(&c, ns, &rp).await;
        running(&c, ns, name, 1).await;
        local_cluster(&fault);
        results.push((name, finished(&c, ns, name, Duration::from_secs(120)).await));
    }
    let mut double = 0;
    let mut wrong = 0;
    for (name, rp) in &results {
        let patches = operator_patches(ns, name);
        double += patches.ok.saturating_sub(3);
        let end = state(&live(&c, ns, name).await);
        if rp.status.as_ref().map(|s| s.phase) != Some(ExecutionPhase::Completed)
            || end != COMPLETES.end_state()
            || !patches.applied_exactly(3)
        {
            wrong += 1;
            eprintln!("{name}: {:?} {end:?} patches {patches:?}", rp.status);
        }
    }
    let alive = op.alive();
    let panics = panics_in_log(ns);
    report(
        "API server and etcd restarts (mid-watch, mid-execution)",
        3,
        3 - wrong,
        &[
            ("double executions", double),
            ("executions not completed", wrong),
            ("panics", panics),
        ],
        json!({"approval to completion after the watch broke (ms)": watch_resumed.as_millis(),
               "operator still running": alive}),
    );
    assert_eq!((double, wrong, panics), (0, 0, 0));
}
