//! Tests of scenario files: the timeline's conversion, context series and the
//! errors that name the field and the reason.

use std::path::Path;

use super::*;
use crate::model::{ContextKind, EpisodePlan, EpisodePlanState, EpisodeState};

const HEAD: &str = "start: 2026-11-26T10:00:00Z\npolicies:\n";

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(Path::new("s.yaml"), text)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn a_timeline_becomes_violations_and_samples() {
    let s = parse(&format!(
        "{HEAD}  - {{name: p, target: web, threshold: 1}}\nviolations:\n  - {{policy: p, t: 1.5, value: 2}}\nseries:\n  - {{policy: p, start: 10, step: 5, values: [1, 2]}}\n"
    ))
    .unwrap();
    let start = 1_795_687_200_000; // 2026-11-26T10:00:00Z
    assert_eq!(s.violations[0].at_ms, start + 1500);
    assert_eq!(s.violations[0].id, "p-0");
    assert_eq!(s.violations[0].component, "web");
    assert_eq!(
        s.samples.iter().map(|x| x.at_ms).collect::<Vec<_>>(),
        [start + 10_000, start + 15_000]
    );
    assert_eq!(s.now, start + 15_000);
}

#[test]
fn load_and_saturation_series_become_context_samples() {
    let s = parse(&format!(
        "{HEAD}  - {{name: p, target: web, threshold: 1}}\nload:\n  - {{policy: p, start: 10, step: 5, values: [100, 120]}}\nsaturation:\n  - {{policy: p, step: 5, values: [0.5]}}\n"
    ))
    .unwrap();
    let start = 1_795_687_200_000;
    assert_eq!(
        s.context,
        [
            ContextSample {
                policy: "p".into(),
                kind: ContextKind::Load,
                at_ms: start + 10_000,
                value: 100.0
            },
            ContextSample {
                policy: "p".into(),
                kind: ContextKind::Load,
                at_ms: start + 15_000,
                value: 120.0
            },
            ContextSample {
                policy: "p".into(),
                kind: ContextKind::Saturation,
                at_ms: start,
                value: 0.5
            },
        ]
    );
    // Context samples do not move `now` (the metric's last event does).
    assert!(s.samples.is_empty());
    assert_eq!(
        error(&format!(
            "{HEAD}  - {{name: p, target: web, threshold: 1}}\nload:\n  - {{policy: q, step: 5, values: [1]}}\n"
        )),
        "s.yaml: load[0].policy: unknown policy \"q\""
    );
    // Files without them load as before.
    let old = parse(&format!(
        "{HEAD}  - {{name: p, target: web, threshold: 1}}\n"
    ))
    .unwrap();
    assert!(old.context.is_empty());
}

#[test]
fn bad_input_names_the_field_and_reason() {
    assert_eq!(
        error(&format!(
            "{HEAD}  - {{name: p, target: web, threshold: .nan}}\n"
        )),
        "s.yaml: policies[0].threshold: NaN is not a finite number"
    );
    assert_eq!(
        error(&format!(
            "{HEAD}  - {{name: p, target: web, threshold: 1}}\nviolations:\n  - {{policy: q, t: 1, value: 2}}\n"
        )),
        "s.yaml: violations[0].policy: unknown policy \"q\""
    );
    assert!(
        error(&format!("{HEAD}  - {{name: p, target: web, threshold: 1, remediation: {{allowedActions: [SCALE_SIDEWAYS]}}}}\n"))
            .starts_with("s.yaml: line 3 column ")
    );
    assert!(error(&format!("{HEAD}  - {{name: p, target: web, threshold: 1, remediation: {{allowedActions: [SCALE_SIDEWAYS]}}}}\n")).contains("unknown variant `SCALE_SIDEWAYS`"));
    assert_eq!(
        error(&format!(
            "{HEAD}  - name: p\n    target: web\n    threshold: 1\n    remediation: {{allowedActions: [SCALE_UP]}}\n"
        )),
        "s.yaml: policies[0].remediation.scale: scale bounds are required when SCALE_UP or SCALE_DOWN is allowed"
    );
    assert_eq!(
        error(&format!(
            "{HEAD}  - name: p\n    target: web\n    threshold: 1\n    remediation: {{allowedActions: [SCALE_UP], scale: {{minReplicas: 4, maxReplicas: 2, maxStep: 1}}}}\n"
        )),
        "s.yaml: policies[0].remediation.scale.minReplicas: minReplicas (4) must not exceed maxReplicas (2)"
    );
    assert_eq!(
        error("start: yesterday\npolicies: []\n").split(':').nth(1),
        Some(" start")
    );
    assert!(
        error(&format!(
            "{HEAD}  - {{name: p, target: web, threshold: 1, colour: red}}\n"
        ))
        .contains("unknown field `colour`")
    );
}

#[test]
fn changes_become_template_changes() {
    let s = parse(&format!(
        "{HEAD}  - {{name: p, target: web, threshold: 1}}\nchanges:\n  - target: web\n    t: 90\n    revision: 4\n    previousRevision: 3\n    diff:\n      - {{field: \"containers[web].env[MODE]\", before: lenient, after: strict}}\n      - {{field: \"containers[web].env[NEW]\", after: \"1\"}}\n"
    ))
    .unwrap();
    let start = 1_795_687_200_000;
    assert_eq!(
        s.changes,
        [crate::model::TemplateChange {
            target: "web".into(),
            at_ms: start + 90_000,
            revision: 4,
            previous_revision: 3,
            diff: vec![
                crate::model::FieldChange {
                    field: "containers[web].env[MODE]".into(),
                    before: Some("lenient".into()),
                    after: Some("strict".into()),
                },
                crate::model::FieldChange {
                    field: "containers[web].env[NEW]".into(),
                    before: None,
                    after: Some("1".into()),
                },
            ],
        }]
    );
    // Changes do not move `now`, and files without them load as before.
    assert_eq!(s.now, start);
    let old = parse(&format!(
        "{HEAD}  - {{name: p, target: web, threshold: 1}}\n"
    ))
    .unwrap();
    assert!(old.changes.is_empty());

    let policy = format!("{HEAD}  - {{name: p, target: web, threshold: 1}}\nchanges:\n");
    assert_eq!(
        error(&format!(
            "{policy}  - {{target: db, t: 1, revision: 2, previousRevision: 1}}\n"
        )),
        "s.yaml: changes[0].target: no policy targets Deployment \"db\""
    );
    assert_eq!(
        error(&format!(
            "{policy}  - {{target: web, t: -5, revision: 2, previousRevision: 1}}\n"
        )),
        "s.yaml: changes[0].t: -5 is not a number of seconds between 0 and 1e10"
    );
    assert_eq!(
        error(&format!(
            "{policy}  - {{target: web, t: 1, revision: 2, previousRevision: 2}}\n"
        )),
        "s.yaml: changes[0].previousRevision: 2 is not a revision between 1 and revision - 1 (1)"
    );
    assert_eq!(
        error(&format!(
            "{policy}  - {{target: web, t: 1, revision: 0, previousRevision: 1}}\n"
        )),
        "s.yaml: changes[0].revision: must be at least 1"
    );
    assert_eq!(
        error(&format!(
            "{policy}  - {{target: web, t: 1, revision: 2, previousRevision: 1, diff: [{{field: \"\"}}]}}\n"
        )),
        "s.yaml: changes[0].diff[0].field: must not be empty"
    );
    assert!(
        error(&format!(
            "{policy}  - {{target: web, t: 1, revision: 2, previousRevision: 1, diff: [{{field: x, colour: red}}]}}\n"
        ))
        .contains("unknown field `colour`")
    );
    assert!(
        error(&format!("{policy}  - {{target: web, t: 1, revision: 2}}\n"))
            .contains("previousRevision")
    );
}

const EPISODE_POLICY: &str = "  - {name: p, target: web, threshold: 1}\n";

/// A file with policy `p` (and `policy`'s extra fields), samples up to
/// t = 3600 and `episodes` as given.
fn with_episodes(policy: &str, episodes: &str) -> String {
    format!(
        "{HEAD}  - {{name: p, target: web, threshold: 1{policy}}}\nseries:\n  - {{policy: p, start: 0, step: 1800, values: [1, 2, 3]}}\nepisodes:\n{episodes}"
    )
}

#[test]
fn episodes_become_the_policies_episodes_before_now() {
    let s = parse(&with_episodes(
        ", maxPlansPerEpisode: 3, keepFiringFor: 600",
        "  - policy: p\n    since: 600\n    lastBreach: 3000\n    state: Planned\n    plans:\n      - {name: web-abc, t: 700, level: 1.2, state: Executed, closedAt: 760}\n      - {name: web-def, t: 1500, level: 1.3, state: Rejected, closedAt: 1600, worsened: true}\n      - {name: web-ghi, t: 1500, level: 1.4}\n",
    ))
    .unwrap();
    let start = 1_795_687_200_000;
    let plan = |name: &str, t: i64, level, state, closed: Option<i64>, worsened| EpisodePlan {
        name: name.into(),
        at_ms: start + t * 1000,
        level,
        state,
        closed_ms: closed.map(|c| start + c * 1000),
        worsened,
        actions: Vec::new(),
    };
    let e = &s.episodes[0];
    assert_eq!(s.episodes.len(), 1);
    assert_eq!(e.policy, "p");
    assert_eq!(e.since_ms, start + 600_000);
    assert_eq!(e.last_breach_ms, start + 3_000_000);
    assert_eq!(e.state, EpisodeState::Planned);
    assert_eq!(e.max_plans, 3);
    assert_eq!(e.ended_ms, None);
    assert_eq!(
        e.plans,
        [
            plan(
                "web-abc",
                700,
                1.2,
                EpisodePlanState::Executed,
                Some(760),
                false
            ),
            plan(
                "web-def",
                1500,
                1.3,
                EpisodePlanState::Rejected,
                Some(1600),
                true
            ),
            plan("web-ghi", 1500, 1.4, EpisodePlanState::Open, None, false),
        ]
    );
    assert_eq!(s.policies[0].info().keep_firing_for_ms, Some(600_000));
}

#[test]
fn an_episode_defaults_to_breaching_since_its_start_with_two_plans_at_most() {
    let s = parse(&with_episodes("", "  - {policy: p, since: 600}\n")).unwrap();
    let e = &s.episodes[0];
    assert_eq!(e.state, EpisodeState::Breaching);
    assert_eq!(e.last_breach_ms, e.since_ms);
    assert_eq!(e.max_plans, 2);
    assert!(e.plans.is_empty());
    let resolved = parse(&with_episodes(
        "",
        "  - {policy: p, since: 600, lastBreach: 900, state: Resolved, endedAt: 1200}\n",
    ))
    .unwrap();
    assert_eq!(
        resolved.episodes[0].ended_ms,
        Some(1_795_687_200_000 + 1_200_000)
    );
    // Files without episodes load as before.
    let old = parse(&format!("{HEAD}{EPISODE_POLICY}")).unwrap();
    assert!(old.episodes.is_empty());
}

#[test]
fn bad_episodes_name_the_field_and_reason() {
    let bad = |episodes: &str| error(&with_episodes("", episodes));
    assert_eq!(
        bad("  - {policy: q, since: 600}\n"),
        "s.yaml: episodes[0].policy: unknown policy \"q\""
    );
    assert_eq!(
        bad("  - {policy: p, since: 600}\n  - {policy: p, since: 900}\n"),
        "s.yaml: episodes[1].policy: a second episode of policy \"p\""
    );
    assert_eq!(
        bad("  - {policy: p, since: -1}\n"),
        "s.yaml: episodes[0].since: -1 is not a number of seconds between 0 and 1e10"
    );
    assert_eq!(
        bad("  - {policy: p, since: .inf}\n"),
        "s.yaml: episodes[0].since: inf is not a number of seconds between 0 and 1e10"
    );
    assert_eq!(
        bad("  - {policy: p, since: 600, lastBreach: 500}\n"),
        "s.yaml: episodes[0].lastBreach: is before since"
    );
    assert_eq!(
        bad("  - {policy: p, since: 600, endedAt: 900}\n"),
        "s.yaml: episodes[0].endedAt: only a Resolved episode has ended, not a Breaching one"
    );
    assert_eq!(
        bad("  - {policy: p, since: 600, lastBreach: 1000, state: Resolved, endedAt: 900}\n"),
        "s.yaml: episodes[0].endedAt: is before lastBreach"
    );
    assert_eq!(
        bad("  - {policy: p, since: 600, lastBreach: 3700}\n"),
        "s.yaml: episodes[0]: states what happened 100s after now"
    );
    let plans = "  - policy: p\n    since: 600\n    plans:\n";
    assert_eq!(
        bad(&format!(
            "{plans}      - {{name: a, t: 500, level: 2, state: Executed}}\n"
        )),
        "s.yaml: episodes[0].plans[0].t: is before the episode's since"
    );
    assert_eq!(
        bad(&format!(
            "{plans}      - {{name: a, t: 900, level: 2, state: Executed}}\n      - {{name: b, t: 800, level: 2, state: Executed}}\n"
        )),
        "s.yaml: episodes[0].plans[1].t: is before plans[0].t: plans are oldest first"
    );
    assert_eq!(
        bad(&format!(
            "{plans}      - {{name: a, t: 900, level: 2, state: Executed, closedAt: 800}}\n"
        )),
        "s.yaml: episodes[0].plans[0].closedAt: is before the plan's t"
    );
    assert_eq!(
        bad(&format!(
            "{plans}      - {{name: a, t: 900, level: 2, closedAt: 950}}\n"
        )),
        "s.yaml: episodes[0].plans[0].closedAt: an Open plan has not closed"
    );
    assert_eq!(
        bad(&format!(
            "{plans}      - {{name: a, t: 900, level: .nan}}\n"
        )),
        "s.yaml: episodes[0].plans[0].level: NaN is not a finite number"
    );
    assert_eq!(
        bad(&format!(
            "{plans}      - {{name: \"\", t: 900, level: 2}}\n"
        )),
        "s.yaml: episodes[0].plans[0].name: must not be empty"
    );
    assert!(
        bad("  - {policy: p, since: 600, state: Sleeping}\n")
            .contains("unknown variant `Sleeping`")
    );
    assert!(bad("  - {policy: p, since: 600, colour: red}\n").contains("unknown field `colour`"));
    assert!(
        bad(&format!(
            "{plans}      - {{name: a, t: 900, level: 2, colour: red}}\n"
        ))
        .contains("unknown field `colour`")
    );
}

#[test]
fn bad_episode_settings_of_a_policy_name_the_field_and_reason() {
    let bad = |policy: &str| {
        error(&format!(
            "{HEAD}  - {{name: p, target: web, threshold: 1{policy}}}\n"
        ))
    };
    assert_eq!(
        bad(", keepFiringFor: -60"),
        "s.yaml: policies[0].keepFiringFor: -60 is not a number of seconds >= 0"
    );
    assert_eq!(
        bad(", keepFiringFor: .inf"),
        "s.yaml: policies[0].keepFiringFor: inf is not a number of seconds >= 0"
    );
    assert_eq!(
        bad(", maxPlansPerEpisode: 0"),
        "s.yaml: policies[0].maxPlansPerEpisode: must be at least 1"
    );
    assert!(bad(", maxPlansPerEpisode: -1").starts_with("s.yaml: line 3 column "));
    assert_eq!(
        bad(", for: -1"),
        "s.yaml: policies[0].for: -1 is not a number of seconds >= 0"
    );
}
