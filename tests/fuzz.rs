//! Time-bounded fuzzing (proptest) of the two places where outside input enters
//! the engine: scenario files and Prometheus query results. Neither may panic, and
//! neither may let a non-finite number through.

use std::path::Path;

use mapek::prometheus::single_value;
use mapek_engine::report::Report;
use mapek_engine::scenario::Scenario;
use prometheus_http_query::response::Data;
use proptest::prelude::*;

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<i64>().prop_map(|i| i.to_string()),
        Just(".nan".to_string()),
        Just("-.inf".to_string()),
        Just("1e400".to_string()),
        Just("\"3\"".to_string()),
        Just("~".to_string()),
    ]
}

/// Scenario-shaped YAML with hostile numbers, names and actions.
fn scenario_yaml() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((number(), number(), 0usize..3), 0..20),
        number(),
        number(),
        prop_oneof![Just("SCALE_UP"), Just("RESTART_SERVICE"), Just("SCALE_SIDEWAYS")],
        (number(), number(), number()),
        prop_oneof![Just("2026-11-26T10:00:00Z"), Just("yesterday"), Just("9999-12-31T23:59:59Z")],
    )
        .prop_map(|(violations, threshold, replicas, action, (min, max, step), start)| {
            let mut s = format!(
                "start: {start}\npolicies:\n  - name: p0\n    target: web\n    threshold: {threshold}\n    currentReplicas: {replicas}\n    remediation:\n      allowedActions: [{action}]\n      scale: {{minReplicas: {min}, maxReplicas: {max}, maxStep: {step}}}\nviolations:\n"
            );
            for (t, v, p) in violations {
                s += &format!("  - {{policy: p{p}, t: {t}, value: {v}}}\n");
            }
            s += "series:\n  - {policy: p0, start: 0, step: 15, values: [1, 2, 3, .nan]}\n";
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in ".{0,400}") {
        let _ = Scenario::parse(Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn hostile_scenarios_are_refused_or_analyzed(text in scenario_yaml()) {
        if let Ok(s) = Scenario::parse(Path::new("fuzz.yaml"), &text) {
            prop_assert!(s.violations.iter().all(|v| v.value.is_finite() && v.threshold.is_finite()));
            prop_assert!(s.samples.iter().all(|x| x.value.is_finite()));
            let report = Report::from_scenario(&s);
            for plan in &report.plans {
                prop_assert!(plan.score.is_finite() && plan.cost.is_finite());
            }
        }
    }

    #[test]
    fn prometheus_results_give_a_finite_number_or_an_error(
        values in prop::collection::vec(prop_oneof![
            any::<f64>().prop_map(|f| f.to_string()),
            Just("NaN".to_string()), Just("+Inf".to_string()), Just("-Inf".to_string()),
            Just("not a number".to_string()),
        ], 0..4),
        scalar in any::<bool>(),
    ) {
        let json = if scalar {
            format!(r#"{{"resultType":"scalar","result":[1,"{}"]}}"#, values.first().cloned().unwrap_or_default())
        } else {
            let series: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, v)| format!(r#"{{"metric":{{"i":"{i}"}},"value":[1,"{v}"]}}"#))
                .collect();
            format!(r#"{{"resultType":"vector","result":[{}]}}"#, series.join(","))
        };
        if let Ok(data) = serde_json::from_str::<Data>(&json)
            && let Ok(v) = single_value(&data)
        {
            prop_assert!(v.is_finite());
        }
    }
}
