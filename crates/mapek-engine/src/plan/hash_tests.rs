//! Tests of the plan hash against its definition (the canonical JSON by value).

use super::canonical::{write_canonical_plan, write_f64};
use super::*;
use crate::model::{ConfigChange, ConfigTarget, RiskLevel};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// The definition of the canonical JSON: the plan's `serde_json::Value` with
/// `planHash` empty and fractional numbers as 6-decimal strings (how
/// `plan_hash` computed it before it wrote the bytes directly).
fn canonical_by_value(plan: &RemediationPlan) -> Vec<u8> {
    fn canonical(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(0.0);
                *v = serde_json::Value::String(format!("{f:.6}"));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(canonical),
            serde_json::Value::Object(map) => map.values_mut().for_each(canonical),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(plan).unwrap();
    value
        .as_object_mut()
        .unwrap()
        .insert("planHash".into(), serde_json::Value::String(String::new()));
    canonical(&mut value);
    serde_json::to_vec(&value).unwrap()
}

fn direct(plan: &RemediationPlan) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical_plan(&mut out, plan);
    out
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9-]{1,12}",
        // Quotes, backslashes, control and non-ASCII characters: escaped.
        any::<String>(),
        Just("\"\\\n\t\u{1}\u{7f}é→😀".to_string()),
        // Longer than the hasher's buffer.
        "[a-z ]{250,700}",
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        -2.0..2.0f64,
        any::<f64>(),
        Just(0.0),
        Just(-0.0),
        Just(1.0),
        Just(0.025000000000000026),
        Just(1e300),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        // Values with at most 4 decimals, as round4 gives them (the fast path).
        (-100_000_000i64..100_000_000).prop_map(|k| k as f64 / 1e4),
        (-2_000_000i64..2_000_000).prop_map(|k| round4(k as f64 * 1e-6)),
    ]
}

#[test]
fn six_decimals_as_format_writes_them() {
    for f in [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        0.0001,
        -0.0001,
        0.00005,
        0.000049,
        0.1234,
        0.12345,
        0.1234567,
        0.025000000000000026,
        round4(0.72 - 0.15),
        round4(1.2 - 0.4),
        999_999_999.999_9,
        1e9,
        123_456_789_012.345_6,
        -5e-324,
        5e-324,
        f64::MAX,
        f64::MIN,
        1e15 + 0.5,
    ] {
        let mut out = Vec::new();
        write_f64(&mut out, f);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("\"{f:.6}\""),
            "{f:e}"
        );
    }
    for f in [
        -0.001, -0.004, -0.005, -0.006, 0.005, 0.015, 0.125, 0.375, 2.675, 1.005,
    ] {
        for decimals in [2u32, 6] {
            let mut out = Vec::new();
            push_fixed(&mut out, f, decimals);
            let want = format!("{f:.*}", decimals as usize);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{f:e}");
        }
    }
    for k in -200_000i64..200_000 {
        let f = k as f64 / 1e4;
        let mut out = Vec::new();
        write_f64(&mut out, f);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("\"{f:.6}\""),
            "{k}"
        );
    }
}

fn action() -> impl Strategy<Value = RemediationAction> {
    (
        (0..ActionType::ALL.len(), text(), text()),
        prop::option::of(any::<i32>()),
        prop::option::of((text(), any::<bool>(), prop::option::of(text()), text())),
        (0..4usize, any::<u32>()),
    )
        .prop_map(|((a, id, target), replicas, config, (priority, latency))| {
            RemediationAction {
                id: id.into(),
                action_type: ActionType::ALL[a],
                target: target.into(),
                replicas,
                config: config.map(|(name, env, container, value)| ConfigChange {
                    name,
                    target: if env {
                        ConfigTarget::Env
                    } else {
                        ConfigTarget::Annotation
                    },
                    container,
                    value,
                }),
                revision: None,
                priority: [
                    Priority::Low,
                    Priority::Medium,
                    Priority::High,
                    Priority::Critical,
                ][priority],
                estimated_latency_seconds: latency,
            }
        })
}

fn any_plan() -> impl Strategy<Value = RemediationPlan> {
    (
        (text(), text(), 0..6usize, text(), text()),
        prop::collection::vec(action(), 0..4),
        (float(), float(), float(), float()),
        (0..3usize, 0..4usize),
    )
        .prop_map(
            |(
                (target, policy, kind, expected_impact, plan_hash),
                actions,
                (confidence, cost, benefit, score),
                (risk, priority),
            )| RemediationPlan {
                target: target.into(),
                policy: policy.into(),
                root_cause: [
                    RootCauseKind::LoadSpike,
                    RootCauseKind::GradualDegradation,
                    RootCauseKind::RecurringLoad,
                    RootCauseKind::ComponentFault,
                    RootCauseKind::UpstreamDependency,
                    RootCauseKind::ChronicOverload,
                ][kind],
                confidence,
                actions,
                expected_impact,
                risk: [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High][risk],
                priority: [
                    Priority::Low,
                    Priority::Medium,
                    Priority::High,
                    Priority::Critical,
                ][priority],
                cost,
                benefit,
                score,
                plan_hash,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The bytes written directly are the bytes of the `Value` route, for any
    /// plan: every field, optional fields present or not, strings that need
    /// escaping, and any float.
    #[test]
    fn fixed_decimals_as_format_writes_them(f in float(), scaled in -3e6..3e6f64) {
        for x in [f, scaled / 100.0, scaled / 1e6, (scaled.round() + 0.5) / 100.0] {
            for decimals in [0u32, 2, 4, 6] {
                let mut out = Vec::new();
                push_fixed(&mut out, x, decimals);
                prop_assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!("{x:.*}", decimals as usize)
                );
            }
        }
    }

    #[test]
    fn canonical_json_is_written_as_the_value_would_be(plan in any_plan()) {
        let digest = Sha256::digest(canonical_by_value(&plan));
        let want: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        prop_assert_eq!(plan_hash(&plan), want);
        prop_assert_eq!(
            String::from_utf8(direct(&plan)).unwrap(),
            String::from_utf8(canonical_by_value(&plan)).unwrap()
        );
    }
}

#[test]
fn canonical_json_of_a_full_plan() {
    let plan: RemediationPlan = serde_json::from_value(serde_json::json!({
        "target": "web", "policy": "p", "rootCause": "LoadSpike", "confidence": 0.625,
        "actions": [
            {"id": "a1", "actionType": "SCALE_UP", "target": "web", "replicas": 7,
             "priority": "High", "estimatedLatencySeconds": 30},
            {"id": "a2", "actionType": "UPDATE_CONFIGURATION", "target": "web",
             "config": {"name": "N", "target": "Env", "container": "app", "value": "5"},
             "priority": "High", "estimatedLatencySeconds": 90}
        ],
        "expectedImpact": "x", "risk": "Low", "priority": "High",
        "cost": 0.35, "benefit": 1.0, "score": 0.65, "planHash": "abc"
    }))
    .unwrap();
    assert_eq!(direct(&plan), canonical_by_value(&plan));
    assert_eq!(
        String::from_utf8(direct(&plan)).unwrap(),
        concat!(
            r#"{"actions":[{"actionType":"SCALE_UP","estimatedLatencySeconds":30,"id":"a1","#,
            r#""priority":"High","replicas":7,"target":"web"},{"actionType":"UPDATE_CONFIGURATION","#,
            r#""config":{"container":"app","name":"N","target":"Env","value":"5"},"#,
            r#""estimatedLatencySeconds":90,"id":"a2","priority":"High","target":"web"}],"#,
            r#""benefit":"1.000000","confidence":"0.625000","cost":"0.350000","#,
            r#""expectedImpact":"x","planHash":"","policy":"p","priority":"High","#,
            r#""risk":"Low","rootCause":"LoadSpike","score":"0.650000","target":"web"}"#
        )
    );
}

#[test]
fn the_hash_survives_float_re_encoding() {
    let plan: RemediationPlan = serde_json::from_value(serde_json::json!({
        "target": "web", "policy": "p", "rootCause": "LoadSpike", "confidence": 0.625,
        "actions": [], "expectedImpact": "", "risk": "Low", "priority": "Low",
        "cost": 0.35, "benefit": 0.375, "score": 0.025000000000000026, "planHash": ""
    }))
    .unwrap();
    let mut reencoded = plan.clone();
    // What the API server gave back for the score above.
    reencoded.score = 0.025000000000000022;
    assert_ne!(plan.score, reencoded.score);
    assert_eq!(plan_hash(&plan), plan_hash(&reencoded));
    reencoded.score = 0.026;
    assert_ne!(plan_hash(&plan), plan_hash(&reencoded));
    assert_eq!(round4(0.025000000000000026), 0.025);
}
