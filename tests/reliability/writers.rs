//! Concurrent writers: another writer changes what an action replaces between
//! the operator's read and its patch.

use super::*;

/// Another writer changes the value an action replaces between the action's
/// read (write-ahead) and its patch: the action is refused, the other writer's
/// value stays. Another writer shifting the env entry a config patch replaces,
/// between the read the patch is computed from and the patch: the patch fails its
/// `test`, is computed again from a fresh read, and neither side loses an update.
#[tokio::test]
async fn concurrent_writers() {
    let c = client().await;
    let ns = "writers";
    common::ensure_namespace(&c, ns).await;
    let deployments = Api::<Deployment>::namespaced(c.clone(), ns);
    let pp = PatchParams::default();
    let mut lost = 0;
    let mut stale = 0;

    // Replicas changed between read and patch.
    deployment(&c, ns, "replicas").await;
    policy(&c, ns, "replicas-policy", "replicas", "vector(0)", 1.0).await;
    // Config changed between read and patch.
    deployment(&c, ns, "config").await;
    policy(&c, ns, "config-policy", "config", "vector(0)", 1.0).await;
    // Churn.
    deployment(&c, ns, "churn").await;
    policy(&c, ns, "churn-policy", "churn", "vector(0)", 1.0).await;

    let op = Operator::start(ns, "write-ahead:0=pause:1500", &[]).await;

    let rp = plan(
        &c,
        ns,
        "replicas-plan",
        "replicas-policy",
        "replicas",
        vec![scale_to(4, "replicas")],
    )
    .await;
    approve(&c, ns, &rp).await;
    running(&c, ns, "replicas-plan", 0).await;
    deployments
        .patch(
            "replicas",
            &pp,
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let done = finished(&c, ns, "replicas-plan", Duration::from_secs(30)).await;
    let exec = done.status.unwrap().execution.unwrap();
    assert_eq!(exec.actions[0].status, ExecutionStatus::Failed);
    assert!(
        exec.error
            .as_deref()
            .unwrap_or_default()
            .contains("another writer"),
        "{exec:?}"
    );
    if live(&c, ns, "replicas").await.spec.replicas != Some(3) {
        lost += 1;
    }
    stale += {
        let p = operator_patches(ns, "replicas");
        p.ok + p.cut
    };

    let rp = plan(
        &c,
        ns,
        "config-plan",
        "config-policy",
        "config",
        vec![set_mode("app", "config")],
    )
    .await;
    approve(&c, ns, &rp).await;
    running(&c, ns, "config-plan", 0).await;
    deployments
        .patch(
            "config",
            &pp,
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "c"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    let done = finished(&c, ns, "config-plan", Duration::from_secs(30)).await;
    let exec = done.status.unwrap().execution.unwrap();
    assert_eq!(exec.actions[0].status, ExecutionStatus::Failed);
    if mode(&live(&c, ns, "config").await).as_deref() != Some("c") {
        lost += 1;
    }
    stale += {
        let p = operator_patches(ns, "config");
        p.ok + p.cut
    };

    // Between the fresh read a config patch is computed from and the patch,
    // another writer inserts an env entry in front of MODE: the patch's `test`
    // fails on the shifted index, and the patch is computed again from a fresh
    // read. Meanwhile the other writer keeps writing an annotation.
    drop(op);
    let op = Operator::start(ns, "config-read#1=pause:1500", &[]).await;
    let rp = plan(
        &c,
        ns,
        "churn-plan",
        "churn-policy",
        "churn",
        vec![
            set_mode("app", "churn"),
            scale_to(4, "churn"),
            restart("churn"),
        ],
    )
    .await;
    approve(&c, ns, &rp).await;
    running(&c, ns, "churn-plan", 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let insert: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/spec/template/spec/containers/0/env/0",
         "value": {"name": "EXTRA", "value": "x"}}
    ]))
    .unwrap();
    deployments
        .patch("churn", &pp, &Patch::Json::<()>(insert))
        .await
        .expect("the other writer's insert");
    // The writer stops after 5 s: one that never stops starves the Deployment
    // controller (each of its writes conflicts with the controller's status
    // update, which backs off), so no rollout, the executor's waits included,
    // could complete while it runs.
    let writer = {
        let deployments = deployments.clone();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        tokio::spawn(async move {
            for seq in 1u64.. {
                if std::time::Instant::now() > until {
                    return;
                }
                let note = json!({"metadata": {"annotations": {"writer/seq": seq.to_string()}}});
                if deployments
                    .patch("churn", &PatchParams::default(), &Patch::Merge(note))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let done = finished(&c, ns, "churn-plan", Duration::from_secs(60)).await;
    writer.abort();
    let _ = writer.await;
    let status = done.status.unwrap();
    assert_eq!(
        status.phase,
        ExecutionPhase::Completed,
        "{:?}",
        status.execution
    );
    let d = live(&c, ns, "churn").await;
    let env: Vec<String> = d.spec.template.spec.as_ref().unwrap().containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| format!("{}={}", e.name, e.value.clone().unwrap_or_default()))
        .collect();
    let churn_ok = env == ["EXTRA=x", "MODE=b"]
        && d.spec.replicas == Some(4)
        && mapek::controllers::executor::patch::restarted_at(&d).is_some();
    if !churn_ok {
        lost += 1;
        eprintln!("churn: env {env:?}, replicas {:?}", d.spec.replicas);
    }
    let writer_seq = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("writer/seq"))
        .cloned();
    assert!(writer_seq.is_some(), "the writer's annotation was lost");
    let churn = operator_patches(ns, "churn");
    let (churn_patches, churn_conflicts) = (churn.ok, churn.refused + churn.cut);
    let panics = panics_in_log(ns);
    drop(op);
    report(
        "concurrent writers on the same Deployment",
        3,
        3 - lost,
        &[
            ("lost updates", lost),
            ("stale overwrites", stale),
            ("panics", panics),
        ],
        json!({"operator patches in the churn run": churn_patches,
               "operator patches refused by a test and retried": churn_conflicts}),
    );
    assert_eq!((lost, stale, panics), (0, 0, 0));
    assert_eq!(churn_patches, 3, "each of the three actions patched once");
    assert_eq!(churn_conflicts, 1, "the config patch's failed test");
}

/// Another writer restarts the Deployment (a `kubectl rollout restart`) after the
/// operator's restart succeeded and before a later action fails: the rollback
/// leaves the other writer's `restartedAt` alone (and says so) instead of putting
/// back the value from before the plan.
#[tokio::test]
async fn restart_undo_leaves_another_writers_restart() {
    let c = client().await;
    let ns = "restart-undo";
    let name = "web";
    common::ensure_namespace(&c, ns).await;
    deployment(&c, ns, name).await;
    policy(&c, ns, "web-policy", name, "vector(0)", 1.0).await;
    let _op = Operator::start(ns, "succeeded:0=pause:3000", &[]).await;
    // The restart, then an action on a container the Deployment lacks: it fails.
    let actions = vec![restart(name), set_mode("sidecar", name)];
    let rp = plan(&c, ns, "web-plan", "web-policy", name, actions).await;
    approve(&c, ns, &rp).await;
    wait_for(
        "the restart to succeed",
        Duration::from_secs(30),
        || async {
            let exec = get_plan(&c, ns, "web-plan").await.status?.execution?;
            (exec.actions.first()?.status == ExecutionStatus::Succeeded).then_some(())
        },
    )
    .await;
    let theirs = "2030-01-01T00:00:00Z";
    let annotation = mapek_api::RESTARTED_AT_ANNOTATION;
    let restart =
        json!({"spec": {"template": {"metadata": {"annotations": {annotation: theirs}}}}});
    Api::<Deployment>::namespaced(c.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(restart))
        .await
        .expect("the other writer's restart");
    let done = finished(&c, ns, "web-plan", Duration::from_secs(60)).await;
    let status = done.status.unwrap();
    let error = status.execution.and_then(|e| e.error).unwrap_or_default();
    let d = live(&c, ns, name).await;
    let kept = d
        .spec
        .template
        .metadata
        .and_then(|m| m.annotations)
        .and_then(|a| a.get(annotation).cloned());
    let ok = operator_patches(ns, name).ok;
    let overwritten = usize::from(kept.as_deref() != Some(theirs));
    let panics = panics_in_log(ns);
    report(
        "restart undo after another writer's restart",
        1,
        1 - overwritten,
        &[
            ("other writer's restart overwritten", overwritten),
            ("double executions", ok.saturating_sub(1)),
            ("panics", panics),
        ],
        json!({"phase": format!("{:?}", status.phase), "error": error}),
    );
    assert_eq!((overwritten, ok, panics), (0, 1, 0), "restartedAt {kept:?}");
    assert_eq!(status.phase, ExecutionPhase::Failed);
    assert!(error.contains("another writer"), "{error}");
}
