//! Scenario files: a YAML description of policies, violations and metric samples
//! that `mapek-operator analyze --scenario FILE` feeds to the engine offline.
//!
//! Times are seconds after the scenario's `start` (an RFC 3339 time), so a file
//! reads like a timeline. Parsing is strict: unknown fields, unknown policies,
//! non-finite numbers and unknown action types are errors that name the file, the
//! field and the reason.
//!
//! ```yaml
//! start: 2026-11-26T10:00:00Z
//! policies:
//!   - name: checkout-latency
//!     target: checkout
//!     threshold: 0.5
//!     currentReplicas: 3
//!     interval: 15      # optional: seconds between evaluations (else inferred)
//!     for: 0            # optional: the condition's `for`, seconds
//!     remediation:
//!       allowedActions: [SCALE_UP]
//!       scale: {minReplicas: 2, maxReplicas: 10, maxStep: 2}
//! violations:
//!   - {policy: checkout-latency, t: 0, value: 0.8}
//! series:
//!   - {policy: checkout-latency, start: 0, step: 15, values: [0.3, 0.4, 0.6]}
//! load:                 # optional: the policy's load query (such as requests/s)
//!   - {policy: checkout-latency, start: 0, step: 15, values: [210, 260, 340]}
//! saturation:           # optional: the policy's saturation query
//!   - {policy: checkout-latency, start: 0, step: 15, values: [0.4, 0.6, 0.9]}
//! outcomes:             # optional: earlier remediations the knowledge base learned
//!   - {rootCause: LoadSpike, actions: [SCALE_UP], outcome: Success}
//! expect:               # optional: the labelled answer (`make decisions`)
//!   {target: checkout, action: SCALE_UP}   # or {noPlan: true}
//! ```
//!
//! Every field added since the first version is optional, with a default that
//! keeps the earlier meaning, so older files load unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{
    ComparisonOperator, ContextKind, ContextSample, MetricSample, Millis, RemediationEnvelope,
    Severity, Violation,
};

/// A scenario file that failed to load, with the file, the field and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct ScenarioError {
    pub file: PathBuf,
    /// Where in the file, such as `violations[3].value` (or `-` for the whole file).
    pub field: String,
    pub reason: String,
}

/// The file's shape, as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScenarioFile {
    /// Free text shown in the report.
    #[serde(default)]
    description: Option<String>,
    /// The time `t: 0` stands for.
    start: String,
    /// When the analysis runs, in seconds after `start`; the last event when unset.
    #[serde(default)]
    now: Option<f64>,
    policies: Vec<ScenarioPolicy>,
    #[serde(default)]
    violations: Vec<ScenarioViolation>,
    #[serde(default)]
    series: Vec<ScenarioSeries>,
    /// Samples of the policies' load queries, shaped as `series`.
    #[serde(default)]
    load: Vec<ScenarioSeries>,
    /// Samples of the policies' saturation queries, shaped as `series`.
    #[serde(default)]
    saturation: Vec<ScenarioSeries>,
    /// What an SRE expects the engine to do (labelled scenarios of `make decisions`).
    #[serde(default)]
    expect: Option<Expectation>,
    /// Outcomes of earlier remediations the knowledge base has learned from.
    #[serde(default)]
    outcomes: Vec<ScenarioOutcome>,
}

/// The labelled answer of a scenario: a plan for `target` whose first action is
/// `action`, or (`noPlan: true`) no plan for any Deployment.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    /// The Deployment the plan is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The plan's first action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::model::ActionType>,
    /// For a scale action: the replica count it should set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// No plan at all is the right answer.
    #[serde(default)]
    pub no_plan: bool,
    /// Why an SRE expects this, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An earlier remediation's outcome, as the knowledge controller records it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScenarioOutcome {
    /// The Deployment (the first policy's target when unset).
    #[serde(default)]
    target: Option<String>,
    root_cause: crate::model::RootCauseKind,
    actions: Vec<crate::model::ActionType>,
    outcome: crate::model::OutcomeType,
    /// Seconds after `start` it was recorded (0 when unset).
    #[serde(default)]
    t: f64,
}

/// A policy of a scenario: the parts of a ViolationPolicy the engine reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioPolicy {
    pub name: String,
    /// The Deployment.
    pub target: String,
    /// The target's name when unset.
    #[serde(default)]
    pub component: Option<String>,
    /// The policy's name when unset.
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub operator: ComparisonOperator,
    pub threshold: f64,
    /// The Deployment's replicas now (1 when unset).
    #[serde(default = "one")]
    pub current_replicas: i32,
    #[serde(default)]
    pub remediation: RemediationEnvelope,
    /// Seconds between evaluations of the policy's query; inferred from its series
    /// when unset.
    #[serde(default)]
    pub interval: Option<f64>,
    /// The condition's `for`, in seconds (0 when unset): how long the condition
    /// held before the first violation was recorded.
    #[serde(default, rename = "for")]
    pub for_seconds: Option<f64>,
}

impl ScenarioPolicy {
    /// The engine's view of the policy's condition and evaluation interval.
    pub fn info(&self) -> crate::model::PolicyInfo {
        crate::model::PolicyInfo {
            name: self.name.clone(),
            operator: self.operator,
            threshold: self.threshold,
            interval_ms: self.interval.map(|s| (s * 1000.0).round() as Millis),
            for_ms: self
                .for_seconds
                .map_or(0, |s| (s * 1000.0).round() as Millis),
        }
    }
}

fn one() -> i32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScenarioViolation {
    policy: String,
    /// Seconds after `start`.
    t: f64,
    value: f64,
    /// An id; `<policy>-<index>` when unset.
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScenarioSeries {
    policy: String,
    /// Seconds after `start` of the first value.
    #[serde(default)]
    start: f64,
    /// Seconds between values.
    step: f64,
    values: Vec<f64>,
}

/// A loaded, checked scenario, ready for the engine.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub description: Option<String>,
    pub policies: Vec<ScenarioPolicy>,
    pub violations: Vec<Violation>,
    pub samples: Vec<MetricSample>,
    /// Samples of the policies' context queries (`load:`, `saturation:`).
    pub context: Vec<ContextSample>,
    /// When the analysis runs.
    pub now: Millis,
    /// The labelled answer, if the file gives one.
    pub expect: Option<Expectation>,
    /// Earlier outcomes, for the knowledge base.
    pub outcomes: Vec<crate::OutcomeRecord>,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            field: "-".into(),
            reason: format!("cannot read the file: {e}"),
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses and checks scenario text; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let err = |field: String, reason: String| ScenarioError {
            file: path.to_path_buf(),
            field,
            reason,
        };
        let file: ScenarioFile = serde_saphyr::from_str(text).map_err(|e| {
            let field = match e.location() {
                Some(l) => format!("line {} column {}", l.line(), l.column()),
                None => "-".into(),
            };
            err(field, parser_reason(&e.without_snippet().to_string()))
        })?;

        let start = file
            .start
            .parse::<jiff::Timestamp>()
            .map_err(|e| err("start".into(), format!("not an RFC 3339 time: {e}")))?
            .as_millisecond();
        let at = |field: String, t: f64| -> Result<Millis, ScenarioError> {
            if !(0.0..=1e10).contains(&t) {
                return Err(err(
                    field,
                    format!("{t} is not a number of seconds between 0 and 1e10"),
                ));
            }
            Ok(start.saturating_add((t * 1000.0).round() as i64))
        };
        let finite = |field: String, v: f64| -> Result<f64, ScenarioError> {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(err(field, format!("{v} is not a finite number")))
            }
        };

        if file.policies.is_empty() {
            return Err(err(
                "policies".into(),
                "at least one policy is required".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, p) in file.policies.iter().enumerate() {
            let field = |name: &str| format!("policies[{i}].{name}");
            if p.name.is_empty() {
                return Err(err(field("name"), "must not be empty".into()));
            }
            if !names.insert(p.name.as_str()) {
                return Err(err(field("name"), format!("duplicate policy {:?}", p.name)));
            }
            if p.target.is_empty() {
                return Err(err(field("target"), "must not be empty".into()));
            }
            finite(field("threshold"), p.threshold)?;
            if p.current_replicas < 0 {
                return Err(err(field("currentReplicas"), "must not be negative".into()));
            }
            check_envelope(&p.remediation)
                .map_err(|(f, reason)| err(format!("policies[{i}].remediation.{f}"), reason))?;
            if let Some(v) = p.interval
                && !(v.is_finite() && v > 0.0)
            {
                return Err(err(
                    field("interval"),
                    format!("{v} is not a positive number of seconds"),
                ));
            }
            if let Some(v) = p.for_seconds
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(err(
                    field("for"),
                    format!("{v} is not a number of seconds >= 0"),
                ));
            }
        }
        let policy = |field: String, name: &str| {
            file.policies
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| err(field, format!("unknown policy {name:?}")))
        };

        let mut violations = Vec::with_capacity(file.violations.len());
        for (i, v) in file.violations.iter().enumerate() {
            let field = |name: &str| format!("violations[{i}].{name}");
            let p = policy(field("policy"), &v.policy)?;
            violations.push(Violation {
                id: v
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("{}-{i}", p.name))
                    .into(),
                policy: p.name.clone(),
                target: p.target.clone(),
                component: p.component.clone().unwrap_or_else(|| p.target.clone()),
                metric: p.metric.clone().unwrap_or_else(|| p.name.clone()),
                severity: p.severity,
                value: finite(field("value"), v.value)?,
                threshold: p.threshold,
                at_ms: at(field("t"), v.t)?,
            });
        }

        // One series of `list` (`series`, `load`, `saturation`): its policy's
        // name and its points, each a positive step after the last.
        let points = |list: &str, i: usize, s: &ScenarioSeries| {
            let field = |f: &str| format!("{list}[{i}].{f}");
            let p = policy(field("policy"), &s.policy)?;
            if !(s.step.is_finite() && s.step > 0.0) {
                return Err(err(
                    field("step"),
                    "must be a positive number of seconds".into(),
                ));
            }
            let mut out = Vec::with_capacity(s.values.len());
            for (j, value) in s.values.iter().enumerate() {
                out.push((
                    at(field("start"), s.start + s.step * j as f64)?,
                    finite(format!("{list}[{i}].values[{j}]"), *value)?,
                ));
            }
            Ok((p.name.clone(), out))
        };

        let mut samples = Vec::new();
        for (i, s) in file.series.iter().enumerate() {
            let (policy, out) = points("series", i, s)?;
            samples.extend(out.into_iter().map(|(at_ms, value)| MetricSample {
                policy: policy.clone(),
                at_ms,
                value,
            }));
        }

        let mut context = Vec::new();
        for (list, kind, name) in [
            (&file.load, ContextKind::Load, "load"),
            (&file.saturation, ContextKind::Saturation, "saturation"),
        ] {
            for (i, s) in list.iter().enumerate() {
                let (policy, out) = points(name, i, s)?;
                context.extend(out.into_iter().map(|(at_ms, value)| ContextSample {
                    policy: policy.clone(),
                    kind,
                    at_ms,
                    value,
                }));
            }
        }

        let last = violations
            .iter()
            .map(|v| v.at_ms)
            .chain(samples.iter().map(|s| s.at_ms))
            .max()
            .unwrap_or(start);
        let now = match file.now {
            Some(t) => at("now".into(), t)?,
            None => last,
        };
        if let Some(e) = &file.expect {
            match (e.no_plan, &e.target, e.action) {
                (true, None, None) if e.replicas.is_none() => {}
                (true, _, _) => {
                    return Err(err(
                        "expect".into(),
                        "noPlan: true takes no target or action".into(),
                    ));
                }
                (false, Some(t), Some(_)) => {
                    if !file.policies.iter().any(|p| &p.target == t) {
                        return Err(err(
                            "expect.target".into(),
                            format!("no policy targets Deployment {t:?}"),
                        ));
                    }
                }
                (false, _, _) => {
                    return Err(err(
                        "expect".into(),
                        "give a target and an action, or noPlan: true".into(),
                    ));
                }
            }
        }
        let mut outcomes = Vec::with_capacity(file.outcomes.len());
        for (i, o) in file.outcomes.iter().enumerate() {
            let target = o
                .target
                .clone()
                .unwrap_or_else(|| file.policies[0].target.clone());
            let policy = file
                .policies
                .iter()
                .find(|p| p.target == target)
                .ok_or_else(|| {
                    err(
                        format!("outcomes[{i}].target"),
                        format!("no policy targets Deployment {target:?}"),
                    )
                })?;
            if o.actions.is_empty() {
                return Err(err(
                    format!("outcomes[{i}].actions"),
                    "at least one action type is required".into(),
                ));
            }
            outcomes.push(crate::OutcomeRecord {
                plan_name: format!("outcome-{i}"),
                plan_hash: String::new(),
                target,
                policy: policy.name.clone(),
                root_cause: o.root_cause,
                action_types: o.actions.clone(),
                violations_before: None,
                violations_after: None,
                resolved_count: 0,
                time_to_stabilization_seconds: None,
                outcome: o.outcome,
                success_confidence: 0.0,
                recorded_at_ms: at(format!("outcomes[{i}].t"), o.t)?,
                detail: None,
            });
        }
        Ok(Scenario {
            description: file.description,
            policies: file.policies,
            violations,
            samples,
            context,
            now,
            expect: file.expect,
            outcomes,
        })
    }
}

/// The rules the CRD schema enforces on a remediation envelope, checked here for
/// scenario files, which no API server validates. Returns the field and reason.
pub fn check_envelope(envelope: &RemediationEnvelope) -> Result<(), (String, String)> {
    use crate::model::{ActionType, PatchKind};
    let scales = envelope.allows(ActionType::ScaleUp) || envelope.allows(ActionType::ScaleDown);
    match &envelope.scale {
        None if scales => {
            return Err((
                "scale".into(),
                "scale bounds are required when SCALE_UP or SCALE_DOWN is allowed".into(),
            ));
        }
        Some(b) if b.min_replicas < 0 || b.max_replicas < 1 || b.max_step < 1 => {
            return Err((
                "scale".into(),
                "minReplicas must be >= 0, maxReplicas >= 1 and maxStep >= 1".into(),
            ));
        }
        Some(b) if b.min_replicas > b.max_replicas => {
            return Err((
                "scale.minReplicas".into(),
                format!(
                    "minReplicas ({}) must not exceed maxReplicas ({})",
                    b.min_replicas, b.max_replicas
                ),
            ));
        }
        _ => {}
    }
    for (i, s) in envelope.config.iter().enumerate() {
        if s.name.is_empty() {
            return Err((format!("config[{i}].name"), "must not be empty".into()));
        }
        if !s.allowed_values.is_empty() && !s.allowed_values.contains(&s.value) {
            return Err((
                format!("config[{i}].value"),
                format!(
                    "{:?} is not one of allowedValues {:?}",
                    s.value, s.allowed_values
                ),
            ));
        }
        if let Some(a) = s
            .actions
            .iter()
            .find(|a| a.patch_kind() != PatchKind::Config)
        {
            return Err((
                format!("config[{i}].actions"),
                format!("{a} is not a config action"),
            ));
        }
    }
    for a in &envelope.allowed_actions {
        if a.patch_kind() == PatchKind::Config && envelope.setting_for(*a).is_none() {
            return Err((
                "allowedActions".into(),
                format!("{a} is allowed but no config setting lists it"),
            ));
        }
    }
    Ok(())
}

/// The parser's reason without its `error: line L column C:` prefix, which the
/// field already says, on one line.
fn parser_reason(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let reason = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest,
        _ => first,
    };
    match reason.rsplit_once(" at line ") {
        Some((reason, _)) => reason.to_string(),
        None => reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
