//! `explain` on fixed objects.

use crate::fixtures::{plan, rp};

use super::explain;

#[test]
fn explain_tells_causes_patterns_actions_and_risk() {
    let text = explain(&rp(plan("fix-web", "shop", Some("Pending"))));
    for part in [
        "Plan fix-web (namespace shop) for Deployment web, proposed under ViolationPolicy web-latency.",
        "State: Pending, execution Pending.",
        "Plan hash: 9f3c2a7b",
        "the most likely root cause is LoadSpike, with 82% confidence",
        "  1. LoadSpike (82%): a sudden rise in load",
        "  2. ComponentFault (30%): web fails on its own",
        "Evidence: 12 violations analyzed; 1 pattern found:",
        "TemporalBurst (90% confidence, about web-latency): 5 violations within 2 minutes",
        "1. SCALE_UP [a1]: scale Deployment web to 5 replicas (priority High, about 30 s)",
        "2. UPDATE_CONFIGURATION [a2]: set env var MODE of container app to \"safe\" on Deployment web",
        "Expected impact: latency back under 0.5 s",
        "Risk: Medium. Cost 0.50, benefit 0.90, score 0.40, priority High.",
        "Approve: kubectl mapek approve fix-web -n shop",
    ] {
        assert!(text.contains(part), "{part:?} missing in\n{text}");
    }
    let closed = explain(&rp(plan("fix-web", "shop", Some("Rejected"))));
    assert!(!closed.contains("Approve:"), "{closed}");
    assert!(closed.contains("State: Rejected"), "{closed}");
}

#[test]
fn explain_shows_the_change_before_a_breach_and_the_rollback() {
    let mut value = plan("fix-web", "shop", Some("Pending"));
    value["spec"]["rootCause"] = "BadChange".into();
    value["spec"]["actions"] = serde_json::json!([
        { "id": "a1", "actionType": "ROLLBACK_REVISION", "target": "web", "revision": 2,
          "priority": "High", "estimatedLatencySeconds": 60 }
    ]);
    value["spec"]["evidence"]["breaches"] = serde_json::json!([{
        "policy": "web-errors", "target": "web", "current": true, "run": 8,
        "standsOut": true, "shared": false, "actionable": true, "level": 0.4,
        "threshold": 0.05, "operator": "GreaterThan", "intervalMs": 15000,
        "lastAtMs": 1000, "reason": "8 evaluations in a row over 0.05",
        "change": {
            "change": { "target": "web", "atMs": 0, "revision": 3, "previousRevision": 2,
                        "diff": [{ "field": "spec.containers[app].env[MODE].value",
                                   "before": "lenient", "after": "strict" },
                                 { "field": "spec.containers[app].env[DEBUG].value",
                                   "after": "1" }] },
            "leadMs": 185000,
            "reason": "began 3m05s after revision 3 of web"
        }
    }]);
    let text = explain(&rp(value));
    for part in [
        "the most likely root cause is BadChange",
        "Why now (web-errors): 8 evaluations in a row over 0.05.",
        "The change before it: revision 3 of Deployment web (3m05s before the breach began; \
         rolling back restores revision 2):",
        "  spec.containers[app].env[MODE].value: \"lenient\" -> \"strict\"",
        "  spec.containers[app].env[DEBUG].value: (unset) -> \"1\"",
        "1. ROLLBACK_REVISION [a1]: roll Deployment web back to the pod template of revision 2",
    ] {
        assert!(text.contains(part), "{part:?} missing in\n{text}");
    }
}

#[test]
fn explain_says_which_gitops_tool_manages_the_target() {
    let mut value = plan("fix-web", "shop", Some("Pending"));
    value["spec"]["gitOps"] = serde_json::json!({
        "tool": "ArgoCD", "owner": "Application shop-prod", "mode": "Warn",
        "evidence": "label argocd.argoproj.io/instance=shop-prod",
        "message": "Deployment web is managed by Argo CD (Application shop-prod): its next sync may undo this plan's change"
    });
    let text = explain(&rp(value));
    assert!(
        text.contains(
            "GitOps (Warn): Deployment web is managed by Argo CD (Application shop-prod): its next \
             sync may undo this plan's change (label argocd.argoproj.io/instance=shop-prod)."
        ),
        "{text}"
    );
    assert!(!explain(&rp(plan("fix-web", "shop", None))).contains("GitOps"));
}

#[test]
fn explain_shows_each_actions_dry_run() {
    let mut value = plan("fix-web", "shop", Some("Pending"));
    value["status"]["dryRun"] = serde_json::json!([
        { "actionId": "a1", "accepted": true,
          "changes": [{ "field": "spec.replicas", "before": "2", "after": "5" }] },
        { "actionId": "a2", "accepted": false,
          "error": "the API server answered 403 Forbidden: quota exceeded" }
    ]);
    let text = explain(&rp(value));
    for part in [
        "1. SCALE_UP [a1]: scale Deployment web to 5 replicas (priority High, about 30 s)\n     \
         Dry run: accepted; it changes:\n       spec.replicas: \"2\" -> \"5\"\n",
        "     Dry run: REFUSED: the API server answered 403 Forbidden: quota exceeded",
    ] {
        assert!(text.contains(part), "{part:?} missing in\n{text}");
    }
}

#[test]
fn explain_says_a_scale_goes_through_the_hpa() {
    let mut value = plan("fix-web", "shop", Some("Pending"));
    value["spec"]["hpa"] = serde_json::json!({
        "name": "web", "minReplicas": 2, "maxReplicas": 6, "mode": "RaiseMinReplicas",
        "message": "Deployment web is scaled by HorizontalPodAutoscaler web: a scale action sets its minReplicas (now 2), never spec.replicas"
    });
    let text = explain(&rp(value));
    assert!(
        text.contains(
            "HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 6; hpa RaiseMinReplicas): \
             Deployment web is scaled by HorizontalPodAutoscaler web: a scale action sets its \
             minReplicas (now 2), never spec.replicas."
        ),
        "{text}"
    );
    assert!(!explain(&rp(plan("fix-web", "shop", None))).contains("HorizontalPodAutoscaler"));
}

#[test]
fn explain_names_the_plan_s_breach_episode() {
    let mut value = plan("fix-web", "shop", Some("Pending"));
    value["metadata"]["annotations"] =
        serde_json::json!({ "mapek.io/episode-since": "2026-12-06T10:00:00Z" });
    value["spec"]["evidence"]["breaches"] = serde_json::json!([{
        "policy": "web-latency", "target": "web", "current": true, "run": 8,
        "standsOut": true, "shared": false, "actionable": true, "level": 0.9,
        "threshold": 0.5, "operator": "GreaterThan", "intervalMs": 15000,
        "lastAtMs": 1000, "reason": "escalation: the breach went on after plan 1",
        "episode": { "sinceMs": 1_796_551_200_000i64, "plans": 1, "maxPlans": 2,
                     "state": "Planned", "reason": "escalation: the breach went on after plan 1 of the episode (web-1); plan 2 of at most 2",
                     "level": 0.9 }
    }]);
    let text = explain(&rp(value));
    for part in [
        "Breach episode: since 2026-12-06T10:00:00Z.",
        "Episode: since 2026-12-06T10:00:00Z, plan 2 of at most 2 (state Planned before it): escalation",
    ] {
        assert!(text.contains(part), "{part:?} missing in\n{text}");
    }
}

#[test]
fn explain_policy_shows_its_episode_plans_and_the_exhausted_condition() {
    let vp: mapek_api::ViolationPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
        "metadata": { "name": "web-latency", "namespace": "shop" },
        "spec": { "targetRef": { "name": "web" }, "query": "q",
                  "condition": { "threshold": 0.5, "keepFiringFor": "5m" },
                  "remediation": { "maxPlansPerEpisode": 2 } },
        "status": {
            "lastValue": 0.9,
            "conditions": [{ "type": "Exhausted", "status": "True", "reason": "MaxPlansReached",
                             "message": "exhausted: 2 of at most 2 plans in this episode",
                             "lastTransitionTime": "2026-12-06T10:20:00Z" }],
            "episode": {
                "state": "Exhausted", "since": "2026-12-06T10:00:00Z",
                "lastBreach": "2026-12-06T10:21:00Z", "maxPlans": 2,
                "message": "exhausted: 2 of at most 2 plans in this episode; no other plan until it ends",
                "plans": [
                    { "name": "web-1", "proposedAt": "2026-12-06T10:01:00Z", "level": 0.9,
                      "state": "Executed", "closedAt": "2026-12-06T10:02:00Z" },
                    { "name": "web-2", "proposedAt": "2026-12-06T10:10:00Z", "level": 0.95,
                      "state": "Executed", "closedAt": "2026-12-06T10:11:00Z" }
                ]
            }
        }
    }))
    .unwrap();
    let text = crate::explain_policy(&vp);
    for part in [
        "ViolationPolicy web-latency (namespace shop) on Deployment web: GreaterThan 0.5.",
        "Breach episode: Exhausted, since 2026-12-06T10:00:00Z, last breach 2026-12-06T10:21:00Z; 2 of at most 2 plans.",
        "Why: exhausted: 2 of at most 2 plans in this episode; no other plan until it ends.",
        "  1. web-1 proposed 2026-12-06T10:01:00Z at level 0.9: Executed (closed 2026-12-06T10:02:00Z)",
        "  2. web-2 proposed",
        "Condition Exhausted=True (MaxPlansReached): exhausted",
    ] {
        assert!(text.contains(part), "{part:?} missing in\n{text}");
    }
    let mut none = vp.clone();
    none.status = None;
    assert!(crate::explain_policy(&none).contains("No breach episode yet."));
}
