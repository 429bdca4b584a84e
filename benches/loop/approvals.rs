//! Part 1, approve to scale: the operator's latency from an approval to the new
//! replica count, and the floor, a bare client doing the same.

use super::*;

pub(crate) async fn approve_to_scale(client: &Client) -> Vec<f64> {
    let target = "bench-scale";
    fresh_deployment(client, target, 1).await;
    // A query that never violates, so that the analyzer writes no plan of its own.
    fresh_policy(
        client,
        "bench-scale-policy",
        json!({
            "targetRef": {"name": target},
            "query": "vector(0)",
            "condition": {"operator": "GreaterThan", "threshold": 1},
            "evaluationInterval": "30s",
            "remediation": {
                "allowedActions": ["SCALE_UP", "SCALE_DOWN"],
                "scale": {"minReplicas": 1, "maxReplicas": 200, "maxStep": 1},
                "cooldown": "0s", "approvalTtl": "1h"
            }
        }),
    )
    .await;
    let plans: Api<RemediationPolicy> = Api::namespaced(client.clone(), NS);
    let mut rx = watch_deployment(client, target);
    replicas_reach(&mut rx, 1).await;

    let mut out = Vec::with_capacity(APPROVALS);
    for i in 0..APPROVALS {
        let current = rx.borrow().0;
        let want = current + 1;
        let mut plan: mapek_engine::model::RemediationPlan = serde_json::from_value(json!({
            "target": target, "policy": "bench-scale-policy", "rootCause": "LoadSpike", "confidence": 0.9,
            "actions": [{"id": "a1", "actionType": "SCALE_UP", "target": target, "replicas": want,
                         "priority": "High", "estimatedLatencySeconds": 30}],
            "expectedImpact": "bench", "risk": "Low", "priority": "High",
            "cost": 0.15, "benefit": 0.9, "score": 0.75, "planHash": ""
        }))
        .unwrap();
        plan.plan_hash = mapek_engine::plan_hash(&plan);
        let name = format!("bench-scale-{i:03}");
        let rp: RemediationPolicy = serde_json::from_value(json!({
            "apiVersion": "mapek.io/v1alpha1", "kind": "RemediationPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": serde_json::to_value(mapek_api::RemediationPolicySpec {
                plan: plan.clone(),
                evidence: mapek_api::Evidence::default(),
                git_ops: None,
                hpa: None,
            }).unwrap()
        }))
        .unwrap();
        let _ = plans.delete(&name, &DeleteParams::default()).await;
        plans
            .create(&PostParams::default(), &rp)
            .await
            .expect("plan created");
        // The executor has seen the new plan (written its Pending status) before t0,
        // so that the latency is the approval's alone.
        mapek_test_support::poll(
            "the executor to see the plan",
            Duration::from_secs(30),
            Duration::from_millis(20),
            || async { plans.get(&name).await.ok()?.status.map(|_| ()) },
        )
        .await;

        // As the local cluster's admin, one of the chart's approvers there.
        let patch = json!({"metadata": {"annotations": {
            "mapek.io/approve": plan.plan_hash, "mapek.io/approved-by": "mapek-admin"}}});
        let t0 = Instant::now();
        plans
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("approved");
        let t1 = replicas_reach(&mut rx, want).await;
        out.push(ms(t1 - t0));

        mapek_test_support::poll(
            "the plan to complete",
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async {
                let p = plans.get(&name).await.ok()?;
                (p.status?.phase == ExecutionPhase::Completed).then_some(())
            },
        )
        .await;
    }
    out
}

pub(crate) async fn floor(client: &Client) -> Vec<f64> {
    let target = "bench-floor";
    fresh_deployment(client, target, 1).await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);

    // The bare client: on `bench/approve=<n>`, patch the scale subresource to n.
    let mut seen = watch_deployment(client, target);
    let scaler = {
        let api = api.clone();
        let mut seen = seen.clone();
        tokio::spawn(async move {
            let mut done = 1;
            while seen.changed().await.is_ok() {
                let n = seen
                    .borrow_and_update()
                    .1
                    .get("bench/approve")
                    .and_then(|v| v.parse::<i32>().ok());
                if let Some(n) = n.filter(|&n| n != done) {
                    let patch = json!({"spec": {"replicas": n}});
                    api.patch_scale(target, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .expect("scale patched");
                    done = n;
                }
            }
        })
    };
    replicas_reach(&mut seen, 1).await;

    let mut out = Vec::with_capacity(APPROVALS);
    for _ in 0..APPROVALS {
        let want = seen.borrow().0 + 1;
        let patch = json!({"metadata": {"annotations": {"bench/approve": want.to_string()}}});
        let t0 = Instant::now();
        api.patch(target, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("annotated");
        let t1 = replicas_reach(&mut seen, want).await;
        out.push(ms(t1 - t0));
    }
    scaler.abort();
    out
}
