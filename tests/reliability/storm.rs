//! The storm brake: with at most 2 executions per 10 minutes, 4 plans approved at
//! once start 2; the other 2 wait with the `StormBrake` condition, a Warning Event
//! and `mapek_storm_brake_engaged 1`, and one of them starts as soon as a human
//! lets it through with its hash.

use super::*;

#[tokio::test]
async fn storm_brake() {
    let c = client().await;
    let ns = "storm";
    common::ensure_namespace(&c, ns).await;
    let names = ["s1", "s2", "s3", "s4"];
    for name in names {
        deployment(&c, ns, name).await;
        policy(&c, ns, name, name, "vector(0)", 1.0).await;
    }
    let op = Operator::start(ns, "", &[("MAPE_K_STORM_BRAKE_MAX_EXECUTIONS", "2")]).await;
    for name in names {
        let rp = plan(&c, ns, name, name, name, vec![scale_to(3, name)]).await;
        approve(&c, ns, &rp).await;
    }
    // Two complete; the other two are held.
    let (held, completed) = wait_for(
        "two held, two completed",
        Duration::from_secs(90),
        || async {
            let mut held = Vec::new();
            let mut completed = 0;
            for name in names {
                let s = get_plan(&c, ns, name).await.status?;
                match s.phase {
                    ExecutionPhase::Completed => completed += 1,
                    ExecutionPhase::Pending
                        if s.conditions
                            .iter()
                            .any(|c| c.type_ == "Progressing" && c.reason == "StormBrake") =>
                    {
                        held.push(name)
                    }
                    _ => {}
                }
            }
            (held.len() + completed == names.len() && completed >= 2).then_some((held, completed))
        },
    )
    .await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", op.port))
        .await
        .expect("metrics served")
        .text()
        .await
        .unwrap_or_default();
    let engaged = metrics.lines().any(|l| l == "mapek_storm_brake_engaged 1");
    let evented = {
        let mut all = true;
        for name in &held {
            all &= event_reasons(&c, ns, name)
                .await
                .iter()
                .any(|r| r == "StormBrake");
        }
        all
    };
    let mut past_the_brake = completed.saturating_sub(2);
    let mut unreported = usize::from(!engaged) + usize::from(!evented);
    // Still held a few seconds later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in &held {
        let s = get_plan(&c, ns, name).await.status.unwrap_or_default();
        if s.phase != ExecutionPhase::Pending {
            past_the_brake += 1;
        }
    }
    // A human lets one through.
    let through = held.first().copied();
    if let Some(name) = through {
        let hash = get_plan(&c, ns, name).await.spec.plan.plan_hash;
        annotate(
            &c,
            ns,
            name,
            mapek_api::STORM_BRAKE_OVERRIDE_ANNOTATION,
            &hash,
        )
        .await;
        let done = finished(&c, ns, name, Duration::from_secs(60)).await;
        if done.status.map(|s| s.phase) != Some(ExecutionPhase::Completed) {
            unreported += 1;
        }
    }
    for name in held.iter().skip(1) {
        let s = get_plan(&c, ns, name).await.status.unwrap_or_default();
        if s.phase != ExecutionPhase::Pending {
            past_the_brake += 1;
        }
    }
    let panics = panics_in_log(ns);
    drop(op);
    report(
        "storm brake (at most 2 executions per 10 minutes)",
        held.len(),
        held.len() - past_the_brake.min(held.len()),
        &[
            ("executions past the brake", past_the_brake),
            ("held plans without condition, Event or metric", unreported),
            ("panics", panics),
        ],
        json!({"approved at once": names.len(), "held": held.len(), "let through by a human": through.is_some()}),
    );
    assert_eq!(held.len(), 2, "held {held:?}");
    assert_eq!((past_the_brake, unreported, panics), (0, 0, 0));
}
