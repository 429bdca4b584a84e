//! The leader cut off from the API server by Toxiproxy in the middle of an
//! execution, not killed, two ways: fully (the proxy disabled: its connections
//! cut, new ones refused) and one way (its requests still reach the API server on
//! the connections it has, their answers are lost: a held `timeout` toxic on the
//! way back, so a renewal or a write may apply without the leader knowing).
//! It must stop acting within its renew deadline, before its Lease lapses; the
//! follower (which reaches the API server directly) must not act before the Lease
//! has lapsed, then finishes the plan once; after the heal the old leader writes
//! nothing. Who wrote what, and when, is read from the API server's audit log:
//! each replica has its own ServiceAccount token, whose credential id the log
//! records with every request.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::crash::COMPLETES;
use super::replicas::holder_is;
use super::toxiproxy::{Proxy, api_server, through};
use super::*;

/// One write of the operator's ServiceAccount in a namespace, from the audit log.
#[derive(Debug)]
pub(super) struct Write {
    pub(super) at: Timestamp,
    pub(super) credential: String,
    pub(super) resource: String,
    /// Answered 2xx.
    pub(super) ok: bool,
    /// Answered 504: the client went away mid-request (cut by the partition or a
    /// kill), and the write may still have been applied.
    pub(super) cut: bool,
}

/// The operator's writes (create, update, patch) in `ns`, in the log's order.
pub(super) fn operator_writes(ns: &str) -> Vec<Write> {
    let text = std::fs::read_to_string(var("MAPEK_LOCAL_AUDIT_LOG")).unwrap_or_default();
    let user = format!("system:serviceaccount:{ns}:mapek-operator");
    let mut writes = Vec::new();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let verb = e["verb"].as_str().unwrap_or_default();
        if e["objectRef"]["namespace"] != ns
            || e["user"]["username"] != user.as_str()
            || !matches!(verb, "create" | "update" | "patch")
        {
            continue;
        }
        let Ok(at) = e["requestReceivedTimestamp"].as_str().unwrap_or("").parse() else {
            continue;
        };
        let credential = e["user"]["extra"]["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let resource = format!(
            "{}{}",
            e["objectRef"]["resource"].as_str().unwrap_or_default(),
            e["objectRef"]["subresource"]
                .as_str()
                .map(|s| format!("/{s}"))
                .unwrap_or_default()
        );
        let code = e["responseStatus"]["code"].as_u64();
        writes.push(Write {
            at,
            credential,
            resource,
            ok: matches!(code, Some(200..=299)),
            cut: code == Some(504),
        });
    }
    writes
}

/// Whether a write is (or, cut mid-request, may be) an action of an execution
/// (not a Lease or an Event).
fn acts(w: &Write) -> bool {
    (w.ok || w.cut)
        && (w.resource.starts_with("deployments") || w.resource.starts_with("remediationpolicies"))
}

/// The holder of the leader Lease of `ns` and its transitions.
pub(super) async fn lease_holder(c: &Client, ns: &str) -> (String, i32) {
    let lease = Api::<Lease>::namespaced(c.clone(), ns)
        .get("mapek-operator-leader")
        .await
        .expect("the Lease");
    let spec = lease.spec.unwrap_or_default();
    (
        spec.holder_identity.unwrap_or_default(),
        spec.lease_transitions.unwrap_or(0),
    )
}

/// How the leader is cut off from the API server.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// The proxy disabled: connections cut, new ones refused.
    Full,
    /// Requests through, answers lost (a `timeout` toxic on the downstream,
    /// with no timeout: the connections stay open and carry nothing back).
    AnswersLost,
}

impl Cut {
    async fn apply(self, proxy: &Proxy) {
        match self {
            Cut::Full => proxy.set_enabled(false).await,
            Cut::AnswersLost => {
                let held = json!({"timeout": 0});
                proxy
                    .toxic("deaf", "timeout", "downstream", 1.0, held)
                    .await
            }
        }
    }

    fn class(self) -> &'static str {
        match self {
            Cut::Full => "leader partitioned from the API server (Toxiproxy)",
            Cut::AnswersLost => {
                "leader's answers lost, its requests through (Toxiproxy, one-way partition)"
            }
        }
    }
}

/// What the audit log says about one partition run.
struct Verdict {
    /// The old leader's writes of an execution (applied, or cut and perhaps
    /// applied) after the partition.
    stale: usize,
    /// The old leader's Lease renewals the API server applied after the
    /// partition (one way only: answers lost, requests through).
    renewals_after: usize,
    /// The follower's first action before the Lease lapsed (milliseconds early).
    early_ms: i64,
    /// The old leader's last action after its Lease lapsed (milliseconds late).
    late_ms: i64,
    /// From the old leader's last action to the follower's first.
    gap: SignedDuration,
}

/// The Lease lapses 15 s after the old leader's last renewal the API server
/// applied (read from the audit log: one way, a renewal may apply unseen).
fn judge(ns: &str, a: &str, partitioned: Timestamp) -> Verdict {
    let writes = operator_writes(ns);
    let renewals = || {
        writes
            .iter()
            .filter(|w| w.credential == a && w.resource == "leases" && w.ok)
    };
    let renewed = renewals().next_back().expect("the old leader renewed").at;
    let lapse = renewed + SignedDuration::from_secs(15);
    let last_a = writes.iter().rfind(|w| w.credential == a && acts(w));
    let first_b = writes.iter().find(|w| w.credential != a && acts(w));
    let (last_a, first_b) = (
        last_a.expect("the old leader acted"),
        first_b.expect("the follower acted"),
    );
    let stale = writes
        .iter()
        .filter(|w| w.credential == a && acts(w) && w.at > partitioned)
        .count();
    Verdict {
        stale,
        renewals_after: renewals().filter(|w| w.at > partitioned).count(),
        early_ms: lapse.duration_since(first_b.at).as_millis().max(0) as i64,
        late_ms: last_a.at.duration_since(lapse).as_millis().max(0) as i64,
        gap: first_b.at.duration_since(last_a.at),
    }
}

/// The leader partitioned after the write-ahead of the plan's second action
/// (where it is held by a 30 s pause): it stands down, the follower takes over
/// only after the Lease lapsed and completes the plan with each patch sent once.
#[tokio::test]
async fn leader_partitioned_stands_down() {
    partitioned_leader("partition-0", Cut::Full).await;
}

/// The same with the leader's answers lost and its requests through.
#[tokio::test]
async fn leader_with_answers_lost_stands_down() {
    partitioned_leader("partition-1", Cut::AnswersLost).await;
}

async fn partitioned_leader(ns: &str, how: Cut) {
    let c = client().await;
    let ns = ns.to_string();
    let name = "web";
    common::ensure_namespace(&c, &ns).await;
    deployment(&c, &ns, name).await;
    policy(&c, &ns, "web-policy", name, "vector(0)", 1.0).await;
    let rp = plan(
        &c,
        &ns,
        "web-plan",
        "web-policy",
        name,
        COMPLETES.actions(name),
    )
    .await;
    let proxy = Proxy::create(&format!("{ns}-api"), &api_server()).await;
    let kc_a = through(&operator_kubeconfig(&ns, &[]), &proxy, "a");
    // A second token of its own, so that the audit log tells the replicas apart.
    let kc_b = operator_kubeconfig(&ns, &[]);
    let (a, b) = (format!("operator-{ns}-a"), format!("operator-{ns}-b"));
    let mut leader = Operator::launch(&ns, &a, "write-ahead:1=pause:30000", &[], &kc_a).await;
    holder_is(&c, &ns, &a, Duration::from_secs(30)).await;
    let _follower = Operator::launch(&ns, &b, "", &[], &kc_b).await;
    approve(&c, &ns, &rp).await;
    running(&c, &ns, "web-plan", 1).await;

    let partitioned = Timestamp::now();
    let cut = Instant::now();
    how.apply(&proxy).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (holder, _) = lease_holder(&c, &ns).await;
    assert_eq!(holder, a, "the leader held the Lease when it was cut off");
    let exit = leader.exited(Duration::from_secs(40)).await;
    let stood_down = cut.elapsed().as_secs_f64();
    holder_is(&c, &ns, &b, Duration::from_secs(40)).await;
    let taken_over = cut.elapsed().as_secs_f64();
    let done = finished(&c, &ns, "web-plan", Duration::from_secs(60)).await;
    proxy.heal().await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let credential_a = operator_writes(&ns)
        .into_iter()
        .find(|w| w.resource == "leases" && w.ok)
        .map(|w| w.credential)
        .expect("the old leader created the Lease");
    assert!(
        !credential_a.is_empty(),
        "the audit log names the credential"
    );
    let v = judge(&ns, &credential_a, partitioned);
    let patches = operator_patches(&ns, name);
    let end = state(&live(&c, &ns, name).await);
    let phase = done.status.map(|s| s.phase);
    let wrong =
        usize::from(phase != Some(ExecutionPhase::Completed) || end != COMPLETES.end_state());
    let panics = panics_in_log(&ns);
    report(
        how.class(),
        1,
        1 - wrong,
        &[
            ("double executions", patches.ok.saturating_sub(3)),
            (
                "lost approved plans",
                3usize.saturating_sub(patches.ok + patches.cut) + wrong,
            ),
            ("old leader's writes after the partition", v.stale),
            (
                "follower acted before the lease lapsed",
                usize::from(v.early_ms > 0),
            ),
            (
                "old leader acted after the lease lapsed",
                usize::from(v.late_ms > 0),
            ),
            ("panics", panics),
        ],
        json!({"old leader stood down after seconds": stood_down,
               "follower led after seconds": taken_over,
               "nobody acted for seconds": v.gap.as_secs_f64(),
               "old leader's renewals applied after the partition": v.renewals_after,
               "old leader's exit signal": exit}),
    );
    assert_eq!(exit, None, "the old leader exited by itself, not killed");
    assert_completed_once(&format!("{how:?}"), phase, &end, &patches);
    assert_eq!((v.stale, v.early_ms, v.late_ms, panics), (0, 0, 0, 0));
}
