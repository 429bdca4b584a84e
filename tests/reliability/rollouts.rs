//! Failed rollouts: a config change whose new pods never become Ready (kwok's
//! `pod-never-ready` stage keeps pods with `MAPEK_SIM_READY=false` NotReady). The
//! Deployment controller reports `ProgressDeadlineExceeded`, the action fails,
//! its change is undone and waited on, and the plan ends `RolledBack` with a
//! PolicyOutcome that says so; also when the operator is killed right after
//! sending the change, while it should be waiting for the rollout.

use super::*;

/// `MAPEK_SIM_READY=false` on container `app` of `target`.
fn never_ready(target: &str) -> Value {
    json!({"id": "never-ready", "actionType": "UPDATE_CONFIGURATION", "target": target,
           "priority": "Medium", "estimatedLatencySeconds": 10,
           "config": {"name": "MAPEK_SIM_READY", "target": "Env", "container": "app",
                      "value": "false"}})
}

/// Whether Deployment `name` is back as it was: no `MAPEK_SIM_READY`, every
/// replica updated and available.
async fn restored(c: &Client, ns: &str, name: &str) -> bool {
    let d = live(c, ns, name).await;
    let env_clean = d.spec.template.spec.as_ref().is_some_and(|s| {
        s.containers[0]
            .env
            .iter()
            .flatten()
            .all(|e| e.name != "MAPEK_SIM_READY")
    });
    let s = d.status.unwrap_or_default();
    env_clean
        && s.updated_replicas == Some(2)
        && s.available_replicas == Some(2)
        && s.replicas == Some(2)
}

#[tokio::test]
async fn failed_rollouts() {
    let c = client().await;
    let ns = "rollouts";
    common::ensure_namespace(&c, ns).await;
    let runs = [("plain", ""), ("killed", "applied:0=kill")];
    let (mut stuck, mut left, mut missing) = (0, 0, 0);
    let mut seconds = Vec::new();
    for (name, faults) in runs {
        deployment(&c, ns, name).await;
        Api::<Deployment>::namespaced(c.clone(), ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"progressDeadlineSeconds": 10}})),
            )
            .await
            .expect("progress deadline set");
        policy(&c, ns, name, name, "vector(0)", 1.0).await;
        wait_for(
            "the Deployment to be available",
            Duration::from_secs(60),
            || async {
                let s = live(&c, ns, name).await.status?;
                (s.available_replicas == Some(2)).then_some(())
            },
        )
        .await;
        let mut op = Operator::start(ns, faults, &[]).await;
        let rp = plan(&c, ns, name, name, name, vec![never_ready(name)]).await;
        let t0 = Instant::now();
        approve(&c, ns, &rp).await;
        if !faults.is_empty() {
            op.exited(Duration::from_secs(30)).await;
            op = Operator::start(ns, "", &[]).await;
        }
        let done = wait_for("the plan to finish", Duration::from_secs(120), || async {
            let p = get_plan(&c, ns, name).await;
            let phase = p.status.as_ref()?.phase;
            phase.is_finished().then_some(p)
        })
        .await;
        seconds.push(t0.elapsed().as_secs());
        let phase = done.status.as_ref().map(|s| s.phase);
        if phase != Some(ExecutionPhase::RolledBack) {
            stuck += 1;
            eprintln!("{name}: ended {phase:?}: {:?}", done.status);
        }
        if !restored(&c, ns, name).await {
            left += 1;
            eprintln!(
                "{name}: not restored: {:?}",
                live(&c, ns, name).await.status
            );
        }
        let outcome = wait_for("its PolicyOutcome", Duration::from_secs(30), || async {
            Api::<mapek_api::PolicyOutcome>::namespaced(c.clone(), ns)
                .get_opt(name)
                .await
                .ok()
                .flatten()
        })
        .await;
        if outcome.spec.outcome.outcome != mapek_engine::model::OutcomeType::RolledBack {
            missing += 1;
        }
        drop(op);
    }
    let panics = panics_in_log(ns);
    report(
        "failed rollouts (new pods never Ready)",
        runs.len(),
        runs.len() - (stuck + left).min(runs.len()),
        &[
            ("plans not rolled back", stuck),
            ("Deployments not restored", left),
            ("outcomes missing or wrong", missing),
            ("panics", panics),
        ],
        json!({"seconds from approval to RolledBack": seconds}),
    );
    assert_eq!((stuck, left, missing, panics), (0, 0, 0, 0));
}
