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
