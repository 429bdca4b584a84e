//! Approval integrity: approvals that must not be honoured.

use super::*;

/// Approvals that must not be honoured: nothing is patched, and the plan's
/// status (and an Event, where the plan can be judged) says why.
#[tokio::test]
async fn approval_integrity() {
    let c = client().await;
    let ns = "approval";
    common::ensure_namespace(&c, ns).await;
    common::ensure_namespace(&c, "approval-other").await;
    let plans = Api::<RemediationPolicy>::namespaced(c.clone(), ns);
    for d in [
        "wrong-hash",
        "edited",
        "expired",
        "rejected",
        "foreign",
        "elsewhere",
    ] {
        deployment(&c, ns, d).await;
    }
    policy(&c, ns, "wrong-hash", "wrong-hash", "vector(0)", 1.0).await;
    policy_with(&c, ns, "expired", "expired", "vector(0)", 1.0, "2s", "1s").await;
    policy(&c, ns, "rejected", "rejected", "vector(0)", 1.0).await;
    // Covers "wrong-hash", but the plan below targets "foreign".
    policy(&c, ns, "covers-other", "wrong-hash", "vector(0)", 1.0).await;
    // The policy of the "elsewhere" plan lives in another namespace.
    policy(
        &c,
        "approval-other",
        "elsewhere",
        "elsewhere",
        "vector(0)",
        1.0,
    )
    .await;
    let _op = Operator::start(ns, "", &[]).await;

    // A hash that is not the plan's.
    let rp = plan(
        &c,
        ns,
        "wrong-hash",
        "wrong-hash",
        "wrong-hash",
        vec![scale_to(4, "wrong-hash")],
    )
    .await;
    approve_with(&c, ns, &rp.name_any(), "0123456789abcdef").await;

    // Edited after approval: approved while its policy is missing, edited, then
    // the policy appears.
    let rp = plan(
        &c,
        ns,
        "edited",
        "edited",
        "edited",
        vec![scale_to(4, "edited")],
    )
    .await;
    approve(&c, ns, &rp).await;
    plans
        .patch(
            "edited",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/spec/actions/0/replicas", "value": 5}
                ]))
                .unwrap(),
            ),
        )
        .await
        .expect("plan edited");
    policy(&c, ns, "edited", "edited", "vector(0)", 1.0).await;

    // Expired, then approved.
    let expired = plan(
        &c,
        ns,
        "expired",
        "expired",
        "expired",
        vec![scale_to(4, "expired")],
    )
    .await;
    // Rejected, then approved.
    let rejected = plan(
        &c,
        ns,
        "rejected",
        "rejected",
        "rejected",
        vec![scale_to(4, "rejected")],
    )
    .await;
    annotate(&c, ns, "rejected", mapek_api::REJECT_ANNOTATION, "not now").await;
    // A plan whose policy covers another Deployment.
    let foreign = plan(
        &c,
        ns,
        "foreign",
        "covers-other",
        "foreign",
        vec![scale_to(4, "foreign")],
    )
    .await;
    approve(&c, ns, &foreign).await;
    // A plan naming a policy of another namespace.
    let elsewhere = plan(
        &c,
        ns,
        "elsewhere",
        "elsewhere",
        "elsewhere",
        vec![scale_to(4, "elsewhere")],
    )
    .await;
    approve(&c, ns, &elsewhere).await;

    let state_of = |name: &'static str| {
        let c = c.clone();
        async move { get_plan(&c, ns, name).await.status.unwrap_or_default() }
    };
    wait_for("expired plan", Duration::from_secs(30), || async {
        (state_of("expired").await.approval == ApprovalState::Expired).then_some(())
    })
    .await;
    approve(&c, ns, &expired).await;
    wait_for("rejected plan", Duration::from_secs(30), || async {
        (state_of("rejected").await.approval == ApprovalState::Rejected).then_some(())
    })
    .await;
    approve(&c, ns, &rejected).await;

    let want: [(&'static str, &str, Option<&str>); 6] = [
        ("wrong-hash", "does not match", Some("ApprovalRefused")),
        (
            "edited",
            "changed after it was hashed",
            Some("ApprovalRefused"),
        ),
        ("expired", "the plan is Expired", Some("ApprovalRefused")),
        ("rejected", "the plan is Rejected", Some("ApprovalRefused")),
        ("foreign", "covers", Some("Failed")),
        ("elsewhere", "not found", Some("PolicyNotFound")),
    ];
    let mut refused = 0;
    for (name, text, event) in want {
        // The executor does not watch ViolationPolicies: the "edited" plan, waiting
        // for its policy, looks again every 5 s (execute::POLICY_REQUEUE).
        wait_for(
            &format!("{name}: {text}"),
            Duration::from_secs(30),
            || async {
                let s = state_of(name).await;
                let mut said = s.approval_message.unwrap_or_default();
                said += &s.execution.and_then(|e| e.error).unwrap_or_default();
                for c in s.conditions {
                    said += &c.message;
                }
                said.contains(text).then_some(())
            },
        )
        .await;
        if let Some(reason) = event {
            wait_for(
                &format!("{name}: Event {reason}"),
                Duration::from_secs(15),
                || async {
                    event_reasons(&c, ns, name)
                        .await
                        .iter()
                        .any(|r| r == reason)
                        .then_some(())
                },
            )
            .await;
        }
        refused += 1;
    }
    // Time for anything that would wrongly run.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut unapproved = 0;
    for (name, _, _) in want {
        unapproved += operator_patches(ns, name).0;
        assert_eq!(live(&c, ns, name).await.spec.replicas, Some(2), "{name}");
    }
    let panics = panics_in_log(ns);
    report(
        "approval integrity",
        want.len(),
        refused,
        &[("unapproved actions", unapproved), ("panics", panics)],
        json!({}),
    );
    assert_eq!((unapproved, panics), (0, 0));
}
