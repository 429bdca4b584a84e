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
        unapproved += {
            let p = operator_patches(ns, name);
            p.ok + p.cut
        };
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

/// Approver spoofing, against the chart's approvers policy (e2e/run-local
/// installs it with the admin and group mapek-approvers as approvers): mallory
/// (allowed by RBAC to annotate plans), mallory naming the admin, alice naming
/// the admin, and the operator's own ServiceAccount creating a plan that is
/// already approved are all refused by the API server with the policy's
/// message; nothing runs until alice approves under her own name.
#[tokio::test]
async fn approver_spoofing() {
    let c = client().await;
    let ns = "spoofing";
    common::ensure_namespace(&c, ns).await;
    deployment(&c, ns, "web").await;
    policy(&c, ns, "web", "web", "vector(0)", 1.0).await;
    let op = Operator::start(ns, "", &[]).await;
    let rp = plan(&c, ns, "web", "web", "web", vec![scale_to(3, "web")]).await;
    let hash = rp.spec.plan.plan_hash.clone();
    kubectl(
        &[
            "create",
            "role",
            "plan-editor",
            "-n",
            ns,
            "--verb=get,patch",
            "--resource=remediationpolicies.mapek.io",
        ],
        None,
    );
    kubectl(
        &[
            "create",
            "rolebinding",
            "plan-editor",
            "-n",
            ns,
            "--role=plan-editor",
            "--user=mallory",
        ],
        None,
    );
    let approve_as = |context: &str, by: &str| {
        let out = try_kubectl(
            &[
                "--context",
                context,
                "annotate",
                "remediationpolicy",
                "web",
                "-n",
                ns,
                &format!("mapek.io/approve={hash}"),
                &format!("mapek.io/approved-by={by}"),
            ],
            None,
        );
        (out.ok, out.stderr)
    };
    let mut attempts: Vec<(&str, (bool, String))> = Vec::new();
    // RBAC bindings take effect at once, but wait for them to be sure the
    // refusal below is the policy's, not RBAC's.
    let first = wait_for("mallory's RBAC", Duration::from_secs(10), || async {
        let r = approve_as("mallory", "mallory");
        (!r.1.contains("cannot patch")).then_some(r)
    })
    .await;
    attempts.push(("mallory as herself", first));
    attempts.push((
        "mallory as the admin",
        approve_as("mallory", common::ADMIN_USER),
    ));
    attempts.push((
        "alice as the admin",
        approve_as("alice", common::ADMIN_USER),
    ));
    let operator = operator_kubeconfig(ns, &[]);
    let mut preapproved = serde_json::to_value(&rp).unwrap();
    preapproved["metadata"] = json!({"name": "web-preapproved", "namespace": ns,
        "annotations": {"mapek.io/approve": hash, "mapek.io/approved-by": "mapek-operator"}});
    attempts.push(
        ("the operator's ServiceAccount creating an approved plan", {
            let out = try_kubectl(
                &[
                    "--kubeconfig",
                    operator.to_str().unwrap(),
                    "create",
                    "-f",
                    "-",
                ],
                Some(&preapproved.to_string()),
            );
            (out.ok, out.stderr)
        }),
    );
    let (mut honoured, mut unexplained) = (0, 0);
    for (who, (ok, err)) in &attempts {
        if *ok {
            honoured += 1;
            eprintln!("{who}: accepted");
        } else if !(err.contains("only the approvers named") || err.contains("must carry")) {
            unexplained += 1;
            eprintln!("{who}: refused without the policy's message: {err}");
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending = get_plan(&c, ns, "web").await;
    let status = pending.status.unwrap_or_default();
    if status.approval != ApprovalState::Pending
        || live(&c, ns, "web").await.spec.replicas != Some(2)
    {
        honoured += 1;
    }
    // alice, under her own name.
    let (ok, err) = approve_as("alice", "alice");
    assert!(ok, "alice's approval: {err}");
    let done = finished(&c, ns, "web", Duration::from_secs(60)).await;
    let status = done.status.unwrap();
    let panics = panics_in_log(ns);
    drop(op);
    report(
        "approver spoofing",
        attempts.len(),
        attempts.len() - honoured.min(attempts.len()),
        &[
            ("spoofed approvals honoured", honoured),
            ("refusals without the policy's message", unexplained),
            ("panics", panics),
        ],
        json!({"approved by": status.approved_by}),
    );
    assert_eq!((honoured, unexplained, panics), (0, 0, 0));
    assert_eq!(status.phase, ExecutionPhase::Completed);
    assert_eq!(status.approved_by.as_deref(), Some("alice"));
}
