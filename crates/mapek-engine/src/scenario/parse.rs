//! Reading a scenario: parsing the YAML, checking every field (naming the file,
//! the field and the reason of a failure) and converting the timeline into the
//! engine's violations, samples, context samples, outcome records and template
//! changes.

use std::collections::BTreeSet;
use std::path::Path;

use super::file::{ScenarioFile, ScenarioSeries};
use super::{Scenario, ScenarioError, check_envelope};
use crate::model::{
    ContextKind, ContextSample, FieldChange, MetricSample, Millis, TemplateChange, Violation,
};

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
        let mut changes = Vec::with_capacity(file.changes.len());
        for (i, c) in file.changes.iter().enumerate() {
            let field = |name: &str| format!("changes[{i}].{name}");
            if !file.policies.iter().any(|p| p.target == c.target) {
                return Err(err(
                    field("target"),
                    format!("no policy targets Deployment {:?}", c.target),
                ));
            }
            if c.revision < 1 {
                return Err(err(field("revision"), "must be at least 1".into()));
            }
            if !(1..c.revision).contains(&c.previous_revision) {
                return Err(err(
                    field("previousRevision"),
                    format!(
                        "{} is not a revision between 1 and revision - 1 ({})",
                        c.previous_revision,
                        c.revision - 1
                    ),
                ));
            }
            for (j, f) in c.diff.iter().enumerate() {
                if f.field.is_empty() {
                    return Err(err(
                        format!("changes[{i}].diff[{j}].field"),
                        "must not be empty".into(),
                    ));
                }
            }
            changes.push(TemplateChange {
                target: c.target.clone(),
                at_ms: at(field("t"), c.t)?,
                revision: c.revision,
                previous_revision: c.previous_revision,
                diff: c
                    .diff
                    .iter()
                    .map(|f| FieldChange {
                        field: f.field.clone(),
                        before: f.before.clone(),
                        after: f.after.clone(),
                    })
                    .collect(),
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
            changes,
            episodes: Vec::new(),
        })
    }
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
