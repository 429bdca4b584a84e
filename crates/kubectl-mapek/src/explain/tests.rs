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
