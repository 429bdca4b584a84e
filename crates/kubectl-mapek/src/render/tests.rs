//! The tables on fixed objects.

use crate::fixtures::{plan, rp};

use super::{format_insights, format_plans};

#[test]
fn the_plans_table_summarizes_the_evidence() {
    let text = format_plans(
        &[
            rp(plan("fix-web", "shop", Some("Pending"))),
            rp(plan("done", "shop", Some("Rejected"))),
        ],
        Some("shop"),
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("NAME "), "{text}");
    for cell in [
        "fix-web",
        "web",
        "LoadSpike",
        "82%",
        "Medium",
        "SCALE_UP,UPDATE_CONFIGURATION",
        "12 violations; TemporalBurst 90%",
    ] {
        assert!(lines[1].contains(cell), "{cell:?} missing in {text}");
    }
    assert_eq!(
        format_plans(&[rp(plan("done", "shop", Some("Approved")))], Some("shop")),
        "No pending plans in namespace shop.\n"
    );
}

#[test]
fn no_insights_says_so() {
    assert_eq!(
        format_insights(&[], 1),
        "Nothing learned yet (1 PolicyOutcome with a judged result).\n"
    );
}
