//! A slow and lossy link to the API server, through Toxiproxy: 1-2 s of latency
//! on every response (1.5 s with 0.5 s of jitter) and a share of the connections
//! reset, for minutes (`FAULT`), while plans are approved one after another, one
//! every `SPACING`. Every approved plan must complete, each patch sent once; the
//! watches the resets cut are re-established.
//! A leader that cannot renew its Lease within the renew deadline over such a
//! link stands down and exits; the test restarts it, as the Deployment's pod
//! would be, and counts the restarts.

use super::toxiproxy::{Proxy, api_server, through};
use super::*;

/// Plans approved under the fault, one after another.
const PLANS: usize = 8;

/// Time between two approvals: the fault lasts at least `PLANS - 1` of these.
const SPACING: Duration = Duration::from_secs(20);

/// The least time the fault lasts, whatever the approvals take.
const FAULT: Duration = Duration::from_secs(150);

/// The operator of the test, restarted whenever it exits.
struct Supervised {
    op: Operator,
    kubeconfig: PathBuf,
    restarts: usize,
}

impl Supervised {
    async fn start(ns: &str, kubeconfig: PathBuf) -> Supervised {
        let mut restarts = 0;
        let op = Supervised::launch(ns, &kubeconfig, &mut restarts).await;
        Supervised {
            op,
            kubeconfig,
            restarts,
        }
    }

    /// Starts the operator until one is ready, counting each start that exited
    /// first (it stood down before it was ready) as a restart; at most 10.
    async fn launch(ns: &str, kubeconfig: &Path, restarts: &mut usize) -> Operator {
        let identity = format!("operator-{ns}");
        for _ in 0..10 {
            match Operator::try_launch(ns, &identity, "", &[], kubeconfig).await {
                Ok(op) => return op,
                Err(exited) => {
                    eprintln!("{exited}");
                    *restarts += 1;
                }
            }
        }
        panic!("the operator of {ns} exited before it was ready 10 times");
    }

    /// Restarts the operator if it has exited.
    async fn keep_up(&mut self, ns: &str) {
        if !self.op.alive() {
            self.restarts += 1;
            self.op = Supervised::launch(ns, &self.kubeconfig, &mut self.restarts).await;
        }
    }

    /// Waits until Deployment `ns/name` asks for `replicas`, keeping the
    /// operator up.
    async fn scaled(&mut self, c: &Client, ns: &str, name: &str, replicas: i32) {
        let deadline = Instant::now() + Duration::from_secs(240);
        while live(c, ns, name).await.spec.replicas != Some(replicas) {
            assert!(
                Instant::now() < deadline,
                "{ns}/{name} never reached {replicas}"
            );
            self.keep_up(ns).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits until plan `ns/name` has ended; its phase. Keeps the operator up.
    async fn finished(&mut self, c: &Client, ns: &str, name: &str) -> ExecutionPhase {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let phase = get_plan(c, ns, name).await.status.map(|s| s.phase);
            if let Some(
                p @ (ExecutionPhase::Completed
                | ExecutionPhase::RolledBack
                | ExecutionPhase::Failed),
            ) = phase
            {
                return p;
            }
            assert!(Instant::now() < deadline, "{ns}/{name} never finished");
            self.keep_up(ns).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Approves `PLANS` plans (a scale each, on its own Deployment) through a slow
/// and lossy link; reports approve-to-scale.
#[tokio::test]
async fn lossy_api_server() {
    let c = client().await;
    let ns = "lossy";
    common::ensure_namespace(&c, ns).await;
    let proxy = Proxy::create(&format!("{ns}-api"), &api_server()).await;
    let kubeconfig = through(&operator_kubeconfig(ns, &[]), &proxy, "lossy");
    let mut plans = Vec::new();
    for i in 0..PLANS {
        let (name, policy_name) = (format!("web-{i}"), format!("web-{i}-policy"));
        deployment(&c, ns, &name).await;
        policy(&c, ns, &policy_name, &name, "vector(0)", 1.0).await;
        let actions = vec![scale_to(4, &name)];
        let plan_name = format!("web-{i}-plan");
        plans.push(plan(&c, ns, &plan_name, &policy_name, &name, actions).await);
    }
    let mut op = Supervised::start(ns, kubeconfig).await;
    let latency = json!({"latency": 1500, "jitter": 500});
    proxy
        .toxic("slow", "latency", "downstream", 1.0, latency)
        .await;
    proxy
        .toxic(
            "reset",
            "reset_peer",
            "upstream",
            0.2,
            json!({"timeout": 3000}),
        )
        .await;
    let started = Instant::now();
    let mut approve_to_scale = Vec::new();
    for (i, rp) in plans.iter().enumerate() {
        let due = started + SPACING * i as u32;
        while Instant::now() < due {
            op.keep_up(ns).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let t0 = Instant::now();
        approve(&c, ns, rp).await;
        op.scaled(&c, ns, &format!("web-{i}"), 4).await;
        approve_to_scale.push(t0.elapsed().as_secs_f64());
    }
    let mut lost = 0;
    for i in 0..PLANS {
        let phase = op.finished(&c, ns, &format!("web-{i}-plan")).await;
        lost += usize::from(phase != ExecutionPhase::Completed);
    }
    while started.elapsed() < FAULT {
        op.keep_up(ns).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let under_fault = started.elapsed().as_secs();
    proxy.heal().await;
    let patches: Vec<Patches> = (0..PLANS)
        .map(|i| operator_patches(ns, &format!("web-{i}")))
        .collect();
    let double: usize = patches.iter().map(|p| p.ok.saturating_sub(1)).sum();
    let missing: usize = patches.iter().filter(|p| p.ok + p.cut == 0).count();
    let panics = panics_in_log(ns);
    let worst = approve_to_scale.iter().copied().fold(0.0, f64::max);
    report(
        "slow and lossy API server for minutes (Toxiproxy: 1-2 s latency, 20% of connections reset)",
        PLANS,
        PLANS - lost,
        &[
            ("double executions", double),
            ("lost approved plans", lost + missing),
            ("panics", panics),
        ],
        json!({"approve-to-scale seconds": approve_to_scale, "worst": worst,
               "seconds under the fault": under_fault,
               "operator restarts (leadership lost)": op.restarts}),
    );
    assert_eq!(
        (double, lost, missing, panics),
        (0, 0, 0, 0),
        "patches {patches:?}"
    );
}
