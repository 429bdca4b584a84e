//! Part 2, detection: from an injected overload to the RemediationPolicy.

use super::*;

pub(crate) struct Detection {
    pub(crate) total_ms: f64,
    pub(crate) first_violation_ms: f64,
    pub(crate) violations_before_plan: usize,
}

pub(crate) async fn detection(
    client: &Client,
    http: &reqwest::Client,
    simulator: &str,
) -> Vec<Detection> {
    let plans: Api<RemediationPolicy> = Api::namespaced(client.clone(), NS);
    let policies: Api<ViolationPolicy> = Api::namespaced(client.clone(), NS);
    let mut out = Vec::new();
    for i in 0..DETECTIONS {
        let name = format!("bench-detect-{i}");
        let vp = format!("{name}-latency");
        fresh_deployment(client, &name, 2).await;
        fresh_policy(client, &vp, json!({
            "targetRef": {"name": name},
            "query": format!("mapek_sim_latency_seconds{{deployment=\"{name}\"}}"),
            "condition": {"operator": "GreaterThan", "threshold": 0.5},
            "severity": "critical", "evaluationInterval": "2s",
            "remediation": {"allowedActions": ["SCALE_UP"], "scale": {"minReplicas": 2, "maxReplicas": 6, "maxStep": 3}}
        }))
        .await;
        // Healthy and evaluated at least twice before the fault.
        mapek_test_support::poll(
            "the policy to be Ready",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async {
                let s = policies.get(&vp).await.ok()?.status?;
                mapek::conditions::is_true(&s.conditions, "Ready").then_some(())
            },
        )
        .await;
        // Only a change is written to the status: wait two more evaluations
        // (2 s apart) for the baseline in the operator's memory.
        tokio::time::sleep(Duration::from_secs(4)).await;

        // Watch plans for this target from before the fault.
        let (tx, mut rx) = watch::channel(None::<(Instant, String)>);
        let w = {
            let plans = plans.clone();
            let name = name.clone();
            tokio::spawn(async move {
                let mut s = std::pin::pin!(
                    watcher(plans, watcher::Config::default())
                        .default_backoff()
                        .applied_objects()
                );
                while let Some(ev) = s.next().await {
                    let at = Instant::now();
                    if let Ok(p) = ev
                        && p.spec.plan.target == name
                    {
                        let _ = tx.send(Some((at, p.name_any())));
                        return;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await; // the watch's initial list

        let wall0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let t0 = Instant::now();
        let r = http
            .post(format!("{simulator}/faults/{name}"))
            .json(&json!({"kind": "overload", "loadRps": 350}))
            .send()
            .await
            .expect("simulator reachable");
        assert!(r.status().is_success(), "fault injection: {}", r.status());
        let (t1, plan) =
            tokio::time::timeout(Duration::from_secs(120), rx.wait_for(Option::is_some))
                .await
                .expect("a plan within 120 s")
                .unwrap()
                .clone()
                .unwrap();
        w.abort();
        let s = policies.get(&vp).await.unwrap().status.unwrap_or_default();
        let after: Vec<i64> = s
            .recent_violations
            .iter()
            .map(|v| v.time.0.as_millisecond())
            .filter(|&t| t >= wall0)
            .collect();
        let d = Detection {
            total_ms: ms(t1 - t0),
            first_violation_ms: after.first().map_or(f64::NAN, |&t| (t - wall0) as f64),
            violations_before_plan: after.len(),
        };
        println!(
            "detection {name}: plan {plan} after {:.0} ms; first violation stamped {:.0} ms after the fault (status times have 1 s resolution, so this is truncated by up to 1 s); {} violations recorded by the time the plan was read",
            d.total_ms, d.first_violation_ms, d.violations_before_plan
        );
        out.push(d);
        // Stop the overload so this Deployment does not keep the analyzer busy.
        let _ = http
            .delete(format!("{simulator}/faults/{name}"))
            .send()
            .await;
    }
    out
}
