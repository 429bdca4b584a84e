//! Scenario files (`mapek-operator analyze --scenario`): any text is refused with
//! the file, the field and the reason, or analyzed with finite numbers only, into
//! JSON that parses back and plans that stay inside their policy's envelope.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mapek_engine::report::Report;
use mapek_engine::scenario::Scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    let scenario = match Scenario::parse(path, text) {
        Err(e) => {
            assert_eq!(e.file, path);
            assert!(!e.field.is_empty() && !e.reason.is_empty(), "{e}");
            assert!(e.to_string().starts_with("fuzz.yaml: "), "{e}");
            return;
        }
        Ok(s) => s,
    };
    assert!(
        scenario
            .violations
            .iter()
            .all(|v| v.value.is_finite() && v.threshold.is_finite())
    );
    assert!(scenario.samples.iter().all(|s| s.value.is_finite()));
    assert!(scenario.context.iter().all(|s| s.value.is_finite()));
    let report = Report::from_scenario(&scenario);
    let json = report.to_json();
    serde_json::from_str::<serde_json::Value>(&json).expect("analyze --output json is JSON");
    let _ = report.to_table();
    for plan in &report.plans {
        assert!(
            plan.confidence.is_finite() && plan.score.is_finite(),
            "{plan:?}"
        );
        let policy = scenario
            .policies
            .iter()
            .find(|p| p.name == *plan.policy)
            .expect("a plan names a policy of the file");
        assert_eq!(*plan.target, policy.target);
        mapek_fuzz::within(plan, &policy.remediation, policy.current_replicas);
    }
});
