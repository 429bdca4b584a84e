//! Two replicas with leader election: the leader is killed with SIGKILL in the
//! middle of an execution (after the write-ahead and before the patch, after the
//! patch) and while a plan waits for approval; the follower takes the Lease once
//! it has lapsed and finishes the plan exactly once (the operator's Deployment
//! patches counted in the API server's audit log).

use k8s_openapi::api::coordination::v1::Lease;

use super::crash::COMPLETES;
use super::*;

/// The Lease the replicas of one namespace compete for (src/run.rs).
const LEASE: &str = "mapek-operator-leader";
/// The operator's lease duration and retry period (src/run.rs).
const LEASE_SECONDS: u64 = 15;
const RETRY_SECONDS: u64 = 2;

/// Waits until `identity` holds the Lease of `ns`.
pub(super) async fn holder_is(c: &Client, ns: &str, identity: &str, timeout: Duration) {
    let leases: Api<Lease> = Api::namespaced(c.clone(), ns);
    wait_for(&format!("{identity} leads in {ns}"), timeout, || {
        let leases = leases.clone();
        async move {
            let lease = leases.get_opt(LEASE).await.ok().flatten()?;
            let holder = lease.spec?.holder_identity?;
            (holder == identity).then_some(())
        }
    })
    .await
}

/// Where the leader dies.
#[derive(Clone, Copy, Debug)]
enum Death {
    /// It kills itself at this fault point of the execution.
    At(&'static str),
    /// The test kills it while the plan waits for approval, then approves.
    Pending,
}

/// What one run found.
struct Takeover {
    seconds: f64,
    approve_to_done: f64,
    double: usize,
    missing: usize,
    wrong: usize,
    /// Patches sent before the approval (only the pending case can see them).
    unapproved: usize,
}

async fn takeover_run(c: &Client, run: usize, death: Death) -> Takeover {
    let ns = format!("replicas-{run}");
    let name = "web";
    common::ensure_namespace(c, &ns).await;
    deployment(c, &ns, name).await;
    policy(c, &ns, "web-policy", name, "vector(0)", 1.0).await;
    let rp = plan(
        c,
        &ns,
        "web-plan",
        "web-policy",
        name,
        COMPLETES.actions(name),
    )
    .await;
    let kubeconfig = operator_kubeconfig(&ns, &[]);
    let (a, b) = (format!("operator-{ns}-a"), format!("operator-{ns}-b"));
    let faults = match death {
        Death::At(point) => format!("{point}=kill"),
        Death::Pending => String::new(),
    };
    let mut leader = Operator::launch(&ns, &a, &faults, &[], &kubeconfig).await;
    holder_is(c, &ns, &a, Duration::from_secs(30)).await;
    let _follower = Operator::launch(&ns, &b, "", &[], &kubeconfig).await;
    let approved;
    let mut unapproved = 0;
    match death {
        Death::At(point) => {
            approved = Instant::now();
            approve(c, &ns, &rp).await;
            let signal = leader.exited(Duration::from_secs(30)).await;
            assert_eq!(
                signal,
                Some(9),
                "run {run}: the leader was to die at {point}"
            );
        }
        Death::Pending => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            leader.kill();
            unapproved = {
                let p = operator_patches(&ns, name);
                p.ok + p.cut
            };
            approved = Instant::now();
            approve(c, &ns, &rp).await;
        }
    }
    let killed = Instant::now();
    holder_is(c, &ns, &b, Duration::from_secs(60)).await;
    let seconds = killed.elapsed().as_secs_f64();
    let done = finished(c, &ns, "web-plan", Duration::from_secs(60)).await;
    let approve_to_done = approved.elapsed().as_secs_f64();
    let phase = done.status.map(|s| s.phase);
    let patches = operator_patches(&ns, name);
    let end = state(&live(c, &ns, name).await);
    assert_completed_once(&format!("run {run} ({death:?})"), phase, &end, &patches);
    Takeover {
        seconds,
        approve_to_done,
        double: patches.ok.saturating_sub(3),
        missing: 3usize.saturating_sub(patches.ok + patches.cut),
        wrong: usize::from(end != COMPLETES.end_state()),
        unapproved,
    }
}

/// The leader SIGKILLed after a write-ahead (before its patch), after a patch
/// (before it is marked succeeded), and while the plan waits for approval: the
/// follower takes over within the lease duration plus one retry (and some slack
/// for a loaded machine) and every plan ends Completed with its three patches
/// sent once.
#[tokio::test]
async fn leader_killed_follower_takes_over() {
    let c = client().await;
    let deaths = [
        Death::At("write-ahead:1"),
        Death::At("applied:1"),
        Death::Pending,
    ];
    let results: Vec<Takeover> = futures::stream::iter(deaths.into_iter().enumerate())
        .map(|(i, death)| {
            let c = c.clone();
            async move { takeover_run(&c, i, death).await }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    let n = results.len();
    let sum = |f: fn(&Takeover) -> usize| results.iter().map(f).sum::<usize>();
    let (double, missing, wrong) = (sum(|r| r.double), sum(|r| r.missing), sum(|r| r.wrong));
    let unapproved = sum(|r| r.unapproved);
    let panics: usize = (0..n)
        .map(|i| panics_in_log(&format!("replicas-{i}")))
        .sum();
    let takeover: Vec<f64> = results.iter().map(|r| r.seconds).collect();
    let worst = takeover.iter().copied().fold(0.0, f64::max);
    report(
        "two replicas, leader SIGKILLed",
        n,
        n - wrong,
        &[
            ("double executions", double),
            ("unapproved actions", unapproved),
            ("lost approved plans", missing),
            ("panics", panics),
        ],
        json!({"takeover seconds": takeover, "worst takeover seconds": worst,
               "approve-to-done seconds": results.iter().map(|r| r.approve_to_done).collect::<Vec<_>>(),
               "lease seconds": LEASE_SECONDS, "retry seconds": RETRY_SECONDS}),
    );
    assert_eq!(
        (double, missing, wrong, unapproved, panics),
        (0, 0, 0, 0, 0)
    );
    // Lease plus one retry, with 8 s of slack for polling and a loaded machine.
    assert!(
        worst <= (LEASE_SECONDS + RETRY_SECONDS + 8) as f64,
        "takeover took {worst:.1} s"
    );
}
