//! The custom resources' specs as the operator reads them. Arbitrary JSON into
//! ViolationPolicy and RemediationPolicy, and structured ViolationPolicies
//! whose every value passes the CRD schema (patterns, enums, ranges, and the
//! CEL rules checked by kube's own evaluator), then the operator's readers:
//! the engine's view of the policy, the monitor's evaluation, the executor's
//! next step (never an approval, a start or a patch outside the envelope) and
//! the kubectl plugin's text.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mapek::controllers::analyzer::policy_info;
use mapek::controllers::monitor::decide::observe;
use mapek_api::{RemediationPolicy, ViolationPolicy, ViolationPolicyStatus};
use mapek_fuzz::{CREATED_MS, approve, drive, plan, policy, scale};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) => {
            if let Ok(vp) = serde_json::from_slice::<ViolationPolicy>(rest) {
                read_policy(&vp);
            }
        }
        Some((1, rest)) => {
            if let Ok(rp) = serde_json::from_slice::<RemediationPolicy>(rest) {
                drive(&rp, &policy("Manual"), 3);
            }
        }
        Some((_, rest)) => {
            if let Ok(s) = Structured::arbitrary_take_rest(Unstructured::new(rest)) {
                structured(s);
            }
        }
        None => {}
    }
});

/// What the operator reads of a ViolationPolicy, and a plan it bounds.
fn read_policy(vp: &ViolationPolicy) {
    let info = policy_info(vp);
    assert!(info.interval_ms.is_none_or(|i| i >= 0), "{info:?}");
    assert!(
        info.for_ms >= 0 && info.keep_firing_for_ms.is_none_or(|k| k >= 0),
        "{info:?}"
    );
    let mut status = ViolationPolicyStatus::default();
    for (i, v) in [1.0, 1.0, -1.0].into_iter().enumerate() {
        let now = CREATED_MS + i as i64 * 30_000;
        observe("web-latency", &vp.spec, Some(1), &mut status, &Ok(v), now);
    }
    let _ = kubectl_mapek::explain_policy(vp);
    let current = vp
        .spec
        .remediation
        .envelope
        .scale
        .as_ref()
        .map_or(3, |b| b.min_replicas);
    let to = current.saturating_add(1);
    let mut rp = plan(vec![scale("a1", true, i64::from(to))], "Medium");
    approve(&mut rp);
    drive(&rp, vp, current);
}

/// A duration the CRD's pattern accepts: `([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+`.
#[derive(Arbitrary, Debug)]
struct Dur(Vec<(u64, Option<u16>, u8)>);

impl Dur {
    fn text(&self) -> String {
        const UNITS: [&str; 7] = ["ns", "us", "µs", "ms", "s", "m", "h"];
        let mut s = String::new();
        for (n, frac, unit) in self.0.iter().take(4) {
            s += &n.to_string();
            if let Some(f) = frac {
                s += &format!(".{f}");
            }
            s += UNITS[usize::from(*unit) % UNITS.len()];
        }
        if s.is_empty() { "30s".into() } else { s }
    }
}

const ACTIONS: [&str; 10] = [
    "SCALE_UP",
    "SCALE_DOWN",
    "RESTART_SERVICE",
    "UPDATE_CONFIGURATION",
    "THROTTLE_REQUESTS",
    "BYPASS_VALIDATION",
    "ACTIVATE_EMERGENCY_OVERRIDE",
    "REBALANCE_LOAD",
    "APPLY_POLICY",
    "ROLLBACK_REVISION",
];

fn action(i: u8) -> &'static str {
    ACTIONS[usize::from(i) % ACTIONS.len()]
}

#[derive(Arbitrary, Debug)]
struct Setting {
    name: String,
    value: String,
    allowed: Vec<String>,
    actions: Vec<u8>,
    annotation: bool,
}

/// A ViolationPolicy whose values the CRD schema accepts, and a plan against it.
#[derive(Arbitrary, Debug)]
struct Structured {
    threshold: f64,
    operator: u8,
    interval: Dur,
    for_: Option<Dur>,
    keep_firing_for: Option<Dur>,
    cooldown: Dur,
    ttl: Dur,
    allowed: Vec<u8>,
    scale: Option<(u32, u32, u32)>,
    config: Vec<Setting>,
    auto: bool,
    max_plans: Option<u32>,
    replicas: u16,
    plan: Vec<(u8, i32)>,
    risk: u8,
}

fn structured(s: Structured) {
    let Some(vp) = schema_valid_policy(&s) else {
        return;
    };
    read_policy(&vp);
    let actions: Vec<Value> = s
        .plan
        .iter()
        .take(4)
        .enumerate()
        .map(|(i, (kind, replicas))| {
            let kind = action(*kind);
            let mut a = json!({ "id": format!("a{i}"), "actionType": kind, "target": "web",
                            "priority": "High", "estimatedLatencySeconds": 30 });
            if kind.starts_with("SCALE") {
                a["replicas"] = json!(replicas);
            }
            if let Some(c) = s.config.first().filter(|_| !kind.starts_with("SCALE")) {
                a["config"] = json!({ "name": c.name, "target": "Env", "value": c.value });
            }
            a
        })
        .collect();
    let risk = ["Low", "Medium", "High"][usize::from(s.risk) % 3];
    let mut rp = plan(actions, risk);
    if s.risk & 4 == 0 {
        approve(&mut rp);
    }
    drive(&rp, &vp, i32::from(s.replicas));
}

/// The policy, if serde reads it and kube's CEL evaluator passes its rules.
fn schema_valid_policy(s: &Structured) -> Option<ViolationPolicy> {
    if !s.threshold.is_finite() {
        return None; // JSON has no NaN or infinity
    }
    let i32_max = i32::MAX as u32;
    let mut remediation = json!({
        "allowedActions": s.allowed.iter().take(9).map(|a| action(*a)).collect::<Vec<_>>(),
        "cooldown": s.cooldown.text(),
        "approvalTtl": s.ttl.text(),
        "approvalMode": (if s.auto { "AutoLowRisk" } else { "Manual" }),
        "config": s.config.iter().take(16).map(|c| json!({
            "name": c.name, "value": c.value,
            "target": (if c.annotation { "Annotation" } else { "Env" }),
            "allowedValues": c.allowed.iter().take(32).collect::<Vec<_>>(),
            "actions": c.actions.iter().take(9).map(|a| action(*a)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    if let Some((min, max, step)) = s.scale {
        remediation["scale"] = json!({ "minReplicas": min.min(i32_max),
            "maxReplicas": max.clamp(1, i32_max), "maxStep": step.clamp(1, i32_max) });
    }
    if let Some(m) = s.max_plans {
        remediation["maxPlansPerEpisode"] = json!(m.clamp(1, i32_max));
    }
    let mut object = mapek_fuzz::policy_with(remediation);
    let spec = &mut object["spec"];
    spec["evaluationInterval"] = json!(s.interval.text());
    spec["condition"] = json!({
        "threshold": s.threshold,
        "operator": (["GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"][usize::from(s.operator) % 4]),
    });
    if let Some(d) = &s.for_ {
        spec["condition"]["for"] = json!(d.text());
    }
    if let Some(d) = &s.keep_firing_for {
        spec["condition"]["keepFiringFor"] = json!(d.text());
    }
    // The pattern admits durations of any length; the operator refuses those
    // over 100 years with an error naming the value, and reads every other.
    let vp: ViolationPolicy = match serde_json::from_value(object.clone()) {
        Ok(vp) => vp,
        Err(e) if e.to_string().contains("longer than 100 years") => return None,
        Err(e) => panic!("a spec the CRD schema accepts does not read: {e}\n{object}"),
    };
    kube::core::cel::validate_cel(&vp).ok()?;
    Some(vp)
}
