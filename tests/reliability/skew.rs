//! Clock skew between the replicas: the follower's wall clock 40 s ahead
//! (Debian's libfaketime preloaded into its process, e2e/faketime-lib; its
//! monotonic clock left alone). Judged by its own clock the leader's renewTime
//! is always older than the lease duration; it must still not take the Lease
//! while the leader renews it, nor act, and must take over once the leader dies.

use k8s_openapi::jiff::Timestamp;

use super::crash::COMPLETES;
use super::partition::{lease_holder, operator_writes};
use super::replicas::holder_is;
use super::*;

/// The follower's skew.
const SKEW_SECONDS: i64 = 40;

/// How far ahead of this process's clock the first line of `log` is stamped.
fn log_skew(log: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(log).ok()?;
    let stamp: Timestamp = text.split_whitespace().next()?.parse().ok()?;
    Some(stamp.duration_since(Timestamp::now()).as_secs())
}

#[tokio::test]
async fn clock_skewed_follower_waits() {
    let c = client().await;
    let ns = "skew-0";
    let name = "web";
    common::ensure_namespace(&c, ns).await;
    deployment(&c, ns, name).await;
    policy(&c, ns, "web-policy", name, "vector(0)", 1.0).await;
    let rp = plan(
        &c,
        ns,
        "web-plan",
        "web-policy",
        name,
        COMPLETES.actions(name),
    )
    .await;
    let lib = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/faketime-lib"))
        .output()
        .expect("e2e/faketime-lib runs");
    assert!(
        lib.status.success(),
        "{}",
        String::from_utf8_lossy(&lib.stderr)
    );
    let lib = String::from_utf8_lossy(&lib.stdout).trim().to_string();
    // Two tokens, so that the audit log tells the replicas apart.
    let first = operator_kubeconfig(ns, &[]);
    let kc_a = first.with_file_name(format!("kubeconfig-{ns}-a"));
    std::fs::copy(&first, &kc_a).expect("kubeconfig copied");
    let kc_b = operator_kubeconfig(ns, &[]);
    let (a, b) = (format!("operator-{ns}-a"), format!("operator-{ns}-b"));
    let mut leader = Operator::launch(ns, &a, "", &[], &kc_a).await;
    holder_is(&c, ns, &a, Duration::from_secs(30)).await;
    let skew = format!("+{SKEW_SECONDS}s");
    let env = [
        ("LD_PRELOAD", lib.as_str()),
        ("FAKETIME", skew.as_str()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let follower = Operator::launch(ns, &b, "", &env, &kc_b).await;
    let seen_skew = log_skew(follower.log()).unwrap_or(0);
    assert!(
        seen_skew >= SKEW_SECONDS - 5,
        "the follower's clock is {seen_skew} s ahead"
    );

    // 25 s (more than the lease duration) of a live leader, with a plan run.
    approve(&c, ns, &rp).await;
    let done = finished(&c, ns, "web-plan", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    let (holder, transitions) = lease_holder(&c, ns).await;
    let credential_a = operator_writes(ns)
        .into_iter()
        .find(|w| w.resource == "leases" && w.ok)
        .map(|w| w.credential)
        .expect("the leader created the Lease");
    let by_follower = operator_writes(ns)
        .iter()
        .filter(|w| (w.ok || w.cut) && w.credential != credential_a)
        .count();
    let killed = Instant::now();
    leader.kill();
    holder_is(&c, ns, &b, Duration::from_secs(60)).await;
    let takeover = killed.elapsed().as_secs_f64();
    let patches = operator_patches(ns, name);
    let phase = done.status.map(|s| s.phase);
    let stolen = usize::from(holder != a || transitions != 0);
    let panics = panics_in_log(ns);
    report(
        "clock skew: follower 40 s ahead (libfaketime)",
        1,
        1 - stolen,
        &[
            ("lease taken from a live leader", stolen),
            ("writes by the follower while the leader lived", by_follower),
            ("double executions", patches.ok.saturating_sub(3)),
            ("panics", panics),
        ],
        json!({"follower's clock ahead (s)": seen_skew, "takeover after the leader's death (s)": takeover}),
    );
    assert_eq!(
        (stolen, by_follower, panics),
        (0, 0, 0),
        "holder {holder}, transitions {transitions}"
    );
    let end = state(&live(&c, ns, name).await);
    assert_completed_once("skew", phase, &end, &patches);
}
