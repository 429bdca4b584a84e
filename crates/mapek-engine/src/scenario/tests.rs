//! Tests of scenario files: the timeline's conversion, context series and the
//! errors that name the field and the reason.

use std::path::Path;

use super::*;
use crate::model::ContextKind;

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
